"""Hypothesis strategies for hostile JSON, shared by the arena's and the worker's fuzz tests:
text with lone surrogates and control characters, integers past any sane size, nesting."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

TEXT = st.text(
    st.characters(categories=["L", "N", "P", "Z", "S", "Cc"])
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, categories=["Cs"]),
    max_size=40,
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT | st.just(10**50)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=12
)
# Bounded, so that the suite stays fast; the fixtures (a server, a worker) are shared on purpose.
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


def printable(text: str) -> str:
    """The same text with lone surrogates replaced, for places that must encode it (URLs)."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
