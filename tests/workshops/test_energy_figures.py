"""A room's energy figures say what they rest on: equivalents of the energy at the wall,
the share of the energy measured, Wh per answer over one set of answers, and a CSV that
leaves a side without figures empty and names how each side was metered."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.utils.html import escape

import footprint
from arena.models import Battle, Message
from arena.templatetags.arena_format import num, wh
from tests.arena.conftest import add_attempt, energy_record
from workshops.api import CSV_COLUMNS
from workshops.models import Workshop
from workshops.stats import room_stats

pytestmark = pytest.mark.django_db

PUE = footprint.default_profile().pue.value  # the reveal's: arena.impacts.deployment_profile


def _in_room(code: str, *battles: Battle) -> None:
    Battle.objects.filter(pk__in=[b.pk for b in battles]).update(workshop_code=code)


def _english() -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def _csv_rows(code: str, headers: dict) -> list[dict]:
    text = Client().get(f"/api/workshops/{code}/battles.csv", **headers).content.decode()
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, line, strict=True)) for line in table[1:]]


# -- equivalents of the energy at the wall ----------------------------------------------------
def test_the_equivalents_translate_the_energy_at_the_wall(room, make_battle):
    data, headers = room
    _in_room(data["code"], make_battle(energy_a_j=7200, energy_b_j=3600, vote="a"))  # 3 Wh at the servers

    energy = room_stats(Workshop.objects.get(code=data["code"]), "en")["energy"]

    assert energy["wh"] == pytest.approx(3.0)
    assert energy["wall_wh"] == pytest.approx(3.0 * PUE)
    assert energy["equivalents"] == footprint.pick_equivalents("energy_wh", 3.0 * PUE, "en")[:3]
    assert energy["equivalents"] != footprint.pick_equivalents("energy_wh", 3.0, "en")[:3]
    html = _english().get(f"/w/{data['code']}/bilan/", **headers).content.decode()
    assert f"With the data centre: {wh(3.0 * PUE)}." in html
    first = energy["equivalents"][0]
    assert f"{num(first['value'])} {escape(first['label'])}" in html


# -- measured or estimated --------------------------------------------------------------------
def test_the_room_says_which_share_of_its_energy_was_measured(room, make_battle):
    data, headers = room
    battle = make_battle(energy_a_j=7200, energy_b_j=3600, vote="a")  # the CPU-time model: estimated
    add_attempt(Message.objects.get(turn__battle=battle, side="b"), energy_record(3600, measured=True, method="nvml"))
    _in_room(data["code"], battle)

    energy = room_stats(Workshop.objects.get(code=data["code"]), "en")["energy"]

    # 14.4 kJ in all, 3.6 kJ of it read by NVML: a share of the energy, not of the answers.
    assert energy["measured_share"] == pytest.approx(0.25)
    assert Client().get(f"/api/workshops/{data['code']}/stats", **headers).json()["energy"]["measured_share"] == 0.25
    html = _english().get(f"/w/{data['code']}/bilan/", **headers).content.decode()
    assert "25% of this energy was measured, the rest estimated." in html


def test_a_room_without_energy_has_no_measured_share(room, make_battle):
    data, _headers = room
    _in_room(data["code"], make_battle())  # not voted: its energy does not count yet

    energy = room_stats(Workshop.objects.get(code=data["code"]), "en")["energy"]

    assert energy["wh"] == 0 and energy["wall_wh"] == 0
    assert energy["measured_share"] is None and energy["equivalents"] == []


def test_the_rooms_leaderboard_rows_say_how_much_was_measured(room, make_battle, settings):
    settings.WORKSHOP_MIN_VOTES = 2
    data, _headers = room
    battles = [make_battle(vote="a") for _ in range(3)]
    add_attempt(
        Message.objects.get(turn__battle=battles[0], side="a"), energy_record(3600, measured=True, method="nvml")
    )
    _in_room(data["code"], *battles)

    board = room_stats(Workshop.objects.get(code=data["code"]), "en")["leaderboard"]

    assert not board["too_early"]
    shares = {r["slug"]: r["measured_share"] for r in board["rows"]}
    # The leaderboard's measure: the share of answers every try of which was measured.
    assert shares == {"heron": 0.0, "mesange": 0.0}


# -- Wh per answer: numerator and denominator over the same answers ---------------------------
def test_a_stopped_answer_counts_in_the_wh_per_answer_as_in_its_energy(room, make_battle):
    """Every try's energy counts, stopped answers' too: so does every answer with a figure,
    else a room that stops answers would look costlier than it is."""
    data, headers = room
    _in_room(
        data["code"],
        make_battle(energy_a_j=7.2, energy_b_j=3.6, vote="a", turns=(("done", "stopped"),)),
        make_battle(energy_a_j=7.2, energy_b_j=3.6, vote="b", turns=(("done", "error"),)),  # no figure for b
    )

    energy = room_stats(Workshop.objects.get(code=data["code"]), "en")["energy"]

    assert energy["answers"] == 3  # two finished, one stopped; the failed one has no figure
    assert energy["wh"] == pytest.approx(18.0 / 3600)
    assert energy["wh_per_answer"] == pytest.approx(6.0 / 3600)


def test_the_arena_figure_is_on_the_same_basis(room, make_battle):
    data, _headers = room
    make_battle(energy_a_j=7.2, energy_b_j=3.6, vote="a", turns=(("done", "stopped"),))  # outside the room
    make_battle(energy_a_j=7.2, energy_b_j=3.6, vote="a")  # outside the room
    _in_room(data["code"], make_battle(energy_a_j=7.2, energy_b_j=3.6, vote="a"))

    energy = room_stats(Workshop.objects.get(code=data["code"]), "en")["energy"]

    # The arena: 3 x 10.8 J over 6 answers with a figure, the stopped one included.
    assert energy["arena_wh_per_answer"] == pytest.approx(5.4 / 3600)
    assert energy["ratio_to_arena"] == pytest.approx(1.0)


# -- the CSV ----------------------------------------------------------------------------------
def test_the_csv_leaves_a_side_without_figures_empty(room, make_battle):
    data, headers = room
    _in_room(data["code"], make_battle(vote="a", turns=(("done", "error"),)))  # side b: no try with a figure

    (row,) = _csv_rows(data["code"], headers)

    assert float(row["wh_a"]) == pytest.approx(7.2 / 3600)
    assert (row["measured_a"], row["method_a"]) == ("False", "cpu-time-model")
    assert (row["wh_b"], row["measured_b"], row["method_b"]) == ("", "", "")


def test_the_csv_names_every_method_of_a_side(room, make_battle):
    data, headers = room
    battle = make_battle(vote="a")
    side_a = Message.objects.get(turn__battle=battle, side="a")
    add_attempt(side_a, energy_record(3600, measured=True, method="nvml"))
    add_attempt(side_a, None, outcome="error")  # a try whose worker died: no figure, no method
    _in_room(data["code"], battle)

    (row,) = _csv_rows(data["code"], headers)

    assert row["method_a"] == "cpu-time-model+nvml" and row["measured_a"] == "False"
    assert float(row["wh_a"]) == pytest.approx((7.2 + 3600) / 3600)
    assert (row["method_b"], row["measured_b"]) == ("cpu-time-model", "False")


def test_the_csv_says_measured_when_every_try_with_a_figure_was(room, make_battle):
    data, headers = room
    battle = make_battle(vote="a", turns=(("error", "error"),))
    for side in ("a", "b"):
        add_attempt(
            Message.objects.get(turn__battle=battle, side=side), energy_record(36, measured=True, method="nvml")
        )
    _in_room(data["code"], battle)

    (row,) = _csv_rows(data["code"], headers)

    assert (row["measured_a"], row["method_a"], row["wh_b"]) == ("True", "nvml", "0.01")


def test_a_summary_frozen_before_these_fields_still_renders(room, make_battle):
    data, _headers = room
    _in_room(data["code"], make_battle(vote="a"))
    workshop = Workshop.objects.get(code=data["code"])
    stats = room_stats(workshop, "en")
    for key in ("wall_wh", "measured_share"):
        del stats["energy"][key]
    Workshop.objects.filter(pk=workshop.pk).update(summary={"en": stats}, state="closed")

    html = _english().get(f"/w/{data['code']}/bilan/").content.decode()

    assert "of this energy was measured" not in html and "With the data centre" not in html
    assert "Per answer with an energy figure" in html


@pytest.mark.parametrize("decided, text", [(1, "of the one vote between two sizes"), (3, "of the 3 votes between")])
def test_the_smaller_model_line_counts_one_vote_in_the_singular(catalogue, decided, text):
    from django.template.loader import render_to_string
    from django.utils import translation

    from workshops.models import Workshop
    from workshops.stats import room_stats

    room, _token = Workshop.open_new(title="Atelier", language="en")
    stats = {**room_stats(room, "en"), "smaller_chosen": {"decided": decided, "share": 1.0}}
    with translation.override("en"):
        html = render_to_string("workshops/_figures.html", {"stats": stats, "room": room})
    assert text in html
