"""Personal data detection: each kind found where it is, and ordinary prompts left alone."""

from __future__ import annotations

import sys
import unicodedata

import polars as pl
import pytest

from exports.frames import _MAYBE_PERSONAL
from exports.scrub import personal_data_kinds


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("Écris à jean.dupont@orange.fr stp", {"email"}),
        ("contact: <marie@example.org>.", {"email"}),
        ("Appelle-moi au 06 12 34 56 78", {"phone"}),
        ("mon numéro : +33 6 12 34 56 78.", {"phone"}),
        ("tel 06.12.34.56.78 ou 0612345678", {"phone"}),
        ("+33 (0)6 12 34 56 78", {"phone"}),
        ("rappelle le 06 12 34 56 78 2025", {"phone"}),  # a year right after the number
        ("call me at (202) 555-0173", {"phone"}),
        ("Mon NIR : 2 95 10 99 126 111 93", {"nir"}),
        ("IBAN FR76 3000 6000 0112 3456 7890 189 merci", {"iban"}),
        ("iban: fr7630006000011234567890189", {"iban"}),
        ("carte 4111 1111 1111 1111 exp 12/27", {"card"}),
        ("carte 5555-5555-5555-4444", {"card"}),
        ("mon serveur 82.64.12.7 ne répond pas", {"ip"}),
        ("adresse 2001:db8::1 en IPv6", {"ip"}),
        ("écris à a@b.fr ou au 06 12 34 56 78", {"email", "phone"}),
        # Addresses glued to what surrounds them
        ("écris-moi: “marie.curie@orange.fr”", {"email"}),
        ("‘a@b.fr’", {"email"}),
        ("«a@b.fr»", {"email"}),  # found before too: kept as a guard
        ("Réécris ce mail pour jean.dupont@gmail.com…", {"email"}),
        ("c’est jean.dupont@gmail.com’s inbox", {"email"}),
        ("Suite...jean@free.fr", {"email"}),
        ("mail:paul@free.fr", {"email"}),
        ("To:x@y.fr", {"email"}),
        ('From: "Jean"<x@y.fr>', {"email"}),
        ("[moi](mailto:x@y.fr)", {"email"}),
        ('<a href="mailto:x@y.fr">moi</a>', {"email"}),
        ("x@y.fr|", {"email"}),
        ("x@y.fr/", {"email"}),
        ("écris à x@y.fr\u200b merci", {"email"}),
        ("écris à jean\u200b.dupont@y.fr", {"email"}),
        ("_x@y.fr_", {"email"}),
        ("jean@free.fr:merci", {"email"}),  # a colon, but no server path after it
        ("ｍａｒｉｅ＠ｏｒａｎｇｅ．ｆｒ", {"email"}),
        # Digits as other scripts or widths write them
        ("appelle le ０６１２３４５６７８", {"phone"}),
        ("appelle le ٠٦١٢٣٤٥٦٧٨", {"phone"}),
        ("écoute sur [2001:db8::1]:80", {"ip"}),
        ("http://[2001:db8::1]:8080/", {"ip"}),
    ],
)
def test_it_finds_personal_data(text, kinds):
    assert personal_data_kinds(text) == kinds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Explique la photosynthèse à un enfant de 10 ans.",
        "En 1789, 1 500 000 personnes vivaient à Paris ?",
        "Lance le serveur sur 127.0.0.1:8000 puis ::1",
        "Il est 12:30:00, rendez-vous à 14h",
        "Suis @soleil sur les réseaux",
        "Calcule 1234 * 5678 et 4111 1111 1111 1112",  # fails Luhn
        "Le code postal 75011 et le numéro 12",
        "FR76 n'est pas un IBAN",
        "@soleil@lune et a@b, puis me@localhost",
        "git clone git@github.com:org/repo.git",
        "git clone ssh://git@gitlab.com/org/repo.git",
        "npm i lodash@4.17.21",
        "les pairs: a[1::2], b[::2], c[0][::2]",
        "La surface fait 12 m² et le CO₂ ２０２５",
    ],
)
def test_it_leaves_ordinary_text_alone(text):
    assert personal_data_kinds(text) == set()


def test_the_polars_prefilter_keeps_every_character_that_folds_into_a_sign_checked():
    """A text skips the Python checks when Polars finds no '@', fewer than four digits and fewer than
    two colons in it, before folding: so every character that NFKC folds into one of those signs
    must send its text on, whatever else it holds."""
    folding = [
        char
        for char in map(chr, range(128, sys.maxunicode + 1))
        if (folded := unicodedata.normalize("NFKC", char)) != char
        and any(sign in folded for sign in "0123456789@:")
        or char.isdecimal()
    ]
    kept = pl.DataFrame({"text": folding}).filter(_MAYBE_PERSONAL)["text"].to_list()
    assert set(folding) - set(kept) == set()
    assert pl.DataFrame({"text": ["é", "a", "12 m"]}).filter(_MAYBE_PERSONAL).is_empty()
