"""Hostile input answers INVALID_ARGUMENT naming the field, never INTERNAL:
unknown enum values, out-of-range timestamps, forged, tampered, foreign and
misplaced page tokens (issue 11, deliverable 2)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dpa_registry_api.v1 import (
    agreements_pb2,
    agreements_pb2_grpc,
    audit_pb2,
    audit_pb2_grpc,
    breaches_pb2,
    breaches_pb2_grpc,
    controllers_pb2,
    controllers_pb2_grpc,
    notifications_pb2,
    notifications_pb2_grpc,
    subprocessors_pb2,
    subprocessors_pb2_grpc,
    transfers_pb2,
    transfers_pb2_grpc,
)
from registry import paging, wire
from registry.errors import InvalidArgument
from tests import factories
from tests.harness import Harness

TIMEOUT = 30


def violated(call: Callable[[], Any]) -> list[str]:
    """The fields an INVALID_ARGUMENT names (fails on any other outcome)."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    err: Any = info.value
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    status = rpc_status.from_call(err)
    assert status is not None
    fields = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields += [v.field for v in bad.field_violations]
    return fields


def _ts(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def test_unknown_enum_values_name_the_field(registry: Harness) -> None:
    staff = registry.staff.channel
    subprocessors = subprocessors_pb2_grpc.SubprocessorServiceStub(staff)
    transfers = transfers_pb2_grpc.TransferServiceStub(staff)
    good = subprocessors_pb2.Subprocessor(subprocessor_id="hostco", display_name="Hostco")

    bad = subprocessors_pb2.Subprocessor()
    bad.CopyFrom(good)
    bad.scope = 99  # type: ignore[assignment]
    request = subprocessors_pb2.CreateSubprocessorRequest(subprocessor=bad)
    assert violated(lambda: subprocessors.CreateSubprocessor(request, timeout=TIMEOUT)) == [
        "subprocessor.scope"
    ]

    bad.CopyFrom(good)
    bad.dpf.status = -1  # type: ignore[assignment]
    request = subprocessors_pb2.CreateSubprocessorRequest(subprocessor=bad)
    assert violated(lambda: subprocessors.CreateSubprocessor(request, timeout=TIMEOUT)) == [
        "subprocessor.dpf.status"
    ]

    notice = subprocessors_pb2.ChangeNotice(kind=-1, subprocessor="subprocessors/hostco")  # type: ignore[arg-type]
    propose = subprocessors_pb2.ProposeSubprocessorChangeRequest(change_notice=notice)
    assert violated(lambda: subprocessors.ProposeSubprocessorChange(propose, timeout=TIMEOUT)) == [
        "change_notice.kind"
    ]

    resolve = subprocessors_pb2.ResolveObjectionRequest(
        change_notice="changeNotices/n1",
        controller_id="acme",
        resolution=99,  # type: ignore[arg-type]
    )
    assert violated(lambda: subprocessors.ResolveObjection(resolve, timeout=TIMEOUT)) == [
        "resolution"
    ]

    safeguard = transfers_pb2.Safeguard(
        destination_country="US",
        mechanism=transfers_pb2.TRANSFER_MECHANISM_SCC,
        scc_module=99,  # type: ignore[arg-type]
        clause9_option=7,  # type: ignore[arg-type]
    )
    create = transfers_pb2.CreateSafeguardRequest(
        parent="subprocessors/hostco", safeguard_id="sg1", safeguard=safeguard
    )
    assert sorted(violated(lambda: transfers.CreateSafeguard(create, timeout=TIMEOUT))) == [
        "safeguard.clause9_option",
        "safeguard.scc_module",
    ]

    check = transfers_pb2.CheckTransferRequest(
        controller_id="acme",
        destination_country="US",
        data_categories=["user.contact.email"],
        purpose="support",
        safeguards=[transfers_pb2.Safeguard(), safeguard],
    )
    assert sorted(violated(lambda: transfers.CheckTransfer(check, timeout=TIMEOUT))) == [
        "safeguards[1].clause9_option",
        "safeguards[1].scc_module",
    ]


def test_out_of_range_timestamps_name_the_field(registry: Harness) -> None:
    breaches = breaches_pb2_grpc.BreachServiceStub(registry.staff.channel)
    subprocessors = subprocessors_pb2_grpc.SubprocessorServiceStub(registry.staff.channel)
    for ts in (_ts(1_700_000_000, -1), _ts(2**63 - 1), _ts(-(2**63)), _ts(0, 10**9)):
        report = breaches_pb2.ReportBreachRequest(breach_id="b1", detection_time=ts)
        assert violated(lambda r=report: breaches.ReportBreach(r, timeout=TIMEOUT)) == [
            "detection_time"
        ]
        notice = subprocessors_pb2.ChangeNotice(
            kind=subprocessors_pb2.CHANGE_KIND_ADDITION,
            subprocessor="subprocessors/hostco",
            effective_time=ts,
        )
        propose = subprocessors_pb2.ProposeSubprocessorChangeRequest(change_notice=notice)
        assert violated(
            lambda p=propose: subprocessors.ProposeSubprocessorChange(p, timeout=TIMEOUT)
        ) == ["change_notice.effective_time"]


def _forged() -> list[str]:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()

    return [
        b64({"a": ""}),
        b64({"a": "", "s": "checkpoints"}),
        b64({"a": str(2**70), "s": "checkpoints"}),
        base64.urlsafe_b64encode(b"\x01" + b"\x00" * 16 + str(2**70).encode()).decode(),
        "garbage",
        "%%%",
        "A" * 5000,
    ]


def test_forged_page_tokens_are_refused_naming_page_token(registry: Harness) -> None:
    staff = registry.staff.channel
    calls: list[Callable[[str], Any]] = [
        lambda t: audit_pb2_grpc.AuditLogServiceStub(staff).ListCheckpoints(
            audit_pb2.ListCheckpointsRequest(page_token=t), timeout=TIMEOUT
        ),
        lambda t: subprocessors_pb2_grpc.SubprocessorServiceStub(staff).ListObjections(
            subprocessors_pb2.ListObjectionsRequest(page_token=t), timeout=TIMEOUT
        ),
        lambda t: agreements_pb2_grpc.InstructionServiceStub(staff).ListInstructions(
            agreements_pb2.ListInstructionsRequest(parent="controllers/acme", page_token=t),
            timeout=TIMEOUT,
        ),
        lambda t: agreements_pb2_grpc.AgreementServiceStub(staff).ListAgreements(
            agreements_pb2.ListAgreementsRequest(parent="controllers/acme", page_token=t),
            timeout=TIMEOUT,
        ),
        lambda t: notifications_pb2_grpc.NotificationServiceStub(staff).ListNotifications(
            notifications_pb2.ListNotificationsRequest(page_token=t), timeout=TIMEOUT
        ),
    ]
    for call in calls:
        for token in _forged():
            assert violated(lambda c=call, t=token: c(t)) == ["page_token"], token


def test_page_tokens_are_bound_to_query_and_caller(registry: Harness) -> None:
    staff = registry.staff
    for cid in ("acme", "globex", "initech"):
        factories.controller(staff, cid)
    stub = controllers_pb2_grpc.ControllerServiceStub(staff.channel)
    first = stub.ListControllers(controllers_pb2.ListControllersRequest(page_size=1))
    token = first.next_page_token
    assert token

    # The issuing caller pages on, through every controller.
    seen = [c.controller_id for c in first.controllers]
    while token:
        page = stub.ListControllers(
            controllers_pb2.ListControllersRequest(page_size=1, page_token=token)
        )
        seen += [c.controller_id for c in page.controllers]
        token = page.next_page_token
    assert seen == ["acme", "globex", "initech"]

    token = first.next_page_token
    # Tampered: any changed character.
    for i in (0, 5, len(token) // 2, len(token) - 1):
        flipped = token[:i] + ("B" if token[i] != "B" else "C") + token[i + 1 :]
        request = controllers_pb2.ListControllersRequest(page_size=1, page_token=flipped)
        assert violated(lambda r=request: stub.ListControllers(r, timeout=TIMEOUT)) == [
            "page_token"
        ]
    # Another caller (even one allowed to list) cannot use it.
    service = controllers_pb2_grpc.ControllerServiceStub(
        registry.client("service", "checker").channel
    )
    request = controllers_pb2.ListControllersRequest(page_size=1, page_token=token)
    assert violated(lambda: service.ListControllers(request, timeout=TIMEOUT)) == ["page_token"]
    # Another query cannot use it.
    subprocessors = subprocessors_pb2_grpc.SubprocessorServiceStub(staff.channel)
    other = subprocessors_pb2.ListSubprocessorsRequest(page_token=token)
    assert violated(lambda: subprocessors.ListSubprocessors(other, timeout=TIMEOUT)) == [
        "page_token"
    ]


def test_wire_check_names_nested_repeated_and_map_fields() -> None:
    check = transfers_pb2.CheckTransferRequest(
        safeguards=[
            transfers_pb2.Safeguard(scc_module=1),  # type: ignore[arg-type]
            transfers_pb2.Safeguard(mechanism=42),  # type: ignore[arg-type]
        ]
    )
    with pytest.raises(InvalidArgument) as err:
        wire.check(check)
    assert [v.field for v in err.value.violations] == ["safeguards[1].mechanism"]

    ok = breaches_pb2.ReportBreachRequest(detection_time=_ts(253_402_300_799, 999_999_999))
    wire.check(ok)
    with pytest.raises(InvalidArgument):
        wire.check(breaches_pb2.ReportBreachRequest(detection_time=_ts(253_402_300_800)))


def test_wire_check_walks_recursive_types_and_maps() -> None:
    payload = struct_pb2.Struct()
    payload.fields["a"].list_value.values.add().null_value = 3  # type: ignore[assignment]
    payload.fields["b"].struct_value.fields["c"].null_value = 0  # type: ignore[assignment]
    with pytest.raises(InvalidArgument) as err:
        wire.check(payload)
    assert [v.field for v in err.value.violations] == [
        "fields['a'].list_value.values[0].null_value"
    ]


def test_token_key_depends_on_the_secret() -> None:
    assert paging.derive_key(b"a" * 32) != paging.derive_key(b"b" * 32)
    assert len(paging.derive_key(b"a" * 32)) == 32
