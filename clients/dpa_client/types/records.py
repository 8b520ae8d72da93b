"""The record of processing activities (Art. 30(2)) as the client returns it.

Frozen values built from the wire messages of ``records.proto``, each in one
``from_proto``; enums are ``StrEnum`` members named as in the contract
without their prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dpa_client.types._convert import time_of
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


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """A person or office and how to reach them."""

    name: str
    email: str
    phone: str
    address: str
    country: str
    """ISO 3166-1 alpha-2."""

    @classmethod
    def from_proto(cls, msg: pb.Contact) -> Contact:
        """The value of a ``dpa.registry.v1.Contact`` message."""
        return cls(
            name=msg.name,
            email=msg.email,
            phone=msg.phone,
            address=msg.address,
            country=msg.country,
        )

    def to_proto(self) -> pb.Contact:
        """The ``dpa.registry.v1.Contact`` message of this value."""
        return pb.Contact(
            name=self.name,
            email=self.email,
            phone=self.phone,
            address=self.address,
            country=self.country,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessorDetails:
    """The processor's DPO and representative as the record shows them."""

    name: str
    """Always "processor"."""
    dpo: Contact | None
    """The data protection officer (Art. 37-39); unset: none designated."""
    representative: Contact | None
    """The representative in the Union (Art. 27); unset: none (the processor
    is established in the Union).
    """
    etag: str
    """"r{n}"; on update, if set, must be the current one."""
    update_time: datetime | None

    @classmethod
    def from_proto(cls, msg: pb.ProcessorDetails) -> ProcessorDetails:
        """The value of a ``dpa.registry.v1.ProcessorDetails`` message."""
        return cls(
            name=msg.name,
            dpo=Contact.from_proto(msg.dpo) if msg.HasField("dpo") else None,
            representative=Contact.from_proto(msg.representative)
            if msg.HasField("representative")
            else None,
            etag=msg.etag,
            update_time=time_of(msg, "update_time"),
        )
