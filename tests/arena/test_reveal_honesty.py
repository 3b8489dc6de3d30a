"""The reveal's figures say on which basis they stand and what they cover: the EcoLogits
estimate beside the metered energy on the same basis (servers, PUE excluded) with its
range, the web-search line on the equivalents' basis (data centre), a message's method
and measured flag over all its tries (partial when a try has no figure), and a remote
API's impacts with EcoLogits' manufacturing share. Texts are checked in English: the
French of new strings is merged separately."""

import html
import re

import pytest

import footprint
from arena.impacts import deployment_profile, ecologits_estimate, estimated_record
from arena.models import Message

from .conftest import add_attempt, energy_record

pytestmark = pytest.mark.django_db

H100 = {"devices": ["NVIDIA H100 80GB HBM3"], "measured": True, "method": "nvml"}


@pytest.fixture
def en_client(owner_client):
    owner_client.cookies["django_language"] = "en"
    return owner_client


def _reveal(client, battle) -> dict:
    response = client.get(f"/api/battles/{battle.id}/reveal")
    assert response.status_code == 200
    return response.json()


def _page(client, battle) -> str:
    response = client.get(f"/battles/{battle.id}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def _answer(battle, side: str) -> Message:
    return Message.objects.select_related("turn__battle").get(turn__battle=battle, side=side)


def _as_remote_api(battle, side: str) -> Message:
    """The side's answer as the arena stores a remote API's: one try whose record is EcoLogits'
    estimate (`estimated_record`), and the estimate beside it (`Message.finish`)."""
    message = _answer(battle, side)
    llm = battle.model(side)
    message.attempts.all().delete()
    add_attempt(message, estimated_record(llm, 10, 16, 500).model_dump())
    message.estimate = ecologits_estimate(llm, 10, 16, 500)
    message.save(update_fields=["estimate"])
    return message


# -- 1. the EcoLogits estimate on the metered figure's basis, with its range ------------------
def test_the_estimate_is_given_without_the_pue_beside_the_metered_energy_with_its_range(en_client, make_battle):
    battle = make_battle(model_a="heron", model_b="mesange", vote="a")
    message = _answer(battle, "a")
    message.estimate = ecologits_estimate(battle.model_a, 10, 16, 500)
    message.save(update_fields=["estimate"])
    pue = deployment_profile().pue

    estimate = _reveal(en_client, battle)["a"]["estimate"]

    stored = message.estimate
    assert estimate["energy_wh"] == pytest.approx(stored["energy_wh"])  # as before: at the wall
    assert (estimate["energy_wh_min"], estimate["energy_wh_max"]) == pytest.approx(
        (stored["energy_wh_min"], stored["energy_wh_max"])
    )
    wall, servers = estimate["energy_wall"], estimate["energy_servers"]
    assert wall == pytest.approx(
        {"value": stored["energy_wh"], "min": stored["energy_wh_min"], "max": stored["energy_wh_max"]}
    )
    assert servers["value"] == pytest.approx(stored["energy_wh"] / pue.value)
    assert servers["min"] == pytest.approx(stored["energy_wh_min"] / pue.min)
    assert servers["max"] == pytest.approx(stored["energy_wh_max"] / pue.max)
    assert servers["min"] <= servers["value"] <= servers["max"]
    assert (estimate["answers_estimated"], estimate["answers"]) == (1, 1)

    page = _page(en_client, battle)
    assert "EcoLogits estimate for the same answers, at the servers (PUE excluded)" in page
    shown = re.search(r'class="estimate-servers">([^<]*)</span> <span class="range">\[([^\]]*)\]', page)
    assert shown and shown.group(1) and "–" in shown.group(2)  # the figure and its range
    assert "At the servers, without the data centre's overhead (PUE)." in page


def test_a_remote_api_shows_one_figure_for_its_energy_and_the_estimate(en_client, make_battle):
    """A remote API's energy is EcoLogits' estimate: on the same basis, the two agree (they
    differed by exactly the PUE)."""
    battle = make_battle(model_a="martinet", model_b="mesange", vote="a")
    _as_remote_api(battle, "a")

    side = _reveal(en_client, battle)["a"]

    assert side["energy"]["estimated_by_arena"] is True and side["energy"]["basis"] == "servers"
    assert side["estimate"]["energy_servers"]["value"] == pytest.approx(side["energy"]["energy_wh"])
    assert side["estimate"]["energy_wall"]["value"] == pytest.approx(side["impacts"]["energy_wall_wh"])


def test_an_estimate_stored_before_its_pue_was_kept_is_read_with_the_profiles(en_client, make_battle):
    battle = make_battle(vote="a")
    message = _answer(battle, "a")
    message.estimate = {"energy_wh": 0.012, "gwp_g": 0.001, "source": "EcoLogits 0.11.3"}  # no range, no PUE
    message.save(update_fields=["estimate"])

    estimate = _reveal(en_client, battle)["a"]["estimate"]

    assert estimate["energy_servers"] == pytest.approx(
        {"value": 0.012 / deployment_profile().pue.value, "min": None, "max": None}
    )
    assert estimate["energy_wh"] == pytest.approx(0.012) and estimate["energy_wh_min"] is None
    assert _page(en_client, battle).count('class="estimate-servers"') == 1


# -- 2. the web-search line on the data centre's basis, as the equivalents -------------------
def test_the_web_search_line_counts_energy_at_the_data_centre_as_the_equivalents_do(en_client, make_battle):
    battle = make_battle(model_a="heron", model_b="mesange", vote="a", energy_a_j=36.0, energy_b_j=3.6)

    reveal = _reveal(en_client, battle)

    wall_wh = reveal["conversation"]["energy_wall_wh"]
    servers_wh = reveal["a"]["energy"]["energy_wh"] + reveal["b"]["energy"]["energy_wh"]
    assert wall_wh == pytest.approx(servers_wh * deployment_profile().pue.value)
    search = footprint.sobriety_reference("web_search", "en")["value"]
    line = reveal["sobriety"][0]
    assert line["basis"] == "data_centre" and line["energy_wh"] == pytest.approx(wall_wh)
    assert f"as much as {wall_wh / search:.2g} web searches" in line["text"]
    assert f"{servers_wh / search:.2g}" not in line["text"]  # 0.037 at the servers, 0.044 here
    # The equivalents translate the same figure.
    bulb = footprint.pick_equivalents("energy_wh", wall_wh, "en")
    assert [e["value"] for e in reveal["conversation"]["equivalents"] if e["family"] == "led_bulb"] == pytest.approx(
        [e["value"] for e in bulb if e["family"] == "led_bulb"]
    )


def test_the_web_search_line_says_at_least_when_a_try_has_no_figure(en_client, make_battle):
    battle = make_battle(vote="a")
    add_attempt(_answer(battle, "a"), None, outcome="error")  # a try whose record was lost

    line = _reveal(en_client, battle)["sobriety"][0]

    assert "at least as much as" in line["text"]


# -- 3. a message's method and measured flag over all its tries; partial figures -------------
def test_a_message_says_how_all_its_tries_were_metered(en_client, make_battle):
    battle = make_battle(vote="a")
    message = _answer(battle, "a")  # its first try: the CPU fallback, estimated
    add_attempt(message, {**energy_record(3.6), **H100}, outcome="done")  # a retry, metered by NVML

    side = _reveal(en_client, battle)["a"]["energy"]
    out = side["messages"][0]

    assert out["attempts"] == 2
    assert out["method"] == "cpu-time-model+nvml"  # sorted and joined as the exports do
    assert out["measured"] is False  # one of the tries it sums was not measured
    assert out["partial"] is False and out["attempts_without_figures"] == 0
    assert side["method"] == "cpu-time-model+nvml" and side["measured"] is False


def test_a_try_without_a_figure_makes_the_total_partial(en_client, make_battle):
    battle = make_battle(vote="a")
    message = _answer(battle, "a")
    message.attempts.all().delete()
    add_attempt(message, {**energy_record(3.6), **H100}, outcome="stopped")
    add_attempt(message, None, outcome="done")  # the last try's record was lost with its worker

    side = _reveal(en_client, battle)["a"]["energy"]
    out = side["messages"][0]

    assert out["energy_wh"] == pytest.approx(3.6 / 3600)
    assert out["measured"] is True and out["method"] == "nvml"  # the figure it has is NVML's
    assert out["partial"] is True and out["attempts_without_figures"] == 1
    assert side["partial"] is True and (side["attempts_without_figures"], side["attempts"]) == (1, 2)
    assert _reveal(en_client, battle)["b"]["energy"]["partial"] is False
    assert "Partial: 1 of 2 tries have no energy figure; this total counts the others only." in _page(en_client, battle)


# -- 4. a remote API's impacts: EcoLogits' own, manufacturing included, labelled estimated ---
def test_a_remote_api_gets_ecologits_impacts_with_manufacturing(en_client, make_battle):
    battle = make_battle(model_a="martinet", model_b="mesange", vote="a")
    _as_remote_api(battle, "a")

    reveal = _reveal(en_client, battle)
    impacts = reveal["a"]["impacts"]

    assert impacts["estimated_by_ecologits"] is True and impacts["method"] == "ecologits"
    assert impacts["source"].startswith("EcoLogits")
    for key in ("gwp_g", "adpe_mgsbeq", "pe_wh"):
        embodied = impacts["indicators"][key]["embodied"]
        assert embodied is not None and embodied["value"] > 0
        total = impacts["indicators"][key]["total"]
        assert total["min"] <= total["value"] <= total["max"]
    assert not any(w["code"].startswith("embodied-") for w in impacts["warnings"])
    # The same central energy as the record's, at the data centre.
    wall = impacts["indicators"]["energy_wh"]["total"]["value"]
    assert wall == pytest.approx(reveal["a"]["energy"]["energy_wh"] * deployment_profile().pue.value)
    assert reveal["b"]["impacts"]["estimated_by_ecologits"] is False
    page = _page(en_client, battle)
    assert "These impacts, manufacturing included, are EcoLogits' estimates" in page


def test_a_remote_api_whose_ecologits_impacts_fail_says_manufacturing_is_not_known(en_client, make_battle, monkeypatch):
    battle = make_battle(model_a="martinet", model_b="mesange", vote="a")
    _as_remote_api(battle, "a")

    def fail(*args, **kwargs):
        raise RuntimeError("EcoLogits is down")

    monkeypatch.setattr(footprint, "estimate_with_ecologits", fail)
    impacts = _reveal(en_client, battle)["a"]["impacts"]

    assert impacts["indicators"]["gwp_g"]["embodied"] is None  # unknown, not 0
    assert impacts["gwp_g"] == pytest.approx(impacts["indicators"]["gwp_g"]["usage"]["value"])
    assert any(w["code"].startswith("embodied-") for w in impacts["warnings"])


def test_the_page_says_an_unknown_manufacturing_share_is_not_zero(en_client, make_battle):
    battle = make_battle(vote="a")  # the CPU fallback's records: no known hardware

    page = _page(en_client, battle)

    assert "Manufacturing share: not known, so not counted (it is not zero)." in page


def test_the_estimate_says_which_answers_and_tries_it_covers(en_client, make_battle):
    battle = make_battle(vote="a", turns=(("done", "done"), ("done", "done")))
    first = Message.objects.get(turn__battle=battle, turn__index=0, side="a")
    first.estimate = ecologits_estimate(battle.model_a, 10, 16, 500)
    first.save(update_fields=["estimate"])
    add_attempt(first, energy_record(1.0), outcome="done")  # a retry: its first try is in the energy only

    estimate = _reveal(en_client, battle)["a"]["estimate"]

    assert (estimate["answers_estimated"], estimate["answers"]) == (1, 2)
    assert estimate["earlier_tries_left_out"] is True
    page = _page(en_client, battle)
    assert "For 1 of 2 answers: the others have none (a stopped answer gets no estimate)." in page
    assert "The earlier tries of a retried answer are in the energy above, not in this estimate." in page
