"""The client library's own types (docs/adr/0024): every value class matches
its wire message field for field, every enum its wire enum value for value;
no public method returns a protobuf message; no doc imports a private module."""

from __future__ import annotations

import dataclasses
import inspect
import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import ModuleType

import pytest

import dpa_client
from dpa_client import LocalChecker, RegistryClient, terms
from dpa_client.types import (
    Agreement,
    AgreementState,
    AgreementTerms,
    AuthorizationMode,
    Evidence,
    NotificationKind,
    ProcessingOperation,
    Safeguard,
    Subprocessor,
    agreements,
    audit,
    breaches,
    controllers,
    delivery,
    measures,
    notifications,
    records,
    subprocessors,
    tasks,
    transfers,
)
from dpa_client.types._convert import enum_of, wire

ROOT = Path(__file__).resolve().parent.parent
AREAS: list[ModuleType] = [
    agreements,
    audit,
    breaches,
    controllers,
    delivery,
    measures,
    notifications,
    records,
    subprocessors,
    tasks,
    transfers,
]
WIRE_NAME = {"AdequacyReference": "ListAdequacyDecisionsResponse"}
"""Value classes named differently from their message."""
NOT_CARRIED = {
    "AdequacyReference": {"next_page_token"},
    "SubprocessorList": {"next_page_token"},  # the client gathers every page
}
"""Wire fields a value leaves out on purpose."""


def _classes(kind: type) -> list[tuple[ModuleType, type]]:
    return [
        (area, cls)
        for area in AREAS
        for cls in vars(area).values()
        if isinstance(cls, type) and cls.__module__ == area.__name__ and issubclass(cls, kind)
    ]


VALUES = [
    (area, cls)
    for area in AREAS
    for cls in vars(area).values()
    if isinstance(cls, type) and cls.__module__ == area.__name__ and dataclasses.is_dataclass(cls)
]


@pytest.mark.parametrize(("area", "cls"), VALUES, ids=lambda v: getattr(v, "__name__", ""))
def test_every_value_class_carries_every_field_of_its_message(area: ModuleType, cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen, f"{cls.__name__} is not frozen"
    message = getattr(area.pb, WIRE_NAME.get(cls.__name__, cls.__name__))
    wire_fields = {f.name for f in message.DESCRIPTOR.fields}
    wire_fields -= NOT_CARRIED.get(cls.__name__, set())
    assert {f.name for f in dataclasses.fields(cls)} == wire_fields
    # An empty message converts (every default is representable).
    value = cls.from_proto(message())  # type: ignore[attr-defined]
    assert value == cls.from_proto(message())  # type: ignore[attr-defined]
    if cls.__name__ != "Notification":  # its payload, a mapping, does not hash
        hash(value)


@pytest.mark.parametrize(
    ("area", "cls"), _classes(StrEnum), ids=lambda v: getattr(v, "__name__", "")
)
def test_every_enum_names_every_wire_value(area: ModuleType, cls: type[StrEnum]) -> None:
    wrapper = getattr(area.pb, cls.__name__)
    prefix = wrapper.Name(0).removesuffix("UNSPECIFIED")
    assert {m.value for m in cls} == {n.removeprefix(prefix) for n in wrapper.keys()}  # noqa: SIM118
    for member in cls:
        assert enum_of(cls, wrapper, wire(wrapper, member)) is member


def test_unknown_or_unset_enum_values_read_as_unspecified_and_bad_names_raise() -> None:
    pb = agreements.pb
    assert enum_of(AgreementState, pb.AgreementState, 0) is AgreementState.UNSPECIFIED
    assert enum_of(AgreementState, pb.AgreementState, 99) is AgreementState.UNSPECIFIED
    assert AgreementState.ACTIVE == "ACTIVE"
    assert wire(pb.AuthorizationMode, "specific") == pb.AUTHORIZATION_MODE_SPECIFIC
    with pytest.raises(ValueError, match="SPECIFIC, GENERAL"):
        wire(pb.AuthorizationMode, "SOMETIMES")


def test_a_message_becomes_a_frozen_value_with_python_types() -> None:
    pb = agreements.pb
    msg = pb.Agreement(
        name="controllers/acme/agreements/2",
        version=2,
        state=pb.AGREEMENT_STATE_ACTIVE,
        terms=pb.AgreementTerms(
            nature=[pb.PROCESSING_OPERATION_STORE], purposes=["essential.service"], notice_days=30
        ),
    )
    msg.create_time.FromDatetime(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    value = Agreement.from_proto(msg)
    assert value.state is AgreementState.ACTIVE
    assert value.terms.nature == (ProcessingOperation.STORE,)
    assert value.terms.purposes == ("essential.service",)
    assert value.terms.notice_days == 30 and value.terms.retention_days is None
    assert value.create_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert value.update_time is None
    assert value.termination is None and value.processor_signature is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.version = 3  # type: ignore[misc]


def test_request_values_round_trip() -> None:
    proposal = terms(authorization_mode="specific", nature=["STORE"], notice_days=30)
    assert proposal.authorization_mode is AuthorizationMode.SPECIFIC
    assert AgreementTerms.from_proto(proposal.to_proto()) == proposal
    assert not proposal.to_proto().HasField("retention_days")  # template default
    sg = dpa_client.safeguard(
        "US", "SCC", scc_decision="2021/914", scc_module=3, signed="2024-03-01"
    )
    assert sg.scc_module == "PROCESSOR_TO_PROCESSOR"
    assert Safeguard.from_proto(sg.to_proto()) == sg
    ev = dpa_client.evidence("ISO 27001", "BSI", "all", "C-1", "2025-01-01", "2028-01-01")
    assert Evidence.from_proto(ev.to_proto()) == ev
    sp = Subprocessor.from_proto(
        subprocessors.pb.Subprocessor(subprocessor_id="x", locations=["EE"])
    )
    assert Subprocessor.from_proto(sp.to_proto()) == sp


def test_notification_payload_is_a_read_only_mapping() -> None:
    pb = notifications.pb
    msg = pb.Notification(id=7, kind=pb.NOTIFICATION_KIND_BREACH)
    msg.payload.update({"breach": "breaches/b1", "notification_hours": 24})
    n = notifications.Notification.from_proto(msg)
    assert n.kind is NotificationKind.BREACH
    assert n.payload["breach"] == "breaches/b1"
    with pytest.raises(TypeError):
        n.payload["breach"] = "x"  # type: ignore[index]


def test_no_public_method_returns_a_protobuf_message() -> None:
    leaks = []
    for cls in (RegistryClient, LocalChecker):
        for name, method in inspect.getmembers(cls, inspect.isfunction):
            if name.startswith("_"):
                continue
            returned = str(inspect.signature(method).return_annotation)
            if "pb." in returned or "_pb2" in returned:
                leaks.append(f"{cls.__name__}.{name} -> {returned}")
    assert leaks == []


def test_everything_public_is_exported_from_the_package() -> None:
    for name in dpa_client.__all__:
        assert getattr(dpa_client, name) is not None
    for area in AREAS:
        for _, cls in [(area, c) for a, c in VALUES if a is area] + _classes(StrEnum):
            assert getattr(dpa_client, cls.__name__) is cls


PRIVATE_IMPORT = re.compile(r"\b(?:from|import)\s+dpa_client\._\w+|from\s+dpa_client\s+import\s+_")


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_doc_imports_a_private_client_module(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert PRIVATE_IMPORT.findall(text) == [], f"{page.name} imports a private dpa_client module"
