"""Every gRPC service the registry serves, in one list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from dpa.registry.v1 import audit_pb2_grpc, controllers_pb2_grpc
from registry.audit.servicer import AuditLogService
from registry.controllers.servicer import ControllerService


@dataclass(frozen=True)
class Service:
    full_name: str
    add: Callable[[Any, grpc.Server], None]
    make: Callable[[], Any]


SERVICES: list[Service] = [
    Service(
        "dpa.registry.v1.ControllerService",
        controllers_pb2_grpc.add_ControllerServiceServicer_to_server,
        ControllerService,
    ),
    Service(
        "dpa.registry.v1.AuditLogService",
        audit_pb2_grpc.add_AuditLogServiceServicer_to_server,
        AuditLogService,
    ),
]
