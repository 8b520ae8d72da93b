"""The delivery worker: a background thread in every server process.

Each round it fans new inbox notices out to subscriptions, claims the due
deliveries (a lease taken with a conditional UPDATE), sends them, and records
each attempt through the write path. All state lives in the database: a
restart resumes from the cursor and the pending rows, and several processes
on one database never send one delivery at the same time.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta

from registry import clock, db
from registry.delivery import deliveries, evidence, inbound, senders, types

log = logging.getLogger(__name__)

NAME = "registry-delivery"
CLAIM_BATCH = 20
_settings = types.Settings()


def active_settings() -> types.Settings:
    """The settings of the running worker (the servicer checks URLs with them)."""
    return _settings


class Worker:
    def __init__(self, trust_domain: str, settings: types.Settings) -> None:
        self.caller = deliveries.reader(trust_domain)
        self.settings = settings
        self.owner = f"{NAME}-{secrets.token_hex(6)}"
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=NAME, daemon=True)
        self.listener: inbound.Listener | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            self.listener = None
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.settings.timeout_seconds + 10)

    def poke(self) -> None:
        self._wake.set()

    def run_once(self) -> int:
        """One round; returns the number of attempts made (non-zero also
        when the fan-out has more backlog: the next round starts at once)."""
        with db.database.connection_context():
            evidence.drain_streamed()
            backlog = deliveries.fan_out() >= deliveries.FANOUT_BATCH
            lease = timedelta(seconds=self.settings.lease_seconds)
            held = deliveries.claim(self.owner, clock.now(), lease, CLAIM_BATCH)
        made = int(backlog)
        for delivery_id in held:
            if self._stopping.is_set():
                break
            with db.database.connection_context():
                w = deliveries.work(delivery_id)
            if w is None:
                continue
            outcome = senders.send(w, self.settings)
            with db.database.connection_context():
                state = deliveries.record(self.caller, self.owner, w, outcome, self.settings)
            log.info(
                "delivery %d attempt %d: %s (%d, %d ms)",
                delivery_id,
                w.attempt,
                state.value,
                outcome.status_code,
                outcome.latency_ms,
            )
            made += 1
        return made

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    busy = self.run_once()
                except Exception:
                    log.exception("delivery round failed; retrying")
                    busy = 0
                if not busy:
                    self._wake.wait(self.settings.interval_seconds)
                    self._wake.clear()
        finally:
            db.database.close()


def start(
    trust_domain: str, settings: types.Settings | None = None, *, bounce_listener: bool = False
) -> Worker:
    """Starts the worker; with ``bounce_listener`` (one process of several)
    and ``DPA_BOUNCE_LISTEN`` set, the bounce listener too (its stop is the
    worker's)."""
    global _settings  # noqa: PLW0603
    _settings = settings if settings is not None else types.Settings.from_env()
    worker = Worker(trust_domain, _settings)
    if bounce_listener and _settings.bounce_listen:
        worker.listener = inbound.start(worker.caller, _settings)
    worker.start()
    return worker
