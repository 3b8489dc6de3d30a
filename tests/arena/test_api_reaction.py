"""POST /api/messages/<id>/reaction: like, dislike or undo one answer, with reasons."""

from __future__ import annotations

import uuid

import pytest

from arena import battles
from arena.models import Message, Reaction

from .conftest import post_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(make_battle) -> Message:
    battle = make_battle()
    return Message.objects.get(turn__battle=battle, side="a")


def _react(client, message_id, data):
    return post_json(client, f"/api/messages/{message_id}/reaction", data)


def test_it_likes_an_answer(owner_client, message):
    response = _react(
        owner_client,
        message.id,
        {"liked": True, "tags": ["useful", "creative", "useful"], "comment": "  Très clair.  "},
    )
    assert response.status_code == 200
    assert response.json() == {
        "message_id": str(message.id),
        "liked": True,
        "tags": ["creative", "useful"],
        "comment": "Très clair.",
    }
    reaction = Reaction.objects.get(message=message)
    assert reaction.liked is True
    assert reaction.tags == ["creative", "useful"]
    assert reaction.comment == "Très clair."


def test_it_updates_the_same_reaction(owner_client, message):
    _react(owner_client, message.id, {"liked": True, "tags": ["useful"]})
    response = _react(owner_client, message.id, {"liked": False, "tags": ["incorrect"], "comment": "Faux."})
    assert response.status_code == 200
    assert Reaction.objects.count() == 1
    reaction = Reaction.objects.get(message=message)
    assert (reaction.liked, reaction.tags, reaction.comment) == (False, ["incorrect"], "Faux.")


def test_it_undoes_a_reaction(owner_client, message):
    _react(owner_client, message.id, {"liked": True, "tags": ["useful"], "comment": "bien"})
    response = _react(owner_client, message.id, {"liked": None})
    assert response.status_code == 200
    assert response.json()["liked"] is None
    assert Reaction.objects.count() == 1
    reaction = Reaction.objects.get(message=message)
    assert (reaction.liked, reaction.tags, reaction.comment) == (None, [], "")


def test_it_keeps_one_reaction_per_message(owner_client, make_battle):
    battle = make_battle()
    a, b = Message.objects.filter(turn__battle=battle).order_by("side")
    _react(owner_client, a.id, {"liked": True})
    _react(owner_client, b.id, {"liked": False})
    _react(owner_client, a.id, {"liked": False})
    assert Reaction.objects.count() == 2
    assert Reaction.objects.get(message=a).liked is False


def test_it_accepts_a_reaction_after_the_vote(owner_client, make_battle):
    battle = make_battle(vote="a")
    message = Message.objects.get(turn__battle=battle, side="b")
    assert _react(owner_client, message.id, {"liked": True}).status_code == 200


def test_it_requires_post(owner_client, message):
    assert owner_client.get(f"/api/messages/{message.id}/reaction").status_code == 405
    assert not Reaction.objects.exists()


def test_it_refuses_a_stranger(stranger_client, message):
    response = _react(stranger_client, message.id, {"liked": True})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_owner"
    assert not Reaction.objects.exists()


@pytest.mark.parametrize("status", ["pending", "streaming", "error", "stopped"])
def test_it_waits_for_a_finished_answer(owner_client, make_battle, status):
    battle = make_battle(turns=((status, "done"),))
    message = Message.objects.get(turn__battle=battle, side="a")
    response = _react(owner_client, message.id, {"liked": True})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_finished"
    assert not Reaction.objects.exists()


def test_it_returns_404_for_an_unknown_message(owner_client, catalogue):
    assert _react(owner_client, uuid.uuid4(), {"liked": True}).status_code == 404


@pytest.mark.parametrize("liked", ["yes", 1, 0, "true", []])
def test_it_rejects_an_invalid_liked(owner_client, message, liked):
    response = _react(owner_client, message.id, {"liked": liked})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_liked"


@pytest.mark.parametrize("tags", [["brilliant"], ["useful", "nope"], "useful", {"a": ["useful"]}, [1]])
def test_it_rejects_unknown_tags(owner_client, message, tags):
    response = _react(owner_client, message.id, {"liked": True, "tags": tags})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_tags"
    assert not Reaction.objects.exists()


def test_it_accepts_every_reason_tag(owner_client, message):
    response = _react(owner_client, message.id, {"liked": False, "tags": list(battles.REASON_TAGS)})
    assert response.status_code == 200
    assert sorted(response.json()["tags"]) == sorted(battles.REASON_TAGS)


def test_it_rejects_a_too_long_comment(owner_client, message):
    response = _react(owner_client, message.id, {"liked": True, "comment": "x" * (battles.MAX_COMMENT_CHARS + 1)})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_comment"
    ok = _react(owner_client, message.id, {"liked": True, "comment": "x" * battles.MAX_COMMENT_CHARS})
    assert ok.status_code == 200


def test_it_rejects_a_non_text_comment(owner_client, message):
    response = _react(owner_client, message.id, {"liked": True, "comment": ["bien"]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_comment"


def test_it_rejects_invalid_json(owner_client, message):
    assert _react(owner_client, message.id, "{liked").status_code == 400
    assert _react(owner_client, message.id, [True]).status_code == 400
