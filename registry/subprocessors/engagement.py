"""Engagement: which controllers each sub-processor serves, and in which state.

This is the one home of the rule (Art. 28(2)); Annex IV, the sub-processor
list, change notices, breach notification, the transfer snapshot, visibility
and the audit-log view all call it:

- an explicit (controller, sub-processor) authorisation wins;
- a platform-wide ACTIVE sub-processor without one is AUTHORIZED for every
  controller: the controller's signed DPA annex authorised it;
- a RETIRED sub-processor serves nobody.

Whose personal data a sub-processor may hold adds the DPA's standing
(``registry.agreements.terms.standings``): an ACTIVE DPA, or a terminated one
whose return or deletion (Art. 28(3)(g)) is not yet confirmed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import peewee

from dpa_decisions import common
from registry import db
from registry.agreements import terms
from registry.agreements.types import DpaStanding
from registry.subprocessors.model import AuthorizationRow, SubprocessorRow
from registry.subprocessors.types import AuthorizationState, Scope, Status
from registry.subprocessors.values import Subprocessor, from_row

LISTED = frozenset({AuthorizationState.AUTHORIZED, AuthorizationState.PENDING})
"""States in which the sub-processor processes (or is about to process) the
controller's data; OBJECTED and WITHDRAWN ones do not (Art. 28(2))."""

_CHUNK = 500

effective_state = common.effective_state
"""The one engagement rule, shared with the client library (:mod:`dpa_decisions.common`)."""


def engaged_state(
    *, scope: Scope, status: Status, explicit: AuthorizationState | None
) -> AuthorizationState | None:
    """The rule over a sub-processor's recorded scope and status: RETIRED
    serves nobody; otherwise ``effective_state``."""
    if status is Status.RETIRED:
        return None
    return effective_state(
        platform_active=scope is Scope.PLATFORM and status is Status.ACTIVE, explicit=explicit
    )


def _rows(query: Any) -> Iterable[tuple[Any, ...]]:
    return cast("Iterable[tuple[Any, ...]]", query)


def _chunks(ids: Collection[str]) -> Iterable[list[str]]:
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), _CHUNK):
        yield wanted[i : i + _CHUNK]


def of_controller(controller_id: str) -> dict[str, tuple[Subprocessor, AuthorizationState]]:
    """Every sub-processor engaged for the controller with its state (retired
    ones excepted), by id. Reads the controller's own rows and the
    platform-wide ACTIVE sub-processors, never the whole registry."""
    s, a = SubprocessorRow, AuthorizationRow
    explicit = {
        sid: AuthorizationState(st)
        for sid, st in _rows(
            a.select(a.subprocessor_id, a.state).where(a.controller_id == controller_id).tuples()
        )
    }
    mine = a.select(a.subprocessor_id).where(a.controller_id == controller_id)
    query = s.select().where(
        (s.status != Status.RETIRED.value)
        & (
            s.subprocessor_id.in_(mine)
            | ((s.scope == Scope.PLATFORM.value) & (s.status == Status.ACTIVE.value))
        )
    )
    result: dict[str, tuple[Subprocessor, AuthorizationState]] = {}
    for row in query.order_by(s.subprocessor_id):
        state = engaged_state(
            scope=Scope(row.scope),
            status=Status(row.status),
            explicit=explicit.get(row.subprocessor_id),
        )
        if state is not None:
            result[row.subprocessor_id] = (from_row(row), state)
    return result


_PAGE = (
    "SELECT s.*, a.state AS explicit_state FROM subprocessor s "
    "LEFT JOIN subprocessor_authorization a "
    "ON a.subprocessor_id = s.subprocessor_id AND a.controller_id = %s "
    "WHERE s.subprocessor_id IN ("
    " SELECT m.subprocessor_id FROM ("
    "  SELECT e.subprocessor_id FROM subprocessor_authorization e"
    "  JOIN subprocessor t ON t.subprocessor_id = e.subprocessor_id"
    "  WHERE e.controller_id = %s AND t.status <> '{retired}'{after_e}"
    "  ORDER BY e.subprocessor_id LIMIT %s) m"
    " UNION"
    " SELECT w.subprocessor_id FROM ("
    "  SELECT u.subprocessor_id FROM subprocessor u"
    "  WHERE u.scope = '{platform}' AND u.status = '{active}'{after_u}"
    "  ORDER BY u.subprocessor_id LIMIT %s) w"
    ") ORDER BY s.subprocessor_id LIMIT %s"
)


def _page(after: bool) -> str:
    return _PAGE.format(
        retired=Status.RETIRED.value,
        platform=Scope.PLATFORM.value,
        active=Status.ACTIVE.value,
        after_e=" AND e.subprocessor_id > %s" if after else "",
        after_u=" AND u.subprocessor_id > %s" if after else "",
    )


_FIRST_PAGE, _NEXT_PAGE = _page(after=False), _page(after=True)


def page_of_controller(
    controller_id: str, after: str | None, limit: int
) -> list[tuple[Subprocessor, AuthorizationState]]:
    """The first ``limit`` sub-processors engaged for the controller (retired
    ones excepted) with ids after ``after``, in the database's order of ids:
    what :func:`of_controller` holds, a page at a time.

    One statement whose cost does not grow with the registry: the first
    ``limit`` of the controller's own authorisations and the first ``limit``
    platform-wide ACTIVE sub-processors, each read in index order, and the
    first ``limit`` of their union. Exact: a platform-wide sub-processor among
    the first ``limit`` of the union has fewer than ``limit`` explicit rows
    before it, so its own explicit row (which wins) is read too. The database
    orders every step, so its collation and the page cursor agree."""
    params: list[Any] = [controller_id, controller_id]
    if after is not None:
        params.append(after)
    params.append(limit)
    if after is not None:
        params.append(after)
    params += [limit, limit]
    sql = db.sql(_FIRST_PAGE if after is None else _NEXT_PAGE)
    result: list[tuple[Subprocessor, AuthorizationState]] = []
    for row in cast("Iterable[Any]", SubprocessorRow.raw(sql, *params)):
        st = _row_state(row)
        if st is not None:
            result.append((from_row(row), st))
    return result


def _row_state(row: Any) -> AuthorizationState | None:
    """:func:`engaged_state` of a sub-processor row read with the
    controller's explicit state beside it (``explicit_state``)."""
    return engaged_state(
        scope=Scope(row.scope),
        status=Status(row.status),
        explicit=AuthorizationState(row.explicit_state) if row.explicit_state else None,
    )


def engaged(
    controller_id: str, subprocessor_id: str
) -> tuple[Subprocessor, AuthorizationState] | None:
    """One entry of :func:`of_controller`, from one indexed read."""
    s, a = SubprocessorRow, AuthorizationRow
    row = (
        s.select(s, a.state.alias("explicit_state"))
        .join(
            a,
            peewee.JOIN.LEFT_OUTER,
            on=((a.subprocessor_id == s.subprocessor_id) & (a.controller_id == controller_id)),
        )
        .where(s.subprocessor_id == subprocessor_id)
        .objects()
        .first()
    )
    st = None if row is None else _row_state(row)
    return None if st is None else (from_row(row), st)


def _state_query(controller_id: str, subprocessor_id: str) -> Any:
    s, a = SubprocessorRow, AuthorizationRow
    return (
        s.select(s.scope, s.status, a.state)
        .join(
            a,
            peewee.JOIN.LEFT_OUTER,
            on=((a.subprocessor_id == s.subprocessor_id) & (a.controller_id == controller_id)),
        )
        .where(s.subprocessor_id == subprocessor_id)
    )


def state(controller_id: str, subprocessor_id: str) -> AuthorizationState | None:
    """The controller's authorisation of one sub-processor; None: not engaged."""
    sql = db.built(_state_query, "controller", "subprocessor")
    found = next(iter(db.execute(sql, (controller_id, subprocessor_id)).fetchall()), None)
    if found is None:
        return None
    scope, status, explicit = found
    return engaged_state(
        scope=Scope(scope),
        status=Status(status),
        explicit=AuthorizationState(explicit) if explicit else None,
    )


@dataclass(frozen=True)
class Served:
    """Whom one sub-processor serves, as the registry records it."""

    subprocessor_id: str
    platform: bool
    """Engaged platform-wide and ACTIVE."""
    explicit: Mapping[str, AuthorizationState] = field(default_factory=dict)

    def controllers(
        self, among: Collection[str], states: Collection[AuthorizationState] = LISTED
    ) -> set[str]:
        """The controllers of ``among`` whose state is in ``states``."""
        if self.platform and AuthorizationState.AUTHORIZED in states:
            return {
                cid
                for cid in among
                if self.explicit.get(cid, AuthorizationState.AUTHORIZED) in states
            }
        return {cid for cid, st in self.explicit.items() if st in states and cid in among}

    def named(self, states: Collection[AuthorizationState] = LISTED) -> set[str] | None:
        """The controllers served in ``states``; None: every controller but
        those with an explicit state outside ``states`` (platform-wide)."""
        if self.platform and AuthorizationState.AUTHORIZED in states:
            return None
        return {cid for cid, st in self.explicit.items() if st in states}


def served(subprocessor_ids: Collection[str]) -> dict[str, Served]:
    """Whom each of the (non-retired) sub-processors serves, by id."""
    s, a = SubprocessorRow, AuthorizationRow
    explicit: dict[str, dict[str, AuthorizationState]] = {}
    result: dict[str, Served] = {}
    for chunk in _chunks(subprocessor_ids):
        query = a.select(a.subprocessor_id, a.controller_id, a.state).where(
            a.subprocessor_id.in_(chunk)
        )
        for sp, cid, st in _rows(query.tuples()):
            explicit.setdefault(sp, {})[cid] = AuthorizationState(st)
        rows = s.select(s.subprocessor_id, s.scope, s.status).where(s.subprocessor_id.in_(chunk))
        for sp, scope, status in _rows(rows.tuples()):
            if status == Status.RETIRED.value:
                continue
            result[sp] = Served(
                sp,
                platform=scope == Scope.PLATFORM.value and status == Status.ACTIVE.value,
                explicit=explicit.get(sp, {}),
            )
    return result


def explicit_states(
    *, controllers: Collection[str] | None = None, subprocessors: Collection[str] | None = None
) -> list[tuple[str, str, AuthorizationState]]:
    """Recorded (controller, sub-processor, state) rows for the named
    controllers or sub-processors (every row if both are None)."""
    a = AuthorizationRow
    column, ids = (
        (a.controller_id, controllers)
        if controllers is not None
        else (a.subprocessor_id, subprocessors)
    )
    result: list[tuple[str, str, AuthorizationState]] = []
    chunks: Iterable[list[str] | None] = [None] if ids is None else _chunks(ids)
    for chunk in chunks:
        query = a.select(a.controller_id, a.subprocessor_id, a.state)
        if chunk is not None:
            query = query.where(column.in_(chunk))
        result.extend((c, s, AuthorizationState(st)) for c, s, st in _rows(query.tuples()))
    return result


@dataclass(frozen=True)
class Holding:
    """One controller whose personal data one sub-processor may hold."""

    controller_id: str
    subprocessor_id: str
    state: AuthorizationState
    dpa: DpaStanding

    @property
    def reason(self) -> str:
        text = f"sub-processor {self.subprocessor_id}"
        if self.dpa is DpaStanding.TERMINATED_DATA_HELD:
            text += " (DPA terminated; return or deletion of the data not yet confirmed)"
        return text


def holdings_of(controller_id: str) -> list[Holding]:
    """What :func:`holders` says of one controller, ordered by sub-processor:
    read from its own rows, never from every controller's."""
    standing = terms.standings([controller_id]).get(controller_id)
    if standing is None or not standing.standing.holds_data:
        return []
    return [
        Holding(controller_id, sid, st, standing.standing)
        for sid, (_, st) in sorted(of_controller(controller_id).items())
        if st in LISTED
    ]


def holders(subprocessor_ids: Collection[str]) -> list[Holding]:
    """Every controller whose personal data the sub-processors may hold:
    engaged (authorised or pending) and a DPA that is ACTIVE, or terminated
    with its return or deletion not yet confirmed. Ordered."""
    engaged = served(subprocessor_ids)
    if not engaged:
        return []
    named: set[str] = set()
    everyone = False
    for s in engaged.values():
        ids = s.named()
        if ids is None:
            everyone = True
            break
        named |= ids
    standing = terms.standings(None if everyone else named)
    holding = {cid for cid, st in standing.items() if st.standing.holds_data}
    return [
        Holding(cid, sp, s.explicit.get(cid, AuthorizationState.AUTHORIZED), standing[cid].standing)
        for sp, s in sorted(engaged.items())
        for cid in sorted(s.controllers(holding))
    ]
