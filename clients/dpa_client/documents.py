"""Signed DPA documents: offline verification of both parties' signatures.

A DPA version is an RFC 8785 canonical JSON document. The processor signs its
exact bytes with Ed25519 (its key is pinned here by its C2SP verifier key
text); the controller countersigns the same bytes with ECDSA P-256/SHA-256
using the key of its mTLS client certificate, and the registry keeps that
certificate with the signature. :func:`verify_agreement` checks, without the
network: the bytes are canonical and name the expected agreement; the
processor signature verifies under a pinned key; the controller certificate
chains to the given CA, carries the controller's SPIFFE ID, was valid when it
signed, and its key verifies the countersignature.

:func:`canonical` is the one RFC 8785 encoder of the registry and the client
library (audit events, documents, decision records).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from dpa_client.errors import BadSignature, VerificationError
from dpa_client.transparency.note import NoteVerifier
from dpa_client.types.agreements import Agreement

DEFAULT_TRUST_DOMAIN = "7plus.one"


def digest(document: bytes) -> str:
    return "sha256:" + hashlib.sha256(document).hexdigest()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value: Any) -> bool:
    """True when ``json.dumps`` is byte-for-byte RFC 8785 for ``value``:
    no floats (RFC 8785 prescribes ECMAScript number formatting) and only
    ASCII object keys (RFC 8785 sorts keys by UTF-16 code units). Lone
    surrogates cannot be encoded: rfc8785 rejects them."""
    if isinstance(value, str):
        return value.isascii() or _SURROGATE.search(value) is None
    if isinstance(value, dict):
        for k, v in value.items():
            if not (isinstance(k, str) and k.isascii()):
                return False
            # The common members inline: an audit event is a flat object.
            if type(v) is str:
                if not v.isascii() and _SURROGATE.search(v) is not None:
                    return False
            elif not (v is None or type(v) is int or type(v) is bool or _plain(v)):
                return False
        return True
    if isinstance(value, list | tuple):
        return all(map(_plain, value))
    return value is None or isinstance(value, bool | int)


_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
"""One encoder for every call: ``json.dumps`` with options builds a new one
each time, which cost more than the encoding of an audit event."""


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of a JSON-compatible value."""
    if _plain(value):
        # Same escaping and member order as RFC 8785 for these values, 10x faster.
        return _PLAIN_JSON.encode(value).encode()
    data: bytes = rfc8785.dumps(value)
    return data


def controller_spiffe_id(controller_id: str, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> str:
    return f"spiffe://{trust_domain}/controller/{controller_id}"


def certificate_spiffe_id(certificate: x509.Certificate) -> str:
    """The single ``spiffe://`` URI SAN of a certificate."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        raise BadSignature("certificate carries no SPIFFE ID") from None
    uris = list(san.value.get_values_for_type(x509.UniformResourceIdentifier))
    spiffe = [u for u in uris if u.startswith("spiffe://")]
    if len(spiffe) != 1:
        raise BadSignature("certificate carries no single SPIFFE ID")
    return spiffe[0]


def sign_document(document: bytes, private_key_pem: bytes) -> bytes:
    """The controller's countersignature: ECDSA P-256, SHA-256, DER encoded."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the client key is not an ECDSA P-256 key")
    return key.sign(document, ec.ECDSA(hashes.SHA256()))


def verify_processor_signature(
    document: bytes, signature: bytes, key: str, pinned: Sequence[str]
) -> NoteVerifier:
    """Checks the processor's Ed25519 signature under a pinned verifier key."""
    if key not in pinned:
        raise BadSignature("the document is signed by a processor key that is not pinned")
    try:
        verifier = NoteVerifier.from_vkey(key)
    except VerificationError as err:
        raise BadSignature(f"bad processor key: {err}") from None
    try:
        verifier.public_key.verify(signature, document)
    except InvalidSignature:
        raise BadSignature("the processor signature does not verify") from None
    return verifier


def verify_controller_signature(
    document: bytes,
    signature: bytes,
    certificate_pem: bytes,
    *,
    controller_id: str,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    ca_pem: bytes | None = None,
    at: datetime | None = None,
) -> x509.Certificate:
    """Checks the countersignature against the certificate kept with it.

    ``ca_pem`` None skips the chain check (the registry does so only for the
    peer certificate its TLS handshake has already verified).
    """
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise BadSignature("the controller certificate is not a PEM certificate") from None
    expected = controller_spiffe_id(controller_id, trust_domain)
    if certificate_spiffe_id(certificate) != expected:
        raise BadSignature(f"the countersignature is not by {expected}")
    if ca_pem is not None:
        ca = x509.load_pem_x509_certificate(ca_pem)
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise BadSignature("the controller certificate is not issued by the given CA") from None
    if at is not None and not (
        certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc
    ):
        raise BadSignature("the controller certificate was not valid when it signed")
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise BadSignature("the controller certificate does not hold an ECDSA key")
    try:
        public.verify(signature, document, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BadSignature("the controller countersignature does not verify") from None
    return certificate


@dataclass(frozen=True)
class VerifiedAgreement:
    """A DPA version whose two signatures verified offline."""

    agreement: str
    controller_id: str
    version: int
    digest: str
    content: dict[str, Any]
    processor_key: str
    controller_identity: str
    controller_certificate_sha256: str


def _parse(document: bytes) -> dict[str, Any]:
    try:
        content = json.loads(document)
    except ValueError:
        raise VerificationError("the document is not JSON") from None
    if not isinstance(content, dict):
        raise VerificationError("the document is not a JSON object")
    if rfc8785.dumps(content) != document:
        raise VerificationError("the document bytes are not RFC 8785 canonical")
    return content


def verify_agreement(
    document: bytes,
    *,
    processor_signature: bytes,
    processor_key: str,
    controller_signature: bytes,
    controller_certificate: bytes,
    pinned_processor_keys: Sequence[str],
    ca_pem: bytes,
    controller_id: str,
    agreement: str | None = None,
    controller_sign_time: datetime | None = None,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
) -> VerifiedAgreement:
    """Verifies both signatures over ``document`` (see the module docstring)."""
    content = _parse(document)
    if content.get("controller_id") != controller_id:
        raise VerificationError(f"the document is not an agreement with {controller_id}")
    if agreement is not None and content.get("agreement") != agreement:
        raise VerificationError(f"the document is not {agreement}")
    verify_processor_signature(document, processor_signature, processor_key, pinned_processor_keys)
    certificate = verify_controller_signature(
        document,
        controller_signature,
        controller_certificate,
        controller_id=controller_id,
        trust_domain=trust_domain,
        ca_pem=ca_pem,
        at=controller_sign_time,
    )
    return VerifiedAgreement(
        agreement=str(content.get("agreement", "")),
        controller_id=controller_id,
        version=int(content.get("version", 0)),
        digest=digest(document),
        content=content,
        processor_key=processor_key,
        controller_identity=certificate_spiffe_id(certificate),
        controller_certificate_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
    )


def verify_downloaded(
    agreement: Agreement,
    *,
    pinned_processor_keys: Sequence[str],
    ca_pem: bytes,
    controller_id: str | None = None,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
) -> VerifiedAgreement:
    """:func:`verify_agreement` over an :class:`Agreement` fetched from the registry.

    ``controller_id`` defaults to the one the message names; pass it to be
    sure the document is with the party you expect.
    """
    if not agreement.document:
        raise VerificationError(f"{agreement.name} has no drafted document yet")
    processor, controller = agreement.processor_signature, agreement.controller_signature
    if processor is None or not processor.signature:
        raise BadSignature(f"{agreement.name} is not signed by the processor")
    if controller is None or not controller.signature:
        raise BadSignature(f"{agreement.name} is not countersigned by the controller")
    return verify_agreement(
        agreement.document,
        processor_signature=processor.signature,
        processor_key=processor.key,
        controller_signature=controller.signature,
        controller_certificate=controller.certificate.encode(),
        pinned_processor_keys=pinned_processor_keys,
        ca_pem=ca_pem,
        controller_id=controller_id or agreement.controller_id,
        agreement=agreement.name,
        controller_sign_time=controller.sign_time,
        trust_domain=trust_domain,
    )
