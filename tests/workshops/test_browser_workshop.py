"""A whole workshop in headless Chromium: a facilitator opens a room, three people join
(one types the code, one opens the join URL, one "scans" the projected QR code), each
plays a battle and votes, and the projector page, open the whole time and never reloaded,
shows the three votes and the room's energy."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, make_llm

pytestmark = [pytest.mark.slow, pytest.mark.browser]
SHOTS = ARTIFACTS / "workshops"


@pytest.fixture
def arena(live_arena, arena_workers, transactional_db):
    for slug in ("tiny-a", "tiny-b"):
        make_llm(slug, arena_workers[slug])
    return live_arena


def accept_terms(page) -> None:
    page.get_by_label("J'accepte les conditions d'utilisation.").check()
    page.get_by_role("button", name="Commencer").click()


def play_a_battle(page, prompt: str) -> None:
    page.get_by_role("textbox", name="Votre question").fill(prompt)
    page.get_by_role("button", name="Envoyer aux deux modèles").click()
    page.wait_for_url("**/battles/**")
    for side in "ab":
        page.wait_for_selector(f'.answer[data-side="{side}"][data-status="done"]', timeout=90_000)
    page.get_by_label("A est meilleur").check()
    page.get_by_role("button", name="Voter et révéler les modèles").click()
    page.wait_for_selector("#reveal", timeout=30_000)


def test_a_room_plays_and_the_projector_follows_live(arena, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    facilitator = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = facilitator.new_page()
    page.goto(arena + "/ateliers/")
    page.get_by_label("Titre (montré aux participants)").fill("Café IA de la médiathèque")
    page.get_by_role("button", name="Ouvrir la salle").click()
    key = page.get_by_role("textbox", name="Clé d'animation").input_value()
    assert page.get_by_role("textbox", name="Page d'animation").input_value().endswith("/animer/")
    page.get_by_role("link", name="Aller à la page d'animation").click()
    code = page.locator(".big-code strong").inner_text()
    join_url = page.locator(".big-url").inner_text()
    assert join_url == f"{arena}/w/{code}/"
    assert key not in page.content()  # the key is not on the page
    page.screenshot(path=str(SHOTS / "facilitator.png"), full_page=True)
    scanned = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(page.locator("svg.qr").screenshot())))]
    assert scanned == [join_url]

    projector = facilitator.new_page()
    projector.goto(f"{arena}/w/{code}/projection/")
    projector.evaluate("window.neverReloaded = true")
    assert projector.locator("#n-votes").inner_text() == "0"

    people = [browser.new_context(locale="fr-FR", viewport={"width": 360, "height": 740}) for _ in range(3)]
    typed = people[0].new_page()
    typed.goto(arena + "/")
    typed.get_by_label("Code affiché par la personne qui anime").fill(code.lower())
    typed.get_by_role("button", name="Rejoindre").click()
    typed.wait_for_url(f"**/w/{code}/")
    by_link = people[1].new_page()
    by_link.goto(join_url)
    by_qr = people[2].new_page()
    by_qr.goto(scanned[0])
    for page_ in (typed, by_link, by_qr):
        assert "Café IA de la médiathèque" in page_.inner_text(".room-banner")
        assert page_.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scroll on a phone
    # A page loaded takes no seat (a link preview would): the terms accepted take it, live.
    assert projector.locator("#n-participants").inner_text() == "0"
    for n, page_ in enumerate((typed, by_link, by_qr), start=1):
        accept_terms(page_)
        # expect(), not wait_for_function: the page's Content Security Policy forbids the eval it polls with.
        expect(projector.locator("#n-participants")).to_have_text(str(n), timeout=5000)

    for n, page_ in enumerate((typed, by_link, by_qr), start=1):
        play_a_battle(page_, f"Question {n} : pourquoi le ciel est-il bleu ?")
        expect(projector.locator("#n-votes")).to_have_text(str(n), timeout=5000)
    assert projector.evaluate("window.neverReloaded") is True
    energy = projector.locator("#room-energy").inner_text()
    assert "Wh" in energy and not energy.startswith("0 ")
    assert projector.locator("#n-battles").inner_text() == "3"
    projector.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)

    # Closing: the next battle is refused with a clear message; the summary is public.
    page.get_by_role("button", name="Fermer définitivement").click()
    assert "La salle est fermée." in page.inner_text("main")
    typed.goto(join_url)
    assert "Cet atelier est fermé" in typed.inner_text("main")
    typed.get_by_role("link", name="Voir le bilan de l'atelier").click()
    assert typed.locator("#n-votes").inner_text() == "3"
    typed.screenshot(path=str(SHOTS / "summary-phone.png"), full_page=True)
    # Every workshop page reads on a phone without sideways scrolling.
    page.set_viewport_size({"width": 360, "height": 740})
    for path in (
        "/ateliers/",
        f"/w/{code}/animer/",
        f"/w/{code}/projection/",
        f"/w/{code}/feuille/",
        f"/w/{code}/bilan/",
    ):
        page.goto(arena + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    page.goto(f"{arena}/w/{code}/projection/")
    page.keyboard.press("ArrowRight")  # the debate questions, by keyboard
    assert page.locator("#questions > li:not([hidden])").count() == 1
    assert page.locator("#questions > li").nth(1).is_visible()
    for context in (facilitator, *people):
        context.close()
