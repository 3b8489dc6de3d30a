"""A whole battle in headless Chromium: terms, prompt, two streamed answers, a second
turn, the vote and the reveal, while every byte the browser receives before the vote is
recorded and checked for anything that would identify a model."""

from __future__ import annotations

import os
import re

import pytest

from arena.catalogue import read_catalogue
from tests.conftest import ARTIFACTS, make_llm, serve_arena, stop_arena

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def shown(page, answer: str) -> str:
    """What an ended answer shows: its text, or the line saying it is empty (a tiny trained
    model may end at its first token, about one answer in 150)."""
    return page.inner_text(f"{answer} .body").strip() or page.inner_text(f"{answer} .status").strip()


@pytest.fixture
def arena(request, transactional_db):
    """(URL, worker URLs): the server `make run` started when ARENA_URL is set, otherwise
    a daphne child process on the test database with two test models. (transactional_db
    is requested here, statically: pytest-django sets up the test database only for
    fixtures requested that way, not through getfixturevalue.)"""
    external = os.environ.get("ARENA_URL")
    if external:
        return external.rstrip("/"), [e["worker"]["default"] for e in read_catalogue("fixtures/catalogue/demo.yaml")]
    url = request.getfixturevalue("live_arena")
    workers = request.getfixturevalue("arena_workers")
    for slug in ("tiny-a", "tiny-b"):
        make_llm(slug, workers[slug])
    return url, [workers["tiny-a"], workers["tiny-b"]]


def test_it_runs_a_blind_battle_end_to_end(arena, browser):
    live_arena, worker_urls = arena
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    received: list[tuple[str, str]] = []  # (what, text) for everything before the vote
    voting = {"done": False}

    def on_response(response):
        if voting["done"]:
            return
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        try:
            body = response.body().decode("utf-8", "replace")
        except Exception:
            body = ""
        received.append((response.url, headers + "\n" + body))

    def on_websocket(ws):
        ws.on(
            "framereceived",
            lambda payload: (
                received.append((ws.url, payload if isinstance(payload, str) else payload.decode()))
                if not voting["done"]
                else None
            ),
        )

    page.on("response", on_response)
    page.on("websocket", on_websocket)

    page.goto(live_arena + "/")
    page.get_by_label("J'accepte les conditions d'utilisation.").check()
    page.get_by_role("button", name="Commencer").click()
    page.get_by_role("textbox", name="Votre question").fill("Bonjour, comment cuire des pâtes ?")
    page.get_by_role("button", name="Envoyer aux deux modèles").click()

    page.wait_for_url("**/battles/**")
    page.wait_for_selector('.turn:nth-of-type(1) .answer[data-side="a"][data-status="done"]', timeout=90_000)
    page.wait_for_selector('.turn:nth-of-type(1) .answer[data-side="b"][data-status="done"]', timeout=90_000)
    assert all(shown(page, f'.turn:nth-of-type(1) .answer[data-side="{s}"]') for s in "ab")

    page.get_by_role("textbox", name="Poursuivre la conversation").fill("Et avec du riz ?")
    page.get_by_role("button", name="Envoyer", exact=True).click()
    page.wait_for_selector('.turn:nth-of-type(2) .answer[data-side="a"][data-status="done"]', timeout=90_000)
    page.wait_for_selector('.turn:nth-of-type(2) .answer[data-side="b"][data-status="done"]', timeout=90_000)
    # Streamed, not dumped: deltas arrived before each done.
    deltas = [text for url, text in received if "/ws/" in url and '"delta"' in text]
    assert len(deltas) >= 4

    # Nothing received before the vote names a model (the list is fetched only now).
    catalogue = page.request.get(live_arena + "/api/models").json()["models"]
    secrets = {url.split("//")[1] for url in worker_urls}
    for model in catalogue:
        secrets |= {model["slug"], model["name"], model["organization"]}
    for url, text in received:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked before the vote in {url}"

    page.get_by_label("A est meilleur").check()
    voting["done"] = True
    page.get_by_role("button", name="Voter et révéler les modèles").click()
    page.wait_for_selector("#reveal", timeout=30_000)
    reveal = page.inner_text("#reveal")
    names = [page.locator(f'.model-card[data-side="{side}"] .model-name').inner_text() for side in "ab"]
    assert all(name in {m["name"] for m in catalogue} for name in names)
    assert "Wh" in reveal
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reveal.png"), full_page=True)

    # Impacts, equivalents and honest labels, with French number formatting (1,5 Wh).
    assert "gCO2e" in reveal and "Eau" in reveal and "Soit environ" in reveal
    assert "estimée · modèle fondé sur le temps CPU" in reveal  # no GPU here: the CPU model, said so
    assert "Estimation EcoLogits" in reveal
    energy = page.locator(".model-card .energy-wh").first.inner_text()
    assert re.fullmatch(r"\d+(,\d+)?\u00a0m?Wh", energy), energy
    assert page.locator(".equivalents li").count() >= 2
    gwp_fr = page.locator(".model-card .gwp").first.inner_text()
    assert re.fullmatch(r"[\d\u202f\u00a0 ]+(,\d+)? gCO2e", gwp_fr), gwp_fr

    # The zone switch: the same answers as if they had run on the US grid.
    page.select_option("#zone", "USA")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_url("**zone=USA**")
    gwp_us = page.locator(".model-card .gwp").first.inner_text()
    assert "(USA)" in page.inner_text("#reveal")

    def as_number(text):
        return float(text.split()[0].replace(",", ".").replace("\u202f", ""))

    assert as_number(gwp_us) > 3 * as_number(gwp_fr)  # the US grid emits far more than the French one
    page.screenshot(path=str(ARTIFACTS / "reveal-usa.png"), full_page=True)
    context.close()


def test_it_reconnects_when_its_web_process_dies(transactional_db, arena_workers, browser, tmp_path):
    """The web process streaming the answers is killed (as in bench/load.py's web-kill
    phase): the page says the connection is lost, reconnects to the process started in its
    place, is told how each answer ended (the cut one `interrupted`), and a retry finishes it."""
    if os.environ.get("ARENA_URL"):
        pytest.skip("kills the server it starts")
    make_llm("chatty", arena_workers["chatty"])  # long answers: still streaming when the process dies
    make_llm("tiny-a", arena_workers["tiny-a"])
    url, first = serve_arena(tmp_path / "daphne-1.log", ARENA_MAX_TOKENS="400")
    second = None
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(url + "/")
        page.get_by_label("J'accepte les conditions d'utilisation.").check()
        page.get_by_role("button", name="Commencer").click()
        page.get_by_role("textbox", name="Votre question").fill("Raconte une longue histoire.")
        page.get_by_role("button", name="Envoyer aux deux modèles").click()
        page.wait_for_url("**/battles/**")
        # (Selectors, not script: the page's CSP allows no string evaluation.)
        page.wait_for_selector('.answer[data-status="streaming"] .body:not(:empty)', timeout=90_000)

        first.kill()  # SIGKILL: no task left to settle its answers
        first.wait(timeout=10)
        first.log.close()
        page.wait_for_selector(".answer .status:has-text('Connexion perdue : reconnexion…')", timeout=10_000)
        assert page.get_by_role("button", name="Envoyer", exact=True).is_disabled()

        second_url, second = serve_arena(tmp_path / "daphne-2.log", port=int(url.rsplit(":", 1)[1]))
        assert second_url == url
        # The lease of the cut answer lapses (15 s), the socket's watch fails it.
        unfinished = '.answer[data-status="streaming"], .answer[data-status="pending"]'
        page.wait_for_selector(unfinished, state="detached", timeout=60_000)
        failed = page.locator('.answer[data-status="error"]')
        assert failed.count() >= 1
        assert "le serveur qui la produisait a redémarré" in failed.first.locator(".status").inner_text()
        for side in [answer.get_attribute("data-side") for answer in failed.all()]:
            page.locator(f'.answer[data-side="{side}"] button.retry').click()
        page.wait_for_selector('.answer[data-side="a"][data-status="done"]', timeout=90_000)
        page.wait_for_selector('.answer[data-side="b"][data-status="done"]', timeout=90_000)
        assert all(shown(page, f'.answer[data-side="{s}"]') for s in "ab")
        assert page.get_by_role("button", name="Voter et révéler les modèles").is_enabled()
    finally:
        context.close()
        if second is not None:
            stop_arena(second)
        if first.poll() is None:
            stop_arena(first)


def test_a_stopped_answer_says_so_and_a_retry_is_offered(transactional_db, arena_workers, browser, tmp_path):
    """After Stop each side keeps its text with a "Stopped." line and a Retry button (the line
    used to be cleared by the stopped frame: a cut answer looked finished)."""
    make_llm("chatty", arena_workers["chatty"])  # long answers: still streaming at the stop
    make_llm("tiny-a", arena_workers["tiny-a"])
    url, server = serve_arena(tmp_path / "daphne.log", ARENA_MAX_TOKENS="400")
    context = browser.new_context(locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(url + "/")
        page.get_by_label("J'accepte les conditions d'utilisation.").check()
        page.get_by_role("button", name="Commencer").click()
        page.get_by_role("textbox", name="Votre question").fill("Raconte une longue histoire.")
        page.get_by_role("button", name="Envoyer aux deux modèles").click()
        page.wait_for_url("**/battles/**")
        page.wait_for_selector('.answer[data-status="streaming"] .body:not(:empty)', timeout=90_000)
        page.get_by_role("button", name="Arrêter").click()
        page.wait_for_selector('.answer[data-status="stopped"]', timeout=30_000)
        for answer in page.locator('.answer[data-status="stopped"]').all():
            assert answer.locator(".status").inner_text() == "Arrêtée."
            assert answer.locator("button.retry").is_visible()
    finally:
        context.close()
        stop_arena(server)


def test_it_renders_the_leaderboard_with_its_chart(live_arena, transactional_db, browser):
    from django.core.management import call_command

    from arena.catalogue import load_catalogue

    load_catalogue("fixtures/catalogue/demo.yaml")
    call_command("synthetic_battles", 400, seed=3)
    call_command("refresh_leaderboard", bootstrap=200)
    page = browser.new_page()
    page.goto(live_arena + "/classement/")
    assert page.locator("svg.chart circle").count() == 6  # the demo catalogue
    assert page.locator("table tbody tr").count() == 6
    assert "Intervalle à 95" in page.inner_text("table")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
    data = page.request.get(live_arena + "/api/leaderboard").json()
    assert data["battles"] == 400 and len(data["rows"]) == 6
    assert [r["rank"] for r in data["rows"]] == sorted(r["rank"] for r in data["rows"])
    page.close()
