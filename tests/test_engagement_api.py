"""The one engagement and visibility rule, through the public API.

Who a sub-processor serves (and whose data it may still hold) is one rule
(``registry.subprocessors.engagement``); what a controller may see is one rule
(``registry.visibility``). These tests drive them from outside: breach
notification, the audit-log view against the resource view, withdrawal of an
authorisation, CheckTransfer.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from dpa_client import RegistryClient, denial_code_name, errors
from dpa_client.types import SubprocessorAuthorizationState
from dpa_registry_api.v1 import transfers_pb2 as tpb
from registry import clock
from tests import factories
from tests.harness import Harness

EMAIL = ["user.contact.email"]


def _controller(h: Harness, cid: str) -> RegistryClient:
    return factories._controller_client(h, cid)


def _with_dpa(h: Harness, *cids: str) -> None:
    for cid in cids:
        factories.active_dpa(h, cid)


def test_breach_lists_terminated_controllers_until_their_data_is_returned(
    registry: Harness,
) -> None:
    """Art. 33(2) with 28(3)(g): a platform-wide sub-processor may still hold
    the data of a controller whose DPA ended until return or deletion is
    confirmed; after that the controller is not affected."""
    staff = registry.staff
    _with_dpa(registry, "acme", "globex", "initech")
    factories.engaged_subprocessor_direct(registry, "hostco")
    staff.terminate_agreement("globex", reason="contract ended")
    staff.terminate_agreement("initech", reason="contract ended")
    staff.confirm_data_disposition("initech", 1, "deleted, certificate #9")
    aware = clock.now() - timedelta(hours=1)
    breach = staff.report_breach(
        factories.breach_details(("hostco",)), awareness_time=aware, detection_time=aware
    )
    obligations = {
        o.controller.split("/")[1]: o for o in staff.breach_obligations(breach.breach_id)
    }
    assert set(obligations) == {"acme", "globex"}
    assert list(obligations["acme"].reasons) == ["sub-processor hostco"]
    (reason,) = obligations["globex"].reasons
    assert "DPA terminated" in reason and "not yet confirmed" in reason
    assert list(_controller(registry, "globex").list_breach_notices())
    assert not list(_controller(registry, "initech").list_breach_notices())


def _body(entry_body: bytes) -> dict[str, object]:
    data: dict[str, object] = json.loads(entry_body)
    return data


def test_log_view_and_resource_view_agree_on_every_subprocessor(registry: Harness) -> None:
    """A sub-processor engaged only for globex is NOT_FOUND to acme, and none
    of its processor-wide log entries (create, update, change notice) are in
    acme's log view; globex sees both."""
    staff = registry.staff
    _with_dpa(registry, "acme", "globex")
    factories.subprocessor(staff, "shared")
    factories.subprocessor(staff, "private", named_controllers_only=True)
    private = replace(staff.get_subprocessor("private"), purpose="Hosting of globex's tenant")
    staff.update_subprocessor(private, fields=["purpose"])
    staff.propose_subprocessor_change(
        "ADDITION",
        "private",
        effective=clock.now() + timedelta(days=31),
        controller_ids=["globex"],
    )
    staff.propose_subprocessor_change(
        "ADDITION", "shared", effective=clock.now() + timedelta(days=31)
    )
    acme, globex = _controller(registry, "acme"), _controller(registry, "globex")
    with pytest.raises(errors.NotFound):
        acme.get_subprocessor("private")
    assert globex.get_subprocessor("private").subprocessor_id == "private"

    def resources(client: RegistryClient) -> list[str]:
        return [str(_body(e.body).get("resource", "")) for e in client.audit_entries()]

    acme_seen = resources(acme)
    globex_seen = resources(globex)
    assert not [r for r in acme_seen if "private" in r]
    assert "subprocessors/private" in globex_seen
    assert "subprocessors/shared" in acme_seen
    # Every processor-wide sub-processor entry acme sees names one it may get.
    for r in acme_seen:
        if r.startswith("subprocessors/"):
            acme.get_subprocessor(r.split("/")[1])
    # The inclusion proof of a hidden entry is NOT_FOUND as well.
    hidden = next(
        e.index
        for e in staff.audit_entries()
        if _body(e.body).get("resource") == "subprocessors/private"
    )
    size = staff.log_info().size
    with pytest.raises(errors.NotFound):
        acme.inclusion_proof(hidden, size)
    assert globex.inclusion_proof(hidden, size) is not None


def test_controller_withdraws_an_authorisation(registry: Harness) -> None:
    staff = registry.staff
    _with_dpa(registry, "acme", "globex")
    factories.engaged_subprocessor_direct(registry, "hostco")
    checker = registry.client("service", "checker")

    def verdict(cid: str) -> tuple[int, list[str]]:
        d = checker.check_transfer(
            cid, subprocessor_id="hostco", data_categories=EMAIL, purpose="essential.service"
        )
        return d.verdict, [denial_code_name(r.code) for r in d.reasons]

    assert verdict("acme")[0] == tpb.TRANSFER_VERDICT_ALLOWED
    acme = _controller(registry, "acme")
    entry = acme.withdraw_subprocessor_authorization(
        "acme", "hostco", reason="moving to an EU-only stack"
    )
    assert entry.state == SubprocessorAuthorizationState.WITHDRAWN
    # From that moment: denied for acme, unchanged for globex.
    assert verdict("acme") == (tpb.TRANSFER_VERDICT_DENIED, ["AUTHORIZATION_WITHDRAWN"])
    assert verdict("globex")[0] == tpb.TRANSFER_VERDICT_ALLOWED
    # Staff see it in their queue; the controller has a notice; it is audited.
    (queued,) = list(staff.list_withdrawals())
    assert (queued.controller_id, queued.subprocessor) == ("acme", "subprocessors/hostco")
    assert queued.reason == "moving to an EU-only stack"
    assert any("withdrew" in n.title for n in acme.list_notifications())
    actions = [_body(e.body).get("action") for e in acme.audit_entries()]
    assert "subprocessor.authorization.withdraw" in actions
    listed = {e.subprocessor: e.state for e in acme.get_subprocessor_list("acme").entries}
    assert listed["subprocessors/hostco"] == SubprocessorAuthorizationState.WITHDRAWN
    # Twice, or someone else's: refused precisely.
    with pytest.raises(errors.FailedPrecondition):
        acme.withdraw_subprocessor_authorization("acme", "hostco", reason="again")
    with pytest.raises(errors.NotFound):
        acme.withdraw_subprocessor_authorization("globex", "hostco", reason="not mine")
    with pytest.raises(errors.NotFound):
        acme.withdraw_subprocessor_authorization("acme", "ghost", reason="typo")
    with pytest.raises(errors.InvalidArgument) as bad:
        _controller(registry, "globex").withdraw_subprocessor_authorization(
            "globex", "hostco", reason=" "
        )
    assert {v.field for v in bad.value.violations} == {"reason"}


def test_a_pending_change_is_objected_to_not_withdrawn(registry: Harness) -> None:
    staff = registry.staff
    _with_dpa(registry, "acme")
    factories.subprocessor(staff, "newhost")
    staff.propose_subprocessor_change(
        "ADDITION", "newhost", effective=clock.now() + timedelta(days=31)
    )
    with pytest.raises(errors.FailedPrecondition, match="object"):
        _controller(registry, "acme").withdraw_subprocessor_authorization(
            "acme", "newhost", reason="no"
        )
