"""`arena_battles.conv_metadata` counts Markdown as FastChat's add_markdown_info.py does, in one pass."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from exports.rows import markdown_counts

from .fastchat import count_markdown_elements, remove_pattern

PIECES = ["# ", "## ", "###### ", "####### ", "- ", "* ", "+ ", "1. ", "12. ", "**", "__", "```", "\n", " "]
WORDS = ["mot", "x", "2", ".", "*", "_", "#", "-", "bold", "é"]


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
