"""Errors always fit the channel: a BadRequest lists at most MAX_VIOLATIONS
field violations and then how many more there are, however many controllers
a rule refuses."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from dpa_client import errors as client_errors
from dpa_registry_api.v1 import subprocessors_pb2 as pb
from registry import clock, errors
from tests import factories
from tests.harness import Harness

CONTROLLERS = 40
DETAILS_KEY = "grpc-status-details-bin"


def test_bounded_keeps_the_first_violations_and_counts_the_rest() -> None:
    many = [errors.FieldViolation(f"items[{i}]", "x" * 1000) for i in range(25)]
    err = errors.InvalidArgument(many)
    assert err.total == 25
    assert len(err.violations) == errors.MAX_VIOLATIONS + 1
    assert [v.field for v in err.violations[:3]] == ["items[0]", "items[1]", "items[2]"]
    assert all(len(v.description) <= errors.MAX_DESCRIPTION for v in err.violations)
    assert err.violations[-1] == errors.FieldViolation(
        "items[10]", "and 15 more violations not listed"
    )
    assert len(err.message) < 4096


def test_a_few_violations_are_kept_as_they_are() -> None:
    few = [errors.FieldViolation("a", "bad"), errors.FieldViolation("b", "worse")]
    assert errors.InvalidArgument(few).violations == tuple(few)
    one_more = [errors.FieldViolation(f"f{i}", "bad") for i in range(errors.MAX_VIOLATIONS + 1)]
    assert errors.InvalidArgument(one_more).violations[-1].description == (
        "and 1 more violation not listed"
    )


def test_notice_refused_for_forty_controllers_is_invalid_argument_that_fits(
    registry: Harness,
) -> None:
    staff = registry.staff
    for i in range(CONTROLLERS):
        cid = f"enterprise-customer-with-a-long-name-{i:02d}"
        factories.controller(staff, cid)
        factories.dpa_terms_direct(cid, notice_days=30, objection_days=30)
    factories.subprocessor(staff, "hostco")
    too_soon = clock.now() + timedelta(days=2)

    with pytest.raises(client_errors.InvalidArgument) as caught:
        staff.propose_subprocessor_change("ADDITION", "hostco", effective=too_soon)
    violations = caught.value.violations
    assert len(violations) == errors.MAX_VIOLATIONS + 1
    assert {v.field for v in violations} == {"change_notice.effective_time"}
    assert violations[-1].description == (
        f"and {CONTROLLERS - errors.MAX_VIOLATIONS} more violations not listed"
    )

    # On the wire: the status details stay well under 8 KB.
    when = pb.ChangeNotice().effective_time
    when.FromDatetime(too_soon)
    request = pb.ProposeSubprocessorChangeRequest(
        change_notice=pb.ChangeNotice(
            kind=pb.CHANGE_KIND_ADDITION,
            subprocessor="subprocessors/hostco",
            effective_time=when,
        ),
        request_id="bounded-errors",
    )
    with pytest.raises(grpc.RpcError) as raw:
        staff._subprocessors.ProposeSubprocessorChange(request, timeout=60)
    call = raw.value
    assert call.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    details = dict(call.trailing_metadata())  # type: ignore[attr-defined]
    assert len(details[DETAILS_KEY]) < 8 * 1024
    status = rpc_status.from_call(call)  # type: ignore[arg-type]
    assert status is not None
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    assert len(bad.field_violations) == errors.MAX_VIOLATIONS + 1


def test_the_full_list_of_conflicts_is_a_query(registry: Harness) -> None:
    """The refusal names ten; ListNoticePeriodConflicts pages through all forty."""
    staff = registry.staff
    for i in range(CONTROLLERS):
        cid = f"customer-{i:02d}"
        factories.controller(staff, cid)
        factories.dpa_terms_direct(cid, notice_days=30 if i % 4 else 10, objection_days=30)
    factories.subprocessor(staff, "hostco")
    soon = clock.now() + timedelta(days=12)
    conflicts = list(
        staff.notice_period_conflicts("ADDITION", "hostco", effective=soon, page_size=7)
    )
    expected = [f"customer-{i:02d}" for i in range(CONTROLLERS) if i % 4]
    assert [c.controller_id for c in conflicts] == expected
    assert {c.notice_days for c in conflicts} == {30}
    assert all(c.earliest_effective_time > soon for c in conflicts)
    with pytest.raises(client_errors.InvalidArgument):
        staff.propose_subprocessor_change("ADDITION", "hostco", effective=soon)
