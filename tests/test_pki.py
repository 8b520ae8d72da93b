"""Tests for the development PKI (registry.pki)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from registry.errors import InvalidArgument
from registry.pki import (
    DevPki,
    ed25519_key_from_pem,
    init_dev_pki,
    issue_client_cert,
    spiffe_id_of,
)

TD = "registry.test"


@pytest.fixture
def strict_umask() -> Iterator[None]:
    """Modes must not depend on the umask: run with one that would hide certificates."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return init_dev_pki(tmp_path / "certs", TD)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _files(pki: DevPki) -> list[Path]:
    return [pki.ca_cert, pki.ca_key, pki.server_cert, pki.server_key, pki.signing_key]


def _snapshot(pki: DevPki) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in _files(pki)}


def _assert_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    ca_pub = ca.public_key()
    assert isinstance(ca_pub, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    ca_pub.verify(  # raises InvalidSignature on mismatch
        cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm)
    )
    assert cert.issuer == ca.subject


@pytest.mark.usefixtures("strict_umask")
def test_init_writes_all_files_with_modes(tmp_path: Path) -> None:
    pki = init_dev_pki(tmp_path / "a" / "certs", TD)
    assert pki.directory.is_dir()
    assert sorted(p.name for p in pki.directory.iterdir()) == sorted(p.name for p in _files(pki))
    for key in (pki.ca_key, pki.server_key, pki.signing_key):
        assert _mode(key) == 0o600, key
    for cert in (pki.ca_cert, pki.server_cert):
        assert _mode(cert) == 0o644, cert
    ed25519_key_from_pem(pki.signing_key.read_bytes())


def test_ca_is_a_p256_ca(pki: DevPki) -> None:
    ca = _cert(pki.ca_cert)
    pub = ca.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert isinstance(pub.curve, ec.SECP256R1)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert lifetime.days >= 3650
    _assert_signed_by(ca, ca)


def test_server_cert_has_sans_and_chains(pki: DevPki) -> None:
    ca, server = _cert(pki.ca_cert), _cert(pki.server_cert)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(san.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    _assert_signed_by(server, ca)
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(x509.DNSName("localhost"))
    verifier.verify(server, [])  # full RFC 5280 path validation


def test_init_is_idempotent(pki: DevPki) -> None:
    before = _snapshot(pki)
    again = init_dev_pki(pki.directory, TD)
    assert again == pki
    assert _snapshot(pki) == before


def test_init_force_regenerates(pki: DevPki) -> None:
    before = _snapshot(pki)
    init_dev_pki(pki.directory, TD, force=True)
    after = _snapshot(pki)
    assert all(after[name] != before[name] for name in before)
    _assert_signed_by(_cert(pki.server_cert), _cert(pki.ca_cert))
    assert _mode(pki.ca_key) == 0o600


def test_init_fills_in_a_missing_part(pki: DevPki) -> None:
    before = _snapshot(pki)
    pki.server_key.unlink()
    init_dev_pki(pki.directory, TD)
    after = _snapshot(pki)
    assert after[pki.ca_cert.name] == before[pki.ca_cert.name]
    assert after[pki.signing_key.name] == before[pki.signing_key.name]
    assert after[pki.server_cert.name] != before[pki.server_cert.name]
    _assert_signed_by(_cert(pki.server_cert), _cert(pki.ca_cert))


@pytest.mark.usefixtures("strict_umask")
def test_issue_client_cert(pki: DevPki) -> None:
    cert_path, key_path = issue_client_cert(pki, "staff", "admin", TD)
    assert (cert_path, key_path) == pki.client("staff", "admin")
    assert cert_path.name == "staff-admin.crt"
    assert key_path.name == "staff-admin.key"
    assert _mode(key_path) == 0o600
    assert _mode(cert_path) == 0o644

    pem = cert_path.read_bytes()
    assert spiffe_id_of(pem) == f"spiffe://{TD}/staff/admin"
    cert, ca = x509.load_pem_x509_certificate(pem), _cert(pki.ca_cert)
    assert cert.subject.rfc4514_string() == "CN=admin"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    _assert_signed_by(cert, ca)
    verified = PolicyBuilder().store(Store([ca])).build_client_verifier().verify(cert, [])
    assert verified.subjects is not None
    assert x509.UniformResourceIdentifier(f"spiffe://{TD}/staff/admin") in verified.subjects

    # The key file holds the certificate's private key.
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == cert.public_key()


def test_issue_days(pki: DevPki) -> None:
    cert_path, _ = issue_client_cert(pki, "auditor", "kpmg.eu-1", TD, days=7)
    cert = _cert(cert_path)
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 7
    with pytest.raises(InvalidArgument) as exc:
        issue_client_cert(pki, "auditor", "x", TD, days=0)
    assert [v.field for v in exc.value.violations] == ["days"]


@pytest.mark.parametrize("role", ["admin", "", "Staff", "staff/x"])
def test_bad_role(pki: DevPki, role: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        issue_client_cert(pki, role, "alice", TD)
    assert [v.field for v in exc.value.violations] == ["role"]
    assert not any(p.name.endswith("-alice.crt") for p in pki.directory.iterdir())


@pytest.mark.parametrize("name", ["", "Alice", "-alice", ".x", "a/b", "a b", "a" * 64, "é"])
def test_bad_name(pki: DevPki, name: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        issue_client_cert(pki, "controller", name, TD)
    assert [v.field for v in exc.value.violations] == ["name"]


def test_bad_trust_domain(tmp_path: Path, pki: DevPki) -> None:
    with pytest.raises(InvalidArgument) as exc:
        issue_client_cert(pki, "service", "api", "Evil/Domain")
    assert [v.field for v in exc.value.violations] == ["trust_domain"]
    with pytest.raises(InvalidArgument):
        init_dev_pki(tmp_path / "other", "")


def test_spiffe_id_of_none_without_uri_san(pki: DevPki) -> None:
    assert spiffe_id_of(pki.server_cert.read_bytes()) is None  # SANs, but no URI
    assert spiffe_id_of(pki.ca_cert.read_bytes()) is None  # no SAN extension at all
    with pytest.raises(ValueError):
        spiffe_id_of(b"not a certificate")


def test_spiffe_id_of_none_when_ambiguous() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "two")])
    uris = [x509.UniformResourceIdentifier(f"spiffe://{TD}/staff/{n}") for n in ("a", "b")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC))
        .add_extension(x509.SubjectAlternativeName(uris), critical=False)
        .sign(key, hashes.SHA256())
    )
    assert spiffe_id_of(cert.public_bytes(serialization.Encoding.PEM)) is None


def test_ed25519_key_from_pem(pki: DevPki) -> None:
    key = ed25519_key_from_pem(pki.signing_key.read_bytes())
    assert isinstance(key, Ed25519PrivateKey)
    with pytest.raises(ValueError, match="Ed25519"):
        ed25519_key_from_pem(pki.server_key.read_bytes())
