"""Personal data in what visitors wrote: does a prompt or a comment hold an e-mail address, a phone
number, an IBAN, a payment card number, a French social security number (NIR) or an IP address?

A conversation where one does leaves a release whole, with its vote and reactions. Maintained
libraries decide: email-validator (address syntax, no DNS lookup), phonenumbers (Google's
libphonenumber: numbers as written in France or in international form), python-stdnum (IBAN check
digits, the NIR key, the Luhn checksum of card numbers) and the standard library's ipaddress. Only
the cutting of candidates out of the text is ours (addresses around an '@', runs of digits, dotted
quads), after folding what shows the same into one form: full-width letters and digits, digits of
other scripts, '…', invisible characters. A text with too few digits to hold a number skips the
number checks: a release scans every prompt, and most hold no digit at all.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from stdnum import iban, luhn
from stdnum.fr import nir

KINDS = ("email", "phone", "iban", "card", "nir", "ip")
# Phone numbers as written in these countries ("06 12 34 56 78", "(202) 555-0173"); a number in
# international form ("+44 20 ...") is recognised whatever its country.
PHONE_REGIONS = ("FR", "GB", "US")

_EDGES = "<>()[]{}\"'«»,;:!?.*`"
# Characters nothing shows: an address or a number cut by one still reads whole.
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200d\u2060\ufeff]")
_OTHER_DIGIT = re.compile(r"[^\D0-9]")  # "٠٦" (Arabic-Indic) is "06" to phonenumbers too
# An address anywhere in the text, whatever is glued around it (quotes, '…', "mailto:", "To:",
# '|', '_'): dot-separated runs of word characters, '+' and '-', an '@', then at least two
# dot-separated labels (letters and digits, inner '-'), which leaves "@handle" and "a@b" alone.
# The look-behinds start a try only at the start of a run (".jean" after "..." still does), which
# keeps the search linear on long words; email-validator then judges each candidate.
_LABEL = r"[^\W_]+(?:-+[^\W_]+)*"
_EMAIL = re.compile(rf"(?<![\w+-])(?<![\w+-]\.)[\w+-]+(?:\.[\w+-]+)*@{_LABEL}(?:\.{_LABEL})+")
# "git@github.com:org/repo" and "ssh://git@host/org/repo" name an account on a server, not a mailbox.
_SERVER_PATH = re.compile(r":[\w.~-]*(?:/|\.git\b)")  # a path, not "jean@free.fr:merci"
# An IPv6 address with a port or in a URL is written in brackets ("[2001:db8::1]:80"); brackets
# right after a name or a closing bracket are a slice ("a[1::2]").
_IPV6_BRACKETED = re.compile(r"(?<![\w\])])\[([0-9A-Fa-f:.]+)\]")
_PHONE_RUN = re.compile(r"\+?\(?\d[\d\s().\-/]*\d")
_NUMBER_RUN = re.compile(r"\d(?:[ .\-/]?[\dAaBb]){6,}")  # a NIR may hold 2A/2B (Corsica)
_IBAN_RUN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){10,32}")
_IPV4 = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\.?\d)")
_SEPARATORS = str.maketrans("", "", " .-/")
# Shortest numbers each check can find, in digits: a text with fewer skips it.
_MIN_DIGITS = {"ip": 4, "phone": 7, "iban": 8, "nir": 13, "card": 13}
_MAX_PHONE_DIGITS = 17  # E.164 allows 15, plus a national trunk prefix written in brackets


def personal_data_kinds(text: str) -> set[str]:
    """The kinds of personal data (see KINDS) found in `text`. A number found as an IBAN, a card, a
    NIR or an IP address is blanked before the phone check, so that it counts once, as what it is."""
    found: set[str] = set()
    if not text:
        return found
    text = _folded(text)
    if "@" in text and _has_email(text):
        found.add("email")
    digits = _digit_count(text)
    spans: list[tuple[int, int]] = []
    if digits >= _MIN_DIGITS["iban"]:
        spans += _found(found, "iban", _iban_spans(text))
    if digits >= _MIN_DIGITS["nir"]:
        for kind, span in _number_spans(text):
            spans += _found(found, kind, [span])
    if digits >= _MIN_DIGITS["ip"]:
        spans += _found(found, "ip", _ipv4_spans(text))
    if text.count(":") >= 2 and _has_ipv6(text):
        found.add("ip")
    if digits >= _MIN_DIGITS["phone"]:
        for start, end in spans:
            text = text[:start] + " " * (end - start) + text[end:]
        if _has_phone(text):
            found.add("phone")
    return found


def _found(found: set[str], kind: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if spans:
        found.add(kind)
    return spans


def _folded(text: str) -> str:
    """`text` with compatibility forms as their plain characters (NFKC: "０６" is "06", "＠" is "@",
    '…' is "..."), digits of every script as ASCII ones, and no invisible characters."""
    if text.isascii():  # most prompts: nothing to fold
        return text
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    return _OTHER_DIGIT.sub(lambda digit: str(unicodedata.decimal(digit.group())), text)


def _tokens(text: str, edges: str = _EDGES):
    for token in text.split():
        token = token.strip(edges)
        if token:
            yield token


def _has_email(text: str) -> bool:
    for match in _EMAIL.finditer(text):
        start, end = match.span()
        if text[max(start - 3, 0) : start] == "://" or _SERVER_PATH.match(text, end):
            continue
        try:
            validate_email(match.group(), check_deliverability=False)
        except EmailNotValidError:
            continue
        return True
    return False


def _counts_as_ip(candidate: str) -> bool:
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return False
    # 127.0.0.1, ::1 and 0.0.0.0 are the same for everyone (and in every programming question).
    return not (address.is_loopback or address.is_unspecified)


def _ipv4_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _IPV4.finditer(text) if _counts_as_ip(m.group())]


def _has_ipv6(text: str) -> bool:
    tokens = _tokens(text, _EDGES.replace(":", ""))
    return any(":" in token and _counts_as_ip(token) for token in tokens) or any(
        _counts_as_ip(match.group(1)) for match in _IPV6_BRACKETED.finditer(text)
    )


def _digit_count(text: str) -> int:
    return sum(map(text.count, "0123456789"))


def _has_phone(text: str) -> bool:
    """A valid number among the runs of digits, or among their space-separated parts: a run may join
    a phone number and a year ("06 12 34 56 78 2023"). phonenumbers' own matcher misses that case and
    takes ten times longer."""
    for match in _PHONE_RUN.finditer(text):
        groups = match.group().split()
        if _digit_count(match.group()) < _MIN_DIGITS["phone"]:
            continue
        for start in range(len(groups)):
            digits = 0
            for end in range(start, len(groups)):
                digits += _digit_count(groups[end])
                if digits > _MAX_PHONE_DIGITS:
                    break
                if digits >= _MIN_DIGITS["phone"] and _is_phone_number(" ".join(groups[start : end + 1]), digits):
                    return True
    return False


def _national_lengths(region: str) -> frozenset[int]:
    """Digit counts a number written nationally can have there, trunk prefix ("0") or not."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    lengths = set(metadata.general_desc.possible_length)
    return frozenset(lengths | {n + len(metadata.national_prefix or "") for n in lengths})


_NATIONAL_LENGTHS = {region: _national_lengths(region) for region in PHONE_REGIONS}


def _is_phone_number(candidate: str, digits: int) -> bool:
    if candidate.startswith("+"):
        regions = PHONE_REGIONS[:1]  # the country code decides
    else:  # parsing is the slow part: skip the countries where that many digits cannot be a number
        regions = [r for r in PHONE_REGIONS if digits in _NATIONAL_LENGTHS[r]]
    for region in regions:
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(candidate, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def _iban_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _IBAN_RUN.finditer(text):
        compact = match.group().replace(" ", "").upper()
        # The run may go on into the next word: an IBAN is 15 to 34 characters long.
        if any(iban.is_valid(compact[:length]) for length in range(min(len(compact), 34), 14, -1)):
            spans.append(match.span())
    return spans


def _number_spans(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Payment cards (13 to 19 digits passing Luhn) and NIRs among the runs of digits."""
    found = []
    for match in _NUMBER_RUN.finditer(text):
        compact = match.group().translate(_SEPARATORS).rstrip("AaBb")
        if len(compact) == 15 and nir.is_valid(compact.upper()):
            found.append(("nir", match.span()))
        elif compact.isdigit() and 13 <= len(compact) <= 19 and luhn.is_valid(compact):
            found.append(("card", match.span()))
    return found
