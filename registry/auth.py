"""Caller identity and authorization, in one place.

The caller is the SPIFFE ID in the URI SAN of its client certificate
(``spiffe://<trust-domain>/<role>/<name>``). Which roles may call an RPC is
declared in the proto contract (``option (dpa.registry.v1.access)``) and
enforced here, before any servicer runs. Tenant scoping (a controller sees only
its own resources) is done by the domain code with ``Caller.tenant``.
"""

from __future__ import annotations

import contextvars
import enum
import re
from dataclasses import dataclass
from functools import lru_cache

from google.protobuf import descriptor_pool

from dpa_registry_api.v1 import access_pb2
from registry.errors import NotFound, PermissionDenied, Unauthenticated


class Role(enum.Enum):
    CONTROLLER = "controller"
    SERVICE = "service"
    STAFF = "staff"
    AUDITOR = "auditor"


_PROTO_ROLE = {
    access_pb2.ROLE_CONTROLLER: Role.CONTROLLER,
    access_pb2.ROLE_SERVICE: Role.SERVICE,
    access_pb2.ROLE_STAFF: Role.STAFF,
    access_pb2.ROLE_AUDITOR: Role.AUDITOR,
}

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


@dataclass(frozen=True)
class Caller:
    spiffe_id: str
    role: Role
    name: str

    @property
    def tenant(self) -> str | None:
        """The controller id for a controller, else None (processor side)."""
        return self.name if self.role is Role.CONTROLLER else None

    @property
    def is_staff(self) -> bool:
        return self.role is Role.STAFF

    def sees(self, controller_id: str | None) -> bool:
        """The one tenant rule: the processor side (staff, services,
        auditors) sees every controller's resources; a controller sees only
        its own. ``None``: a processor-wide resource, which only the
        processor side sees here (``registry.visibility`` adds what a
        controller may see of those)."""
        if self.role is not Role.CONTROLLER:
            return True
        return controller_id is not None and controller_id == self.name

    def require(self, controller_id: str, resource: str) -> None:
        """NOT_FOUND unless :meth:`sees`: another tenant's resource does not
        exist for this caller (never PERMISSION_DENIED, which would confirm it)."""
        if not self.sees(controller_id):
            raise NotFound(f"{resource} not found")


def parse_spiffe_id(spiffe_id: str, trust_domain: str) -> Caller:
    """Parses a caller's SPIFFE ID; another trust domain or shape is denied."""
    prefix = f"spiffe://{trust_domain}/"
    if not spiffe_id.startswith(prefix):
        raise PermissionDenied("client identity is not in this registry's trust domain")
    parts = spiffe_id[len(prefix) :].split("/")
    if len(parts) != 2 or not _NAME.fullmatch(parts[1]):
        raise PermissionDenied("client identity has an unknown shape")
    try:
        role = Role(parts[0])
    except ValueError:
        raise PermissionDenied("client identity has an unknown role") from None
    return Caller(spiffe_id=spiffe_id, role=role, name=parts[1])


@lru_cache(maxsize=4096)
def certified_caller(spiffe_id: bytes, trust_domain: str) -> Caller:
    """The caller a client certificate's SPIFFE ID names, as the TLS layer
    hands it over (bytes). Cached: every call of a connection carries the
    same ID (a refusal raises and is not cached). Bytes that are not UTF-8
    cannot spell an ID of this trust domain: denied like any other shape."""
    return parse_spiffe_id(spiffe_id.decode("utf-8", "replace"), trust_domain)


@dataclass(frozen=True)
class MethodAccess:
    path: str
    """gRPC method path, ``/pkg.Service/Method``."""
    roles: frozenset[Role]
    mutates: bool
    server_streaming: bool


def declared_access(service_names: list[str]) -> list[MethodAccess]:
    """Reads the ``access`` option of every method of the given services.

    A method without the option is a contract error and fails at start-up.
    """
    pool = descriptor_pool.Default()
    result: list[MethodAccess] = []
    for service_name in service_names:
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            options = method.GetOptions()
            if not options.HasExtension(access_pb2.access):
                raise RuntimeError(f"{method.full_name} declares no (dpa.registry.v1.access)")
            access = options.Extensions[access_pb2.access]
            result.append(
                MethodAccess(
                    path=f"/{service.full_name}/{method.name}",
                    roles=frozenset(_PROTO_ROLE[r] for r in access.roles),
                    mutates=access.mutates,
                    server_streaming=method.server_streaming,
                )
            )
    return result


def access_policy(service_names: list[str]) -> dict[str, frozenset[Role]]:
    """Method path -> the roles that may call it."""
    return {m.path: m.roles for m in declared_access(service_names)}


def authorize(caller: Caller, allowed: frozenset[Role]) -> None:
    if caller.role not in allowed:
        raise PermissionDenied(f"role {caller.role.value} may not call this method")


_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller")


def current_caller() -> Caller:
    """The authenticated caller of the RPC being served on this thread."""
    try:
        return _current.get()
    except LookupError:
        raise Unauthenticated("no authenticated caller") from None


def bind_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)


def unbind_caller(token: contextvars.Token[Caller]) -> None:
    _current.reset(token)
