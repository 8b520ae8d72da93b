"""Transfers outside the EEA (GDPR Chapter V): CheckTransfer, safeguards per
sub-processor and destination, and the adequacy reference data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from google.protobuf import field_mask_pb2

from dpa_client._base import BaseClient, consistency, new_request_id
from dpa_client._checks import TransferDecision
from dpa_client.types._convert import E, EnumWrapper
from dpa_client.types.transfers import (
    AdequacyDecision,
    AdequacyReference,
    Clause9Option,
    Safeguard,
    SccDecision,
    SccModule,
    TransferImpactAssessment,
    TransferMechanism,
)
from dpa_registry_api.v1 import transfers_pb2 as pb
from dpa_registry_api.v1 import transfers_pb2_grpc as pb_grpc

ALLOWED = pb.TRANSFER_VERDICT_ALLOWED
DENIED = pb.TRANSFER_VERDICT_DENIED


def _date(value: date | str | None) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else value.isoformat()


def _enum(enum: object, prefix: str, value: str | int | None) -> int:
    """Accepts the enum number, its full name, or the name without ``prefix``."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    name = value if value.startswith(prefix) else prefix + value.upper().replace("/", "_")
    number: int = enum.Value(name)  # type: ignore[attr-defined]
    return number


_SCC_ALIASES = {
    "2021/914": "EU_2021_914",
    "2001/497/EC": "EC_2001_497",
    "2004/915/EC": "EC_2004_915",
    "2010/87/EU": "EU_2010_87",
}


def _member(cls: type[E], wrapper: EnumWrapper[Any], value: str | int | None) -> E:
    """A member from its name (any case, ``/`` for ``_``), its wire number, or
    None/"" for UNSPECIFIED; ValueError for anything else."""
    if value is None or value == "":
        return cls("UNSPECIFIED")
    if isinstance(value, int):
        return cls(wrapper.Name(value).removeprefix(wrapper.Name(0).removesuffix("UNSPECIFIED")))
    return cls(value.upper().replace("/", "_"))


def denial_code_name(code: int) -> str:
    """``TRANSFER_DENIAL_CODE_TIA_MISSING`` -> ``TIA_MISSING``."""
    return pb.TransferDenialCode.Name(code).removeprefix("TRANSFER_DENIAL_CODE_")  # type: ignore[arg-type]


def safeguard(
    destination_country: str,
    mechanism: str,
    *,
    scc_decision: str | None = None,
    scc_module: SccModule | str | int | None = None,
    clause9_option: Clause9Option | str | int | None = None,
    signed: date | str | None = None,
    tia_reference: str = "",
    tia_date: date | str | None = None,
    tia_review: date | str | None = None,
    supplementary_measures: Sequence[str] = (),
    review_date: date | str | None = None,
    instrument_reference: str = "",
) -> Safeguard:
    """A safeguard to record or to offer to ``check_transfer``: ``mechanism``
    "SCC", "BCR", "OTHER_ART46"; ``scc_decision`` "2021/914", "2010/87/EU",
    ...; ``scc_module`` and ``clause9_option`` a member, its name or its
    number (module 3: processor to processor)."""
    decision = _SCC_ALIASES.get(scc_decision or "", scc_decision)
    return Safeguard(
        name="",
        destination_country=destination_country,
        mechanism=_member(TransferMechanism, pb.TransferMechanism, mechanism),
        scc_decision=_member(SccDecision, pb.SccDecision, decision),
        scc_module=_member(SccModule, pb.SccModule, scc_module),
        clause9_option=_member(Clause9Option, pb.Clause9Option, clause9_option),
        signed_date=_date(signed),
        tia=TransferImpactAssessment(
            reference=tia_reference, date=_date(tia_date), review_date=_date(tia_review)
        ),
        supplementary_measures=tuple(supplementary_measures),
        review_date=_date(review_date),
        instrument_reference=instrument_reference,
        create_time=None,
        update_time=None,
        etag="",
    )


def transfer_request_message(
    controller_id: str,
    *,
    data_categories: Sequence[str],
    purpose: str,
    subprocessor_id: str = "",
    recipient: str = "",
    destination_country: str = "",
    transfer_date: date | str | None = None,
    safeguards: Sequence[Safeguard] = (),
    derogation: str | None = None,
    recipient_sector: str | None = None,
    recipient_dpf_certified: bool = False,
    recipient_dpf_checked: date | str | None = None,
) -> pb.CheckTransferRequest:
    """The CheckTransfer request for these arguments (remote and local checks)."""
    return pb.CheckTransferRequest(
        controller_id=controller_id,
        subprocessor_id=subprocessor_id,
        recipient=recipient,
        destination_country=destination_country,
        data_categories=list(data_categories),
        purpose=purpose,
        transfer_date=_date(transfer_date),
        safeguards=[s.to_proto() for s in safeguards],
        derogation=_enum(pb.Art49Ground, "ART49_GROUND_", derogation),  # type: ignore[arg-type]
        recipient_sector=_enum(pb.RecipientSector, "RECIPIENT_SECTOR_", recipient_sector),  # type: ignore[arg-type]
        recipient_dpf_certified=recipient_dpf_certified,
        recipient_dpf_checked_date=_date(recipient_dpf_checked),
    )


class TransfersMixin(BaseClient):
    _transfers_stub: pb_grpc.TransferServiceStub | None = None

    @property
    def _transfers(self) -> pb_grpc.TransferServiceStub:
        # Kept: CheckTransfer is called on every data flow.
        if self._transfers_stub is None:
            self._transfers_stub = pb_grpc.TransferServiceStub(self.channel)
        return self._transfers_stub

    def check_transfer(
        self,
        controller_id: str,
        *,
        data_categories: Sequence[str],
        purpose: str,
        subprocessor_id: str = "",
        recipient: str = "",
        destination_country: str = "",
        transfer_date: date | str | None = None,
        safeguards: Sequence[Safeguard] = (),
        derogation: str | None = None,
        recipient_sector: str | None = None,
        recipient_dpf_certified: bool = False,
        recipient_dpf_checked: date | str | None = None,
        at_least_revision: int | None = None,
        minimize_latency: bool = False,
    ) -> TransferDecision:
        """Services, staff: may this transfer happen, and on which basis?

        Give ``subprocessor_id``, or ``recipient`` and ``destination_country``
        for a one-off transfer. The answer is ALLOWED with its legal bases or
        DENIED with every reason, and names the registry revision.

        Fully consistent by default; ``at_least_revision`` (a write's
        ``last_receipt.revision``) or ``minimize_latency`` ask for less
        (docs/transfers.md, "Consistency").
        """
        request = transfer_request_message(
            controller_id,
            data_categories=data_categories,
            purpose=purpose,
            subprocessor_id=subprocessor_id,
            recipient=recipient,
            destination_country=destination_country,
            transfer_date=transfer_date,
            safeguards=safeguards,
            derogation=derogation,
            recipient_sector=recipient_sector,
            recipient_dpf_certified=recipient_dpf_certified,
            recipient_dpf_checked=recipient_dpf_checked,
        )
        wanted = consistency(at_least_revision, minimize_latency)
        if wanted is not None:
            request.consistency.CopyFrom(wanted)
        result: pb.TransferDecision = self._call(
            self._transfers.CheckTransfer, request, idempotent=True
        )
        return TransferDecision.from_proto(result)

    def create_safeguard(
        self,
        subprocessor_id: str,
        safeguard_id: str,
        safeguard: Safeguard,
        *,
        request_id: str | None = None,
    ) -> Safeguard:
        """Staff: records a safeguard (see :func:`safeguard`). Safe to retry."""
        request = pb.CreateSafeguardRequest(
            parent=f"subprocessors/{subprocessor_id}",
            safeguard_id=safeguard_id,
            safeguard=safeguard.to_proto(),
            request_id=request_id or new_request_id(),
        )
        return Safeguard.from_proto(
            self._call(self._transfers.CreateSafeguard, request, idempotent=True)
        )

    def get_safeguard(self, subprocessor_id: str, safeguard_id: str) -> Safeguard:
        request = pb.GetSafeguardRequest(
            name=f"subprocessors/{subprocessor_id}/safeguards/{safeguard_id}"
        )
        return Safeguard.from_proto(
            self._call(self._transfers.GetSafeguard, request, idempotent=True)
        )

    def list_safeguards(
        self, subprocessor_id: str = "-", *, page_size: int = 100
    ) -> Iterator[Safeguard]:
        """One sub-processor's safeguards, or every one ("-")."""
        token = ""
        while True:
            page: pb.ListSafeguardsResponse = self._call(
                self._transfers.ListSafeguards,
                pb.ListSafeguardsRequest(
                    parent=f"subprocessors/{subprocessor_id}",
                    page_size=page_size,
                    page_token=token,
                ),
                idempotent=True,
            )
            yield from (Safeguard.from_proto(v) for v in page.safeguards)
            token = page.next_page_token
            if not token:
                return

    def update_safeguard(
        self,
        safeguard: Safeguard,
        *,
        fields: Sequence[str] = (),
        request_id: str | None = None,
    ) -> Safeguard:
        """Staff: changes ``fields`` (all if empty) of ``safeguard.name`` to the
        values of this edited copy (``dataclasses.replace``); a stale
        ``safeguard.etag`` raises Conflict."""
        request = pb.UpdateSafeguardRequest(
            safeguard=safeguard.to_proto(),
            update_mask=field_mask_pb2.FieldMask(paths=list(fields)),
            request_id=request_id or new_request_id(),
        )
        return Safeguard.from_proto(
            self._call(self._transfers.UpdateSafeguard, request, idempotent=True)
        )

    def adequacy_reference(self) -> AdequacyReference:
        """Every adequacy decision in force and the EEA members, in one message."""
        whole = pb.ListAdequacyDecisionsResponse()
        token = ""
        while True:
            page: pb.ListAdequacyDecisionsResponse = self._call(
                self._transfers.ListAdequacyDecisions,
                pb.ListAdequacyDecisionsRequest(page_size=1000, page_token=token),
                idempotent=True,
            )
            whole.adequacy_decisions.extend(page.adequacy_decisions)
            if not whole.eea_countries:
                whole.eea_countries.extend(page.eea_countries)
                whole.reviewed_date = page.reviewed_date
            token = page.next_page_token
            if not token:
                return AdequacyReference.from_proto(whole)

    def record_adequacy_change(
        self,
        code: str,
        kind: str,
        *,
        effective: date | str,
        source: str,
        notes: str = "",
        decision: str = "",
        destination_name: str = "",
        destination_kind: str | None = None,
        scope: str | None = None,
        valid_until: date | str | None = None,
        request_id: str | None = None,
    ) -> AdequacyDecision:
        """Staff: ``kind`` "ADOPTED", "SUSPENDED" or "INVALIDATED". Audited."""
        request = pb.RecordAdequacyChangeRequest(
            change=pb.AdequacyChange(
                code=code,
                kind=_enum(pb.AdequacyChangeKind, "ADEQUACY_CHANGE_KIND_", kind),  # type: ignore[arg-type]
                effective_date=_date(effective),
                decision=decision,
                destination_name=destination_name,
                destination_kind=_enum(pb.DestinationKind, "DESTINATION_KIND_", destination_kind),  # type: ignore[arg-type]
                scope=_enum(pb.AdequacyScope, "ADEQUACY_SCOPE_", scope),  # type: ignore[arg-type]
                valid_until_date=_date(valid_until),
                source=source,
                notes=notes,
            ),
            request_id=request_id or new_request_id(),
        )
        return AdequacyDecision.from_proto(
            self._call(self._transfers.RecordAdequacyChange, request, idempotent=True)
        )
