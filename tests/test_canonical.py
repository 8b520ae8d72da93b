"""The fast canonical-JSON path is byte-for-byte RFC 8785 (the rfc8785 package)."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from dpa_client.documents import canonical

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
