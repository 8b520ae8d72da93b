"""The bounce listener: a small inbound SMTP server (aiosmtpd) that receives
delivery status notifications (RFC 3464) for the bounce address.

Why a listener and not a mailbox poll: the registry already chooses the
envelope sender of every notice e-mail, so the bounce address can be a
subdomain whose MX is this listener (or a transport rule on the operator's
mail server that forwards it here). No mailbox, no IMAP credentials, no poll
interval; each bounce is recorded before the SMTP reply, so the remote MTA
keeps it (and retries) until the registry has it: a ``451`` when the database
cannot take it, ``250`` once stored. Recipients other than a live delivery's
address with its token are refused at ``RCPT`` (``550``), messages over 1 MiB
at ``DATA``; a message that is not a failure DSN (an auto-reply) is accepted
and ignored.

Runs in one server process (the one running the scheduler); the database
work happens on a small thread pool, not in the SMTP event loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller

from registry import db
from registry.auth import Caller
from registry.delivery import bounced, bounces, types

log = logging.getLogger(__name__)

EARLY_RETRIES = 20
EARLY_WAIT_SECONDS = 0.25


class _Handler:
    def __init__(self, caller: Caller, settings: types.Settings, pool: ThreadPoolExecutor) -> None:
        self.caller = caller
        self.settings = settings
        self.pool = pool

    async def _run(self, fn: Any, *args: Any) -> Any:
        def call() -> Any:
            with db.database.connection_context():
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    async def _record(self, address: bounces.Address, report: bounces.Bounce) -> types.State | None:
        """Records the bounce; waits a little while its attempt is still being
        sent or recorded (a fast relay may bounce before that), then gives up
        with ``BounceTooEarly`` (451: the MTA sends it again later)."""
        for _ in range(EARLY_RETRIES):
            try:
                state: types.State | None = await self._run(
                    bounced.record_bounce, self.caller, address, report, self.settings
                )
                return state
            except bounced.BounceTooEarly:
                await asyncio.sleep(EARLY_WAIT_SECONDS)
        raise bounced.BounceTooEarly

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        parsed = bounces.parse_address(self.settings.bounce_address, address)
        try:
            known = parsed is not None and await self._run(bounced.bounce_target, parsed)
        except Exception:
            log.exception("bounce listener: cannot check a recipient")
            return "451 4.3.0 try again later"
        if not known:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.content)
        report = bounces.parse(raw)
        if report is None:
            log.info("bounce listener: a message that reports no failure, ignored")
            return "250 OK (no failure reported; ignored)"
        try:
            for rcpt in envelope.rcpt_tos:
                address = bounces.parse_address(self.settings.bounce_address, rcpt)
                if address is None:
                    continue
                state = await self._record(address, report)
                log.info(
                    "delivery %d attempt %d bounced (%s): now %s",
                    address.delivery_id,
                    address.attempt,
                    report.status,
                    state.value if state else "unknown",
                )
        except bounced.BounceTooEarly:
            return "451 4.3.0 the bounced attempt is not recorded yet; try again later"
        except Exception:
            log.exception("bounce listener: cannot record a bounce")
            return "451 4.3.0 try again later"
        return "250 OK"


@dataclass
class Listener:
    controller: Controller
    pool: ThreadPoolExecutor
    port: int

    def stop(self) -> None:
        self.controller.stop()
        self.pool.shutdown(wait=True)


def start(caller: Caller, settings: types.Settings) -> Listener:
    """Listens on ``settings.bounce_listen`` (``host:port``)."""
    host, _, port = settings.bounce_listen.rpartition(":")
    if not settings.bounce_address or "@" not in settings.bounce_address:
        raise ValueError("DPA_BOUNCE_LISTEN needs DPA_BOUNCE_ADDRESS (local@domain)")
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="registry-bounces")
    controller = Controller(
        _Handler(caller, settings, pool),
        hostname=host.strip("[]") or "127.0.0.1",
        port=int(port),
        data_size_limit=bounces.MAX_BYTES,
        ident="dpa-registry bounces",
    )
    controller.start()
    log.info("bounce listener on %s for %s", settings.bounce_listen, settings.bounce_address)
    return Listener(controller, pool, int(port))
