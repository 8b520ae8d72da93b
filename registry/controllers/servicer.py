"""gRPC servicer for ControllerService: protobuf in, domain calls, protobuf out."""

from __future__ import annotations

import grpc

from dpa_registry_api.v1 import controllers_pb2 as pb
from dpa_registry_api.v1 import controllers_pb2_grpc as pb_grpc
from registry import auth, names, paging, rpc, wire
from registry.controllers import core
from registry.errors import InvalidArgument

_MASK_FIELDS = {
    "legal_name": {"legal_name"},
    "country": {"country"},
    "contact_email": {"contact_email"},
    "dpo_email": {"dpo_email"},
    "notification_preferences": {"notify_emails", "time_zone"},
    "notification_preferences.emails": {"notify_emails"},
    "notification_preferences.time_zone": {"time_zone"},
}


_ts = wire.timestamp_of


def to_proto(c: core.Controller) -> pb.Controller:
    d = c.details
    return pb.Controller(
        name=c.name,
        controller_id=c.controller_id,
        legal_name=d.legal_name,
        country=d.country,
        contact_email=d.contact_email,
        dpo_email=d.dpo_email,
        notification_preferences=pb.NotificationPreferences(
            emails=list(d.notify_emails), time_zone=d.time_zone
        ),
        create_time=_ts(c.create_time),
        update_time=_ts(c.update_time),
        etag=c.etag,
    )


def _details(msg: pb.Controller) -> core.Details:
    prefs = msg.notification_preferences
    return core.Details(
        legal_name=msg.legal_name,
        country=msg.country,
        contact_email=msg.contact_email,
        dpo_email=msg.dpo_email,
        notify_emails=tuple(prefs.emails),
        time_zone=prefs.time_zone,
    )


class ControllerService(pb_grpc.ControllerServiceServicer):
    def CreateController(
        self, request: pb.CreateControllerRequest, context: grpc.ServicerContext
    ) -> pb.Controller:
        details = _details(request.controller)
        return rpc.mutate(
            context,
            auth.current_caller(),
            "CreateController",
            request.request_id,
            request,
            pb.Controller,
            lambda m: to_proto(core.create(m, request.controller.controller_id, details)),
        )

    def GetController(
        self, request: pb.GetControllerRequest, context: grpc.ServicerContext
    ) -> pb.Controller:
        controller_id = names.parse(request.name, core.COLLECTION)
        return to_proto(core.get(auth.current_caller(), controller_id))

    def ListControllers(
        self, request: pb.ListControllersRequest, context: grpc.ServicerContext
    ) -> pb.ListControllersResponse:
        caller = auth.current_caller()
        page = paging.page(request.page_size, request.page_token, "controllers")
        items = core.list_page(caller, page)
        return pb.ListControllersResponse(
            controllers=[to_proto(c) for c in items],
            next_page_token=page.next_token([c.controller_id for c in items], "controllers"),
        )

    def UpdateController(
        self, request: pb.UpdateControllerRequest, context: grpc.ServicerContext
    ) -> pb.Controller:
        caller = auth.current_caller()
        controller_id = names.parse(request.controller.name, core.COLLECTION, "controller.name")
        fields: set[str] = set()
        for i, path in enumerate(request.update_mask.paths):
            if path not in _MASK_FIELDS:
                raise InvalidArgument.one(f"update_mask.paths[{i}]", f"unknown field {path!r}")
            fields |= _MASK_FIELDS[path]
        if not fields:
            fields = set(core.ALL_FIELDS if caller.is_staff else core.CONTACT_FIELDS)
        proposed = _details(request.controller)
        return rpc.mutate(
            context,
            caller,
            "UpdateController",
            request.request_id,
            request,
            pb.Controller,
            lambda m: to_proto(
                core.update(m, controller_id, request.controller.etag, proposed, frozenset(fields))
            ),
        )
