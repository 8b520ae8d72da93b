"""Property-based fuzzing of every RPC, built from the service descriptors.

Each example picks an RPC and a caller (each role the contract allows, a
controller acting on the other tenant's resources, now and then a role the
contract refuses) and sends a request whose fields hypothesis fills from the
descriptor: known and unknown enum values, extreme integers and timestamps,
resource names of both tenants, forged page tokens, random text; or bytes that
are not a request at all. Whatever comes back must not be INTERNAL or UNKNOWN,
and no status or response may carry a trace, a file path, or the other
tenant's data.

``make test`` sends a few hundred requests per backend; ``make fuzz`` sets
DPA_FUZZ_EXAMPLES (10,000 by default there) and prints the status counts.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dpa_client import RegistryClient
from registry import auth
from registry.services import SERVICES
from tests import factories
from tests.harness import Harness

EXAMPLES = int(os.environ.get("DPA_FUZZ_EXAMPLES", "400"))
TIMEOUT = 60.0
STREAM_TIMEOUT = 0.5

TENANTS = ("acme", "globex")
SECRET = {t: f"zq{t}secret" for t in TENANTS}
"""A marker only tenant ``t``'s own data carries (legal name, e-mails)."""

_LEAK = re.compile(r"Traceback|File \"|\.py\b|site-packages|/work/|/tmp/|psycopg|peewee|sqlite")


@dataclass(frozen=True)
class Rpc:
    path: str
    request: Descriptor
    roles: frozenset[auth.Role]
    streaming: bool

    @property
    def method(self) -> str:
        return self.path.rsplit("/", 1)[1]


def _rpcs() -> list[Rpc]:
    access = {m.path: m for m in auth.declared_access([s.full_name for s in SERVICES])}
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    result = []
    for service in SERVICES:
        for method in pool.FindServiceByName(service.full_name).methods:
            a = access[f"/{service.full_name}/{method.name}"]
            result.append(Rpc(a.path, method.input_type, a.roles, a.server_streaming))
    return result


RPCS = _rpcs()

_NAMES = [
    "",
    "controllers/acme",
    "controllers/globex",
    "controllers/-",
    "controllers/acme/agreements/1",
    "controllers/globex/agreements/1",
    "controllers/acme/agreements/latest",
    "controllers/acme/instructions/1",
    "controllers/globex/instructions/-",
    "controllers/acme/breachNotices/b1",
    "controllers/globex/breachNotices/b1",
    "controllers/-/breachNotices/b1",
    "subprocessors/hostco",
    "subprocessors/-",
    "subprocessors/hostco/safeguards/sg1",
    "breaches/b1",
    "changeNotices/n1",
    "notifications/1",
    "notifications/99999999999999999999",
    "adequacyDecisions/JP",
    "controllers/acme/agreements/99999999999",
    "controllers/ACME",
]
_IDS = ["acme", "globex", "hostco", "b1", "sg1", "n1", "new-one", "-", "A", "x" * 64]
_COUNTRIES = ["EE", "FI", "US", "JP", "XX", "", "ee"]
_INT_EDGES = [0, 1, -1, 7, 30, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
_TS_SECONDS = [0, -1, 1_700_000_000, 1_900_000_000, 253_402_300_799, 253_402_300_800]
_TS_SECONDS += [-62_135_596_800, -62_135_596_801, 2**63 - 1, -(2**63)]
_NANOS = [0, 1, -1, 999_999_999, 1_000_000_000, 2**31 - 1, -(2**31)]
_ENUM_EXTRA = [99, -1, 2**31 - 1, -(2**31)]


def _forged_tokens() -> list[str]:
    def b64(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()

    return [
        b64({"a": "", "s": "checkpoints"}),
        b64({"a": str(2**70), "s": "checkpoints"}),
        b64({"a": "zzz"}),
        "AQ" + "A" * 30,
        "garbage",
        "=" * 9,
        base64.urlsafe_b64encode(b"\x01" + b"\x00" * 16 + str(2**80).encode()).decode(),
    ]


def _strings(fd: FieldDescriptor, tokens: list[str], tame: bool) -> st.SearchStrategy[str]:
    name = fd.name
    text = st.sampled_from(["", "acme", "x"]) if tame else st.text(max_size=40)
    if name in ("name", "parent") or name.endswith("subprocessor") or name == "controller":
        return st.one_of(st.sampled_from(_NAMES), text)
    if name.endswith("_id") or name == "code":
        return st.one_of(st.sampled_from(_IDS), text)
    if "country" in name or name in ("countries", "locations"):
        return st.one_of(st.sampled_from(_COUNTRIES), text)
    if name == "page_token":
        return st.one_of(st.sampled_from(tokens), text)
    if name.endswith("date"):
        return st.one_of(st.sampled_from(["2025-01-15", "2099-12-31", "0001-01-01", "x"]), text)
    return st.one_of(text, st.sampled_from(["", "acme", "user.contact.email", "x" * 600]))


def _int_range(fd: FieldDescriptor) -> tuple[int, int]:
    t = fd.type
    if t in (fd.TYPE_INT32, fd.TYPE_SINT32, fd.TYPE_SFIXED32):
        return -(2**31), 2**31 - 1
    if t in (fd.TYPE_UINT32, fd.TYPE_FIXED32):
        return 0, 2**32 - 1
    if t in (fd.TYPE_UINT64, fd.TYPE_FIXED64):
        return 0, 2**64 - 1
    return -(2**63), 2**63 - 1


def _scalar(fd: FieldDescriptor, tokens: list[str], tame: bool) -> st.SearchStrategy[Any]:
    if fd.enum_type is not None:
        known = [v.number for v in fd.enum_type.values]
        return st.sampled_from(known if tame else known + _ENUM_EXTRA)
    if fd.type == fd.TYPE_STRING:
        return _strings(fd, tokens, tame)
    if fd.type == fd.TYPE_BYTES:
        return st.binary(max_size=64)
    if fd.type == fd.TYPE_BOOL:
        return st.booleans()
    if fd.type in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=32 if fd.type == fd.TYPE_FLOAT else 64)
    low, high = _int_range(fd)
    if tame:
        return st.integers(0, 100)
    edges = [v for v in _INT_EDGES if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _fill(data: st.DataObject, msg: Message, depth: int, tokens: list[str], tame: bool) -> None:
    """Sets a random subset of ``msg``'s fields; ``tame`` keeps values plausible
    (known enums, names from the pools, small numbers) to get past validation."""
    descriptor = msg.DESCRIPTOR
    full = descriptor.full_name
    if full in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
        seconds = [1_700_000_000, 1_900_000_000, 0] if tame else _TS_SECONDS
        msg.seconds = data.draw(st.sampled_from(seconds))  # type: ignore[attr-defined]
        msg.nanos = data.draw(st.sampled_from([0] if tame else _NANOS))  # type: ignore[attr-defined]
        return
    if full == "google.protobuf.FieldMask":
        paths = st.one_of(st.sampled_from(["country", "dpf.status", "mechanism", "x"]), st.text())
        msg.paths.extend(data.draw(st.lists(paths, max_size=3)))  # type: ignore[attr-defined]
        return
    if full.startswith("google.protobuf.") or depth > 3:
        return
    for fd in descriptor.fields:
        if not data.draw(st.integers(0, 2)):  # a third of the fields stay unset
            continue
        if fd.message_type is not None:
            if fd.message_type.GetOptions().map_entry:
                continue
            if fd.is_repeated:
                for _ in range(data.draw(st.integers(0, 2))):
                    _fill(data, getattr(msg, fd.name).add(), depth + 1, tokens, tame)
            else:
                _fill(data, getattr(msg, fd.name), depth + 1, tokens, tame)
        elif fd.is_repeated:
            values = data.draw(st.lists(_scalar(fd, tokens, tame), max_size=3))
            getattr(msg, fd.name).extend(values)
        else:
            setattr(msg, fd.name, data.draw(_scalar(fd, tokens, tame)))


@dataclass
class Outcome:
    code: grpc.StatusCode
    text: str
    """Status message and details, or the response bytes, for leak checks."""


class Fuzzer:
    def __init__(self, h: Harness) -> None:
        self.clients: dict[tuple[auth.Role, str], RegistryClient] = {}
        for role, name in (
            ("staff", "admin"),
            ("service", "checker"),
            ("controller", "acme"),
            ("controller", "globex"),
            ("auditor", "audit1"),
        ):
            self.clients[(auth.Role(role), name)] = h.client(role, name)
        self._stubs: dict[tuple[str, str], Callable[..., Any]] = {}
        self.counts: dict[str, Counter[str]] = {}
        self.failures: list[str] = []
        self.tokens = _forged_tokens()

    def callers(self, rpc: Rpc) -> list[tuple[auth.Role, str]]:
        allowed = [k for k in self.clients if k[0] in rpc.roles]
        return allowed or list(self.clients)

    def call(self, rpc: Rpc, who: tuple[auth.Role, str], body: bytes) -> Outcome:
        channel = self.clients[who].channel
        try:
            if rpc.streaming:
                stream = channel.unary_stream(rpc.path)(body, timeout=STREAM_TIMEOUT)
                received = b"".join(stream)
                return Outcome(grpc.StatusCode.OK, received.decode("utf-8", "replace"))
            response = channel.unary_unary(rpc.path)(body, timeout=TIMEOUT)
            return Outcome(grpc.StatusCode.OK, response.decode("utf-8", "replace"))
        except grpc.RpcError as err:
            code = err.code()  # type: ignore[attr-defined]
            trailers = err.trailing_metadata() or ()  # type: ignore[attr-defined]
            details = " ".join(
                v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                for _, v in trailers
            )
            return Outcome(code, f"{err.details()} {details}")  # type: ignore[attr-defined]

    def judge(self, rpc: Rpc, who: tuple[auth.Role, str], body: bytes, out: Outcome) -> None:
        self.counts.setdefault(rpc.method, Counter())[out.code.name] += 1
        problems = []
        if out.code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN):
            problems.append(f"answered {out.code.name}")
        if out.code != grpc.StatusCode.OK and _LEAK.search(out.text):
            problems.append("status details carry a trace or path")
        role, name = who
        if role is auth.Role.CONTROLLER:
            for other in TENANTS:
                if other == name:
                    continue
                if SECRET[other] in out.text.lower():
                    problems.append(f"carries data of tenant {other}")
                if (
                    out.code != grpc.StatusCode.OK
                    and other in out.text
                    and other.encode() not in body
                ):
                    problems.append(f"names tenant {other}, which the request did not")
        if problems:
            self.failures.append(
                f"{rpc.method} as {role.value}/{name}: {', '.join(problems)}; "
                f"request {body!r:.300}; answer {out.code.name} {out.text!r:.300}"
            )

    def seed(self, h: Harness) -> None:
        staff = h.staff
        for t in TENANTS:
            factories.controller(
                staff,
                t,
                legal_name=f"{t.title()} {SECRET[t]} AS",
                contact_email=f"{SECRET[t]}@{t}.example",
            )
            factories.active_dpa_direct(t)
        factories.engaged_subprocessor_direct(h, "hostco")
        # Real tokens, issued to someone else or for another query.
        stub = self.clients[(auth.Role.STAFF, "admin")].channel.unary_unary(
            "/dpa.registry.v1.ControllerService/ListControllers"
        )
        from dpa_registry_api.v1 import controllers_pb2

        raw = stub(controllers_pb2.ListControllersRequest(page_size=1).SerializeToString())
        token = controllers_pb2.ListControllersResponse.FromString(raw).next_page_token
        assert token
        self.tokens.append(token)


def _body(data: st.DataObject, rpc: Rpc, tokens: list[str]) -> bytes:
    kind = data.draw(st.integers(0, 9))
    if kind == 0:
        return data.draw(st.binary(max_size=200))
    msg = message_factory.GetMessageClass(rpc.request)()
    _fill(data, msg, 0, tokens, tame=kind >= 5)
    body = msg.SerializeToString()
    if kind == 1 and body:  # valid bytes, then damaged
        cut = data.draw(st.integers(0, len(body) - 1))
        flip = data.draw(st.integers(0, 255))
        body = body[:cut] + bytes([body[cut] ^ flip]) + body[cut + 1 :]
    return body


def _report(counts: dict[str, Counter[str]], backend: str) -> str:
    requests = sum(c.total() for c in counts.values())
    lines = [f"status counts per RPC ({backend}, {requests} requests)"]
    for method in sorted(counts):
        c = counts[method]
        lines.append(f"  {method:32} " + " ".join(f"{k}={v}" for k, v in sorted(c.items())))
    total: Counter[str] = Counter()
    for c in counts.values():
        total.update(c)
    lines.append("  TOTAL " + " ".join(f"{k}={v}" for k, v in sorted(total.items())))
    return "\n".join(lines)


def test_fuzz_every_rpc(registry: Harness, database_url: str) -> None:
    fuzzer = Fuzzer(registry)
    fuzzer.seed(registry)
    per_rpc = -(-EXAMPLES // len(RPCS))  # at least EXAMPLES in all

    def fuzz(rpc: Rpc) -> None:
        @settings(
            max_examples=per_rpc,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def one_request(data: st.DataObject) -> None:
            callers = fuzzer.callers(rpc)
            if data.draw(st.integers(0, 19)) == 0:
                callers = list(fuzzer.clients)  # now and then a role the contract refuses
            who = data.draw(st.sampled_from(callers))
            body = _body(data, rpc, fuzzer.tokens)
            fuzzer.judge(rpc, who, body, fuzzer.call(rpc, who, body))

        one_request()

    for rpc in RPCS:
        fuzz(rpc)
    backend = "postgres" if database_url.startswith("postgres") else "sqlite"
    print("\n" + _report(fuzzer.counts, backend))
    assert not fuzzer.failures, f"{len(fuzzer.failures)} bad answers:\n" + "\n".join(
        fuzzer.failures[:20]
    )


def test_every_rpc_refuses_bytes_that_do_not_decode(registry: Harness) -> None:
    """grpcio answers INTERNAL "Exception deserializing request!" unless the
    deserializer is wrapped; every RPC must say INVALID_ARGUMENT instead."""
    name = {"staff": "admin", "service": "checker", "controller": "acme", "auditor": "audit1"}
    clients = {role: registry.client(role, n) for role, n in name.items()}
    body = b"\xff\xff\xff\xff"
    for rpc in RPCS:
        role = min(r.value for r in rpc.roles)
        channel = clients[role].channel
        with pytest.raises(grpc.RpcError) as err:
            if rpc.streaming:
                list(channel.unary_stream(rpc.path)(body, timeout=TIMEOUT))
            else:
                channel.unary_unary(rpc.path)(body, timeout=TIMEOUT)
        code = err.value.code()  # type: ignore[attr-defined]
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (rpc.method, err.value)
        assert "request" in err.value.details(), rpc.method  # type: ignore[attr-defined]
