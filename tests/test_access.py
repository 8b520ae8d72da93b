"""Authorization: every RPC, every role, and identities that must be refused."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory

from registry import auth
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


def test_other_trust_domain_is_denied(registry: harness.Harness) -> None:
    from dpa_client import errors

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
