"""Checks and conversions for values as they arrive on the wire.

The one home for the rules every request obeys whatever its RPC: an enum
carries a value its type declares (proto3 enums are open, so ``scope: 99``
decodes fine), a ``Timestamp`` or ``Duration`` is inside the range the
well-known types define, and the bytes decode at all. ``check`` walks a whole
request from its descriptor and runs before any servicer; the conversion
helpers (``enum_value``, ``enum_name``, ``timestamp``, ``duration``) are what
servicers call to turn a field into a domain value, and raise the same
``InvalidArgument`` naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from google.protobuf.descriptor import Descriptor, EnumDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from registry.errors import FieldViolation, InvalidArgument

# google/protobuf/timestamp.proto: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
TIMESTAMP_MIN_SECONDS = -62_135_596_800
TIMESTAMP_MAX_SECONDS = 253_402_300_799
# google/protobuf/duration.proto: about +-10,000 years.
DURATION_MAX_SECONDS = 315_576_000_000
NANOS_MAX = 999_999_999

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_DURATION = Duration.DESCRIPTOR.full_name


def _known(descriptor: EnumDescriptor, value: int) -> bool:
    return value in descriptor.values_by_number


def _unknown_enum(descriptor: EnumDescriptor, value: int) -> str:
    return f"{value} is not a value of {descriptor.name}"


def timestamp_problem(seconds: int, nanos: int) -> str | None:
    """Why a Timestamp is out of range, or None when it is valid."""
    if not 0 <= nanos <= NANOS_MAX:
        return f"nanos must be in [0, {NANOS_MAX}]"
    if not TIMESTAMP_MIN_SECONDS <= seconds <= TIMESTAMP_MAX_SECONDS:
        return "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
    return None


def duration_problem(seconds: int, nanos: int) -> str | None:
    """Why a Duration is out of range, or None when it is valid."""
    if not -NANOS_MAX <= nanos <= NANOS_MAX:
        return f"nanos must be in [-{NANOS_MAX}, {NANOS_MAX}]"
    if not -DURATION_MAX_SECONDS <= seconds <= DURATION_MAX_SECONDS:
        return f"seconds must be in [-{DURATION_MAX_SECONDS}, {DURATION_MAX_SECONDS}]"
    if (seconds < 0 < nanos) or (nanos < 0 < seconds):
        return "seconds and nanos must have the same sign"
    return None


def _path(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@dataclass(frozen=True, slots=True)
class _Field:
    """A field ``check`` must look at: an enum, or a message (or map of
    messages) that can hold an enum, a Timestamp or a Duration."""

    name: str
    repeated: bool
    enum: EnumDescriptor | None
    """The enum type of the field's values (a map's values for a map)."""
    known: frozenset[int]
    """The numbers ``enum`` declares."""
    is_map: bool


_FIELDS: dict[Descriptor, tuple[_Field, ...]] = {}
_RANGES: dict[Descriptor, Callable[[int, int], str | None]] = {
    Timestamp.DESCRIPTOR: timestamp_problem,
    Duration.DESCRIPTOR: duration_problem,
}


def _fields(descriptor: Descriptor) -> tuple[_Field, ...]:
    """The fields of ``descriptor`` worth walking, in field-number order
    (the order ``ListFields`` reports); worked out once per message type, so
    a request pays only for the fields that can be wrong."""
    found = _FIELDS.get(descriptor)
    if found is None:
        fields = []
        for fd in sorted(descriptor.fields, key=lambda f: f.number):
            target, is_map = fd, False
            if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
                target, is_map = fd.message_type.fields_by_name["value"], True
            if target.enum_type is not None or (
                target.message_type is not None and _can_fail(target.message_type, set())
            ):
                known = (
                    frozenset(target.enum_type.values_by_number)
                    if target.enum_type
                    else frozenset()
                )
                fields.append(_Field(fd.name, fd.is_repeated, target.enum_type, known, is_map))
        found = _FIELDS[descriptor] = tuple(fields)
    return found


def _can_fail(descriptor: Descriptor, seen: set[str]) -> bool:
    """Whether a message of this type can hold anything ``check`` refuses;
    a type met again on the way down (a recursive type) counts as yes."""
    name = descriptor.full_name
    if name in (_TIMESTAMP, _DURATION) or name in seen:
        return True
    seen.add(name)
    for fd in descriptor.fields:
        target = fd
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            target = fd.message_type.fields_by_name["value"]
        if target.enum_type is not None:
            return True
        if target.message_type is not None and _can_fail(target.message_type, seen):
            return True
    return False


def _walk(msg: Message, prefix: str, errors: list[FieldViolation]) -> None:
    descriptor: Descriptor = msg.DESCRIPTOR  # type: ignore[assignment]
    in_range = _RANGES.get(descriptor)
    if in_range is not None:
        problem = in_range(msg.seconds, msg.nanos)  # type: ignore[attr-defined]
        if problem:
            errors.append(FieldViolation(prefix, problem))
        return
    for f in _fields(descriptor):
        if not f.repeated and f.enum is None:  # a single message
            if msg.HasField(f.name):
                _walk(getattr(msg, f.name), _path(prefix, f.name), errors)
            continue
        value = getattr(msg, f.name)
        if f.repeated and not value:
            continue
        if f.is_map:
            _walk_map(f, value, _path(prefix, f.name), errors)
        elif f.enum is None:
            for i, item in enumerate(value):
                _walk(item, f"{_path(prefix, f.name)}[{i}]", errors)
        elif f.repeated:
            for i, v in enumerate(value):
                if v not in f.known:
                    errors.append(
                        FieldViolation(f"{_path(prefix, f.name)}[{i}]", _unknown_enum(f.enum, v))
                    )
        elif value not in f.known:
            # An unset field reads 0, which every proto3 enum declares.
            errors.append(FieldViolation(_path(prefix, f.name), _unknown_enum(f.enum, value)))


def _walk_map(f: _Field, value: Any, path: str, errors: list[FieldViolation]) -> None:
    for key in value:
        item = value[key]
        if f.enum is not None:
            if item not in f.known:
                errors.append(FieldViolation(f"{path}[{key!r}]", _unknown_enum(f.enum, item)))
        else:
            _walk(item, f"{path}[{key!r}]", errors)


def check(request: Message | Undecodable) -> None:
    """Refuses a request whose bytes did not decode, or one with an unknown
    enum value or an out-of-range Timestamp or Duration anywhere in it,
    naming every such field."""
    if isinstance(request, Undecodable):
        raise InvalidArgument.one("request", f"the bytes do not decode as {request.type_name}")
    errors: list[FieldViolation] = []
    _walk(request, "", errors)
    if errors:
        raise InvalidArgument(errors)


class Undecodable:
    """Stands in for a request whose bytes did not decode."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """Wraps a request deserializer so that bytes which do not decode yield an
    ``Undecodable`` (answered INVALID_ARGUMENT) instead of grpcio's INTERNAL."""
    if deserializer is None:
        return None
    type_name = getattr(getattr(deserializer, "__self__", None), "__name__", "the request type")

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except (DecodeError, ValueError, RecursionError):
            return Undecodable(type_name)

    return deserialize


def _enum_descriptor(enum_type: Any) -> EnumDescriptor:
    descriptor: EnumDescriptor = enum_type.DESCRIPTOR
    return descriptor


def enum_value(field: str, value: int, enum_type: Any) -> int:
    """``value`` if the generated enum ``enum_type`` (``pb.SccModule``) declares
    it, else INVALID_ARGUMENT naming ``field``."""
    descriptor = _enum_descriptor(enum_type)
    if not _known(descriptor, value):
        raise InvalidArgument.one(field, _unknown_enum(descriptor, value))
    return value


def enum_name(field: str, value: int, enum_type: Any, prefix: str) -> str:
    """The value's name without its ``prefix`` (``SCOPE_`` of ``SCOPE_EU``)."""
    descriptor = _enum_descriptor(enum_type)
    name: str = descriptor.values_by_number[enum_value(field, value, enum_type)].name
    return name[len(prefix) :] if name.startswith(prefix) else name


def timestamp(field: str, ts: Timestamp) -> datetime:
    """An aware UTC datetime, or INVALID_ARGUMENT naming ``field``."""
    problem = timestamp_problem(ts.seconds, ts.nanos)
    if problem:
        raise InvalidArgument.one(field, problem)
    return ts.ToDatetime(tzinfo=UTC)


def duration(field: str, d: Duration) -> timedelta:
    """A timedelta, or INVALID_ARGUMENT naming ``field``."""
    problem = duration_problem(d.seconds, d.nanos)
    if problem:
        raise InvalidArgument.one(field, problem)
    try:
        return d.ToTimedelta()
    except OverflowError:
        raise InvalidArgument.one(field, "is longer than this server can represent") from None


@overload
def timestamp_of(moment: datetime) -> Timestamp: ...
@overload
def timestamp_of(moment: None) -> None: ...
@overload
def timestamp_of(moment: datetime | None) -> Timestamp | None: ...
def timestamp_of(moment: datetime | None) -> Timestamp | None:
    """A domain time as a protobuf Timestamp (None stays unset): the one
    conversion every servicer uses."""
    if moment is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts
