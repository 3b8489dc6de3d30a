"""Every page under the Content Security Policy, in Debian's Chromium: nothing the pages load,
run, style or connect to (the projector's WebSocket included) is blocked, and nothing they ask
for is missing (a page without an icon of its own makes Chromium ask for /favicon.ico, a 404).
The streaming battle itself runs under the same policy in tests/arena/test_browser_battle.py."""

from __future__ import annotations

import time

import pytest

from tests.arena.conftest import catalogue, make_battle, owner  # noqa: F401  (fixtures, used by name)

pytestmark = [pytest.mark.browser]

# Recorded before any page script runs (Playwright injects it outside the page's policy).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def pages(live_arena, make_battle, owner, clear_cache):  # noqa: F811
    from workshops import rules

    battle = make_battle(vote="a")
    room, token = rules.create(
        "csp-test", title="Atelier CSP", language="fr", modes=[], model_slugs=[], zone="", max_participants=30
    )
    return live_arena, str(owner.pk), battle, room.code, token


@pytest.fixture
def clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_it_blocks_nothing_the_pages_use(pages, browser):
    url, visitor, battle, code, token = pages
    context = browser.new_context(locale="fr-FR")
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_cookies([{"name": "arena_visitor", "value": visitor, "url": url}])
    console: list[str] = []
    page = context.new_page()
    failed_loads: list[str] = []  # anything a page asked for that did not come (the icon included)

    def on_console(message):
        if "Content Security Policy" in message.text:
            console.append(message.text)
        elif message.type == "error" and "Failed to load resource" in message.text:
            failed_loads.append(f"{page.url}: {message.text}")

    page.on("console", on_console)
    visited = {}
    for path in (
        "/",
        "/classement/",
        "/methodologie/",
        "/ateliers/",
        "/donnees/",
        f"/battles/{battle.id}/",
        f"/w/{code}/animer/{token}/",  # sets the facilitator cookie, then the facilitator page
        f"/w/{code}/projection/",
        f"/w/{code}/feuille/",
        f"/w/{code}/",
    ):
        response = page.goto(url + path)
        assert response.ok, (path, response.status)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        if path.endswith("/projection/"):  # the figures came through its WebSocket
            page.wait_for_selector(".projector[data-votes]", state="attached", timeout=30_000)
        page.wait_for_load_state("networkidle")
        visited[path] = page.evaluate("window.__cspViolations")
    reported = list(console)
    # The recorder is not a rubber stamp: an injected inline script is blocked and reported.
    page.evaluate(
        "document.body.append(Object.assign(document.createElement('script'), {textContent: 'window.ran = 1'}))"
    )
    # Polled from here: wait_for_function compiles its predicate with eval, which the policy forbids.
    deadline = time.monotonic() + 5
    while not page.evaluate("window.__cspViolations.length") and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert page.evaluate("window.__cspViolations.length") == 1
    assert page.evaluate("window.ran") is None
    context.close()
    assert not {p: v for p, v in visited.items() if v}, visited
    assert not reported, reported
    assert not failed_loads, failed_loads
