"""The fast canonical-JSON path is byte-for-byte RFC 8785 (the rfc8785 package)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from dpa_client.documents import canonical
from registry.audit.events import Event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=400)
@given(json_values)
def test_canonical_equals_rfc8785(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_known_escapes() -> None:
    value = {"b": '\u2028\x7f\x1f\n"\\é😀', "a": [1, None, True], "é": 1, "😀": 2}
    assert canonical(value) == rfc8785.dumps(value)


texts = st.text(max_size=12) | st.sampled_from(["", 'q"uote', "back\\slash", "\x00\x1f\n\t", "é"])


@settings(max_examples=400)
@given(
    st.tuples(texts, texts, texts, texts, texts, st.none() | texts),
    st.integers(0, 2**53 - 1),
    st.datetimes(timezones=st.just(UTC)),
)
def test_an_audit_events_bytes_are_rfc8785(
    strings: tuple[str, str, str, str, str, str | None], seq: int, moment: datetime
) -> None:
    """``Event.canonical_bytes`` fills ASCII events into a fixed template:
    the same bytes as RFC 8785 of the event's JSON, whatever its text."""
    action, actor, resource, request_id, change, tenant = strings
    event = Event(seq, moment, actor, tenant, action, resource, request_id, change, "n0nce")
    assert event.canonical_bytes() == rfc8785.dumps(event.to_json())
