"""Authorization: every RPC, every role, and identities that must be refused."""

from __future__ import annotations

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from google.protobuf import descriptor_pool, message_factory

from dpa_client import RegistryClient, errors
from registry import auth, pki
from registry.errors import PermissionDenied
from registry.services import SERVICES
from tests import harness

METHODS = auth.declared_access([s.full_name for s in SERVICES])
ROLE_IDENTITY = {
    auth.Role.STAFF: ("staff", "admin"),
    auth.Role.SERVICE: ("service", "checker"),
    auth.Role.CONTROLLER: ("controller", "acme"),
    auth.Role.AUDITOR: ("auditor", "audit1"),
}


def _request_class(path: str) -> type:
    service, method = path.strip("/").split("/")
    desc = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    cls: type = message_factory.GetMessageClass(desc.input_type)
    return cls


def _raw_call(channel: grpc.Channel, m: auth.MethodAccess) -> grpc.StatusCode:
    request = _request_class(m.path)()
    try:
        if m.server_streaming:
            stream = channel.unary_stream(
                m.path, request_serializer=type(request).SerializeToString
            )
            next(iter(stream(request, timeout=1.0)), None)
        else:
            channel.unary_unary(m.path, request_serializer=type(request).SerializeToString)(
                request, timeout=5.0
            )
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


def test_every_rpc_declares_roles() -> None:
    assert METHODS, "no RPCs found"
    for m in METHODS:
        assert m.roles, f"{m.path} allows nobody"


def test_every_rpc_and_role(registry: harness.Harness) -> None:
    """A role not named in the contract gets PERMISSION_DENIED; a named one never."""
    for role, (kind, name) in ROLE_IDENTITY.items():
        channel = registry.client(kind, name).channel
        for m in METHODS:
            code = _raw_call(channel, m)
            if role in m.roles:
                assert code != grpc.StatusCode.PERMISSION_DENIED, (m.path, role)
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (m.path, role, code)


@pytest.mark.parametrize(
    "spiffe_id",
    [
        "spiffe://evil.example/staff/admin",
        "spiffe://7plus.one/robot/x",
        "spiffe://7plus.one/staff",
        "spiffe://7plus.one/staff/admin/extra",
        "spiffe://7plus.one/staff/Admin",
        "https://7plus.one/staff/admin",
    ],
)
def test_bad_identities_are_denied(spiffe_id: str) -> None:
    with pytest.raises(PermissionDenied):
        auth.parse_spiffe_id(spiffe_id, "7plus.one")


def test_identity_parsing() -> None:
    caller = auth.parse_spiffe_id("spiffe://7plus.one/controller/acme", "7plus.one")
    assert caller.role is auth.Role.CONTROLLER
    assert caller.tenant == "acme"
    assert auth.parse_spiffe_id("spiffe://7plus.one/staff/dpo", "7plus.one").tenant is None


@pytest.mark.parametrize(
    "raw",
    [
        b"spiffe://7plus.one/staff/adm\xffin",  # not UTF-8
        b"spiffe://7plus.one/\xc3/admin",
        b"spiffe://evil.example/staff/admin",
    ],
)
def test_certificate_ids_that_are_not_ours_are_denied_not_internal(raw: bytes) -> None:
    """The ID as the TLS layer hands it over: bytes that are not UTF-8 are
    a shape like any other wrong one (PERMISSION_DENIED), never an error."""
    with pytest.raises(PermissionDenied):
        auth.certified_caller(raw, "7plus.one")


def test_a_certificate_id_names_the_same_caller_as_its_text() -> None:
    raw = b"spiffe://7plus.one/controller/acme"
    assert auth.certified_caller(raw, "7plus.one") == auth.parse_spiffe_id(
        raw.decode(), "7plus.one"
    )
    assert auth.certified_caller(raw, "7plus.one") is auth.certified_caller(raw, "7plus.one")


def test_other_trust_domain_is_denied(registry: harness.Harness) -> None:
    intruder = registry.client("staff", "intruder")
    with pytest.raises(errors.PermissionDenied):
        next(intruder.list_controllers())


def test_connection_without_client_certificate_is_refused(registry: harness.Harness) -> None:
    credentials = grpc.ssl_channel_credentials(registry.pki.ca_cert.read_bytes())
    with grpc.secure_channel(registry.target, credentials) as channel:
        stub = channel.unary_unary("/dpa.registry.v1.ControllerService/ListControllers")
        with pytest.raises(grpc.RpcError) as err:
            stub(b"", timeout=5.0)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def _odd_client(
    registry: harness.Harness,
    name: str,
    common_name: str,
    sans: list[x509.GeneralName] | None,
) -> RegistryClient:
    """A client whose certificate our CA signed with this subject and these
    subject alternative names (None: no SAN extension)."""
    ca_cert, ca_key = pki._load_ca(registry.pki)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = pki._leaf_builder(ca_cert, pki._cn(common_name), key.public_key(), 1)
    if sans is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
    ).sign(ca_key, hashes.SHA256())
    cert_path, key_path = registry.pki.client("odd", name)
    pki._write_key(key_path, key)
    pki._write_cert(cert_path, cert)
    return registry.client("odd", name)


def test_identity_is_the_single_spiffe_uri_of_any_certificate(registry: harness.Harness) -> None:
    """Identified by its one SPIFFE URI SAN also beside other SANs; refused
    when the SPIFFE ID is only the common name or a DNS name, or there are two."""
    admin = f"spiffe://{harness.TRUST_DOMAIN}/staff/admin"
    beside = _odd_client(
        registry,
        "beside",
        "beside",
        [x509.DNSName("gateway.internal"), x509.UniformResourceIdentifier(admin)],
    )
    assert list(beside.list_controllers()) == []  # staff may list; there are none
    for name, common_name, sans in (
        ("cn-only", admin, None),
        ("two", "two", [x509.UniformResourceIdentifier(admin)] * 2),
        ("dns-only", "dns-only", [x509.DNSName("admin.staff.internal")]),
        # A single SAN spelled as a SPIFFE ID but not a URI is none.
        ("dns-spiffe", "dns-spiffe", [x509.DNSName(admin)]),
    ):
        client = _odd_client(registry, name, common_name, sans)
        with pytest.raises(errors.PermissionDenied):
            list(client.list_controllers())
