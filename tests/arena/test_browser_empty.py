"""An answer that ended with no text (its model's first token was its end token), in
Chromium: the socket that opens on the page reports its `done`, and battle.js says the
answer is empty rather than leaving a blank box (the page said so already; the frame must
not wipe it)."""

from __future__ import annotations

import json
import time

import pytest

from arena.models import Message
from tests.arena.conftest import catalogue, make_battle, owner  # noqa: F401  (fixtures, used by name)

pytestmark = [pytest.mark.browser]


def test_the_page_says_an_answer_is_empty_after_its_socket_reports_it(live_arena, make_battle, owner, browser):  # noqa: F811
    battle = make_battle()
    Message.objects.filter(turn__battle=battle, side="a").update(content="", html="", completion_tokens=1)
    context = browser.new_context(locale="fr-FR")
    context.add_cookies([{"name": "arena_visitor", "value": str(owner.pk), "url": live_arena}])
    page = context.new_page()
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    page.goto(f"{live_arena}/battles/{battle.id}/")
    deadline = time.monotonic() + 30
    while {f.get("side") for f in frames if f["type"] == "done"} != {"a", "b"} and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    reported = {f["side"]: f for f in frames if f["type"] == "done"}
    assert reported["a"]["html"] == "" and reported["b"]["html"]
    page.wait_for_timeout(300)  # the frames' handlers have run (the page said the same before them)
    statuses = {s: page.inner_text(f'.answer[data-side="{s}"] .status') for s in "ab"}
    assert statuses == {"a": "Ce modèle a donné une réponse vide.", "b": ""}
    assert page.locator('.answer[data-side="a"] .answer-tools').is_visible()  # it can be liked or not
    context.close()
