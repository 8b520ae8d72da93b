"""What a controller's DPA Annex IV lists: its authorised sub-processors.

Implementing Decision (EU) 2021/915, Annex IV, and EDPB Opinion 22/2024: the
controller has the identity (name, address, contact) of every sub-processor
processing its data readily available. ``current_annex`` lists the
sub-processors engaged for one controller that are authorised, or pending its
authorisation (a notified change not yet decided); objected, withdrawn and
retired ones are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry import paging
from registry.subprocessors import engagement
from registry.subprocessors.types import AuthorizationState, ServiceCategory
from registry.subprocessors.values import Subprocessor


@dataclass(frozen=True)
class AnnexEntry:
    subprocessor_id: str
    name: str
    legal_name: str
    address: str
    country: str
    contact_email: str
    locations: tuple[str, ...]
    purpose: str
    service_category: ServiceCategory
    state: AuthorizationState
    """This controller's authorisation of the sub-processor."""

    def to_json(self) -> dict[str, Any]:
        return {
            "subprocessor_id": self.subprocessor_id,
            "name": self.name,
            "legal_name": self.legal_name,
            "address": self.address,
            "country": self.country,
            "contact_email": self.contact_email,
            "locations": list(self.locations),
            "purpose": self.purpose,
            "service_category": self.service_category.value,
            "state": self.state.value,
        }


def entry(sp: Subprocessor, state: AuthorizationState) -> AnnexEntry:
    d = sp.details
    assert d.service_category is not None  # required on create
    return AnnexEntry(
        subprocessor_id=sp.subprocessor_id,
        name=d.display_name,
        legal_name=d.legal_name,
        address=d.address,
        country=d.country,
        contact_email=d.contact_email,
        locations=d.locations,
        purpose=d.purpose,
        service_category=d.service_category,
        state=state,
    )


SHOWN = frozenset({*engagement.LISTED, AuthorizationState.OBJECTED, AuthorizationState.WITHDRAWN})
"""What the controller's sub-processor list shows: every state in which a
sub-processor is engaged for it."""


def subprocessor_list(controller_id: str) -> list[AnnexEntry]:
    """The controller's view of its sub-processors: what its Annex IV lists,
    plus the ones it objected to or withdrew its authorisation from."""
    return [
        entry(row, state)
        for row, state in engagement.of_controller(controller_id).values()
        if state in SHOWN
    ]


def subprocessor_list_page(controller_id: str, page: paging.Page) -> list[AnnexEntry]:
    """One page of :func:`subprocessor_list`, ordered by sub-processor id
    (every engaged state is in :data:`SHOWN`, so a page is never short); its
    cost depends on the page size, not on the registry's size."""
    return [
        entry(row, state)
        for row, state in engagement.page_of_controller(controller_id, page.after, page.size)
    ]


def current_annex(controller_id: str) -> list[AnnexEntry]:
    """The sub-processors the controller's Annex IV lists, ordered by id."""
    return [
        entry(row, state)
        for row, state in engagement.of_controller(controller_id).values()
        if state in engagement.LISTED
    ]
