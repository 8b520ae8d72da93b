"""A notice's text is stored once for all the inboxes it went to: inboxes
written before that (the text on every row) read the same after migration
164, on both backends, and new texts get ids after the moved ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import peewee
import pytest

import registry.models  # noqa: F401 - registers every migration
from registry import db
from registry.notifications import core
from registry.notifications.model import ContentRow


class _OldNotification(db.BaseModel):
    """The inbox row as it was before migration 164."""

    id = peewee.BigAutoField()
    controller_id = peewee.CharField(max_length=63)
    seq = peewee.BigIntegerField(default=0)
    kind = peewee.CharField(max_length=32)
    title = peewee.TextField()
    body = peewee.TextField()
    resource = peewee.TextField()
    payload = peewee.TextField()
    create_time = db.UtcDateTimeField()
    ack_time = db.UtcDateTimeField(null=True)
    ack_by = peewee.TextField(null=True)

    class Meta:
        table_name = "notification"


@pytest.fixture
def before_164(database_url: str) -> Iterator[peewee.Database]:
    """A database whose every migration but 164 is recorded as applied, with
    the old inbox table and two rows in it."""
    opened = db.open_database(database_url)
    try:
        opened.create_tables([db.SchemaVersion, _OldNotification])
        now = datetime.now(UTC)
        for version, name, _ in db._MIGRATIONS:
            if version != 164:
                db.SchemaVersion.create(version=version, name=name, applied_at=now)
        for seq, title in ((1, "first\nline"), (2, "second")):
            _OldNotification.create(
                controller_id="acme",
                seq=seq,
                kind="GENERAL",
                title=title,
                body=f"body {seq} \\ ünï",
                resource="controllers/acme",
                payload=f'{{"n":{seq}}}',
                create_time=now,
            )
        yield opened
    finally:
        opened.close()


def test_inboxes_written_before_read_the_same_after_migration(
    before_164: peewee.Database,
) -> None:
    assert db.migrate(before_164) == max(v for v, _, _ in db._MIGRATIONS)
    columns = {c.name for c in before_164.get_columns("notification")}
    assert {"title", "body", "payload"}.isdisjoint(columns) and "content_id" in columns
    found = core.after("acme", 0, 10)
    assert [(n.id, n.title, n.body, dict(n.payload)) for n in found] == [
        (1, "first\nline", "body 1 \\ ünï", {"n": 1}),
        (2, "second", "body 2 \\ ünï", {"n": 2}),
    ]
    # The next text's id comes after the moved ones (PostgreSQL: its sequence).
    assert ContentRow.insert(title="t", body="b", payload="{}").execute() == 3
