"""The facts of the Art. 30(2) record by revision, kept by the write path.

The audit log is the system of record of *what happened*: every entry names
a resource and digests its change. It cannot by itself give the record as of
an older revision: the entries hold digests, not contents (no personal data
in an append-only log), and a change's effects follow from domain rules the
entry does not restate (a change notice that takes effect makes its
sub-processor ACTIVE and withdraws many controllers' authorisations in one
entry). Replaying would need a second copy of each rule
(docs/adr/0012-records-as-of-revision.md).

So the write path keeps this journal, in the same transaction as the
entries: it asks the change feed what the new entries touch, reads the
touched facts through the domains' read APIs (the same functions the live
record uses) and stores every *unit* whose facts differ from the last stored,
at the revision the write produces. A unit is a controller's party, its
processing scope, one (controller, sub-processor) authorisation, one
sub-processor with its safeguards, one measure, or the processor's own
details (its DPO and representative). The record as of R reads,
for each unit, the newest facts at or below R; the engagement rule is then
applied to them as the live read applies it.

The journal begins at the first write after it was installed (``start``);
earlier revisions cannot be rebuilt.
"""

from __future__ import annotations

import enum
import json
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import peewee

from registry import changefeed, db
from registry.agreements import terms
from registry.audit.events import Event, canonical
from registry.controllers import core as controllers
from registry.measures import core as measures
from registry.records import facts, processor
from registry.subprocessors import core as subprocessors
from registry.subprocessors import engagement
from registry.transfers.store import safeguards_of


class Kind(enum.Enum):
    START = "start"
    PARTY = "party"
    PROCESSING = "processing"
    AUTHORIZATION = "authorization"
    SUBPROCESSOR = "subprocessor"
    MEASURE = "measure"
    PROCESSOR = "processor"


class RecordFact(db.BaseModel):
    """One unit's facts from ``revision`` on (canonical JSON; NULL: none)."""

    kind = peewee.CharField(max_length=16)
    a = peewee.TextField()
    """The controller, sub-processor or measure id."""
    b = peewee.TextField(default="")
    """The sub-processor id of an authorisation; empty otherwise."""
    revision = peewee.BigIntegerField()
    content = peewee.TextField(null=True)

    class Meta:
        table_name = "record_fact"
        primary_key = peewee.CompositeKey("kind", "a", "b", "revision")
        indexes = ((("kind", "b", "revision"), False),)


@db.migration(161, "Art. 30(2) record journal")
def _create(database: peewee.Database) -> None:
    database.create_tables([RecordFact])


Unit = tuple[Kind, str, str]


def _chunks(ids: Collection[str]) -> Iterable[list[str]]:
    # Fewer than db.IN_LIST: each statement binds two more values.
    return db.in_chunks(ids, 400)


_NEWEST = (
    "SELECT f.a, f.b, f.content FROM record_fact f WHERE f.kind = %s AND f.revision = "
    "(SELECT MAX(g.revision) FROM record_fact g "
    "WHERE g.kind = f.kind AND g.a = f.a AND g.b = f.b AND g.revision <= %s)"
)
"""Plain SQL: peewee would spend milliseconds building this correlated query
on every write. With ``_OF_A`` or ``_OF_B``: the units of some ids."""
_OF_A = _NEWEST + " AND f.a IN ({marks})"
_OF_B = _NEWEST + " AND f.b IN ({marks})"


def _stored(
    kind: Kind,
    revision: int,
    *,
    a: Collection[str] | None = None,
    b: Collection[str] | None = None,
) -> dict[tuple[str, str], str | None]:
    """(a, b) -> the newest content at or below ``revision`` of the units of
    ``kind`` (restricted to the ``a`` or ``b`` ids when given)."""
    statement, ids = (_OF_A, a) if a is not None else (_OF_B, b)
    chunks: Iterable[list[str] | None] = [None] if ids is None else _chunks(ids)
    result: dict[tuple[str, str], str | None] = {}
    for chunk in chunks:
        sql = db.sql(_NEWEST) if chunk is None else db.sql(statement, len(chunk))
        params = (kind.value, revision, *(chunk or ()))
        rows = cast("Iterable[tuple[str, str, str | None]]", db.execute(sql, params).fetchall())
        for ua, ub, content in rows:
            result[(ua, ub)] = content
    return result


_STARTED: weakref.WeakSet[peewee.Database] = weakref.WeakSet()
"""Databases whose journal this process has seen begun (it never ends)."""


def _text(value: Any) -> str | None:
    return None if value is None else canonical(value).decode()


def start() -> int | None:
    """The first revision the journal holds; None before the first write."""
    found = _stored(Kind.START, 2**62)
    return int(json.loads(found[("", "")] or "0")) if found else None


def _begun() -> bool:
    if db.database.obj in _STARTED:
        return True
    if start() is None:
        return False
    _STARTED.add(db.database.obj)
    return True


# -- kept by the write path ------------------------------------------------------


@dataclass(frozen=True)
class _Touched:
    """The units a write touched (``None``: every one of that kind)."""

    controllers: Collection[str] | None
    subprocessors: Collection[str] | None
    measures: bool
    processor: bool


_ALL = _Touched(None, None, measures=True, processor=True)


def _current(t: _Touched) -> dict[Unit, str | None]:
    """The facts of the touched units now, through the read APIs."""
    now: dict[Unit, str | None] = {}
    cids, sids = t.controllers, t.subprocessors
    if cids is None or cids:
        parties = controllers.parties(cids)
        scopes = terms.instruction_scopes(cids)
        for cid in parties if cids is None else cids:
            now[(Kind.PARTY, cid, "")] = _text(parties.get(cid))
            scope = scopes.get(cid)
            now[(Kind.PROCESSING, cid, "")] = _text(facts.scope_json(scope) if scope else None)
        for cid, sid, st in engagement.explicit_states(controllers=cids):
            now[(Kind.AUTHORIZATION, cid, sid)] = _text(st.value)
    if sids is None or sids:
        records = {sp.subprocessor_id: sp for sp in subprocessors.records(sids)}
        guards = safeguards_of(list(records))
        for sid in records if sids is None else sids:
            sp = records.get(sid)
            now[(Kind.SUBPROCESSOR, sid, "")] = _text(
                facts.subprocessor_json(sp, guards.get(sid, [])) if sp else None
            )
        for cid, sid, st in engagement.explicit_states(subprocessors=sids):
            now[(Kind.AUTHORIZATION, cid, sid)] = _text(st.value)
    if t.measures:
        for v in measures.history():
            now.setdefault((Kind.MEASURE, v.measure_id, ""), None)
        for v in measures.current():
            now[(Kind.MEASURE, v.measure_id, "")] = _text(v.to_json())
    if t.processor:
        now[(Kind.PROCESSOR, "", "")] = _text(processor.get().details.to_json())
    return now


def _previous(t: _Touched) -> dict[Unit, str | None]:
    top = 2**62
    before: dict[Unit, str | None] = {}

    def take(kind: Kind, found: Mapping[tuple[str, str], str | None]) -> None:
        before.update({(kind, a, b): c for (a, b), c in found.items()})

    cids, sids = t.controllers, t.subprocessors
    if cids is None or cids:
        for kind in (Kind.PARTY, Kind.PROCESSING, Kind.AUTHORIZATION):
            take(kind, _stored(kind, top, a=cids))
    if sids is None or sids:
        take(Kind.SUBPROCESSOR, _stored(Kind.SUBPROCESSOR, top, a=sids))
        take(Kind.AUTHORIZATION, _stored(Kind.AUTHORIZATION, top, b=sids))
    if t.measures:
        take(Kind.MEASURE, _stored(Kind.MEASURE, top))
    if t.processor:
        take(Kind.PROCESSOR, _stored(Kind.PROCESSOR, top))
    return before


def _write(revision: int, t: _Touched) -> None:
    now = _current(t)
    before = _previous(t)
    rows = [
        {"kind": k.value, "a": a, "b": b, "revision": revision, "content": content}
        for (k, a, b), content in sorted(
            {u: now.get(u) for u in now.keys() | before.keys()}.items(),
            key=lambda item: (item[0][0].value, item[0][1], item[0][2]),
        )
        if content != before.get((k, a, b))
    ]
    db.insert_rows(RecordFact, rows)


def follow(events: Sequence[Event], revision: int) -> None:
    """Called by the write path inside the transaction that appended
    ``events``, which brings the log to ``revision`` entries."""
    if not _begun():
        _write(revision, _ALL)
        db.insert_rows(
            RecordFact,
            [{"kind": Kind.START.value, "a": "", "b": "", "revision": 0, "content": str(revision)}],
        )
        return
    touched = changefeed.touched((e.tenant, e.resource) for e in events)
    if touched.everything:
        _write(revision, _ALL)
        return
    t = _Touched(touched.controllers, touched.subprocessors, touched.measures, touched.processor)
    if t.controllers or t.subprocessors or t.measures or t.processor:
        _write(revision, t)


# -- read by the record ----------------------------------------------------------


def _decoded(found: Mapping[tuple[str, str], str | None]) -> dict[tuple[str, str], Any]:
    return {k: json.loads(c) for k, c in found.items() if c is not None}


def as_of(controller_ids: Collection[str] | None, revision: int) -> facts.Facts:
    """The record's facts as of ``revision`` (for the named controllers, or
    every controller that existed then)."""
    parties = {
        a: v for (a, _), v in _decoded(_stored(Kind.PARTY, revision, a=controller_ids)).items()
    }
    ids = sorted(parties)
    scopes = {a: v for (a, _), v in _decoded(_stored(Kind.PROCESSING, revision, a=ids)).items()}
    explicit: dict[str, dict[str, str]] = {}
    for (cid, sid), st in _decoded(_stored(Kind.AUTHORIZATION, revision, a=ids)).items():
        explicit.setdefault(cid, {})[sid] = st
    subs = {a: v for (a, _), v in _decoded(_stored(Kind.SUBPROCESSOR, revision)).items()}
    in_force = [v for _, v in sorted(_decoded(_stored(Kind.MEASURE, revision)).items())]
    own = _decoded(_stored(Kind.PROCESSOR, revision)).get(("", ""))
    return facts.Facts(
        processor=own or processor.Details().to_json(),
        controllers=[
            facts.controller(
                cid,
                parties[cid],
                scopes.get(cid),
                facts.engaged_from_json(subs, explicit.get(cid, {})),
            )
            for cid in ids
        ],
        measures=in_force,
    )
