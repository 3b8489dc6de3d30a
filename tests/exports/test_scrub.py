"""Personal data detection: each kind found where it is, and ordinary prompts left alone."""

from __future__ import annotations

import pytest

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
    ],
)
def test_it_leaves_ordinary_text_alone(text):
    assert personal_data_kinds(text) == set()
