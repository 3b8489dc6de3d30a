"""`arena_battles.conv_metadata` counts Markdown as FastChat's add_markdown_info.py does: the
reference in one pass, and the column-at-once counts of a release (Polars) alike."""

from __future__ import annotations

import re

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from exports.markdown import PY_WHITESPACE, count_frame, markdown_counts

from .fastchat import count_markdown_elements, remove_pattern

PIECES = ["# ", "## ", "###### ", "####### ", "- ", "* ", "+ ", "1. ", "12. ", "**", "__", "```", "\n", " "]
WORDS = ["mot", "x", "2", ".", "*", "_", "#", "-", "bold", "é"]
# Where Python's regular expressions and Rust's could part: whitespace and digits beyond ASCII.
ODD = ["\t", "\r", "\x0b", "\x1c", "\x85", "\xa0", "\u2003", "\u3000", "\u0663", "\uff11", "\u2028"]


def fastchat_counts(text: str) -> tuple[dict, dict, dict]:
    counts = count_markdown_elements(remove_pattern(text, re.compile("```([^`]*)```")), suffix="_a")
    return counts["header_count_a"], counts["list_count_a"], counts["bold_count_a"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES + WORDS), max_size=60).map("".join))
def test_it_counts_markdown_as_fastchat_does(text):
    assert markdown_counts(text) == fastchat_counts(text)


def test_it_counts_a_typical_answer():
    text = "## Titre\n\nTexte **gras** et __souligné__.\n\n1. un\n2. deux\n- a\n* b\n\n```\n# pas un titre\n```\n"
    headers, lists, bold = markdown_counts(text)
    assert headers["h2"] == 1 and headers["h1"] == 0
    assert lists == {"ordered": 2, "unordered": 2} and bold == {"**": 1, "__": 1}
    assert (headers, lists, bold) == fastchat_counts(text)


TEXTS = st.lists(st.sampled_from(PIECES + WORDS + ODD), max_size=60).map("".join)


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=20))
def test_a_column_is_counted_as_fastchat_counts_each_text(texts):
    counted = count_frame(pl.Series(texts, dtype=pl.String))
    for text, row in zip(texts, counted.iter_rows(named=True), strict=True):
        headers, lists, bold = fastchat_counts(text)
        assert row == {**headers, **lists, **bold}, repr(text)


def test_its_whitespace_is_pythons():
    assert set(PY_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


ODD_TEXTS = [
    "#\x1ctitre\n##\x85b\n###\u3000c",
    "1.\x1cun\n\u0663.\u2003trois\n\uff11.\tfull",
    "-\x1ca\n*\x0bb\n+\u2028c\n  \x1c- d",
    "#\n- \n1.",  # a marker at the end of a line: the newline is its whitespace; at the end of the text, none
    "**gras**\x1c__sous__ **x\n** __y__z__",
]


def test_odd_whitespace_and_digits_count_as_in_fastchat():
    counted = count_frame(pl.Series(ODD_TEXTS, dtype=pl.String))
    for text, row in zip(ODD_TEXTS, counted.iter_rows(named=True), strict=True):
        headers, lists, bold = fastchat_counts(text)
        assert row == {**headers, **lists, **bold}, repr(text)
