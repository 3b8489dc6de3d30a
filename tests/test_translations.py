"""French is the default language: every interface string has a French translation,
and the compiled catalogue Django loads says the same as the .po it comes from."""

import gettext
import re
from pathlib import Path

PO = Path(__file__).resolve().parent.parent / "arena" / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def po_entries(text: str) -> list[dict]:
    """msgid -> msgstr (singular entries) from a .po file, with their flags."""
    entries = []
    for block in text.strip().split("\n\n"):
        flags = " ".join(line for line in block.splitlines() if line.startswith("#,"))
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            match = re.match(r'^(msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$', line)
            if match:
                key = match.group(1)
                fields[key] = match.group(2)
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
        if "msgid" in fields and fields["msgid"]:
            entries.append({"flags": flags, **fields})
    return entries


def test_it_translates_every_string_into_french():
    entries = po_entries(PO.read_text(encoding="utf-8"))
    assert len(entries) > 150
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    empty = [e["msgid"] for e in entries if not any(v for k, v in e.items() if k.startswith("msgstr"))]
    assert not fuzzy, fuzzy
    assert not empty, empty


def unescape(po_text: str) -> str:
    """A .po string's escapes (\\" \\n) resolved, its UTF-8 letters kept."""
    return po_text.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def test_it_ships_a_compiled_catalogue_in_step_with_the_po():
    with open(PO.with_suffix(".mo"), "rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    for entry in po_entries(PO.read_text(encoding="utf-8")):
        if "msgstr" in entry:
            assert catalogue.gettext(unescape(entry["msgid"])) == unescape(entry["msgstr"]), entry["msgid"]
