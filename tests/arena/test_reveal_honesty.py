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
def test_the_estimate_is_given_without_the_pue_beside_the_metered_energy(en_client, make_battle):
    """A model whose parameter count is one number: EcoLogits' range at the wall is the PUE's
    alone, so at the servers there is no range, said so, not a range of one point."""
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
    # The wall's range is the servers' figure times the PUE's bounds, nothing more.
    assert stored["energy_wh_min"] / pue.min == pytest.approx(stored["energy_wh"] / pue.value)
    assert stored["energy_wh_max"] / pue.max == pytest.approx(stored["energy_wh"] / pue.value)
    assert servers == pytest.approx({"value": stored["energy_wh"] / pue.value, "min": None, "max": None})
    assert estimate["servers_range_from_pue_only"] is True
    assert (estimate["answers_estimated"], estimate["answers"]) == (1, 1)

    page = _page(en_client, battle)
    assert "EcoLogits estimate for the same answers, at the servers (PUE excluded)" in page
    shown = re.search(r'class="estimate-servers">([^<]*)</span>(.{0,40})', page)
    assert shown and shown.group(1) and "range" not in shown.group(2)  # no "[5,8 mWh – 5,8 mWh]"
    assert re.search(r'class="estimate-wall">[^<]*</span> <span class="range">\[[^\]]*–[^\]]*\]', page)
    assert (
        "EcoLogits gives no range for this model at the servers: its range comes from the data centre's PUE alone."
        in page
    )
    assert "At the servers, without the data centre's overhead (PUE)." in page


def test_the_servers_range_is_the_walls_divided_by_the_same_pue_bounds(en_client, make_battle):
    """Where EcoLogits' range is wider than the PUE's (a parameter count given as a range), the
    servers' range is the wall's divided by the matching PUE bounds (low by low, high by high),
    as `footprint` multiplies them."""
    battle = make_battle(vote="a")
    message = _answer(battle, "a")
    # Servers: 10 mWh [5 – 20] mWh; PUE 1.2 [1.1 – 1.5].
    message.estimate = {
        "energy_wh": 0.012,
        "energy_wh_min": 0.0055,
        "energy_wh_max": 0.03,
        "gwp_g": 0.001,
        "source": "EcoLogits 0.11.3",
        "pue": 1.2,
        "pue_min": 1.1,
        "pue_max": 1.5,
    }
    message.save(update_fields=["estimate"])

    estimate = _reveal(en_client, battle)["a"]["estimate"]

    assert estimate["energy_servers"] == pytest.approx({"value": 0.01, "min": 0.005, "max": 0.02})
    assert estimate["servers_range_from_pue_only"] is False
    page = _page(en_client, battle)
    shown = re.search(r'class="estimate-servers">([^<]*)</span> <span class="range">\[([^\]]*)\]', page)
    assert shown and (shown.group(1), shown.group(2)) == ("10\u00a0mWh", "5.0\u00a0mWh – 20\u00a0mWh")
    assert "its range comes from the data centre's PUE alone" not in page


def test_a_range_that_rounds_to_one_figure_is_not_shown(en_client, make_battle):
    battle = make_battle(vote="a")
    message = _answer(battle, "a")
    # A range of 0.01 % at the servers: real, kept in the JSON, but "[10 mWh – 10 mWh]" once rounded.
    message.estimate = {
        "energy_wh": 0.012,
        "energy_wh_min": 0.012 * 0.9999 * 1.1 / 1.2,
        "energy_wh_max": 0.012 * 1.0001 * 1.5 / 1.2,
        "gwp_g": 0.001,
        "source": "EcoLogits 0.11.3",
        "pue": 1.2,
        "pue_min": 1.1,
        "pue_max": 1.5,
    }
    message.save(update_fields=["estimate"])

    servers = _reveal(en_client, battle)["a"]["estimate"]["energy_servers"]

    assert servers["min"] == pytest.approx(0.009999) and servers["max"] == pytest.approx(0.010001)
    shown = re.search(r'class="estimate-servers">([^<]*)</span>(.{0,40})', _page(en_client, battle))
    assert shown and "range" not in shown.group(2)


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

    assert "its manufacturing share is not known, so not counted (it is not zero)." in page
    # The whole conversation has no warnings list: its own line says it.
    conversation = page[page.index('class="card conversation"') :]
    assert "Manufacturing share: not known, so not counted (it is not zero)." in conversation


def test_each_side_says_once_that_its_manufacturing_share_is_not_known(en_client, make_battle):
    """The CPU fallback's device "cpu" is not in the hardware data, so no hardware is known:
    two codes and a line said the same thing three times. The most specific one stays."""
    battle = make_battle(vote="a")

    reveal = _reveal(en_client, battle)
    page = _page(en_client, battle)

    for side in "ab":
        warnings = reveal[side]["impacts"]["warnings"]
        assert [w["code"] for w in warnings if w["code"].startswith("embodied-")] == ["embodied-unknown-device"]
        assert len({w["text"] for w in warnings}) == len(warnings)
        assert reveal[side]["impacts"]["embodied_warned"] is True
        card = re.search(rf'<article class="model-card" data-side="{side}">(.*?)</article>', page, re.S).group(1)
        assert card.lower().count("manufacturing share") == 1, card
        assert "A device that ran this answer is not in our hardware data" in card
        assert "The hardware that ran this answer is unknown" not in card


def test_the_most_specific_manufacturing_warning_is_kept():
    from arena.reveal import _warnings

    def codes(notes):
        return [w["code"] for w in _warnings(notes)]

    assert codes(["embodied-unknown-hardware", "electricity-mix-wue-world", "embodied-unknown-device"]) == [
        "electricity-mix-wue-world",
        "embodied-unknown-device",
    ]
    assert codes(["embodied-gwp-missing", "embodied-unknown-hardware"]) == ["embodied-unknown-hardware"]
    assert codes(["embodied-gwp-missing", "embodied-adpe-missing"]) == ["embodied-gwp-missing"]
    assert codes(["input-tokens-not-modelled"]) == ["input-tokens-not-modelled"]


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


# -- 5. method codes in words ------------------------------------------------------------------
def test_the_method_is_said_in_words_with_its_code_kept_in_the_json(en_client, make_battle):
    battle = make_battle(model_a="heron", model_b="martinet", vote="a")
    add_attempt(_answer(battle, "a"), {**energy_record(3.6), **H100}, outcome="done")  # a retry on NVML
    _as_remote_api(battle, "b")

    reveal = _reveal(en_client, battle)
    page = _page(en_client, battle)

    a, b = reveal["a"]["energy"], reveal["b"]["energy"]
    assert (a["method"], b["method"]) == ("cpu-time-model+nvml", "ecologits")  # the codes, unchanged
    assert a["method_label"] == "CPU-time model + GPU energy counter (NVML)"
    assert b["method_label"] == "EcoLogits estimate"
    assert a["messages"][0]["method_label"] == "CPU-time model + GPU energy counter (NVML)"
    assert reveal["b"]["impacts"]["method_label"] == "EcoLogits estimate"
    assert (
        'title="cpu-time-model+nvml">estimated · <span class="method">CPU-time model + GPU energy counter (NVML)'
        in page
    )
    assert 'title="ecologits">estimated · <span class="method">EcoLogits estimate</span>' in page
    for code in ("(cpu-time-model", "(ecologits)", "(nvml)", "+nvml"):
        assert code not in page.replace('title="cpu-time-model+nvml"', "")


def test_every_meter_has_a_name():
    from arena.reveal import method_label

    assert method_label("nvml-power-polling+rapl") == "GPU power polling (NVML) + CPU energy counter (RAPL)"
    assert method_label("off") == "meter off"
    assert method_label("something-new") == "something-new"  # shown as it is, never hidden
    assert method_label("") == "" and method_label(None) == ""


# -- 6. the glossary says which basis each figure stands on ------------------------------------
def test_the_glossary_puts_the_headline_energy_at_the_servers(en_client, make_battle):
    page = _page(en_client, make_battle(vote="a"))

    glossary = page[page.index('id="glossary-wh"') :]
    glossary = glossary[: glossary.index("</dd>")]
    assert (
        "The energy for this conversation is counted at the servers, without the data centre's overhead (PUE excluded)"
        in glossary
    )
    assert "the everyday equivalents count it at the data centre's meter (PUE included)" in glossary
    assert "Servers' energy is counted at the data centre's meter" not in page


# -- 7. greenhouse gases of different scopes are said to be so ---------------------------------
def test_co2e_figures_of_different_scopes_say_they_are_not_comparable(en_client, make_battle):
    """A (metered, hardware unknown) used twice B's energy, yet B (a remote API) counts its
    manufacturing and A cannot: the bars alone would mislead."""
    battle = make_battle(model_a="heron", model_b="martinet", vote="a")
    _as_remote_api(battle, "b")

    reveal = _reveal(en_client, battle)
    page = _page(en_client, battle)

    assert reveal["a"]["impacts"]["indicators"]["gwp_g"]["embodied"] is None
    assert reveal["b"]["impacts"]["indicators"]["gwp_g"]["embodied"] is not None
    note = reveal["gwp_scope"]
    assert (note["included"], note["left_out"]) == ("b", "a")
    text = (
        "B's greenhouse gases include manufacturing (EcoLogits estimate); A's manufacturing share is not known "
        "and not counted: the two are not comparable as they stand."
    )
    assert note["text"] == text
    # Under the bars, before the cards.
    reveal_html = page[page.index('id="reveal"') :]
    assert reveal_html.index("</figure>") < reveal_html.index(text) < reveal_html.index('<div class="sides">')


def test_the_whole_conversation_says_manufacturing_is_counted_for_part_of_it(en_client, make_battle):
    """B (a remote API) counts its manufacturing and A cannot: the conversation's CO2e holds B's
    share, so its card must not say that manufacturing is not counted at all."""
    mixed = make_battle(model_a="heron", model_b="martinet", vote="a")
    _as_remote_api(mixed, "b")
    unknown = make_battle(vote="a")  # both on the CPU fallback: no share known on either side

    conversation = _reveal(en_client, mixed)["conversation"]
    assert conversation["indicators"]["gwp_g"]["embodied"] is None and conversation["embodied_partial"] is True
    card = _page(en_client, mixed).split('class="card conversation"')[1].split("</section>")[0]
    assert "Manufacturing share: counted for the answers whose estimate includes it" in card
    assert "Manufacturing share: not known, so not counted (it is not zero)." not in card

    assert _reveal(en_client, unknown)["conversation"]["embodied_partial"] is False
    card = _page(en_client, unknown).split('class="card conversation"')[1].split("</section>")[0]
    assert "Manufacturing share: not known, so not counted (it is not zero)." in card


def test_co2e_figures_of_the_same_scope_need_no_note(en_client, make_battle):
    unknown = make_battle(vote="a")  # both on the CPU fallback: manufacturing unknown on both sides
    known = make_battle(vote="a")
    for side in "ab":
        message = _answer(known, side)
        message.attempts.all().delete()
        add_attempt(message, {**energy_record(3.6), **H100})  # both on a known H100

    for battle in (unknown, known):
        assert _reveal(en_client, battle)["gwp_scope"] is None
        assert "not comparable as they stand" not in _page(en_client, battle)


def test_co2e_of_a_known_device_beside_an_unknown_one_is_said_without_ecologits():
    from arena.reveal import gwp_scope_note

    def impacts(embodied, by_ecologits=False):
        return {"indicators": {"gwp_g": {"embodied": embodied}}, "estimated_by_ecologits": by_ecologits}

    note = gwp_scope_note(impacts({"value": 1.0}), impacts(None))
    assert (note["included"], note["left_out"]) == ("a", "b") and "EcoLogits" not in note["text"]
    assert gwp_scope_note(impacts(None), None) is None
