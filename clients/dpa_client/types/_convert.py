"""Wire-to-value conversions shared by every value class (the one place that
knows how protobuf spells enums, timestamps, durations and structs)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

E = TypeVar("E", bound=StrEnum)
V = TypeVar("V", bound=int)


class EnumWrapper(Protocol[V]):
    """What a generated protobuf enum offers (``pb.AgreementState``)."""

    def Name(self, number: V) -> str: ...
    def Value(self, name: str | bytes) -> V: ...
    def keys(self) -> list[str]: ...
    def items(self) -> list[tuple[str, V]]: ...
    def __hash__(self) -> int: ...


def prefix_of(wrapper: EnumWrapper[Any]) -> str:
    """``AGREEMENT_STATE_`` for ``AgreementState``: the name of value 0 without
    ``UNSPECIFIED`` (every enum of the contract starts with it)."""
    return wrapper.Name(0).removesuffix("UNSPECIFIED")


@functools.cache
def _members(cls: type[StrEnum], wrapper: EnumWrapper[Any]) -> Mapping[int, StrEnum]:
    """Wire number -> member, built once per enum (a lookup per field read)."""
    prefix = prefix_of(wrapper)
    unspecified = cls("UNSPECIFIED")
    return {
        number: cls.__members__.get(name.removeprefix(prefix), unspecified)
        for name, number in wrapper.items()
    }


def enum_of(cls: type[E], wrapper: EnumWrapper[V], value: V) -> E:
    """The library's member for a wire value; UNSPECIFIED for 0 and for a value
    this client version does not know (a newer server), never an exception."""
    member = _members(cls, wrapper).get(value)
    return cast(E, member) if member is not None else cls("UNSPECIFIED")


def wire(wrapper: EnumWrapper[V], member: str) -> V:
    """The wire value of a member or of its name (``"SPECIFIC"``, any case).

    Raises ValueError naming the allowed names for anything else.
    """
    prefix = prefix_of(wrapper)
    try:
        return wrapper.Value(prefix + str(member).upper())
    except ValueError:
        names = wrapper.keys()
        allowed = [n.removeprefix(prefix) for n in names if not n.endswith("UNSPECIFIED")]
        raise ValueError(f"{member!r} is not one of {', '.join(allowed)}") from None


def time_of(msg: Message, field: str) -> datetime | None:
    """A Timestamp field as an aware UTC datetime; None when unset."""
    if not msg.HasField(field):
        return None
    value: datetime = getattr(msg, field).ToDatetime(tzinfo=UTC)
    return value


def set_time(msg: Message, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(msg, field).FromDatetime(value)


def duration_of(msg: Message, field: str) -> timedelta | None:
    """A Duration field as a timedelta; None when unset."""
    if not msg.HasField(field):
        return None
    value: timedelta = getattr(msg, field).ToTimedelta()
    return value


def struct_of(value: Struct) -> Mapping[str, Any]:
    """A Struct as a read-only mapping of JSON values."""
    return MappingProxyType(json_format.MessageToDict(value))
