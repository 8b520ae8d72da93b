"""gRPC servicer for BreachService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

from datetime import datetime, timedelta

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from dpa_registry_api.v1 import breaches_pb2 as pb
from dpa_registry_api.v1 import breaches_pb2_grpc as pb_grpc
from registry import auth, clock, names, paging, rpc, wire
from registry.breaches import core, notices, rules, values
from registry.errors import InvalidArgument

_ts = wire.timestamp_of


def _duration(delta: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(delta)
    return d


def _time(field: str, ts: Timestamp, present: bool) -> datetime | None:
    return wire.timestamp(field, ts).astimezone(clock.now().tzinfo) if present else None


_STATUS = {s: pb.BreachStatus.Value(f"BREACH_STATUS_{s.value}") for s in rules.Status}
_STATUS_BACK = {v: k for k, v in _STATUS.items()}
_TYPE = {t: pb.BreachType.Value(f"BREACH_TYPE_{t.value}") for t in rules.BreachType}
_TYPE_BACK = {v: k for k, v in _TYPE.items()}
_STATE = {s: pb.ObligationState.Value(f"OBLIGATION_STATE_{s.value}") for s in rules.ObligationState}


def info_to_proto(info: rules.Info) -> pb.BreachInfo:
    return pb.BreachInfo(
        types=[_TYPE[t] for t in info.types],
        description=info.description,
        data_categories=list(info.data_categories),
        data_subject_categories=list(info.data_subjects),
        approx_data_subjects=info.approx_data_subjects,
        approx_records=info.approx_records,
        subprocessors=list(info.subprocessors),
        systems=list(info.systems),
        likely_consequences=info.likely_consequences,
        measures=info.measures,
        contact=pb.ContactPoint(
            name=info.contact.name, email=info.contact.email, phone=info.contact.phone
        ),
    )


def info_from_proto(msg: pb.BreachInfo) -> rules.Info:
    types = []
    for i, t in enumerate(msg.types):
        if t not in _TYPE_BACK:
            raise InvalidArgument.one(f"info.types[{i}]", "unknown breach type")
        types.append(_TYPE_BACK[t])
    return rules.Info(
        types=tuple(dict.fromkeys(types)),
        description=msg.description,
        data_categories=tuple(msg.data_categories),
        data_subjects=tuple(msg.data_subject_categories),
        approx_data_subjects=msg.approx_data_subjects,
        approx_records=msg.approx_records,
        subprocessors=tuple(msg.subprocessors),
        systems=tuple(msg.systems),
        likely_consequences=msg.likely_consequences,
        measures=msg.measures,
        contact=rules.ContactPoint(msg.contact.name, msg.contact.email, msg.contact.phone),
    )


def _phase(p: values.Phase) -> pb.BreachPhase:
    return pb.BreachPhase(
        number=p.number,
        info=info_to_proto(p.info),
        status=_STATUS[p.status],
        create_time=_ts(p.create_time),
        author=p.author,
    )


def _counts(c: values.Counts) -> pb.ObligationCounts:
    return pb.ObligationCounts(
        affected=c.affected,
        pending=c.pending,
        sent=c.sent,
        acknowledged=c.acknowledged,
        withdrawn=c.withdrawn,
        overdue=c.overdue,
    )


def breach_to_proto(b: values.Breach) -> pb.Breach:
    return pb.Breach(
        name=b.name,
        breach_id=b.breach_id,
        status=_STATUS[b.status],
        awareness_time=_ts(b.awareness_time),
        detection_time=_ts(b.detection_time),
        phases=[_phase(p) for p in b.phases],
        current=info_to_proto(b.current),
        adjustments=[
            pb.AffectedAdjustment(
                controller=names.make("controllers", a.controller_id),
                added=a.added,
                reason=a.reason,
                create_time=_ts(a.create_time),
                author=a.author,
            )
            for a in b.adjustments
        ],
        counts=_counts(b.counts),
        create_time=_ts(b.create_time),
        update_time=_ts(b.update_time),
        etag=b.etag,
    )


def obligation_to_proto(o: values.Obligation, now: datetime) -> pb.BreachObligation:
    late = o.overdue_by(now)
    msg = pb.BreachObligation(
        name=o.name,
        controller=names.make("controllers", o.controller_id),
        breach=names.make(values.COLLECTION, o.breach_id),
        state=_STATE[o.state],
        notification_hours=o.hours,
        deadline=_ts(o.deadline),
        overdue=late is not None,
        reasons=list(o.reasons),
        withdraw_reason=o.withdraw_reason,
        time_zone=o.time_zone,
        deadline_local=rules.local_time(o.deadline, o.time_zone),
    )
    if late is not None:
        msg.overdue_by.CopyFrom(_duration(late))
    if o.notify_time is not None:
        msg.notify_time.CopyFrom(_ts(o.notify_time))
    if o.ack_time is not None:
        msg.acknowledge_time.CopyFrom(_ts(o.ack_time))
    return msg


def notice_to_proto(n: values.Notice, now: datetime) -> pb.BreachNotice:
    o = n.obligation
    tz = o.time_zone
    msg = pb.BreachNotice(
        name=o.name,
        controller=names.make("controllers", o.controller_id),
        breach=names.make(values.COLLECTION, o.breach_id),
        status=_STATUS[n.status],
        state=_STATE[o.state],
        awareness_time=_ts(n.awareness_time),
        detection_time=_ts(n.detection_time),
        notification_hours=o.hours,
        deadline=_ts(o.deadline),
        phases=[_phase(p) for p in n.phases],
        current=info_to_proto(n.current),
        time_zone=tz,
        deadline_local=rules.local_time(o.deadline, tz),
        notifications=list(n.notifications),
    )
    if o.notify_time is not None:
        msg.notify_time.CopyFrom(_ts(o.notify_time))
        msg.notify_time_local = rules.local_time(o.notify_time, tz)
    supervisory = n.supervisory_deadline
    if supervisory is not None:
        msg.supervisory_deadline.CopyFrom(_ts(supervisory))
        msg.supervisory_deadline_local = rules.local_time(supervisory, tz)
        msg.supervisory_time_left.CopyFrom(_duration(supervisory - now))
    if o.ack_time is not None:
        msg.acknowledge_time.CopyFrom(_ts(o.ack_time))
    return msg


def _adjustments(items: list[pb.AffectedChange], added: bool) -> tuple[rules.Adjustment, ...]:
    return tuple(rules.Adjustment(a.controller_id, added, a.reason) for a in items)


def _breach_id(name: str, field: str = "name") -> str:
    return names.parse(name, values.COLLECTION, field)


class BreachService(pb_grpc.BreachServiceServicer):
    def ReportBreach(
        self, request: pb.ReportBreachRequest, context: grpc.ServicerContext
    ) -> pb.Breach:
        r = core.Report(
            breach_id=request.breach_id,
            awareness_time=_time(
                "awareness_time", request.awareness_time, request.HasField("awareness_time")
            ),
            detection_time=_time(
                "detection_time", request.detection_time, request.HasField("detection_time")
            ),
            info=info_from_proto(request.info),
            add=_adjustments(list(request.add), True),
            remove=_adjustments(list(request.remove), False),
            hold_notices=request.hold_notices,
        )
        return rpc.mutate(
            context,
            auth.current_caller(),
            "ReportBreach",
            request.request_id,
            request,
            pb.Breach,
            lambda m: breach_to_proto(core.report(m, r)),
        )

    def GetBreach(self, request: pb.GetBreachRequest, context: grpc.ServicerContext) -> pb.Breach:
        return breach_to_proto(core.get(_breach_id(request.name)))

    def ListBreaches(
        self, request: pb.ListBreachesRequest, context: grpc.ServicerContext
    ) -> pb.ListBreachesResponse:
        page = paging.page(request.page_size, request.page_token, "breaches")
        items = core.list_page(page)
        return pb.ListBreachesResponse(
            breaches=[breach_to_proto(b) for b in items],
            next_page_token=page.next_token([b.breach_id for b in items], "breaches"),
        )

    def AddBreachPhase(
        self, request: pb.AddBreachPhaseRequest, context: grpc.ServicerContext
    ) -> pb.Breach:
        breach_id = _breach_id(request.name)
        info = info_from_proto(request.info)
        status = _STATUS_BACK.get(request.status)
        if request.status and status is None:
            raise InvalidArgument.one("status", "unknown status")
        return rpc.mutate(
            context,
            auth.current_caller(),
            "AddBreachPhase",
            request.request_id,
            request,
            pb.Breach,
            lambda m: breach_to_proto(core.add_phase(m, breach_id, info, status, request.etag)),
        )

    def AdjustAffectedControllers(
        self, request: pb.AdjustAffectedControllersRequest, context: grpc.ServicerContext
    ) -> pb.Breach:
        breach_id = _breach_id(request.name)
        add = _adjustments(list(request.add), True)
        remove = _adjustments(list(request.remove), False)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "AdjustAffectedControllers",
            request.request_id,
            request,
            pb.Breach,
            lambda m: breach_to_proto(core.adjust(m, breach_id, add, remove, request.etag)),
        )

    def SendBreachNotices(
        self, request: pb.SendBreachNoticesRequest, context: grpc.ServicerContext
    ) -> pb.Breach:
        breach_id = _breach_id(request.name)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "SendBreachNotices",
            request.request_id,
            request,
            pb.Breach,
            lambda m: breach_to_proto(core.send_held(m, breach_id)),
        )

    def ListBreachObligations(
        self, request: pb.ListBreachObligationsRequest, context: grpc.ServicerContext
    ) -> pb.ListBreachObligationsResponse:
        breach_id = _breach_id(request.parent, "parent")
        scope = f"obligations:{breach_id}:{int(request.overdue_only)}"
        page = paging.page(request.page_size, request.page_token, scope)
        now = clock.now()
        items = notices.obligations(breach_id, page, overdue_only=request.overdue_only, now=now)
        return pb.ListBreachObligationsResponse(
            obligations=[obligation_to_proto(o, now) for o in items],
            next_page_token=page.next_token([o.controller_id for o in items], scope),
            counts=_counts(core.counts(breach_id, now)),
        )

    def ListBreachNotices(
        self, request: pb.ListBreachNoticesRequest, context: grpc.ServicerContext
    ) -> pb.ListBreachNoticesResponse:
        caller = auth.current_caller()
        if request.parent:
            controller_id = names.parse(request.parent, "controllers", "parent")
        elif caller.tenant is not None:
            controller_id = caller.tenant
        else:
            raise InvalidArgument.one("parent", "name the controller")
        scope = f"breachNotices:{controller_id}"
        page = paging.page(request.page_size, request.page_token, scope)
        now = clock.now()
        items = notices.list_notices(caller, controller_id, page)
        return pb.ListBreachNoticesResponse(
            notices=[notice_to_proto(n, now) for n in items],
            next_page_token=page.next_token([n.obligation.breach_id for n in items], scope),
        )

    def GetBreachNotice(
        self, request: pb.GetBreachNoticeRequest, context: grpc.ServicerContext
    ) -> pb.BreachNotice:
        caller = auth.current_caller()
        controller_id, breach_id = values.parse_notice_name(request.name, caller)
        return notice_to_proto(notices.get_notice(caller, controller_id, breach_id), clock.now())

    def AcknowledgeBreachNotice(
        self, request: pb.AcknowledgeBreachNoticeRequest, context: grpc.ServicerContext
    ) -> pb.BreachNotice:
        caller = auth.current_caller()
        controller_id, breach_id = values.parse_notice_name(request.name, caller)
        return rpc.mutate(
            context,
            caller,
            "AcknowledgeBreachNotice",
            request.request_id,
            request,
            pb.BreachNotice,
            lambda m: notice_to_proto(core.acknowledge(m, controller_id, breach_id), m.now),
        )
