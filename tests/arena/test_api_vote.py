"""POST /api/battles/<id>/vote, GET /api/battles/<id>/reveal and POST /api/battles/<id>/worth."""

from __future__ import annotations

import re
import uuid

import pytest

from arena import battles
from arena.errors import ArenaError
from arena.models import Attempt, Battle, Message, Vote

from .conftest import add_attempt, energy_record, post_json

pytestmark = pytest.mark.django_db

CARD_KEYS = {
    "slug",
    "name",
    "organization",
    "license",
    "license_kind",
    "params_b",
    "active_params_b",
    "release_date",
    "description",
}


def _vote(client, battle, data=None):
    return post_json(client, f"/api/battles/{battle.id}/vote", {"choice": "a"} if data is None else data)


def _reveal(client, battle, query=""):
    return client.get(f"/api/battles/{battle.id}/reveal{query}")


def _worth(client, battle, data):
    return post_json(client, f"/api/battles/{battle.id}/worth", data)


# -- vote ---------------------------------------------------------------------------------
def test_it_votes_and_reveals(owner_client, make_battle):
    battle = make_battle(
        model_a="heron", model_b="mesange", energy_a_j=7.2, energy_b_j=3.6, turns=(("done", "done"), ("done", "done"))
    )
    response = _vote(
        owner_client,
        battle,
        {
            "choice": "b",
            "tags": {"a": ["incorrect"], "b": ["useful", "clear_formatting"]},
            "comments": {"a": "  trop vague ", "b": ""},
        },
    )
    assert response.status_code == 200
    reveal = response.json()["reveal"]

    assert reveal["battle"] == str(battle.id)
    assert reveal["vote"] == {
        "choice": "b",
        "tags": {"a": ["incorrect"], "b": ["clear_formatting", "useful"]},
        "comments": {"a": "trop vague", "b": ""},
    }
    for side, slug, energy_j in (("a", "heron", 7.2), ("b", "mesange", 3.6)):
        card = reveal[side]["model"]
        assert set(card) >= CARD_KEYS
        assert card["slug"] == slug
        assert card["name"] and card["organization"] == "Arena demo"
        assert card["license"] == "Apache-2.0" and card["license_kind"] == "open"
        assert card["params_b"] > 0 and card["active_params_b"] > 0
        assert card["release_date"] == "2026-11-24"
        assert card["description"]

        energy = reveal[side]["energy"]
        assert energy["energy_wh"] == pytest.approx(energy_j / 3600)
        assert sum(m["energy_wh"] for m in energy["messages"]) == pytest.approx(energy_j / 3600)
        assert len(energy["messages"]) == 2
        assert energy["measured"] is False
        assert energy["method"] == "cpu-time-model"
        assert energy["completion_tokens"] == 32

        impacts = reveal[side]["impacts"]
        assert impacts["zone"] == "FRA"
        assert 0 < impacts["gwp_g_min"] <= impacts["gwp_g"] <= impacts["gwp_g_max"]
        assert impacts["water_ml"] > 0
        assert isinstance(impacts["equivalents"], list) and impacts["equivalents"]

    assert isinstance(reveal["comparison"], str)
    assert "A" in reveal["comparison"] and "B" in reveal["comparison"]
    assert "2,0" in reveal["comparison"] or "2.0" in reveal["comparison"]
    assert reveal["leak"]["flagged"] is False

    vote = Vote.objects.get(battle=battle)
    assert vote.choice == "b"
    assert vote.tags == {"a": ["incorrect"], "b": ["clear_formatting", "useful"]}


def test_it_says_when_both_used_about_the_same_energy(owner_client, make_battle):
    battle = make_battle(energy_a_j=3.6, energy_b_j=3.61)
    reveal = _vote(owner_client, battle, {"choice": "tie"}).json()["reveal"]
    assert reveal["comparison"]
    assert not any(c.isdigit() for c in reveal["comparison"])  # no ratio


def test_it_labels_measured_energy(owner_client, make_battle):
    battle = make_battle()
    message = Message.objects.get(turn__battle=battle, side="a")
    message.attempts.all().delete()
    add_attempt(
        message,
        {
            "measured": True,
            "method": "nvml",
            "energy_j": 41.7,
            "gpu_j": 41.7,
            "cpu_j": None,
            "duration_s": 3.2,
            "devices": ["NVIDIA H100 80GB HBM3"],
            "avg_concurrency": 7.4,
            "prompt_tokens": 212,
            "completion_tokens": 388,
        },
    )
    reveal = _vote(owner_client, battle).json()["reveal"]
    assert reveal["a"]["energy"]["measured"] is True
    assert reveal["a"]["energy"]["method"] == "nvml"
    assert reveal["a"]["energy"]["energy_wh"] == pytest.approx(41.7 / 3600)
    assert reveal["b"]["energy"]["measured"] is False


def test_it_ends_the_battle(owner_client, make_battle):
    battle = make_battle()
    assert _vote(owner_client, battle).status_code == 200
    battle.refresh_from_db()
    assert battle.voted_at is not None
    with pytest.raises(ArenaError) as exc:
        battles.add_turn(battle, "Et ensuite ?")
    assert exc.value.status == 409
    assert exc.value.code == "already_voted"
    assert battle.turns.count() == 1


def test_it_accepts_a_stopped_answer(owner_client, make_battle):
    battle = make_battle(turns=(("done", "stopped"),))
    assert _vote(owner_client, battle).status_code == 200


def test_it_requires_post(owner_client, make_battle):
    battle = make_battle()
    assert owner_client.get(f"/api/battles/{battle.id}/vote").status_code == 405
    assert not Vote.objects.exists()


def test_it_refuses_a_stranger(stranger_client, make_battle):
    battle = make_battle()
    response = _vote(stranger_client, battle)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_owner"
    assert "reveal" not in response.json()
    assert not Vote.objects.exists()


@pytest.mark.parametrize("statuses", [("done", "streaming"), ("pending", "done"), ("pending", "pending")])
def test_it_waits_for_both_answers(owner_client, make_battle, statuses):
    battle = make_battle(turns=(statuses,))
    response = _vote(owner_client, battle)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "answers_pending"
    battle.refresh_from_db()
    assert battle.voted_at is None


def test_it_waits_for_the_last_turn(owner_client, make_battle):
    battle = make_battle(turns=(("done", "done"), ("done", "streaming")))
    assert _vote(owner_client, battle).status_code == 409


def test_it_refuses_a_vote_on_a_failed_answer(owner_client, make_battle):
    battle = make_battle(turns=(("done", "error"),))
    response = _vote(owner_client, battle)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "answer_failed"
    assert not Vote.objects.exists()


def test_it_refuses_a_vote_on_an_answer_stopped_before_its_first_word(owner_client, make_battle):
    """Stopped (or its socket closed) before the first token: nothing to judge, and a release
    would leave the battle out as an empty answer. Retry it first; a stopped answer with text
    is still a vote's to judge."""
    battle = make_battle(turns=(("done", "stopped"),))
    Message.objects.filter(turn__battle=battle, side="b").update(content="", html="")
    response = _vote(owner_client, battle)
    assert response.status_code == 409 and response.json()["error"]["code"] == "answer_empty"
    assert not Vote.objects.exists()
    Message.objects.filter(turn__battle=battle, side="b").update(content="Un début", html="<p>Un début</p>")
    assert _vote(owner_client, battle).status_code == 200


def test_it_answers_the_same_vote_twice_with_the_same_reveal(owner_client, make_battle):
    battle = make_battle()
    data = {"choice": "a", "tags": {"a": ["useful"], "b": []}, "comments": {"a": "", "b": "bof"}}
    first = _vote(owner_client, battle, data)
    second = _vote(owner_client, battle, data)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert Vote.objects.filter(battle=battle).count() == 1


def test_it_refuses_a_different_second_vote(owner_client, make_battle):
    battle = make_battle()
    assert _vote(owner_client, battle, {"choice": "a"}).status_code == 200
    response = _vote(owner_client, battle, {"choice": "b"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_voted"
    assert Vote.objects.get(battle=battle).choice == "a"


@pytest.mark.parametrize("choice", [None, "", "A", "c", "both", 1, ["a"]])
def test_it_rejects_an_invalid_choice(owner_client, make_battle, choice):
    battle = make_battle()
    response = _vote(owner_client, battle, {"choice": choice})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_choice"
    assert not Vote.objects.exists()


@pytest.mark.parametrize("tags", [{"a": ["brilliant"]}, {"b": ["useful", "nope"]}, {"a": "useful"}])
def test_it_rejects_unknown_tags(owner_client, make_battle, tags):
    battle = make_battle()
    response = _vote(owner_client, battle, {"choice": "a", "tags": tags})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_tags"


@pytest.mark.parametrize(
    "data", [{"tags": ["useful"]}, {"tags": "useful"}, {"comments": "bien"}, {"comments": ["bien"]}]
)
def test_it_rejects_tags_or_comments_that_are_not_objects(owner_client, make_battle, data):
    battle = make_battle()
    response = _vote(owner_client, battle, {"choice": "a", **data})
    assert response.status_code == 400
    assert not Vote.objects.exists()


def test_it_rejects_a_too_long_comment(owner_client, make_battle):
    battle = make_battle()
    response = _vote(owner_client, battle, {"choice": "a", "comments": {"b": "x" * (battles.MAX_COMMENT_CHARS + 1)}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_comment"
    ok = _vote(owner_client, battle, {"choice": "a", "comments": {"b": "x" * battles.MAX_COMMENT_CHARS}})
    assert ok.status_code == 200


def test_it_rejects_a_non_text_comment(owner_client, make_battle):
    battle = make_battle()
    response = _vote(owner_client, battle, {"choice": "a", "comments": {"a": 42}})
    assert response.status_code == 400


def test_it_rejects_invalid_json(owner_client, make_battle):
    battle = make_battle()
    assert _vote(owner_client, battle, "{choice: a}").status_code == 400
    assert _vote(owner_client, battle, ["a"]).status_code == 400


def test_it_returns_404_for_an_unknown_battle(owner_client, catalogue):
    missing = uuid.uuid4()
    assert post_json(owner_client, f"/api/battles/{missing}/vote", {"choice": "a"}).status_code == 404
    assert owner_client.get(f"/api/battles/{missing}/reveal").status_code == 404
    assert post_json(owner_client, f"/api/battles/{missing}/worth", {"worth": True}).status_code == 404


def test_it_flags_a_leak_in_the_reveal(owner_client, make_battle):
    battle = make_battle(leak_flagged=True)
    reveal = _vote(owner_client, battle).json()["reveal"]
    assert reveal["leak"]["flagged"] is True
    assert reveal["leak"]["detail"]


# -- reveal ---------------------------------------------------------------------------------
def test_it_refuses_the_reveal_before_the_vote(owner_client, make_battle):
    battle = make_battle()
    response = _reveal(owner_client, battle)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_voted"
    for llm in (battle.model_a, battle.model_b):
        assert llm.slug not in response.content.decode()


def test_it_shows_the_reveal_after_the_vote(owner_client, make_battle):
    battle = make_battle(model_a="albatros", model_b="pivert")
    voted = _vote(owner_client, battle).json()["reveal"]
    response = _reveal(owner_client, battle)
    assert response.status_code == 200
    reveal = response.json()
    assert reveal == voted
    assert reveal["a"]["model"]["slug"] == "albatros"
    assert reveal["b"]["model"]["slug"] == "pivert"
    assert "SWE" in reveal["zones"] and "FRA" in reveal["zones"]


def test_it_refuses_the_reveal_to_a_stranger(stranger_client, make_battle):
    battle = make_battle(vote="a")
    response = _reveal(stranger_client, battle)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_owner"


def test_it_requires_get_for_the_reveal(owner_client, make_battle):
    battle = make_battle(vote="a")
    assert post_json(owner_client, f"/api/battles/{battle.id}/reveal", {}).status_code == 405


def test_it_recomputes_impacts_in_another_zone(owner_client, make_battle):
    battle = make_battle(vote="a")
    stored = list(
        Attempt.objects.filter(message__turn__battle=battle).order_by("message__side").values_list("record", flat=True)
    )

    france = _reveal(owner_client, battle, "?zone=FRA").json()
    sweden = _reveal(owner_client, battle, "?zone=SWE").json()
    assert france["a"]["impacts"]["zone"] == "FRA"
    assert sweden["a"]["impacts"]["zone"] == "SWE"
    assert sweden["a"]["impacts"]["gwp_g"] != france["a"]["impacts"]["gwp_g"]
    # Same energy: only the zone's factors change.
    assert sweden["a"]["energy"] == france["a"]["energy"]

    assert (
        list(
            Attempt.objects.filter(message__turn__battle=battle)
            .order_by("message__side")
            .values_list("record", flat=True)
        )
        == stored
    )
    assert _reveal(owner_client, battle).json()["a"]["impacts"]["zone"] == "FRA"


def test_it_rejects_an_unknown_zone(owner_client, make_battle):
    battle = make_battle(vote="a")
    response = _reveal(owner_client, battle, "?zone=XXX")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_zone"


# -- worth ----------------------------------------------------------------------------------
def test_it_asks_whether_the_extra_energy_was_worth_it(owner_client, make_battle):
    battle = make_battle(energy_a_j=7.2, energy_b_j=3.6)
    reveal = _vote(owner_client, battle, {"choice": "a"}).json()["reveal"]
    assert reveal["worth_question"] == {"asked": True, "answer": None}

    response = _worth(owner_client, battle, {"worth": True})
    assert response.status_code == 200
    assert response.json() == {"worth": True}
    assert Vote.objects.get(battle=battle).worth_extra_energy is True
    assert _reveal(owner_client, battle).json()["worth_question"] == {"asked": True, "answer": True}

    assert _worth(owner_client, battle, {"worth": False}).status_code == 200
    assert Vote.objects.get(battle=battle).worth_extra_energy is False


@pytest.mark.parametrize("choice", ["b", "tie", "both_bad"])
def test_it_does_not_ask_when_the_preferred_answer_used_less(owner_client, make_battle, choice):
    battle = make_battle(energy_a_j=7.2, energy_b_j=3.6)
    reveal = _vote(owner_client, battle, {"choice": choice}).json()["reveal"]
    assert reveal["worth_question"]["asked"] is False
    response = _worth(owner_client, battle, {"worth": True})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_question"
    assert Vote.objects.get(battle=battle).worth_extra_energy is None


@pytest.mark.parametrize("worth", [None, "yes", 1, 0, [True]])
def test_it_rejects_a_worth_that_is_not_a_bool(owner_client, make_battle, worth):
    battle = make_battle(vote="a")
    response = _worth(owner_client, battle, {"worth": worth})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_worth"
    assert Vote.objects.get(battle=battle).worth_extra_energy is None


def test_it_refuses_worth_before_the_vote(owner_client, make_battle):
    battle = make_battle()
    response = _worth(owner_client, battle, {"worth": True})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_voted"


def test_it_refuses_worth_from_a_stranger(stranger_client, make_battle):
    battle = make_battle(vote="a")
    assert _worth(stranger_client, battle, {"worth": True}).status_code == 403
    assert Vote.objects.get(battle=battle).worth_extra_energy is None


def test_it_requires_post_for_worth(owner_client, make_battle):
    battle = make_battle(vote="a")
    assert owner_client.get(f"/api/battles/{battle.id}/worth").status_code == 405


def test_it_keeps_votes_on_battles_from_the_database(make_battle):
    # The factory's stored vote is what the views read: a guard for the tests above.
    battle = make_battle(vote="b")
    assert Battle.objects.get(pk=battle.pk).is_voted


def test_it_says_not_measured_for_a_worker_without_a_meter(owner_client, make_battle):
    """A worker run with `--meter off` sends a record without figures: the reveal says so
    instead of failing or showing a made-up zero."""
    battle = make_battle()
    message = Message.objects.get(turn__battle=battle, side="a")
    message.attempts.all().delete()
    add_attempt(
        message,
        {
            "measured": False,
            "method": "off",
            "energy_j": None,
            "gpu_j": None,
            "cpu_j": None,
            "duration_s": None,
            "devices": [],
            "avg_concurrency": None,
            "prompt_tokens": 10,
            "completion_tokens": 16,
            "sampling_period_s": None,
        },
    )

    response = _vote(owner_client, battle)

    assert response.status_code == 200
    side_a = response.json()["reveal"]["a"]
    assert side_a["energy"]["energy_wh"] is None and side_a["impacts"] is None
    assert side_a["energy"]["messages"][0]["energy_wh"] is None
    assert response.json()["reveal"]["b"]["energy"]["energy_wh"] > 0
    assert response.json()["reveal"]["comparison"] == "" and not response.json()["reveal"]["worth_question"]["asked"]
    page = owner_client.get(f"/battles/{battle.id}/").content.decode()
    assert "non mesurée" in page


def test_it_builds_the_reveal_in_a_fixed_number_of_queries(owner_client, make_battle, django_assert_max_num_queries):
    """Totals are SQL sums over the tries; the queries do not grow with turns or retries."""

    def reveal_queries(turns):
        battle = make_battle(turns=turns, vote="a")
        for message in Message.objects.filter(turn__battle=battle):  # a retried try on every answer
            add_attempt(message, energy_record(1.0), outcome="stopped")
        with django_assert_max_num_queries(12) as captured:
            assert _reveal(owner_client, battle).status_code == 200
        return len(captured.captured_queries)

    assert reveal_queries([("done", "done")] * 6) == reveal_queries([("done", "done")])


def test_an_empty_answer_says_so_and_can_be_voted_on(owner_client, make_battle):
    """A model may end its answer at once (its first token is its end token): the box says the
    answer is empty rather than staying blank, and the answer counts as given (a vote for the
    other side is a fair judgement of it)."""
    battle = make_battle()
    Message.objects.filter(turn__battle=battle, side="a").update(content="", html="", completion_tokens=1)
    said = "Ce modèle a donné une réponse vide."

    page = owner_client.get(f"/battles/{battle.id}/").content.decode()
    statuses = re.findall(r'<p class="status" role="status">([^<]*)</p>', page)
    assert statuses[:2] == [said, ""]  # then the next turn's blank template
    assert f'data-empty="{said}"' in page  # for an answer that ends empty while streamed

    assert _vote(owner_client, battle).status_code == 200
