"""The record of processing activities (Art. 30(2)) as the client returns it.

Frozen values built from the wire messages of ``records.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from dpa_registry_api.v1 import records_pb2 as pb


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessingRecord:
    """The record of processing activities (Art. 30(2)) in one format."""

    revision: int
    """The revision (audit-log size) the record reflects."""
    media_type: str
    """e.g. "text/csv; charset=utf-8"."""
    content: bytes
    digest: str
    """"sha256:<hex>" of content."""

    @classmethod
    def from_proto(cls, msg: pb.ProcessingRecord) -> ProcessingRecord:
        """The value of a ``dpa.registry.v1.ProcessingRecord`` message."""
        return cls(
            revision=msg.revision,
            media_type=msg.media_type,
            content=msg.content,
            digest=msg.digest,
        )
