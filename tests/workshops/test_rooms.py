"""Rooms over the public API and pages: create, join by code in any case, the room's
rules for battles and votes, the facilitator's token, the frozen summary and its CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from arena.errors import ArenaError
from arena.models import Battle, Vote
from arena.visitors import COOKIE
from leaderboard.snapshots import compute_leaderboard
from workshops.models import CODE_ALPHABET, Participant, Workshop
from workshops.stats import room_stats

from .conftest import bearer, create_room, post_json

pytestmark = pytest.mark.django_db


def _start(client, code, **body):
    return post_json(client, "/api/battles", {"prompt": "Bonjour", "workshop": code, **body})


def _vote(client, battle, choice="a"):
    return post_json(client, f"/api/battles/{battle.id}/vote", {"choice": choice})


def _state(headers, code, state):
    return post_json_headers(f"/api/workshops/{code}/state", {"state": state}, headers)


def post_json_headers(url, data, headers):
    import json

    return Client().post(url, json.dumps(data), content_type="application/json", **headers)


def test_it_creates_a_room_without_an_account(catalogue, clear_cache):
    data, _client = create_room(language="en", modes=["random", "frugal"], max_participants=30)
    assert len(data["code"]) == 6 and set(data["code"]) <= set(CODE_ALPHABET)
    assert data["join_url"].endswith(f"/w/{data['code']}/")
    assert data["dashboard_ws"] == f"/ws/workshops/{data['code']}/"
    token = data["facilitator_key"]
    # The contract's link carries the key; the page and its key come apart as well.
    assert data["facilitator_url"] == f"http://testserver/w/{data['code']}/animer/{token}/"
    assert data["facilitator_page"] == f"http://testserver/w/{data['code']}/animer/"
    room = Workshop.objects.get(code=data["code"])
    assert (room.language, room.modes, room.max_participants) == ("en", ["random", "frugal"], 30)
    # Stored hashed only: the token is nowhere in the row.
    assert token not in str(Workshop.objects.filter(pk=room.pk).values().first())
    assert room.token_matches(token) and not room.token_matches(token[:-1] + "x")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"title": ""}, "invalid_title"),
        ({"title": "x" * 121}, "invalid_title"),
        ({"modes": ["turbo"]}, "unknown_mode"),
        ({"models": ["gpt-17"]}, "invalid_models"),
        ({"models": ["mesange"]}, "invalid_models"),
        ({"zone": "MARS"}, "unknown_zone"),
        ({"max_participants": 0}, "invalid_max_participants"),
        ({"max_participants": 100_000}, "invalid_max_participants"),
        ({"max_participants": "30"}, "invalid_max_participants"),
        ({"language": "de"}, "invalid_language"),
        ({"title": "   "}, "invalid_title"),  # only spaces: stored empty before
    ],
)
def test_it_refuses_a_bad_room_with_a_clear_error(catalogue, clear_cache, body, code):
    response = post_json(Client(), "/api/workshops", {"title": "Atelier", **body})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]
    assert not Workshop.objects.exists()


def test_codes_are_case_insensitive_and_unknown_codes_get_a_message(room, owner_client):
    data, _headers = room
    code = data["code"]
    response = owner_client.get(f"/w/{code.lower()}/")
    assert response.status_code == 302 and response["Location"] == f"/w/{code}/"
    page = owner_client.get(f"/w/{code}/")
    assert page.status_code == 200 and "Classe de 4e B" in page.text and f'data-workshop="{code}"' in page.text
    typed = owner_client.get("/w/", {"code": f" {code[:3].lower()}-{code[3:]} "})
    assert typed.status_code == 302 and typed["Location"] == f"/w/{code}/"
    unknown = owner_client.get("/w/QQQQQQ/")
    assert unknown.status_code == 404 and "Aucun atelier ne porte ce code" in unknown.text
    assert Client().get("/api/workshops/QQQQQQ").json()["error"]["code"] == "unknown_workshop"


def test_a_seat_is_taken_once_the_terms_are_accepted_never_by_loading_the_page(room, owner_client, stranger_client):
    """Chat apps fetch a shared link for its preview, and crawlers follow it: loading the room's
    page takes no seat. The page posts the join once its person accepted the terms."""
    data, headers = room
    code = data["code"]
    seats = Participant.objects.filter(workshop__code=code)
    for _preview in range(3):
        assert Client().get(f"/w/{code}/").status_code == 200
    assert owner_client.get(f"/w/{code}/").status_code == 200
    assert seats.count() == 0

    refused = post_json(Client(), f"/api/workshops/{code}/join", {})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "terms_required"
    joined = post_json(owner_client, f"/api/workshops/{code}/join", {})
    assert joined.status_code == 200 and joined.json()["code"] == code and "facilitator_url" not in joined.json()
    assert post_json(owner_client, f"/api/workshops/{code}/join", {}).status_code == 200  # the same seat
    assert [str(v) for v in seats.values_list("visitor_id", flat=True)] == [owner_client.cookies[COOKIE].value]
    assert Client().get(f"/api/workshops/{code}/stats", **headers).json()["participants"] == 1

    unknown = post_json(owner_client, "/api/workshops/QQQQQQ/join", {})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_workshop"
    assert _state(headers, code, "closed").status_code == 200
    closed = post_json(stranger_client, f"/api/workshops/{code}/join", {})
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "workshop_closed"
    assert seats.count() == 1


def test_the_home_page_has_a_join_box(catalogue, owner_client):
    page = owner_client.get("/")
    assert 'action="/w/"' in page.text and "Rejoindre un atelier" in page.text


def test_battles_started_in_a_room_carry_it_and_keep_to_its_models_and_modes(
    catalogue, owner_client, clear_cache, settings
):
    settings.ARENA_MAX_CONCURRENT_BATTLES = 10
    data, _client = create_room(models=["mesange", "rouge-gorge"], modes=["random"])
    for _ in range(3):
        response = _start(owner_client, data["code"].lower())
        assert response.status_code == 201, response.content
    battles = Battle.objects.all()
    assert {b.workshop_code for b in battles} == {data["code"]}
    assert {b.model_a.slug for b in battles} | {b.model_b.slug for b in battles} <= {"mesange", "rouge-gorge"}
    refused = _start(owner_client, data["code"], mode="frugal")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "unknown_mode"
    assert Participant.objects.filter(workshop__code=data["code"]).count() == 1
    # The room's custom list holds its models only.
    listed = owner_client.get("/api/models", {"workshop": data["code"]}).json()["models"]
    assert {m["slug"] for m in listed} == {"mesange", "rouge-gorge"}


def test_a_full_room_refuses_one_more_person(catalogue, owner_client, stranger_client, clear_cache):
    data, _client = create_room(max_participants=1)
    assert _start(owner_client, data["code"]).status_code == 201
    refused = _start(stranger_client, data["code"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "workshop_full"
    assert stranger_client.get(f"/w/{data['code']}/").status_code == 409
    full = post_json(stranger_client, f"/api/workshops/{data['code']}/join", {})
    assert full.status_code == 409 and full.json()["error"]["code"] == "workshop_full"
    assert owner_client.get(f"/w/{data['code']}/").status_code == 200  # a seat's holder comes back
    assert Battle.objects.count() == 1


def test_a_paused_room_takes_no_new_battle_but_its_votes(room, owner_client, make_battle, owner):
    data, headers = room
    battle = make_battle(visitor=owner)
    Battle.objects.filter(pk=battle.pk).update(workshop_code=data["code"])
    assert _state(headers, data["code"], "paused").json()["state"] == "paused"
    refused = _start(owner_client, data["code"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "workshop_paused"
    assert "pause" in refused.json()["error"]["message"]
    assert _vote(owner_client, battle).status_code == 200
    assert _state(headers, data["code"], "open").json()["state"] == "open"
    assert _start(owner_client, data["code"]).status_code == 201


def test_a_closed_room_refuses_battles_votes_and_turns_and_loses_nothing(room, owner_client, make_battle, owner):
    from arena import battles as rules

    data, headers = room
    voted = make_battle(visitor=owner, vote="b")
    waiting = make_battle(visitor=owner)
    Battle.objects.filter(pk__in=[voted.pk, waiting.pk]).update(workshop_code=data["code"])
    assert _state(headers, data["code"], "closed").status_code == 200
    for response in (_start(owner_client, data["code"]), _vote(owner_client, waiting)):
        assert response.status_code == 409
        assert response.json()["error"] == {
            "code": "workshop_closed",
            "message": "Cet atelier est fermé : il n'accepte plus de duel ni de vote.",
        }
    with pytest.raises(ArenaError) as refused:
        rules.add_turn(Battle.objects.get(pk=waiting.pk), "Encore ?")
    assert refused.value.code == "workshop_closed"
    # Nothing stored is lost: the voted battle keeps its vote, the other waits for nothing.
    assert Vote.objects.get(battle=voted).choice == "b"
    assert Battle.objects.filter(workshop_code=data["code"]).count() == 2
    page = owner_client.get(f"/w/{data['code']}/")
    assert page.status_code == 410 and f"/w/{data['code']}/bilan/" in page.text
    reopen = _state(headers, data["code"], "open")
    assert reopen.status_code == 409 and reopen.json()["error"]["code"] == "workshop_closed"


def test_only_the_facilitator_runs_the_room(room, catalogue, owner_client, stranger_client):
    data, headers = room
    other, _client = create_room(title="Autre salle")
    code = data["code"]
    _start(owner_client, code)  # the owner is a participant now
    for client in (owner_client, stranger_client):
        for state in ("paused", "closed"):
            response = post_json(client, f"/api/workshops/{code}/state", {"state": state})
            assert response.status_code == 403 and response.json()["error"]["code"] == "facilitator_only"
        assert client.get(f"/api/workshops/{code}/stats").status_code == 403
        assert client.get(f"/api/workshops/{code}/summary").status_code == 409
        assert client.get(f"/api/workshops/{code}/battles.csv").status_code == 409
        assert client.get(f"/w/{code}/animer/").status_code == 403
        assert client.get(f"/w/{code}/projection/").status_code == 403
    # Another room's facilitator cannot run this one either.
    others = bearer(other["facilitator_key"])
    assert post_json_headers(f"/api/workshops/{code}/state", {"state": "closed"}, others).status_code == 403
    assert Client().get(f"/api/workshops/{code}/stats", **others).status_code == 403
    assert Client().get(f"/w/{code}/animer/{others['HTTP_AUTHORIZATION'][7:]}/").status_code == 403
    assert Workshop.objects.get(code=code).state == "open"
    assert Client().get(f"/api/workshops/{code}/stats", **headers).json()["participants"] == 1


def test_the_key_typed_in_the_facilitator_page_sets_a_cookie_and_leaves_no_address(room):
    data, headers = room
    token, code = data["facilitator_key"], data["code"]
    browser = Client(enforce_csrf_checks=True)
    asked = browser.get(f"/w/{code}/animer/")  # another device: the page asks for the key
    assert asked.status_code == 403 and 'name="key"' in asked.text and 'type="password"' in asked.text
    assert 'role="alert"' not in asked.text
    csrf = {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    wrong = browser.post(f"/w/{code}/animer/", {"key": token[:-1] + "x", **csrf})
    assert wrong.status_code == 403 and 'role="alert"' in wrong.text and 'aria-invalid="true"' in wrong.text
    assert f"arena_room_{code}" not in wrong.cookies and token not in wrong.text
    assert browser.get(f"/w/{code}/animer/").status_code == 403  # a wrong key let nothing in
    response = browser.post(f"/w/{code}/animer/", {"key": f" {token}\n", **csrf})  # pasted with a line break
    assert response.status_code == 302 and response["Location"] == f"/w/{code}/animer/"
    assert token not in response["Location"]
    assert response.cookies[f"arena_room_{code}"]["httponly"]
    assert response.cookies[f"arena_room_{code}"]["max-age"] == ""  # not asked to keep it: gone with the browser
    assert browser.get(f"/w/{code}/animer/").status_code == 200
    assert Workshop.objects.get(code=code).state == "open"  # signing in changed nothing
    kept = Client().post(f"/w/{code}/animer/", {"key": token, "remember": "1"})
    assert kept.cookies[f"arena_room_{code}"]["max-age"] == 7 * 24 * 3600
    # A shared computer, before its next user: the browser forgets the key, the room goes on.
    forgot = browser.post(f"/w/{code}/animer/", {"forget": "1", **csrf})
    assert forgot.status_code == 302 and forgot.cookies[f"arena_room_{code}"]["max-age"] == 0
    assert browser.get(f"/w/{code}/animer/").status_code == 403
    assert browser.get(f"/w/{code}/projection/").status_code == 403
    assert Workshop.objects.get(code=code).state == "open"
    assert Client().get(f"/api/workshops/{code}/stats", **headers).status_code == 200  # the key still works


def test_the_projector_asks_for_the_key_and_goes_back_to_itself(room):
    data, _headers = room
    code, browser = data["code"], Client()
    asked = browser.get(f"/w/{code}/projection/")
    assert asked.status_code == 403 and 'name="next" value="projection"' in asked.text
    response = browser.post(f"/w/{code}/animer/", {"key": data["facilitator_key"], "next": "projection"})
    assert response.status_code == 302 and response["Location"] == f"/w/{code}/projection/"
    assert browser.get(f"/w/{code}/projection/").status_code == 200
    # Anything else in `next` goes to the facilitator page, never elsewhere.
    other = Client().post(f"/w/{code}/animer/", {"key": data["facilitator_key"], "next": "https://example.org/"})
    assert other["Location"] == f"/w/{code}/animer/"


def test_a_key_for_an_unknown_room_is_a_404_and_sets_nothing(room):
    data, _headers = room
    response = Client().post("/w/QQQQQQ/animer/", {"key": data["facilitator_key"]})
    assert response.status_code == 404 and not any(name.startswith("arena_room_") for name in response.cookies)


def test_the_facilitator_link_sets_a_cookie_and_leaves_the_url(room):
    data, headers = room
    token = headers["HTTP_AUTHORIZATION"][7:]
    browser = Client()
    response = browser.get(data["facilitator_url"].split("testserver")[1])
    assert response.status_code == 302 and response["Location"] == f"/w/{data['code']}/animer/"
    assert response.cookies[f"arena_room_{data['code']}"]["httponly"]
    for url in (f"/w/{data['code']}/animer/", f"/w/{data['code']}/projection/", f"/w/{data['code']}/feuille/"):
        page = browser.get(url)
        assert page.status_code == 200, url
        assert token not in page.text  # what is projected never shows the secret
        assert data["join_url"] in page.text
    facilitator = browser.get(f"/w/{data['code']}/animer/")
    assert "<svg" in facilitator.text and 'class="qr"' in facilitator.text
    assert browser.post(f"/w/{data['code']}/animer/", {"state": "paused"}).status_code == 302
    assert Workshop.objects.get(code=data["code"]).state == "paused"


def test_the_creation_form_shows_the_facilitator_link_once(catalogue, clear_cache):
    browser = Client()
    page = browser.post("/ateliers/", {"title": "Café IA", "max_participants": "25", "modes": ["random"]})
    assert page.status_code == 201
    room = Workshop.objects.get(title="Café IA")
    assert (room.max_participants, room.modes) == (25, ["random"])
    assert f"/w/{room.code}/animer/" in page.text
    assert f"/animer/{page.context['links']['facilitator_key']}" not in page.text  # a person gets no link with it
    assert 'id="facilitator-key"' in page.text
    assert browser.get(f"/w/{room.code}/animer/").status_code == 200  # the cookie came with it
    bad = browser.post("/ateliers/", {"title": ""})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    assert browser.post("/ateliers/", {"title": "  \t "}).status_code == 400


def test_the_facilitator_cookie_opens_the_room_whatever_the_codes_case(catalogue, clear_cache):
    data, browser = create_room()  # the creator's client holds the facilitator cookie
    code = data["code"]
    for typed in (code, code.lower()):
        response = post_json(browser, f"/api/workshops/{typed}/state", {"state": "paused"})
        assert response.status_code == 200, (typed, response.content)
        assert browser.get(f"/api/workshops/{typed}/stats").status_code == 200


def test_the_stats_speak_the_visitors_language_else_the_rooms_as_the_projector_does(catalogue, clear_cache):
    data, browser = create_room(language="en")
    room = Workshop.objects.get(code=data["code"])
    url = f"/api/workshops/{room.code}/stats"

    def figures(stats: dict) -> dict:
        return {k: v for k, v in stats.items() if k != "computed_at"}

    assert figures(browser.get(url).json()) == figures(room_stats(room, "en"))  # none chosen: the room's
    assert figures(room_stats(room, "en")) != figures(room_stats(room, "fr"))
    browser.cookies["django_language"] = "fr"
    assert figures(browser.get(url).json()) == figures(room_stats(room, "fr"))


def test_the_summary_is_frozen_at_close_and_the_csv_lists_exactly_the_rooms_battles(room, make_battle, owner, stranger):
    data, headers = room
    code = data["code"]
    other, _client = create_room(title="Autre salle")
    mine = [make_battle(visitor=owner, vote="a"), make_battle(visitor=stranger, vote="tie"), make_battle()]
    Battle.objects.filter(pk__in=[b.pk for b in mine]).update(workshop_code=code)
    elsewhere = make_battle(vote="b")
    Battle.objects.filter(pk=elsewhere.pk).update(workshop_code=other["code"])
    make_battle(vote="a")  # a public battle
    Vote.objects.filter(battle=mine[0]).update(
        worth_extra_energy=True, tags={"a": ["useful", "clear_formatting"], "b": []}
    )

    live = Client().get(f"/api/workshops/{code}/summary", **headers).json()
    assert live["frozen"] is False and live["votes"] == 2
    _state(headers, code, "closed")

    summary = Client().get(f"/api/workshops/{code}/summary").json()  # public now, no token
    assert summary["frozen"] is True and summary["state"] == "closed"
    assert (summary["battles"], summary["votes"]) == (3, 2)
    # 2 voted battles, (7.2 + 3.6) J each: 21.6 J = 0.006 Wh.
    assert summary["energy"]["wh"] == pytest.approx(21.6 / 3600)
    assert summary["energy"]["answers"] == 4
    assert summary["worth"] == {"answered": 1, "yes": 1, "share_yes": 1.0}
    assert [t["tag"] for t in summary["tags"]] == ["useful", "clear_formatting"]
    assert summary["leaderboard"]["too_early"] is True
    # Frozen: what happens to the database later does not move it.
    Vote.objects.create(battle=mine[2], choice="a", tags={}, comments={})
    assert Client().get(f"/api/workshops/{code}/summary").json()["votes"] == 2
    english = Client()
    english.cookies["django_language"] = "en"
    assert "Too early" in english.get(f"/w/{code}/bilan/").text
    assert "Trop tôt" in Client().get(f"/w/{code}/bilan/").text

    text = Client().get(f"/api/workshops/{code}/battles.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    # The room's voted battles (as when it closed: mine[0] and mine[1]; mine[2]'s vote came
    # after, and counts here, the CSV being read live), in the order they started, numbered.
    assert [r["n"] for r in rows] == ["1", "2", "3"]
    assert [r["choice"] for r in rows] == ["a", "tie", "a"]
    assert rows[0]["worth_extra_energy"] == "True" and float(rows[0]["wh_a"]) == pytest.approx(0.002)
    assert rows[0]["created_at"] == mine[0].created_at.strftime("%Y-%m-%dT%H:%M") + "+00:00"  # to the minute
    assert "Question" not in text  # no prompt leaves
    assert not any(str(b.pk) in text for b in mine)  # nor a battle's id, which a release could match


def test_the_csv_names_no_model_of_an_unvoted_battle(room, make_battle, owner):
    """A facilitator may play in their own room: the CSV, read before the close, must not
    name the pair of a battle not voted yet."""
    data, headers = room
    unvoted = make_battle(visitor=owner, model_a="heron", model_b="albatros")
    Battle.objects.filter(pk=unvoted.pk).update(workshop_code=data["code"])
    text = Client().get(f"/api/workshops/{data['code']}/battles.csv", **headers).text
    assert text.splitlines()[1:] == [] and "heron" not in text and "albatros" not in text


def test_rooms_stay_out_of_the_public_leaderboard_unless_asked(room, make_battle, owner):
    data, _headers = room
    for _ in range(3):
        make_battle(vote="a")
    in_room = [make_battle(model_a="albatros", model_b="mesange", vote="a") for _ in range(4)]
    Battle.objects.filter(pk__in=[b.pk for b in in_room]).update(workshop_code=data["code"])
    assert compute_leaderboard({}, bootstrap=10)["battles"] == 3
    assert compute_leaderboard({"workshops": "include"}, bootstrap=10)["battles"] == 7
    assert compute_leaderboard({"workshop": data["code"]}, bootstrap=10)["battles"] == 4
    assert Client().get("/api/leaderboard", {"workshops": "include"}).json()["battles"] == 7
    assert Client().get("/api/leaderboard", {"workshops": "yes"}).status_code == 400


def test_the_room_leaderboard_ranks_once_there_are_enough_votes(room, make_battle, settings):
    data, headers = room
    settings.WORKSHOP_MIN_VOTES = 6
    battles = [make_battle(model_a="albatros", model_b="mesange", vote="a") for _ in range(5)]
    battles += [make_battle(model_a="heron", model_b="mesange", vote="b") for _ in range(1)]
    Battle.objects.filter(pk__in=[b.pk for b in battles]).update(workshop_code=data["code"])
    board = Client().get(f"/api/workshops/{data['code']}/stats", **headers).json()["leaderboard"]
    assert board["too_early"] is False
    assert board["rows"][0]["slug"] == "albatros"
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in board["rows"])


def test_a_class_behind_one_address_is_limited_by_its_room_not_its_network(catalogue, clear_cache, settings):
    from tests.arena.conftest import _client_for, _visitor

    settings.ARENA_PROMPTS_PER_MINUTE_IP = 2
    settings.ARENA_MAX_CONCURRENT_BATTLES = 10
    data, _client = create_room(max_participants=4)
    people = [_client_for(_visitor()) for _ in range(4)]
    assert [_start(p, data["code"]).status_code for p in people] == [201] * 4  # one address, four people
    outside = [post_json(p, "/api/battles", {"prompt": "Bonjour"}).status_code for p in people[:3]]
    assert outside == [201, 201, 429]  # the network's limit still holds outside the room
    # The room's own rate: two battles per seat per minute.
    assert [_start(people[0], data["code"]).status_code for _ in range(4)] == [201, 201, 201, 201]
    refused = _start(people[1], data["code"])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert "atelier" in refused.json()["error"]["message"]


def test_rooms_do_not_lift_a_networks_limit_beyond_one_full_room(catalogue, clear_cache, settings):
    """Opening a room needs no account: its battles used to skip every per-network limit, so
    one address could open rooms and send without bound. A network in rooms may send as much
    as one full room a minute, over all its rooms."""
    from tests.arena.conftest import _client_for, _visitor

    settings.WORKSHOP_BATTLES_PER_MINUTE = 3
    settings.ARENA_MAX_CONCURRENT_BATTLES = 10
    first, _client = create_room(title="Salle 1", max_participants=4)
    second, _client = create_room(title="Salle 2", max_participants=4)
    people = [_client_for(_visitor()) for _ in range(4)]
    started = [_start(people[0], first["code"]), _start(people[1], first["code"])]
    started += [_start(people[2], second["code"]), _start(people[3], second["code"])]
    assert [r.status_code for r in started] == [201, 201, 201, 429]  # each room is under its own rate
    assert started[-1].json()["error"]["code"] == "rate_limited"
    assert "réseau" in started[-1].json()["error"]["message"]


def test_staff_see_every_room_in_the_admin_without_its_token(room, django_user_model):
    data, headers = room
    staff = django_user_model.objects.create_superuser("staff", "staff@example.org", "pw-long-enough-1")
    client = Client()
    client.force_login(staff)
    listing = client.get("/admin/workshops/workshop/")
    assert listing.status_code == 200 and data["code"] in listing.text
    room_page = client.get(f"/admin/workshops/workshop/{Workshop.objects.get(code=data['code']).pk}/change/")
    assert room_page.status_code == 200
    assert Workshop.objects.get(code=data["code"]).token_digest not in room_page.text
    assert headers["HTTP_AUTHORIZATION"][7:] not in room_page.text


@pytest.mark.parametrize(
    "request_, status",
    [
        (("get", "/w/", {"code": "a/b"}), 404),  # a code no room has, with a slash
        (("get", "/w/-/animer/x/", None), 404),  # a code that normalizes to nothing
        (("get", "/w/%20/animer/x/", None), 404),
        (("post", "/ateliers/", {"title": "Atelier", "max_participants": "²"}), 201),  # not a number: the default
        (("post", "/ateliers/", {"title": "T\x00"}), 400),  # PostgreSQL cannot store a NUL
        (("post", "/ateliers/", {"title": "Atelier", "models": "heron\x00"}), 400),
    ],
)
def test_odd_input_on_the_workshop_pages_gets_a_page_not_a_500(catalogue, clear_cache, request_, status):
    method, url, data = request_
    response = getattr(Client(), method)(url, data) if data is not None else Client().get(url)
    assert response.status_code == status, response.content[:300]
    assert Workshop.objects.count() == (1 if status == 201 else 0)


def test_a_participant_of_an_english_room_keeps_english_past_the_rooms_address(catalogue, clear_cache):
    """The join page spoke the room's language, then the battle and its reveal fell back to
    French: the language was the room page's alone. Joining now keeps it, as if picked."""
    from tests.arena.conftest import _client_for, _visitor

    data, _client = create_room(language="en")
    person = _client_for(_visitor())
    joined = person.get(f"/w/{data['code']}/")
    assert joined.status_code == 200 and '<html lang="en"' in joined.text
    assert joined.cookies["django_language"].value == "en"
    created = _start(person, data["code"])
    assert created.status_code == 201
    page = person.get(created.json()["url"])
    assert '<html lang="en"' in page.text and "Which answer is better?" in page.text
    chosen = _client_for(_visitor())
    chosen.cookies["django_language"] = "fr"  # one who picked French keeps it
    assert '<html lang="fr"' in chosen.get(f"/w/{data['code']}/").text
    assert "django_language" not in chosen.get(f"/w/{data['code']}/").cookies
