"""The leaderboard: synthetic_battles, refresh_leaderboard and load_catalogue commands,
GET /api/leaderboard, /classement.csv and /classement/, and the Celery refresh task."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
import yaml
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from arena.models import LLM, Battle, Message, Vote
from leaderboard.models import LeaderboardSnapshot
from leaderboard.views import CSV_COLUMNS

from .conftest import DEMO_CATALOGUE

pytestmark = pytest.mark.django_db

PLANTED = {"mesange": 800, "pivert": 1000, "albatros": 1200}
PLANTED_ARG = ",".join(f"{slug}={rating}" for slug, rating in PLANTED.items())
ENERGY_KEYS = {
    "answers",
    "median_wh",
    "wh_per_1k_tokens",
    "wh_per_1k_tokens_q1",
    "wh_per_1k_tokens_q3",
    "measured_share",
    "gwp_total_g_per_1k_tokens",
    "gwp_total_g_per_1k_tokens_min",
    "gwp_total_g_per_1k_tokens_max",
    "gwp_usage_g_per_1k_tokens",
    "gwp_embodied_g_per_1k_tokens",
}


@pytest.fixture(autouse=True)
def _fresh_cache(clear_cache, settings):
    """Filtered tables are cached: no test may read another's. Filters are tested on small
    sets here: the minimum group size and the display threshold have their own tests."""
    settings.LEADERBOARD_MIN_GROUP = 0
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 0


def _run(command: str, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def _synthetic(count: int, ratings: str = PLANTED_ARG, seed: int = 0) -> str:
    return _run("synthetic_battles", str(count), "--ratings", ratings, "--seed", str(seed))


@pytest.fixture
def planted(catalogue) -> dict:
    """600 votes drawn from ratings 800/1000/1200, and a snapshot of them."""
    _synthetic(600)
    _run("refresh_leaderboard", "--bootstrap", "100")
    return LeaderboardSnapshot.objects.get().data


def _api(client, query: str = ""):
    return client.get(f"/api/leaderboard{query}")


# -- synthetic_battles ------------------------------------------------------------------
def test_it_creates_voted_battles_with_energy_records(catalogue):
    out = _synthetic(40)

    assert "40 synthetic battles over 3 models" in out
    battles = Battle.objects.select_related("vote", "model_a", "model_b")
    assert battles.count() == 40
    for battle in battles:
        assert battle.voted_at is not None and battle.vote.choice
        assert {battle.model_a.slug, battle.model_b.slug} <= set(PLANTED)
        assert battle.model_a != battle.model_b
    messages = Message.objects.filter(turn__battle__in=battles)
    assert messages.count() == 80
    for message in messages:
        assert message.status == Message.Status.DONE
        (attempt,) = message.attempts.all()
        assert attempt.method == "synthetic" and attempt.measured is False
        assert attempt.energy_j > 0 and message.completion_tokens > 0


def test_it_refuses_unknown_models_in_ratings(catalogue):
    with pytest.raises(CommandError, match="unknown models: nobody"):
        _synthetic(5, "mesange=900,nobody=1000")
    assert not Battle.objects.exists()


def test_it_refuses_malformed_ratings(catalogue):
    with pytest.raises(CommandError, match="slug=rating"):
        _synthetic(5, "mesange:900")


def test_it_needs_two_enabled_models(db):
    with pytest.raises(CommandError, match="load_catalogue"):
        _synthetic(5)


# -- refresh_leaderboard ----------------------------------------------------------------
def test_it_ranks_models_in_the_planted_order(planted):
    rows = planted["rows"]

    assert planted["battles"] == 600 and planted["bootstrap"] == 100
    assert [r["slug"] for r in rows] == ["albatros", "pivert", "mesange"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert sum(r["votes"] for r in rows) == 1200  # two models per battle
    for r in rows:
        assert r["lower"] <= r["rating"] <= r["upper"]
        assert r["rating"] == pytest.approx(PLANTED[r["slug"]], abs=60)
    for better, worse in zip(rows, rows[1:], strict=False):
        assert better["lower"] > worse["upper"]  # 200 points apart: the intervals do not touch


def test_it_prints_what_it_stored(catalogue):
    _synthetic(30)
    out = _run("refresh_leaderboard", "--bootstrap", "10")
    snap = LeaderboardSnapshot.objects.get()
    assert out.strip() == f"snapshot {snap.pk}: 30 battles, 3 models"


# -- GET /api/leaderboard ---------------------------------------------------------------
def test_it_serves_the_latest_snapshot(client, planted):
    newer = LeaderboardSnapshot.objects.create(data={**planted, "computed_at": "later", "rows": planted["rows"][:1]})

    response = _api(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == newer.data


def test_it_returns_energy_columns(client, planted):
    rows = _api(client).json()["rows"]

    assert len(rows) == 3
    for r in rows:
        assert set(r) >= ENERGY_KEYS
        assert r["name"] and r["organization"] == "Arena demo"
        assert r["votes"] > 0 and r["answers"] == r["votes"]
        assert r["median_wh"] > 0
        assert 0 < r["wh_per_1k_tokens_q1"] <= r["wh_per_1k_tokens"] <= r["wh_per_1k_tokens_q3"]
        assert 0 <= r["measured_share"] <= 1
        assert 0 < r["gwp_total_g_per_1k_tokens_min"] <= r["gwp_total_g_per_1k_tokens"]
        assert r["gwp_total_g_per_1k_tokens"] <= r["gwp_total_g_per_1k_tokens_max"]
        assert isinstance(r["pareto"], bool)
    by_slug = {r["slug"]: r for r in rows}
    # Synthetic energy grows with model size, and the strongest model is also the costliest:
    # every model is on the frontier.
    cost = {slug: r["wh_per_1k_tokens"] for slug, r in by_slug.items()}
    assert cost["mesange"] < cost["pivert"] < cost["albatros"]
    assert all(r["pareto"] for r in rows)


def test_it_returns_no_rows_without_votes(client, catalogue):
    response = _api(client)

    assert response.status_code == 200
    assert response.json()["rows"] == []
    assert response.json()["battles"] == 0


def test_it_returns_no_rows_without_votes_after_a_refresh(client, catalogue, make_battle):
    make_battle()  # not voted
    _run("refresh_leaderboard", "--bootstrap", "10")

    data = _api(client).json()
    assert data["rows"] == [] and data["battles"] == 0


def test_it_filters_by_mode(client, catalogue, make_battle):
    _synthetic(60)
    for choice in ("a", "a", "b"):
        make_battle(model_a="mesange", model_b="rouge-gorge", mode="frugal", vote=choice)

    everything = _api(client, "?min_votes=1").json()
    frugal = _api(client, "?mode=frugal").json()
    random = _api(client, "?mode=random").json()

    assert everything["battles"] == 63
    assert frugal["battles"] == 3 and frugal["filters"] == {"mode": "frugal"}
    assert {r["slug"] for r in frugal["rows"]} == {"mesange", "rouge-gorge"}
    assert {r["slug"]: r["votes"] for r in frugal["rows"]} == {"mesange": 3, "rouge-gorge": 3}
    assert {r["slug"]: r["answers"] for r in frugal["rows"]} == {"mesange": 3, "rouge-gorge": 3}
    assert random["battles"] == 60
    assert "rouge-gorge" not in {r["slug"] for r in random["rows"]}


def test_it_filters_by_date(client, catalogue):
    _synthetic(20)
    today = timezone.localdate()
    yesterday, tomorrow = today - dt.timedelta(days=1), today + dt.timedelta(days=1)

    assert _api(client, f"?since={today}&until={today}").json()["battles"] == 20
    assert _api(client, f"?since={tomorrow}").json()["battles"] == 0
    assert _api(client, f"?since={tomorrow}").json()["rows"] == []
    assert _api(client, f"?until={yesterday}").json()["battles"] == 0
    Battle.objects.filter(pk__in=Battle.objects.values("pk")[:5]).update(voted_at=timezone.now() - dt.timedelta(days=3))
    cache.clear()  # filtered tables are cached for the refresh period
    assert _api(client, f"?until={yesterday}").json()["battles"] == 5
    assert _api(client, f"?since={yesterday}").json()["battles"] == 15


def test_it_filters_by_language(client, catalogue, make_battle):
    make_battle(vote="a")
    make_battle(vote="b")
    english = make_battle(vote="a")
    Battle.objects.filter(pk=english.pk).update(language="en")

    assert _api(client, "?language=en").json()["battles"] == 1
    assert _api(client, "?language=fr").json()["battles"] == 2


def test_it_filters_by_minimum_votes(client, catalogue, make_battle):
    _synthetic(30)
    for _ in range(2):
        make_battle(model_a="heron", model_b="mesange", vote="a")

    every = _api(client, "?min_votes=0").json()
    popular = _api(client, "?min_votes=10").json()
    nobody = _api(client, "?min_votes=100000").json()

    assert "heron" in {r["slug"] for r in every["rows"]}
    assert "heron" not in {r["slug"] for r in popular["rows"]}
    assert {r["slug"] for r in popular["rows"]} == set(PLANTED)
    assert all(r["votes"] >= 10 for r in popular["rows"])
    assert nobody["rows"] == [] and nobody["battles"] == 32


@pytest.mark.parametrize(
    "query", ["?mode=zzz", "?since=notadate", "?until=2026-13-01", "?min_votes=abc", "?both_bad=x", "?language=de"]
)
def test_it_rejects_bad_filters(client, catalogue, query):
    response = _api(client, query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_filter" and error["message"]


def test_it_returns_style_coefficients_on_request(client, catalogue):
    _synthetic(60)

    plain = _api(client, "?min_votes=1").json()
    styled = _api(client, "?style=1").json()

    assert plain["style_control"] is False and plain["style"] == {}
    assert styled["style_control"] is True
    assert set(styled["style"]) == {"length", "markdown"}
    for coefficient, lower, upper in styled["style"].values():
        assert lower <= coefficient <= upper
    assert [r["slug"] for r in styled["rows"]] == ["albatros", "pivert", "mesange"]


def test_it_counts_both_bad_as_a_tie_or_leaves_it_out(client, catalogue, make_battle):
    make_battle(vote="a")
    make_battle(vote="both_bad")

    assert _api(client, "?both_bad=tie").json()["rows"]
    assert _api(client, "?both_bad=exclude").json()["rows"][0]["votes"] == 1


def test_it_leaves_out_battles_where_a_model_named_itself(client, catalogue, make_battle):
    make_battle(vote="a")
    make_battle(vote="b")
    make_battle(vote="a", leak_flagged=True)
    _run("refresh_leaderboard", "--bootstrap", "10")

    snapshot = _api(client).json()
    filtered = _api(client, "?mode=random").json()

    assert snapshot["battles"] == 2
    assert {r["slug"]: r["votes"] for r in snapshot["rows"]} == {"heron": 2, "mesange": 2}
    assert filtered["battles"] == 2
    # Energy is a property of answers, not of votes: the flagged battle's answers still
    # count in the energy columns, with or without filters...
    assert {r["slug"]: r["answers"] for r in snapshot["rows"]} == {"heron": 3, "mesange": 3}
    assert {r["slug"]: r["answers"] for r in filtered["rows"]} == {"heron": 3, "mesange": 3}


def test_it_counts_no_energy_of_an_unvoted_battle(client, catalogue, make_battle):
    """...but only once voted: a column that moved when an unvoted answer finished would
    name that battle's models before the vote."""
    make_battle(vote="a")
    query = "?mode=random&since=2000-01-01"
    before = {r["slug"]: (r["answers"], r["median_wh"]) for r in _api(client, query).json()["rows"]}
    make_battle(energy_a_j=900.0, energy_b_j=800.0)  # answered, not voted
    cache.clear()  # a fresh query string would skip the cache just the same
    after = {r["slug"]: (r["answers"], r["median_wh"]) for r in _api(client, query).json()["rows"]}
    assert after == before

    Battle.objects.filter(voted_at__isnull=True).update(voted_at=timezone.now())
    Vote.objects.create(battle=Battle.objects.get(vote__isnull=True), choice="b")
    cache.clear()
    voted = {r["slug"]: r["answers"] for r in _api(client, query).json()["rows"]}
    assert voted == {"heron": 2, "mesange": 2}


# -- GET /classement.csv ----------------------------------------------------------------
def test_it_downloads_the_same_table_as_csv(client, planted):
    response = client.get("/classement.csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
    assert table[0] == CSV_COLUMNS
    assert len(table) == 1 + 3
    json_rows = {r["slug"]: r for r in _api(client).json()["rows"]}
    for line in table[1:]:
        row = dict(zip(CSV_COLUMNS, line, strict=True))
        expected = json_rows[row["slug"]]
        assert int(row["rank"]) == expected["rank"]
        for key in ("rating", "lower", "upper", "wh_per_1k_tokens"):
            assert float(row[key]) == pytest.approx(expected[key])
        assert int(row["votes"]) == expected["votes"]
        assert row["pareto"] == str(expected["pareto"])


def test_it_downloads_only_a_header_without_votes(client, catalogue):
    table = list(csv.reader(io.StringIO(client.get("/classement.csv").content.decode("utf-8"))))
    assert table == [CSV_COLUMNS]


def test_it_rejects_bad_filters_in_the_csv(client, catalogue):
    response = client.get("/classement.csv?mode=zzz")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_filter"


# -- GET /classement/ -------------------------------------------------------------------
def test_it_renders_the_chart_and_the_table(client, planted):
    response = client.get("/classement/")

    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert svg.count("<circle") == 3
    tbody = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    names = re.findall(r'<td class="num">(\d+)</td><td class="num">(\d+)</td><th scope="row">([^<]+) <small>', tbody)
    assert names == [("1", "1", "Albatros"), ("2", "2", "Pivert"), ("3", "3", "Mésange")]  # tier, rank, name
    for name in ("Albatros", "Pivert", "Mésange"):
        assert name in svg
    assert "Download" in html or "Télécharger" in html


def test_it_renders_an_empty_page_without_votes(client, catalogue):
    response = client.get("/classement/")

    assert response.status_code == 200
    assert "<svg" not in response.content.decode()


def test_it_renders_filtered_tables(client, catalogue, make_battle):
    _synthetic(30)
    make_battle(model_a="mesange", model_b="rouge-gorge", mode="frugal", vote="a")

    html = client.get("/classement/?mode=frugal").content.decode()

    tbody = re.search(r"<tbody>(.*?)</tbody>", html, re.S).group(1)
    assert tbody.count("<tr") == 2
    assert "Rouge-gorge" in tbody and "Albatros" not in tbody


def test_it_explains_bad_filters_on_the_page(client, catalogue):
    response = client.get("/classement/?mode=zzz")

    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html
    assert "Mode inconnu : zzz." in html  # French by default


# -- Celery -----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_it_refreshes_the_snapshot_in_a_celery_task(catalogue, tmp_path):
    """Embedded: the task runs inline. With REDIS_URL (CI): a real Celery worker takes it
    from the Redis broker and writes the snapshot into the test database."""
    import os
    import subprocess
    import sys

    from leaderboard.tasks import refresh_leaderboard
    from tests.conftest import test_database_url

    _synthetic(30)
    worker = None
    if not settings.CELERY_TASK_ALWAYS_EAGER:
        log = open(tmp_path / "celery.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "warning"],
            env={**os.environ, "DATABASE_URL": test_database_url()},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        pk = refresh_leaderboard.delay().get(timeout=120)
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=20)

    snap = LeaderboardSnapshot.objects.get()
    assert snap.pk == pk
    # A real worker does not see this test's settings: under its display threshold the three
    # models are listed apart instead of ranked.
    assert snap.data["battles"] == 30 and len(snap.data["rows"]) + len(snap.data["provisional"]) == 3


def test_it_schedules_the_refresh_every_period():
    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["refresh-leaderboard"]
    assert entry["task"] == "leaderboard.tasks.refresh_leaderboard"
    assert entry["schedule"] == float(settings.LEADERBOARD_REFRESH_S)
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE
    app.loader.import_default_modules()
    assert "leaderboard.tasks.refresh_leaderboard" in app.tasks


# -- load_catalogue ---------------------------------------------------------------------
def test_it_loads_the_catalogue_idempotently(db):
    first = _run("load_catalogue", str(DEMO_CATALOGUE))
    before = list(LLM.objects.order_by("slug").values())
    second = _run("load_catalogue", str(DEMO_CATALOGUE))

    assert "6 created, 0 updated" in first
    assert "0 created, 6 updated" in second
    assert list(LLM.objects.order_by("slug").values()) == before
    assert LLM.objects.filter(enabled=True).count() == 6


def test_it_loads_the_configured_catalogue_by_default(db, settings):
    settings.ARENA_CATALOGUE = str(DEMO_CATALOGUE)
    assert "6 created" in _run("load_catalogue")


def test_it_disables_models_absent_from_the_file(catalogue, make_battle, tmp_path):
    battle = make_battle(model_a="heron", model_b="mesange", vote="a")
    entries = yaml.safe_load(DEMO_CATALOGUE.read_text(encoding="utf-8"))
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(yaml.safe_dump([e for e in entries if e["slug"] in ("mesange", "pivert")]), encoding="utf-8")

    out = _run("load_catalogue", str(smaller))

    assert "0 created, 2 updated" in out
    assert LLM.objects.count() == 6  # never deleted: battles refer to them
    assert set(LLM.objects.filter(enabled=True).values_list("slug", flat=True)) == {"mesange", "pivert"}
    assert Battle.objects.get(pk=battle.pk).model_a.slug == "heron"
    _run("load_catalogue", str(DEMO_CATALOGUE))
    assert LLM.objects.filter(enabled=True).count() == 6


# -- what a filter may show ---------------------------------------------------------------
def test_it_shows_no_filtered_table_over_too_few_battles(client, catalogue, make_battle, settings):
    settings.LEADERBOARD_MIN_GROUP = 3
    make_battle(vote="a")
    make_battle(vote="b")
    small = _api(client, "?mode=random").json()
    assert small["rows"] == [] and small["too_few"] == 3
    page = client.get("/classement/?mode=random").content.decode()
    assert "trop peu" in page or "moins de 3" in page

    make_battle(vote="a")
    cache.clear()
    assert {r["slug"] for r in _api(client, "?mode=random").json()["rows"]} == {"heron", "mesange"}


def test_it_limits_filtered_computations_per_network(client, catalogue, make_battle, settings):
    settings.LEADERBOARD_COMPUTES_PER_MINUTE_IP = 2
    make_battle(vote="a")
    assert _api(client, "?since=2000-01-01").status_code == 200
    assert _api(client, "?since=2000-01-02").status_code == 200
    refused = _api(client, "?since=2000-01-03")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused["Retry-After"]
    assert _api(client, "?since=2000-01-01").status_code == 200  # a cached table costs nothing
    assert _api(client).status_code == 200  # nor does the snapshot


def test_it_reads_the_energy_columns_in_a_fixed_number_of_queries(
    catalogue, make_battle, django_assert_max_num_queries
):
    from leaderboard.snapshots import energy_columns

    def queries(battles):
        for _ in range(battles):
            make_battle(vote="a", turns=(("done", "done"), ("done", "done")))
        with django_assert_max_num_queries(3) as captured:
            columns = energy_columns(list(catalogue))
        return len(captured.captured_queries), columns

    few, _ = queries(2)
    many, columns = queries(20)
    assert few == many
    assert columns["heron"]["answers"] == 44 and columns["mesange"]["answers"] == 44
