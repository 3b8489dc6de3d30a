"""The leaderboard's tiers, display threshold and columns: statistical tiers, models with
too few votes listed apart, size and licence, the "worth the extra energy" share, CO2e as
the reveal counts it (use + manufacturing), the filter form, and older snapshots."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.management import call_command

from arena import battles as battle_rules
from arena.errors import ArenaError
from arena.models import Attempt, Battle
from arena.reveal import build_reveal
from leaderboard.models import LeaderboardSnapshot
from leaderboard.snapshots import DISPLAY_MIN_VOTES_DEFAULT, display_min_votes
from leaderboard.views import CSV_COLUMNS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(clear_cache, settings):
    settings.LEADERBOARD_MIN_GROUP = 0


def _synthetic(count: int, ratings: str, seed: int = 0) -> None:
    call_command("synthetic_battles", str(count), "--ratings", ratings, "--seed", str(seed), stdout=io.StringIO())


def _refresh(**options) -> dict:
    call_command("refresh_leaderboard", "--bootstrap", "200", stdout=io.StringIO(), **options)
    return LeaderboardSnapshot.objects.latest().data


def _csv(client, query: str = "") -> list[dict]:
    table = list(csv.reader(io.StringIO(client.get(f"/classement.csv{query}").content.decode("utf-8"))))
    assert table[0] == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, line, strict=True)) for line in table[1:]]


def _main_tbody(html: str) -> str:
    return re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)


# -- tiers ------------------------------------------------------------------------------------
def test_it_puts_a_clearly_better_model_alone_in_tier_one(catalogue, client):
    _synthetic(900, "albatros=1300,pivert=1010,mesange=1000", seed=2)

    rows = {r["slug"]: r for r in _refresh()["rows"]}

    assert {slug: r["tier"] for slug, r in rows.items()} == {"albatros": 1, "pivert": 2, "mesange": 2}
    assert rows["albatros"]["lower"] > max(rows["pivert"]["upper"], rows["mesange"]["upper"])
    assert rows["pivert"]["lower"] <= rows["mesange"]["upper"] and rows["mesange"]["lower"] <= rows["pivert"]["upper"]
    html = client.get("/classement/").content.decode()
    tbody = _main_tbody(html)
    shown = re.findall(r'<td class="num">(\d+)</td><td class="num">\d+</td><th scope="row">([^<]+) <small>', tbody)
    assert shown[0] == ("1", "Albatros") and sorted(shown[1:]) == [("2", "Mésange"), ("2", "Pivert")]
    assert tbody.count('class="tier-start"') == 1  # the line above tier 2; the number says it too
    assert f'<td class="num">{rows["albatros"]["tier"]}</td>' in tbody


def test_it_lets_models_with_overlapping_intervals_share_the_top_tier(catalogue):
    _synthetic(600, "albatros=1100,pivert=1095,mesange=800", seed=6)

    rows = _refresh()["rows"]

    assert [r["tier"] for r in rows] == [1, 1, 2]
    assert {r["slug"] for r in rows if r["tier"] == 1} == {"albatros", "pivert"}
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)


def test_it_gives_the_same_tiers_in_json_and_csv(catalogue, client):
    _synthetic(600, "albatros=1100,pivert=1095,mesange=800", seed=6)
    _refresh()

    json_rows = {r["slug"]: r for r in client.get("/api/leaderboard").json()["rows"]}
    for row in _csv(client):
        assert int(row["tier"]) == json_rows[row["slug"]]["tier"]
        assert row["ranked"] == "True"


# -- the display threshold --------------------------------------------------------------------
def test_it_reads_the_threshold_from_the_settings(settings):
    assert display_min_votes() == getattr(settings, "LEADERBOARD_DISPLAY_MIN_VOTES", DISPLAY_MIN_VOTES_DEFAULT)
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 7
    assert display_min_votes() == 7


def test_it_lists_models_with_too_few_votes_apart(catalogue, client, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 20
    _synthetic(300, "albatros=1200,pivert=1000,mesange=800")
    for choice in ("a", "a", "a", "b"):  # heron: 4 votes, all but one won
        make_battle(model_a="heron", model_b="mesange", vote=choice)

    snap = _refresh()

    assert snap["display_min_votes"] == 20
    assert [r["slug"] for r in snap["rows"]] == ["albatros", "pivert", "mesange"]
    assert [r["rank"] for r in snap["rows"]] == [1, 2, 3] and [r["tier"] for r in snap["rows"]] == [1, 2, 3]
    (heron,) = snap["provisional"]
    assert heron["slug"] == "heron" and heron["votes"] == 4
    assert "rank" not in heron and "tier" not in heron and "pareto" not in heron
    assert heron["answers"] == 4 and heron["params_b"] == catalogue["heron"].params_b

    api = client.get("/api/leaderboard").json()
    assert api["provisional"] == snap["provisional"]
    filtered = client.get("/api/leaderboard?mode=random").json()  # on demand: the same rule
    assert [r["slug"] for r in filtered["provisional"]] == ["heron"] and filtered["display_min_votes"] == 20
    assert "heron" not in {r["slug"] for r in filtered["rows"]}

    lines = {row["slug"]: row for row in _csv(client)}
    assert lines["heron"]["ranked"] == "False" and lines["heron"]["rank"] == "" and lines["heron"]["tier"] == ""
    assert lines["albatros"]["ranked"] == "True" and lines["albatros"]["tier"] == "1"

    html = client.get("/classement/").content.decode()
    assert "Héron" not in _main_tbody(html)
    apart = html[html.index('id="provisional"') :]
    assert "Héron" in apart and '<td class="num">4</td>' in apart
    assert 'aria-labelledby="provisional"' in html and "<caption" in apart


def test_it_ranks_nobody_before_any_model_has_enough_votes(catalogue, client, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 1000
    _synthetic(30, "albatros=1200,pivert=1000,mesange=800")

    snap = _refresh()

    assert snap["rows"] == [] and len(snap["provisional"]) == 3
    assert [r["votes"] for r in snap["provisional"]] == sorted((r["votes"] for r in snap["provisional"]), reverse=True)
    html = client.get("/classement/").content.decode()
    assert 'id="provisional"' in html and "<svg" not in html


def test_it_takes_the_threshold_from_the_command_line(catalogue):
    _synthetic(30, "albatros=1200,pivert=1000,mesange=800")
    out = io.StringIO()
    call_command("refresh_leaderboard", "--bootstrap", "10", "--display-min-votes", "1000", stdout=out)
    assert out.getvalue().strip().endswith("3 models (3 under 1000 votes, listed apart)")
    call_command("refresh_leaderboard", "--bootstrap", "10", "--display-min-votes", "0", stdout=out)
    assert len(LeaderboardSnapshot.objects.latest().data["rows"]) == 3


# -- size, licence -----------------------------------------------------------------------------
def test_it_shows_size_and_licence(catalogue, client, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    catalogue["heron"].license = "Llama 3 Community"
    catalogue["heron"].license_kind = "semi_open"
    catalogue["heron"].active_params_b = 0.001
    catalogue["heron"].save()
    make_battle(vote="a")
    make_battle(vote="b")

    rows = {r["slug"]: r for r in _refresh()["rows"]}

    heron, mesange = rows["heron"], rows["mesange"]
    assert (heron["params_b"], heron["active_params_b"]) == (catalogue["heron"].params_b, 0.001)
    assert (heron["license"], heron["license_kind"]) == ("Llama 3 Community", "semi_open")
    assert (mesange["license"], mesange["license_kind"]) == ("Apache-2.0", "open")
    tbody = _main_tbody(client.get("/classement/").content.decode())
    assert "Llama 3 Community <small>(semi-ouvert)</small>" in tbody
    assert "Apache-2.0 <small>(ouvert)</small>" in tbody
    assert "0,001" in tbody and "0,00203" in tbody  # total and active parameters, in billions


# -- "worth the extra energy?" ---------------------------------------------------------------
def test_it_shows_the_worth_share_of_the_preferred_costlier_model(catalogue, client, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    # heron's answers use 7.2 J, mesange's 3.6 J: a vote for heron asks the question about heron.
    for worth in (True, True, False):
        battle_rules.answer_worth(make_battle(model_a="heron", model_b="mesange", vote="a"), worth)
    # The costlier side is mesange here, and it is preferred: the question is about mesange.
    battle_rules.answer_worth(
        make_battle(model_a="mesange", model_b="heron", energy_a_j=9.0, energy_b_j=1.0, vote="a"), False
    )
    make_battle(model_a="heron", model_b="mesange", vote="b")  # the frugal side won: nothing asked
    make_battle(model_a="heron", model_b="mesange", vote="tie")  # nothing asked after a tie
    asked_unanswered = make_battle(model_a="heron", model_b="mesange", vote="a")  # asked, never answered
    flagged = make_battle(model_a="heron", model_b="mesange", vote="a", leak_flagged=True)
    battle_rules.answer_worth(flagged, True)  # a vote that does not count
    with pytest.raises(ArenaError) as refused:
        battle_rules.answer_worth(Battle.objects.filter(vote__choice="b").get(), True)
    assert refused.value.code == "no_question"
    assert asked_unanswered.vote.worth_extra_energy is None

    rows = {r["slug"]: r for r in _refresh()["rows"]}

    assert (rows["heron"]["worth_answered"], rows["heron"]["worth_yes"]) == (3, 2)
    assert rows["heron"]["worth_yes_share"] == pytest.approx(2 / 3)
    assert (rows["mesange"]["worth_answered"], rows["mesange"]["worth_yes_share"]) == (1, 0.0)
    tbody = _main_tbody(client.get("/classement/").content.decode())
    assert "67 % <small>(sur 3 réponses)</small>" in tbody or "67 % <small>(of 3 answers)</small>" in tbody


def test_it_shows_no_worth_share_before_any_answer(catalogue, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    make_battle(vote="b")

    for row in _refresh()["rows"]:
        assert (row["worth_answered"], row["worth_yes"], row["worth_yes_share"]) == (0, 0, None)


# -- CO2e: the reveal's definition -------------------------------------------------------------
def _vary_hardware(battle: Battle, variants: list[dict]) -> None:
    """Give the battle's tries other devices, durations and concurrency (as real workers do)."""
    tries = Attempt.objects.filter(message__turn__battle=battle).order_by("id")
    for attempt, variant in zip(tries, variants, strict=True):
        attempt.record = {**attempt.record, **variant}
        attempt.save(update_fields=["record"])


def test_it_counts_co2e_as_the_reveal_does_use_and_manufacturing(catalogue, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    h100 = {"devices": ["NVIDIA H100 80GB HBM3"], "measured": True, "method": "nvml"}
    played = []
    for index, (duration_s, concurrency) in enumerate(((0.5, 1.0), (3.0, 4.0), (12.0, 2.5))):
        battle = make_battle(vote="a" if index % 2 else "b", turns=(("done", "done"), ("done", "done")))
        _vary_hardware(
            battle,
            [
                {**h100, "duration_s": duration_s, "avg_concurrency": concurrency},
                {**h100, "duration_s": duration_s * 2, "avg_concurrency": 1.0},
                {"devices": [], "duration_s": duration_s},  # no device named: the profile's hardware
                {**h100, "devices": ["NVIDIA H100 80GB HBM3"] * 2, "duration_s": 1.0, "avg_concurrency": 8},
            ],
        )
        played.append(battle)

    rows = {r["slug"]: r for r in _refresh()["rows"]}

    for slug, side in (("heron", "a"), ("mesange", "b")):
        reveals = [build_reveal(Battle.objects.get(pk=b.pk))[side]["impacts"] for b in played]
        tokens = 16 * 2 * len(played)  # two answers of 16 tokens per battle
        total = sum(r["gwp_g"] for r in reveals)
        row = rows[slug]
        assert row["gwp_total_g_per_1k_tokens"] == pytest.approx(total / tokens * 1000, rel=1e-9)
        assert row["gwp_total_g_per_1k_tokens_min"] == pytest.approx(
            sum(r["gwp_g_min"] for r in reveals) / tokens * 1000, rel=1e-9
        )
        assert row["gwp_total_g_per_1k_tokens_max"] == pytest.approx(
            sum(r["gwp_g_max"] for r in reveals) / tokens * 1000, rel=1e-9
        )
        usage = sum(r["indicators"]["gwp_g"]["usage"]["value"] for r in reveals)
        embodied = sum(r["indicators"]["gwp_g"]["embodied"]["value"] for r in reveals)
        assert row["gwp_usage_g_per_1k_tokens"] == pytest.approx(usage / tokens * 1000, rel=1e-9)
        assert row["gwp_embodied_g_per_1k_tokens"] == pytest.approx(embodied / tokens * 1000, rel=1e-9)
        assert embodied > 0 and row["gwp_total_g_per_1k_tokens"] > row["gwp_usage_g_per_1k_tokens"]


def test_it_leaves_the_manufacturing_part_unknown_on_unknown_hardware(catalogue, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    make_battle(vote="a")  # the CPU fallback's records: device "cpu", not in the hardware data

    for row in _refresh()["rows"]:
        assert row["gwp_embodied_g_per_1k_tokens"] is None
        assert row["gwp_total_g_per_1k_tokens"] == pytest.approx(row["gwp_usage_g_per_1k_tokens"])


def test_it_says_what_the_co2e_column_counts(catalogue, client, make_battle, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0
    make_battle(vote="a")
    _refresh()

    html = client.get("/classement/").content.decode()
    header = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    assert "gCO2e" in header and ("manufacturing" in header or "fabrication" in header)
    notes = html[html.index('id="notes"') :]
    assert "gCO2e" in notes
    assert "gwp_total_g_per_1k_tokens" in CSV_COLUMNS and "gwp_g_per_1k_tokens" not in CSV_COLUMNS


# -- the filter form ---------------------------------------------------------------------------
def test_it_offers_the_both_bad_and_workshop_filters(catalogue, client, make_battle):
    make_battle(vote="both_bad")

    plain = client.get("/classement/").content.decode()
    chosen = client.get("/classement/?both_bad=exclude&workshops=include").content.decode()

    form = re.search(r"<form method=\"get\".*?</form>", plain, re.S).group(0)
    assert 'name="both_bad"' in form and '<option value="">' in form and 'value="exclude"' in form
    assert 'name="workshops" value="include"' in form
    assert re.search(r'<label for="f-both-bad">', form) and re.search(r'<label for="f-workshops">', form)
    chosen_form = re.search(r"<form method=\"get\".*?</form>", chosen, re.S).group(0)
    assert '<option value="exclude" selected>' in chosen_form
    assert re.search(r'name="workshops" value="include" checked', chosen_form)


# -- older snapshots ---------------------------------------------------------------------------
OLD_ROW = {  # a row as snapshots stored it before tiers, the threshold and the new columns
    "slug": "pivert",
    "name": "Pivert",
    "organization": "Arena demo",
    "license_kind": "open",
    "params_b": 0.000722,
    "rating": 1010.0,
    "lower": 990.0,
    "upper": 1030.0,
    "rank": 1,
    "votes": 42,
    "answers": 42,
    "median_wh": 0.01,
    "wh_per_1k_tokens": 0.1,
    "wh_per_1k_tokens_q1": 0.08,
    "wh_per_1k_tokens_q3": 0.12,
    "measured_share": 0.0,
    "gwp_g_per_1k_tokens": 0.004,
    "pareto": True,
}


def test_it_still_renders_a_snapshot_stored_before_tiers(client, db):
    LeaderboardSnapshot.objects.create(
        data={
            "computed_at": "2026-01-01T00:00:00+00:00",
            "filters": {},
            "battles": 21,
            "bootstrap": 1000,
            "style_control": False,
            "zone": "FRA",
            "rows": [OLD_ROW, {**OLD_ROW, "slug": "mesange", "name": "Mésange", "rank": 2, "pareto": False}],
            "style": {},
        }
    )

    page = client.get("/classement/")
    assert page.status_code == 200
    html = page.content.decode()
    tbody = _main_tbody(html)
    assert tbody.count("<tr") == 2 and "Pivert" in tbody and "Mésange" in tbody
    assert 'id="provisional"' not in html
    assert re.findall(r'<td class="num">(\d+)</td><th scope="row">([^<]+) <small>', tbody) == [
        ("1", "Pivert"),
        ("2", "Mésange"),
    ]
    assert client.get("/api/leaderboard").json()["rows"][0] == OLD_ROW
    lines = _csv(client)
    assert [line["slug"] for line in lines] == ["pivert", "mesange"]
    assert lines[0]["tier"] == "" and lines[0]["gwp_total_g_per_1k_tokens"] == ""  # not in that snapshot
