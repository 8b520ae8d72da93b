"""Valid example resources for tests."""

from __future__ import annotations

from dpa.registry.v1 import controllers_pb2
from dpa_client import RegistryClient


def controller(
    staff: RegistryClient, controller_id: str, **overrides: str
) -> controllers_pb2.Controller:
    fields = {
        "legal_name": f"{controller_id.title()} AS",
        "country": "EE",
        "contact_email": f"privacy@{controller_id}.example",
        "dpo_email": f"dpo@{controller_id}.example",
        **overrides,
    }
    return staff.create_controller(controller_id, **fields)  # type: ignore[arg-type]
