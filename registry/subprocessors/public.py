"""The public face of the sub-processor list: what anyone may read.

Only platform-wide sub-processors (engaged for every controller) are public;
one engaged for named controllers only is never published, nor a change
notice about one (it would reveal who the named controllers use). Used by the
signed public feed and the trust page (``registry.trust``).
"""

from __future__ import annotations

from registry.subprocessors import core, engagement, notices, values
from registry.subprocessors.model import NoticeRow, SubprocessorRow
from registry.subprocessors.types import NoticeState, Scope, Status


def platform_subprocessors() -> list[values.Subprocessor]:
    """ACTIVE platform-wide sub-processors, by id (the engagement rule decides)."""
    ids = [
        str(i)
        for i in SubprocessorRow.select(SubprocessorRow.subprocessor_id)
        .where(SubprocessorRow.scope == Scope.PLATFORM.value)
        .scalars()
    ]
    platform = {sp for sp, s in engagement.served(ids).items() if s.platform}
    return [r for r in core.records(platform) if r.status is Status.ACTIVE]


def open_platform_changes() -> list[notices.Notice]:
    """OPEN change notices about platform-wide sub-processors, by effective time."""
    platform = {
        str(i)
        for i in SubprocessorRow.select(SubprocessorRow.subprocessor_id)
        .where(SubprocessorRow.scope == Scope.PLATFORM.value)
        .scalars()
    }
    rows = (
        NoticeRow.select(NoticeRow.notice_id)
        .where(NoticeRow.state == NoticeState.OPEN.value)
        .order_by(NoticeRow.effective_time, NoticeRow.notice_id)
    )
    found = notices.notices_by_id([str(r.notice_id) for r in rows])
    result = [
        n
        for n in found.values()
        if n.subprocessor_id in platform and (not n.replaced_id or n.replaced_id in platform)
    ]
    return sorted(result, key=lambda n: (n.effective_time, n.notice_id))
