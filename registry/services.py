"""Every gRPC service the registry serves, in one list."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from dpa_registry_api.v1 import (
    agreements_pb2_grpc,
    audit_pb2_grpc,
    breaches_pb2_grpc,
    controllers_pb2_grpc,
    decisions_pb2_grpc,
    delivery_pb2_grpc,
    measures_pb2_grpc,
    notifications_pb2_grpc,
    records_pb2_grpc,
    subprocessors_pb2_grpc,
    tasks_pb2_grpc,
    transfers_pb2_grpc,
)
from registry.agreements.instruction_servicer import InstructionService
from registry.agreements.servicer import AgreementService
from registry.audit.servicer import AuditLogService
from registry.breaches.servicer import BreachService
from registry.controllers.servicer import ControllerService
from registry.decisions import servicer as decision_servicer
from registry.decisions.servicer import DecisionSnapshotService
from registry.delivery.servicer import DeliveryService
from registry.measures.servicer import MeasureService
from registry.notifications import servicer as notification_servicer
from registry.notifications.servicer import NotificationService
from registry.records.servicer import RecordService
from registry.rpc import Wrapper
from registry.subprocessors.servicer import SubprocessorService
from registry.tasks.servicer import TaskService
from registry.transfers.servicer import TransferService


@dataclass(frozen=True)
class Service:
    full_name: str
    add: Callable[[Any, grpc.Server], None]
    make: Callable[[], Any]


SERVICES: list[Service] = [
    Service(
        "dpa.registry.v1.BreachService",
        breaches_pb2_grpc.add_BreachServiceServicer_to_server,
        BreachService,
    ),
    Service(
        "dpa.registry.v1.TransferService",
        transfers_pb2_grpc.add_TransferServiceServicer_to_server,
        TransferService,
    ),
    Service(
        "dpa.registry.v1.DecisionSnapshotService",
        decisions_pb2_grpc.add_DecisionSnapshotServiceServicer_to_server,
        DecisionSnapshotService,
    ),
    Service(
        "dpa.registry.v1.AgreementService",
        agreements_pb2_grpc.add_AgreementServiceServicer_to_server,
        AgreementService,
    ),
    Service(
        "dpa.registry.v1.InstructionService",
        agreements_pb2_grpc.add_InstructionServiceServicer_to_server,
        InstructionService,
    ),
    Service(
        "dpa.registry.v1.NotificationService",
        notifications_pb2_grpc.add_NotificationServiceServicer_to_server,
        NotificationService,
    ),
    Service(
        "dpa.registry.v1.SubprocessorService",
        subprocessors_pb2_grpc.add_SubprocessorServiceServicer_to_server,
        SubprocessorService,
    ),
    Service(
        "dpa.registry.v1.ControllerService",
        controllers_pb2_grpc.add_ControllerServiceServicer_to_server,
        ControllerService,
    ),
    Service(
        "dpa.registry.v1.MeasureService",
        measures_pb2_grpc.add_MeasureServiceServicer_to_server,
        MeasureService,
    ),
    Service(
        "dpa.registry.v1.RecordService",
        records_pb2_grpc.add_RecordServiceServicer_to_server,
        RecordService,
    ),
    Service(
        "dpa.registry.v1.TaskService",
        tasks_pb2_grpc.add_TaskServiceServicer_to_server,
        TaskService,
    ),
    Service(
        "dpa.registry.v1.DeliveryService",
        delivery_pb2_grpc.add_DeliveryServiceServicer_to_server,
        DeliveryService,
    ),
    Service(
        "dpa.registry.v1.AuditLogService",
        audit_pb2_grpc.add_AuditLogServiceServicer_to_server,
        AuditLogService,
    ),
]


@dataclass(frozen=True)
class HostedStream:
    """A server stream the stream host serves too (docs/adr/0019)."""

    path: str
    """``/package.Service/Method``; the main port tells callers where it is hosted."""
    make: Callable[[Callable[..., Awaitable[Any]]], grpc.RpcMethodHandler[Any, Any]]
    """Given the host's ``blocking`` runner, the async method handler to serve."""

    def handler(
        self, blocking: Callable[..., Awaitable[Any]], wrappers: Sequence[Wrapper]
    ) -> grpc.GenericRpcHandler[Any, Any]:
        """The method handler, wrapped (innermost first), under its service name."""
        service, _, method = self.path.lstrip("/").partition("/")
        handler = self.make(blocking)
        for wrapper in wrappers:
            handler = wrapper.wrap(self.path, handler)
        return grpc.method_handlers_generic_handler(service, {method: handler})


HOSTED_STREAMS: list[HostedStream] = [
    HostedStream(
        "/dpa.registry.v1.NotificationService/WatchNotifications",
        notification_servicer.watch_handler,
    ),
    HostedStream(
        "/dpa.registry.v1.DecisionSnapshotService/WatchDecisionChanges",
        decision_servicer.watch_handler,
    ),
]
