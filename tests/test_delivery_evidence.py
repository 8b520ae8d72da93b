"""Stream evidence stored in bulk: every hand-over since the last round in a
few statements, the first time per notice kept across rounds (SQLite and
PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import peewee
import pytest

from registry import db
from registry.delivery import evidence
from registry.delivery.model import EvidenceRow
from registry.notifications import core as inbox


@pytest.fixture
def opened(database_url: str) -> Iterator[peewee.Database]:
    database = db.open_database(database_url)
    db.migrate(database)
    evidence.drain_streamed()  # nothing left from another test
    EvidenceRow.delete().execute()
    try:
        yield database
    finally:
        database.close()


@pytest.mark.usefixtures("opened")
def test_a_thousand_hand_overs_are_kept_once_each_with_their_first_time() -> None:
    for n in range(1, 1001):
        inbox.streamed(f"c{n % 7}", n)  # the hook's own clock: now
    assert evidence.drain_streamed() == 1000
    stored = {(r.controller_id, r.notification): r.time for r in EvidenceRow.select()}
    assert len(stored) == 1000
    # Again, later, and once more in one round: the first time stays.
    again = [(f"c{n % 7}", n) for n in (1, 2, 500)]
    for cid, n in again + again:
        inbox.streamed(cid, n)
    assert evidence.drain_streamed() == 3
    after = {(r.controller_id, r.notification): r.time for r in EvidenceRow.select()}
    assert after == stored
    assert all(abs(t - datetime.now(UTC)) < timedelta(minutes=5) for t in after.values())
