"""FastChat's style features (`conv_metadata` of arena_battles): the Markdown headers, lists and
bold of a side's answers, counted as fastchat/serve/monitor/add_markdown_info.py (Apache-2.0)
counts them.

`markdown_counts` is the reference, one text at a time in Python. `count_frame` gives
the same counts for a whole column at once with Polars' Rust regular expressions (a release counts
two million texts); a text holding a code fence goes through the reference, since FastChat cuts
the fenced blocks' contents out first. tests/exports/test_markdown_counts.py checks both against
FastChat's own code.
"""

from __future__ import annotations

import re

import polars as pl

# -- the reference ------------------------------------------------------------------------
# Its six header and two list patterns all start a line and end at the whitespace after their
# marker, so one pass finds them all; the bold patterns may overlap each other and are counted
# apart.
_CODE_BLOCK = re.compile(r"```([^`]*)```")
_LINE_MARKS = re.compile(r"^(?:(?P<header>#{1,6})\s|(?P<ordered>\s*\d+\.\s)|(?P<unordered>\s*[-*+]\s))", re.MULTILINE)
_BOLD_STARS = re.compile(r"\*\*[^*\n]+\*\*")
_BOLD_UNDERSCORES = re.compile(r"__[^_\n]+__")
HEADER_KEYS = ("h1", "h2", "h3", "h4", "h5", "h6")
LIST_KEYS = ("ordered", "unordered")
BOLD_KEYS = ("**", "__")


def markdown_counts(text: str) -> tuple[dict, dict, dict]:
    """(header_count, list_count, bold_count) of a side's answers, code blocks left out."""
    if "```" in text:  # as FastChat does it: the blocks' contents go, wherever they occur
        for block in _CODE_BLOCK.findall(text):
            text = text.replace(block, "")
    headers = dict.fromkeys(HEADER_KEYS, 0)
    lists = {"ordered": 0, "unordered": 0}
    for match in _LINE_MARKS.finditer(text):
        kind = match.lastgroup
        if kind == "header":
            headers[HEADER_KEYS[len(match.group("header")) - 1]] += 1
        else:
            lists[kind] += 1
    bold = {
        "**": len(_BOLD_STARS.findall(text)) if "**" in text else 0,
        "__": len(_BOLD_UNDERSCORES.findall(text)) if "__" in text else 0,
    }
    return headers, lists, bold


# -- a column at once -----------------------------------------------------------------------
# Python's `\s` (str patterns) is str.isspace(): Unicode's White_Space plus the four separators
# U+001C..U+001F, which Rust's `\s` leaves out; its `\d` is Unicode's Nd, as Rust's is.
PY_WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_WS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]"
# Headers, and lists, never share a match with each other: they start with different characters,
# and a list's leading whitespace cannot run through a header line. So two passes find what the
# reference's one pass does.
_HEADERS = rf"(?m)^#{{1,6}}{_WS}"
_LISTS = rf"(?m)^{_WS}*(?:\d+\.|[-*+]){_WS}"


def _markdown_counts(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns h1..h6, ordered, unordered, `**`, `__` for a "text" column without code fences.
    Each pattern runs once: an eager `select` computes a repeated expression each time it
    appears, and the six header counts and three list counts made it run nine times."""
    text = pl.col("text")
    found = frame.select(
        _levels=text.str.extract_all(_HEADERS).list.eval(pl.element().str.len_chars() - 1),
        _lists=text.str.extract_all(_LISTS),
        **{
            "**": text.str.count_matches(_BOLD_STARS.pattern).cast(pl.Int64),
            "__": text.str.count_matches(_BOLD_UNDERSCORES.pattern).cast(pl.Int64),
        },
    ).with_columns(
        _ordered=pl.col("_lists").list.eval(pl.element().str.strip_chars(PY_WHITESPACE).str.ends_with(".")).list.sum()
    )
    levels = pl.col("_levels")
    return found.select(
        *(levels.list.count_matches(level).cast(pl.Int64).alias(key) for level, key in enumerate(HEADER_KEYS, 1)),
        pl.col("_ordered").cast(pl.Int64).alias("ordered"),
        (pl.col("_lists").list.len() - pl.col("_ordered")).cast(pl.Int64).alias("unordered"),
        "**",
        "__",
    )


def count_frame(texts: pl.Series) -> pl.DataFrame:
    """The nine counts of each text, in its order."""
    frame = pl.DataFrame({"text": texts})
    fenced = frame["text"].str.contains("```", literal=True)
    if not fenced.any():
        return _markdown_counts(frame)
    frame = frame.with_row_index("_i")
    plain = frame.filter(~fenced)
    counted = pl.concat([plain.select("_i"), _markdown_counts(plain)], how="horizontal")
    rows = []
    for i, text in frame.filter(fenced).iter_rows():
        headers, lists, bold = markdown_counts(text)
        rows.append((i, *headers.values(), *lists.values(), *bold.values()))
    counted = pl.concat([counted, pl.DataFrame(rows, schema=counted.schema, orient="row")]).sort("_i")
    return counted.drop("_i")
