"""GET / (the arena's home page), GET /api/models and GET /methodologie/."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.utils import timezone
from django.utils.html import escape

import footprint
from arena.models import LLM, Battle, Message
from arena.templatetags.arena_format import num, wh
from arena.visitors import COOKIE

from .conftest import add_attempt, energy_record, post_json

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_totals(clear_cache):
    """The platform's total is cached under the newest vote's id, which restarts with each
    test's database: no test may read another's total."""


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def _terms_section(html: str) -> str:
    return re.search(r'<section id="terms"[^>]*>', html).group(0)


def _totals(html: str) -> str:
    return re.search(r'<section class="totals".*?</section>', html, re.S).group(0)


# -- language -----------------------------------------------------------------------------
def test_it_speaks_french_by_default(client):
    html = _html(client.get("/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9"))

    assert '<html lang="fr">' in html
    assert "Comparez deux IA anonymes" in html
    assert client.get("/")["Content-Language"] == "fr"


def test_it_switches_to_english_on_request(client):
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"

    html = _html(client.get("/"))
    assert '<html lang="en">' in html
    assert "Compare two anonymous AIs, then see what their answers cost" in html
    assert "Comparez" not in html

    client.post("/i18n/setlang/", {"language": "fr", "next": "/"})
    assert '<html lang="fr">' in _html(client.get("/"))


def test_it_ignores_unknown_languages(client):
    client.cookies["django_language"] = "de"
    assert '<html lang="fr">' in _html(client.get("/"))


# -- terms --------------------------------------------------------------------------------
def test_it_shows_the_terms_to_a_new_visitor(client):
    response = client.get("/")
    html = _html(response)

    assert "hidden" not in _terms_section(html)
    assert re.search(r'<form id="battle-form"[^>]*hidden', html)
    assert COOKIE in response.cookies  # a visitor id for the consent that follows


def test_it_hides_the_terms_after_consent(client):
    client.get("/")
    assert post_json(client, "/api/consent", {"accept_terms": True}).status_code == 200

    html = _html(client.get("/"))
    assert "hidden" in _terms_section(html)
    assert not re.search(r'<form id="battle-form"[^>]*hidden', html)


def test_it_hides_the_terms_from_a_visitor_who_accepted_them(owner_client):
    assert "hidden" in _terms_section(_html(owner_client.get("/")))


# -- energy totals ------------------------------------------------------------------------
PUE = footprint.default_profile().pue.value  # the reveal's: arena.impacts.deployment_profile


def _english(client):
    client.cookies["django_language"] = "en"
    return client


def test_it_shows_the_platform_and_the_visitor_totals(owner_client, stranger, make_battle):
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")  # the owner's today: 3 Wh
    make_battle(visitor=stranger, energy_a_j=18000, energy_b_j=7200, vote="b")  # someone else's: 7 Wh
    old = make_battle(energy_a_j=3600, energy_b_j=3600, vote="tie")  # the owner's, two days ago: 2 Wh
    Battle.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=2))
    make_battle(turns=(("error", "pending"),))  # no energy recorded: counts for nothing

    totals = _totals(_html(owner_client.get("/")))

    # Equivalents translate the energy at the wall: the servers' energy x the reveal's PUE.
    mine = footprint.pick_equivalents("energy_wh", 3.0 * PUE, "fr")[0]
    platform = footprint.pick_equivalents("energy_wh", 12.0 * PUE, "fr")[0]
    assert wh(3.0) == "3,0\u00a0Wh" and wh(12.0) == "12\u00a0Wh"
    assert f"{wh(3.0)} ({wh(3.0 * PUE)}" in totals
    assert f"{num(mine['value'])} {escape(mine['label'])}" in totals
    assert f"{wh(12.0)} ({wh(12.0 * PUE)}" in totals
    assert f"{num(platform['value'])} {escape(platform['label'])}" in totals


def test_it_shows_the_totals_in_english(owner_client, make_battle):
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")

    totals = _totals(_html(_english(owner_client).get("/")))

    equivalent = footprint.pick_equivalents("energy_wh", 3.0 * PUE, "en")[0]
    assert "Your voted battles today: 3.0\u00a0Wh (3.6\u00a0Wh with the data centre" in totals
    assert "All voted battles on this arena so far: 3.0\u00a0Wh (3.6\u00a0Wh with the data centre" in totals
    assert f"the same as {num(equivalent['value'])} {escape(equivalent['label'])}" in totals


def test_it_gives_the_equivalents_of_the_data_centre_energy(owner_client, make_battle):
    """fixtures/footprint/equivalents.yaml defines energy equivalents on the energy at the
    wall: the totals' equivalents are those of the servers' energy x the reveal's PUE."""
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")  # 3 Wh at the servers

    totals = _totals(_html(_english(owner_client).get("/")))

    wall = footprint.pick_equivalents("energy_wh", 3.0 * PUE, "en")[0]
    servers = footprint.pick_equivalents("energy_wh", 3.0, "en")[0]
    assert num(wall["value"]) != num(servers["value"])
    assert f"{num(wall['value'])} {escape(wall['label'])}" in totals
    assert f"{num(servers['value'])} {escape(servers['label'])}" not in totals


def test_it_says_how_much_of_the_total_was_measured(owner_client, make_battle):
    """A total adds meter readings and estimates: it says which share of its energy was measured."""
    battle = make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")  # CPU-time model: estimated
    # A second try at side a, measured by NVML: 10.8 kJ in all, 3.6 kJ of it measured.
    add_attempt(Message.objects.get(turn__battle=battle, side="a"), energy_record(3600, measured=True, method="nvml"))

    totals = _totals(_html(_english(owner_client).get("/")))

    assert totals.count("25% of this energy was measured, the rest estimated.") == 2  # the visitor's, the arena's


def test_it_says_nothing_is_measured_when_nothing_is(owner_client, make_battle):
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")

    totals = _totals(_html(_english(owner_client).get("/")))

    assert totals.count("0% of this energy was measured, the rest estimated.") == 2


def test_it_shows_only_the_platform_total_to_a_newcomer(client, make_battle):
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")

    totals = _totals(_html(_english(client).get("/")))

    assert "Your voted battles" not in totals
    assert "All voted battles on this arena so far: 3.0\u00a0Wh" in totals


def test_it_counts_no_energy_of_an_unvoted_battle(owner_client, make_battle):
    """A total that moved when one side of an unvoted battle finished would give that
    side's energy, and so its model, before the vote."""
    make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")
    before = _totals(_html(owner_client.get("/")))
    unvoted = make_battle(energy_a_j=36000, energy_b_j=18000)  # both answers finished, no vote yet

    assert _totals(_html(owner_client.get("/"))) == before

    owner_client.post(f"/api/battles/{unvoted.id}/vote", '{"choice": "a"}', content_type="application/json")
    after = _totals(_html(owner_client.get("/")))
    assert after != before and wh(18.0) in after


def test_it_sums_the_totals_in_the_database(owner_client, make_battle, django_assert_max_num_queries):
    for _ in range(5):
        make_battle(turns=(("done", "done"), ("done", "done"), ("done", "done")), vote="a")
    cache.clear()
    # Visitor, the day's total, the newest vote and the platform total: not one query per answer.
    with django_assert_max_num_queries(6):
        response = owner_client.get("/")
    # 5 battles x (7.2 J + 3.6 J), every turn's tries summed.
    assert f"{wh(5 * 10.8 / 3600)} (" in _totals(_html(response))


def test_it_shows_a_zero_total_on_an_empty_arena(client, db):
    totals = _totals(_html(_english(client).get("/")))
    assert "All voted battles on this arena so far: 0\u00a0Wh." in totals
    assert "Your voted battles" not in totals and "measured" not in totals


# -- blindness ----------------------------------------------------------------------------
def test_it_names_no_model_on_the_home_page(owner_client, make_battle, catalogue):
    make_battle(vote="a")  # even a visitor who has seen a reveal

    html = _html(owner_client.get("/")).lower()

    for llm in catalogue.values():
        assert llm.name.lower() not in html
        assert llm.slug.lower() not in html
        assert llm.organization.lower() not in html


def test_it_lists_enabled_models_for_custom_mode(client, catalogue):
    LLM.objects.filter(slug="pivert").update(enabled=False)

    response = client.get("/api/models")

    assert response.status_code == 200
    models = response.json()["models"]
    assert {m["slug"] for m in models} == {"mesange", "rouge-gorge", "heron", "albatros", "martinet"}
    heron = next(m for m in models if m["slug"] == "heron")
    assert heron == {"slug": "heron", "name": "Héron", "organization": "Arena demo", "params_b": 0.00203}


def test_it_lists_no_models_on_an_empty_catalogue(client, db):
    assert client.get("/api/models").json() == {"models": []}


def test_it_refuses_to_post_to_the_model_list(client, catalogue):
    assert client.post("/api/models").status_code == 405


# -- methodology --------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_it_shows_every_constant_with_its_source(client, lang):
    client.cookies["django_language"] = lang
    html = _html(client.get("/methodologie/"))
    methodology = footprint.methodology(lang)

    assert f'<html lang="{lang}">' in html
    assert methodology["constants"]
    for constant in methodology["constants"]:
        assert f"<code>{escape(constant['key'])}</code>" in html
        assert constant["source"], constant["key"]
        assert escape(constant["source"]) in html
    for formula in methodology["formulas"]:
        assert escape(formula["formula"]) in html
    for equivalent in methodology["equivalents"]["items"]:
        assert escape(equivalent["source"]) in html
    for limit in methodology["limits"]:
        assert escape(limit["text"]) in html
    assert methodology["estimates"]["url"] in html
