"""ControllerService over real mTLS, on each backend."""

from __future__ import annotations

import pytest

from dpa_client import errors
from registry.audit import store
from tests import factories
from tests.harness import Harness


def test_staff_registers_and_lists(registry: Harness) -> None:
    staff = registry.staff
    created = factories.controller(staff, "acme", time_zone="Europe/Tallinn")
    assert created.name == "controllers/acme"
    assert created.notification_preferences.time_zone == "Europe/Tallinn"
    assert created.etag
    assert staff.get_controller("acme") == created
    for i in range(7):
        factories.controller(staff, f"c{i}")
    ids = [c.controller_id for c in staff.list_controllers(page_size=3)]
    assert ids == sorted(["acme", *[f"c{i}" for i in range(7)]])


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("controller.country", {"country": "XX"}),
        ("controller.country", {"country": "ee"}),
        ("controller.contact_email", {"contact_email": "not-an-email"}),
        ("controller.dpo_email", {"dpo_email": ""}),
        ("controller.legal_name", {"legal_name": "   "}),
        ("controller.notification_preferences.time_zone", {"time_zone": "Mars/Olympus"}),
    ],
)
def test_bad_input_names_the_field(
    registry: Harness, field: str, overrides: dict[str, str]
) -> None:
    before = store.size()
    with pytest.raises(errors.InvalidArgument) as err:
        factories.controller(registry.staff, "acme", **overrides)
    assert [v.field for v in err.value.violations] == [field]
    assert store.size() == before
    with pytest.raises(errors.NotFound):
        registry.staff.get_controller("acme")


def test_bad_controller_id(registry: Harness) -> None:
    with pytest.raises(errors.InvalidArgument) as err:
        factories.controller(
            registry.staff, "Not_Valid", contact_email="a@b.example", dpo_email="d@b.example"
        )
    assert [v.field for v in err.value.violations] == ["controller.controller_id"]


def test_duplicate_is_already_exists(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    with pytest.raises(errors.AlreadyExists):
        factories.controller(registry.staff, "acme")


def test_controller_sees_only_itself(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    factories.controller(registry.staff, "globex")
    acme = registry.client("controller", "acme")
    assert acme.get_controller("acme").controller_id == "acme"
    assert [c.controller_id for c in acme.list_controllers()] == ["acme"]
    with pytest.raises(errors.NotFound):
        acme.get_controller("globex")
    with pytest.raises(errors.NotFound):
        acme.update_controller("globex", contact_email="x@acme.example")
    with pytest.raises(errors.NotFound):
        acme.get_controller("nobody")


def test_controller_updates_its_contact_details(registry: Harness) -> None:
    created = factories.controller(registry.staff, "acme")
    acme = registry.client("controller", "acme")
    updated = acme.update_controller("acme", etag=created.etag, dpo_email="new-dpo@acme.example")
    assert updated.dpo_email == "new-dpo@acme.example"
    assert updated.contact_email == created.contact_email
    assert updated.etag != created.etag
    with pytest.raises(errors.PermissionDenied):
        acme.update_controller("acme", legal_name="Renamed")
    with pytest.raises(errors.Conflict):
        acme.update_controller("acme", etag=created.etag, dpo_email="late@acme.example")
    with pytest.raises(errors.InvalidArgument) as err:
        acme.update_controller("acme", contact_email="broken")
    assert [v.field for v in err.value.violations] == ["controller.contact_email"]
    assert registry.staff.get_controller("acme") == updated


def test_staff_updates_any_field(registry: Harness) -> None:
    factories.controller(registry.staff, "acme")
    updated = registry.staff.update_controller("acme", legal_name="Acme Holding", country="FI")
    assert (updated.legal_name, updated.country) == ("Acme Holding", "FI")


def test_create_is_idempotent_on_request_id(registry: Harness) -> None:
    staff = registry.staff
    first = factories.controller(staff, "acme", request_id="req-1")
    receipt = staff.last_receipt
    size = store.size()
    again = factories.controller(staff, "acme", request_id="req-1")
    assert again == first
    assert staff.last_receipt == receipt
    assert store.size() == size
    with pytest.raises(errors.InvalidArgument) as err:
        factories.controller(staff, "other", request_id="req-1")
    assert [v.field for v in err.value.violations] == ["request_id"]


def test_paging_rejects_bad_input(registry: Harness) -> None:
    from dpa_registry_api.v1 import controllers_pb2 as pb

    stub = registry.staff._controllers
    with pytest.raises(Exception) as err:
        stub.ListControllers(pb.ListControllersRequest(page_size=-1), timeout=5)
    assert "page_size" in str(err.value)
    with pytest.raises(Exception) as err:
        stub.ListControllers(pb.ListControllersRequest(page_token="garbage"), timeout=5)
    assert "page_token" in str(err.value)
