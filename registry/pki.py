"""Development PKI: a local CA, server and client certificates, and the audit-log signing key.

The registry authenticates callers by mutual TLS. A caller's identity is the single
``spiffe://<trust-domain>/<role>/<name>`` URI SAN of its client certificate. This module
makes a self-contained PKI for development and tests:

* ``init_dev_pki`` writes a CA (ECDSA P-256), a ``localhost`` server certificate signed by
  it, and an Ed25519 key that signs the audit log;
* ``issue_client_cert`` issues a client certificate carrying a SPIFFE ID;
* ``spiffe_id_of`` reads the SPIFFE ID back from a PEM certificate.

Private keys are written unencrypted (PKCS#8 PEM) with mode 0600, certificates with 0644.
Every file is written to a temporary file created 0600 and renamed into place, so a key is
never readable by others and a reader never sees a half-written file. This is not a
production CA: it has no revocation and keeps its key on disk.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry.errors import InvalidArgument

ROLES: frozenset[str] = frozenset({"controller", "service", "staff", "auditor"})
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# SPIFFE trust domain: lowercase letters, digits, dots, dashes and underscores.
TRUST_DOMAIN_RE = re.compile(r"^[a-z0-9._-]{1,255}$")

CA_DAYS = 3650
SERVER_DAYS = 365
_CLOCK_SKEW = dt.timedelta(minutes=5)
_KEY_MODE = 0o600
_CERT_MODE = 0o644


@dataclass(frozen=True)
class DevPki:
    """The file layout of a development PKI in ``directory``."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def signing_key(self) -> Path:
        return self.directory / "audit-signing.key"

    def client(self, role: str, name: str) -> tuple[Path, Path]:
        """The (certificate, key) paths of the client ``role``/``name``."""
        stem = f"{role}-{name}"
        return self.directory / f"{stem}.crt", self.directory / f"{stem}.key"


def init_dev_pki(directory: Path, trust_domain: str, *, force: bool = False) -> DevPki:
    """Create the CA, server certificate and audit signing key in ``directory``.

    Idempotent: a part whose files all exist is left untouched unless ``force``. The
    server certificate is re-issued when the CA is (it would no longer chain).
    """
    _check_trust_domain(trust_domain)
    pki = DevPki(directory)
    directory.mkdir(parents=True, exist_ok=True)

    new_ca = force or not _all_exist(pki.ca_cert, pki.ca_key)
    if new_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, trust_domain),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} development CA"),
            ]
        )
        ca_cert = (
            _builder(name, name, ca_key.public_key(), CA_DAYS)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(pki.ca_key, ca_key)
        _write_cert(pki.ca_cert, ca_cert)

    if new_ca or force or not _all_exist(pki.server_cert, pki.server_key):
        ca_cert, ca_key = _load_ca(pki)
        server_key = ec.generate_private_key(ec.SECP256R1())
        san = x509.SubjectAlternativeName(
            [
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                x509.IPAddress(ipaddress.IPv6Address("::1")),
            ]
        )
        server_cert = (
            _leaf_builder(ca_cert, _cn("localhost"), server_key.public_key(), SERVER_DAYS)
            .add_extension(san, critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(pki.server_key, server_key)
        _write_cert(pki.server_cert, server_cert)

    if force or not pki.signing_key.exists():
        _write_key(pki.signing_key, Ed25519PrivateKey.generate())
    return pki


def issue_client_cert(
    pki: DevPki, role: str, name: str, trust_domain: str, *, days: int = 365
) -> tuple[Path, Path]:
    """Issue a client certificate for ``spiffe://<trust_domain>/<role>/<name>``.

    Overwrites an existing certificate of the same role and name. Returns the
    (certificate, key) paths. Raises ``InvalidArgument`` for a bad role, name,
    trust domain or validity period.
    """
    if role not in ROLES:
        raise InvalidArgument.one("role", f"must be one of {', '.join(sorted(ROLES))}")
    if not NAME_RE.fullmatch(name):
        raise InvalidArgument.one("name", f"must match {NAME_RE.pattern}")
    _check_trust_domain(trust_domain)
    if days < 1:
        raise InvalidArgument.one("days", "must be at least 1")

    ca_cert, ca_key = _load_ca(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    spiffe_id = f"spiffe://{trust_domain}/{role}/{name}"
    cert = (
        _leaf_builder(ca_cert, _cn(name), key.public_key(), days)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = pki.client(role, name)
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert_path, key_path


def spiffe_id_of(cert_pem: bytes) -> str | None:
    """The single ``spiffe://`` URI SAN of a PEM certificate; None if it has none or several.

    Raises ``ValueError`` if ``cert_pem`` is not a PEM certificate.
    """
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    ids = [
        u
        for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        if u.startswith("spiffe://")
    ]
    return ids[0] if len(ids) == 1 else None


def ed25519_key_from_pem(data: bytes) -> Ed25519PrivateKey:
    """Load an unencrypted PEM private key; raise ``ValueError`` unless it is Ed25519."""
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"expected an Ed25519 private key, got {type(key).__name__}")
    return key


def _check_trust_domain(trust_domain: str) -> None:
    if not TRUST_DOMAIN_RE.fullmatch(trust_domain):
        raise InvalidArgument.one("trust_domain", f"must match {TRUST_DOMAIN_RE.pattern}")


def _all_exist(*paths: Path) -> bool:
    return all(p.exists() for p in paths)


def _cn(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _leaf_builder(
    ca_cert: x509.Certificate,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    days: int,
) -> x509.CertificateBuilder:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        _builder(subject, ca_cert.subject, public_key, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )


def _load_ca(pki: DevPki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{pki.ca_key}: expected an EC private key")
    return cert, key


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomic(path, pem, _KEY_MODE)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), _CERT_MODE)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with exactly ``mode``, via a 0600 temp file and a rename."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _KEY_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # exact mode, whatever the umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
