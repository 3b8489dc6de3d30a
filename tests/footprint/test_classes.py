"""Energy classes from fixtures/footprint/energy_classes.yaml (compar:IA's bounds)."""

import pytest

import footprint


@pytest.mark.parametrize(
    ("wh_per_1k", "letter"),
    [
        (0.0, "A"),
        (0.0999, "A"),
        (0.1, "B"),
        (0.29, "B"),
        (0.3, "C"),
        (0.99, "C"),
        (1.0, "D"),
        (2.99, "D"),
        (3.0, "E"),
        (9.99, "E"),
        (10.0, "F"),
        (1e6, "F"),
    ],
)
def test_each_answer_falls_in_the_first_class_it_stays_below(wh_per_1k, letter):
    assert footprint.energy_class(wh_per_1k) == letter


def test_an_answer_without_a_figure_has_no_class():
    assert footprint.energy_class(None) is None
    assert footprint.wh_per_1k_tokens(None, 10) is None and footprint.wh_per_1k_tokens(1.0, 0) is None
    assert footprint.wh_per_1k_tokens(0.5, 250) == pytest.approx(2.0)


def test_the_table_gives_every_bound_its_source():
    table = footprint.class_table()
    assert [row["letter"] for row in table] == list("ABCDEF")
    assert [row["below"] for row in table] == [0.1, 0.3, 1.0, 3.0, 10.0, None]
    assert all("compar:IA" in row["source"] and row["year"] for row in table[:-1])


def test_the_web_search_reference_has_its_source():
    ref = footprint.sobriety_reference("web_search", "en")
    assert (ref["value"], ref["unit"], ref["year"]) == (0.3, "Wh", 2009) and "Google" in ref["source"]
    assert "0,3 Wh" in footprint.sobriety_reference("web_search", "fr")["text"]
