"""The `num` and `wh` template filters: numbers written for the page's language."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.utils.translation import override

from arena.templatetags.arena_format import num, significant, wh

NBSP = "\u00a0"


@pytest.mark.parametrize(
    "value, digits, expected",
    [
        (1.5, 2, (1.5, 1)),
        (1.234, 2, (1.2, 1)),
        (0.0012345, 2, (0.0012, 4)),
        (1234.5, 2, (1234.0, 0)),
        (987.6, 3, (988.0, 0)),
        (0, 2, (0.0, 0)),
        (float("inf"), 2, (0.0, 0)),
    ],
)
def test_it_rounds_to_significant_figures(value, digits, expected):
    assert significant(value, digits) == expected


def test_it_writes_wh_in_french():
    with override("fr"):
        assert wh(1.5) == f"1,5{NBSP}Wh"
        assert wh(0.0015) == f"1,5{NBSP}mWh"
        assert wh(1500) == f"1,5{NBSP}kWh"
        assert wh(2_500_000) == f"2{NBSP}500{NBSP}kWh"


def test_it_writes_wh_in_english():
    with override("en"):
        assert wh(1.5) == f"1.5{NBSP}Wh"
        assert wh(0.0015) == f"1.5{NBSP}mWh"
        assert wh(1500) == f"1.5{NBSP}kWh"
        assert wh(2_500_000) == f"2,500{NBSP}kWh"


def test_it_groups_thousands():
    with override("fr"):
        assert num(1234567) == f"1{NBSP}234{NBSP}567"
        assert num(-1500) == f"-1{NBSP}500"
        assert num(1234.5678, 6) == f"1{NBSP}234,57"
    with override("en"):
        assert num(1234567) == "1,234,567"
        assert num(1234.5678, 6) == "1,234.57"


def test_it_keeps_two_significant_figures_by_default():
    with override("fr"):
        assert num(0.000123) == "0,00012"
        assert num(3.14159) == "3,1"
        assert num(3.14159, 4) == "3,142"
        assert num("2.25") == "2,2"  # round half to even, as Python does
        assert num(0) == "0"


def test_it_picks_the_unit_after_rounding():
    with override("fr"):
        assert wh(0.9996) == f"1,0{NBSP}Wh"
        assert wh(999.96) == f"1,0{NBSP}kWh"
        assert wh(999.4) == f"999{NBSP}Wh"


def test_it_writes_a_dash_for_missing_values():
    assert num(None) == "–"
    assert num("") == "–"
    assert wh(None) == "–"
    with override("fr"):
        assert wh(0) == f"0{NBSP}Wh"


def test_it_formats_in_templates():
    template = Template("{% load arena_format %}{{ e|wh }} · {{ n|num:3 }} · {{ s|side_label }}")
    context = Context({"e": 0.0123, "n": 12.3456, "s": "a"})
    with override("fr"):
        assert template.render(context) == f"12{NBSP}mWh · 12,3 · A"
    with override("en"):
        assert template.render(context) == f"12{NBSP}mWh · 12.3 · A"
