"""French is the default language: every interface string has a French translation,
and the compiled catalogue Django loads says the same as the .po it comes from.

The strings are extracted from the code and templates here, as makemessages would, so a
new `gettext` string without a French translation fails the suite even if nobody ran
`make messages`.
"""

import ast
import gettext
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PO = REPO / "arena" / "locale" / "fr" / "LC_MESSAGES" / "django.po"
# The packages whose strings reach people (the worker speaks OpenAI-style English to programs).
TRANSLATED_PACKAGES = ("arena", "leaderboard", "config", "inference", "footprint", "workshops", "exports")
GETTEXT_FUNCTIONS = {
    "_",
    "gettext",
    "gettext_lazy",
    "_lazy",
    "gettext_noop",
    "pgettext",
    "pgettext_lazy",
    "ngettext",
    "ngettext_lazy",
}
# templatize quotes a string with ' or, when it holds an apostrophe, with ".
TEMPLATE_CALL = re.compile(r"""\b(?:gettext|pgettext|ngettext)\(u(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")""")


def python_messages(path: Path) -> set[str]:
    """First string argument of every gettext-like call (adjacent literals joined, as xgettext does)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name not in GETTEXT_FUNCTIONS:
            continue
        arg = node.args[1] if name.startswith("pgettext") and len(node.args) > 1 else node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.add(arg.value)
    return found


def template_messages(path: Path) -> set[str]:
    """{% translate %} and {% blocktranslate %} strings, through Django's own templatize."""
    from django.utils.translation.template import templatize

    code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
    return {
        ast.literal_eval(f"'{single}'") if single else ast.literal_eval(f'"{double}"')
        for single, double in TEMPLATE_CALL.findall(code)
    }


def extract_messages(roots) -> set[str]:
    found: set[str] = set()
    for root in roots:
        for path in Path(root).rglob("*"):
            if "migrations" in path.parts or "__pycache__" in path.parts:
                continue
            if path.suffix == ".py":
                found |= python_messages(path)
            elif path.suffix in (".html", ".txt") and "templates" in path.parts:
                found |= template_messages(path)
    return {m for m in found if m.strip()}


def untranslated(messages: set[str]) -> list[str]:
    """The messages with no French translation (absent from the .po, empty or fuzzy)."""
    translated = {
        unescape(e["msgid"])
        for e in po_entries(PO.read_text(encoding="utf-8"))
        if "fuzzy" not in e["flags"] and any(v for k, v in e.items() if k.startswith("msgstr"))
    }
    return sorted(messages - translated)


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


def test_it_translates_every_string_the_code_and_templates_use(settings):
    messages = extract_messages(REPO / p for p in TRANSLATED_PACKAGES)
    assert len(messages) > 150
    assert "Only a failed or stopped answer of the last turn can be retried." in messages  # a .py string
    assert "Who was who, and what it cost" in messages  # a template string
    assert not untranslated(messages), "run `make messages`, then translate: " + repr(untranslated(messages))


def test_it_fails_on_a_new_string_without_a_french_translation(tmp_path, settings):
    module = tmp_path / "newfeature.py"
    module.write_text(
        "from django.utils.translation import gettext as _\n\n"
        'def hello():\n    return _("A brand new sentence nobody translated yet.")\n'
    )
    template = tmp_path / "templates" / "new.html"
    template.parent.mkdir()
    template.write_text('{% load i18n %}<p>{% translate "Another untranslated sentence" %}</p>')

    messages = extract_messages([tmp_path])

    assert untranslated(messages) == ["A brand new sentence nobody translated yet.", "Another untranslated sentence"]
    assert (
        untranslated(
            extract_messages([tmp_path])
            - {"A brand new sentence nobody translated yet.", "Another untranslated sentence"}
        )
        == []
    )


def unescape(po_text: str) -> str:
    """A .po string's escapes (\\" \\n) resolved, its UTF-8 letters kept."""
    return po_text.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def test_it_ships_a_compiled_catalogue_in_step_with_the_po():
    with open(PO.with_suffix(".mo"), "rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    for entry in po_entries(PO.read_text(encoding="utf-8")):
        if "msgstr" in entry:
            assert catalogue.gettext(unescape(entry["msgid"])) == unescape(entry["msgstr"]), entry["msgid"]
