"""The scheduler: applies due sub-processor transitions in the server.

Every ``INTERVAL`` seconds it starts the objection windows of change notices
that have reached their controllers since (a window runs from the notice's
first delivery, ``notices.objection_deadline``; it compares a batch of open
windows with the delivery evidence each round), closes due objection windows
(GENERAL authorisation: PENDING becomes AUTHORIZED when the window ends
without an objection), applies change notices whose effective time has come,
and sends the expiry warnings due (``registry.expiry``: measures' evidence,
safeguards' reviews; at most once a minute, and at once when the day
changes). The
state lives in the database and every transition is a conditional update
(``WHERE decision = 'PENDING' AND window_end <= now``), so a restart in the
middle of a window loses and repeats nothing, and several server processes on
one database may all run it: the second to arrive finds nothing left to do.
Each run is one mutation through the write path, by the system caller
``spiffe://<trust-domain>/service/registry-scheduler``.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date

from registry import clock, db
from registry.auth import Caller, Role

log = logging.getLogger(__name__)

INTERVAL = 1.0
EXPIRY_EVERY = 60.0
"""Seconds between looks for expiry warnings within one day."""
NAME = "registry-scheduler"


def system_caller(trust_domain: str) -> Caller:
    return Caller(spiffe_id=f"spiffe://{trust_domain}/service/{NAME}", role=Role.SERVICE, name=NAME)


class Scheduler:
    def __init__(self, trust_domain: str, interval: float | None = None) -> None:
        self.caller = system_caller(trust_domain)
        self._interval = INTERVAL if interval is None else interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        from registry import expiry  # noqa: PLC0415 - import cycle
        from registry.subprocessors import transitions  # noqa: PLC0415 - import cycle

        warned: tuple[date, float] | None = None
        try:
            while not self._stopping.wait(self._interval):
                try:
                    transitions.run_due(self.caller)
                    today, tick = clock.now().date(), time.monotonic()
                    if warned is None or warned[0] != today or tick - warned[1] >= EXPIRY_EVERY:
                        expiry.run_due(self.caller)
                        warned = (today, tick)
                except Exception:
                    log.exception("scheduler run failed; retrying")
        finally:
            db.database.close()


def start(trust_domain: str) -> Scheduler:
    scheduler = Scheduler(trust_domain)
    scheduler.start()
    return scheduler
