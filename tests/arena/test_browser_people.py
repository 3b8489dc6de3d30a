"""What a voter sees, in headless Chromium: the reveal's five indicators with their ranges,
warnings, class and picture, at 1280 px and on a 360 px phone without sideways scrolling;
and axe-core (from npm) finds no WCAG 2.1 AA violation on the home, battle, reveal,
leaderboard and methodology pages, in French and in English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS, make_llm

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = Path(__file__).resolve().parents[2] / "var" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page) -> list[dict]:
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: `make test` installs it from npm")
    # Evaluated through the DevTools protocol: a <script> tag with the file inline would be
    # refused by the page's Content Security Policy (script-src 'self').
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def arena(live_arena, arena_workers, transactional_db):
    for slug in ("tiny-a", "tiny-b"):
        make_llm(slug, arena_workers[slug])
    return live_arena


def play(page, base: str, labels: dict) -> str:
    page.goto(base + "/")
    page.get_by_label(labels["accept"]).check()
    page.get_by_role("button", name=labels["start"]).click()
    page.get_by_role("textbox", name=labels["question"]).fill("Pourquoi les feuilles tombent-elles ?")
    page.get_by_role("button", name=labels["send"]).click()
    page.wait_for_url("**/battles/**")
    for side in "ab":
        page.wait_for_selector(f'.answer[data-side="{side}"][data-status="done"]', timeout=90_000)
    return page.url


FR = {
    "accept": "J'accepte les conditions d'utilisation.",
    "start": "Commencer",
    "question": "Votre question",
    "send": "Envoyer aux deux modèles",
    "better": "A est meilleur",
    "vote": "Voter et révéler les modèles",
}
EN = {
    "accept": "I accept the terms of use.",
    "start": "Start",
    "question": "Your question",
    "send": "Send to two models",
    "better": "A is better",
    "vote": "Vote and reveal the models",
}


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_reveal_for_people_reads_on_a_phone_and_passes_axe(arena, browser, lang):
    labels = FR if lang == "fr" else EN
    # bypass_csp: axe-core is injected by the test; the pages themselves load no inline script.
    context = browser.new_context(locale=f"{lang}-FR", viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.add_cookies([{"name": "django_language", "value": lang, "url": arena}])
    page = context.new_page()
    found: dict[str, list] = {}

    page.goto(arena + "/")
    found["home"] = axe_violations(page)
    battle_url = play(page, arena, labels)
    found["battle"] = axe_violations(page)
    page.set_viewport_size({"width": 360, "height": 740})
    assert no_sideways_scroll(page), "battle page at 360 px"
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label(labels["better"]).check()
    page.get_by_role("button", name=labels["vote"]).click()
    page.wait_for_selector("#reveal", timeout=30_000)
    found["reveal"] = axe_violations(page)
    for side in "ab":
        card = page.locator(f'.model-card[data-side="{side}"]')
        for indicator in ("wall-wh", "gwp", "water", "adpe", "pe"):  # the five, each with its range
            assert card.locator(f".{indicator}").count() == 1, indicator
        assert card.locator(".range").count() >= 5
        assert card.locator(".class-letter").inner_text() in "ABCDEF"
        assert card.locator(".warnings li").count() >= 1  # no GPU here: the hardware share is unknown
        assert card.locator("a[href='#glossary-co2']").count() == 1  # help reachable from the figure
    assert page.locator("svg.bars").count() == 2 and page.locator("svg.bars title").count() == 2
    assert page.locator("#glossary-pue").count() == 1 and page.locator("#glossary-mix").count() == 1
    assert page.locator(".sobriety").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"reveal-people-{lang}-1280.png"), full_page=True)
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(battle_url)
    assert no_sideways_scroll(page), "reveal at 360 px"
    page.screenshot(path=str(ARTIFACTS / f"reveal-people-{lang}-360.png"), full_page=True)

    for name, path in (("leaderboard", "/classement/"), ("methodology", "/methodologie/")):
        page.goto(arena + path)
        assert no_sideways_scroll(page), f"{name} at 360 px"
        page.set_viewport_size({"width": 1280, "height": 900})
        found[name] = axe_violations(page)
        page.set_viewport_size({"width": 360, "height": 740})
    context.close()
    assert all(not v for v in found.values()), json.dumps(found, indent=1)
