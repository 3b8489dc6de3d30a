"""The facilitator's key never lands in a browser's history: a facilitator opens a room on
their laptop, then runs it from the classroom's shared computer, and what that computer's
Chromium keeps (its History database, read after the browser is closed) holds no address
with the key. A link carrying the key (the API's `facilitator_url`, which the pages gave
until now) is kept there: the same check on it shows what the test would catch."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest

from tests.arena.test_browser_people import axe_violations, no_sideways_scroll

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the ORM calls around Playwright's loop
    executable = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    with sync_playwright() as p:

        def profile(path, **options):  # a browser with a profile on disk, as a person's is
            return p.chromium.launch_persistent_context(
                str(path), executable_path=executable, headless=True, args=ARGS, locale="fr-FR", **options
            )

        yield profile


def addresses(profile_dir) -> list[str]:
    """Every address the closed browser's history keeps (a copy: Chromium may still hold it)."""
    copy = profile_dir.parent / f"{profile_dir.name}-history.db"
    shutil.copy(profile_dir / "Default" / "History", copy)
    with sqlite3.connect(copy) as db:
        return [url for (url,) in db.execute("SELECT url FROM urls")]


def test_the_key_is_in_no_address_a_browser_keeps(live_arena, chromium, tmp_path):
    laptop = chromium(tmp_path / "laptop")
    page = laptop.new_page()
    page.goto(live_arena + "/ateliers/")
    page.get_by_label("Titre (montré aux participants)").fill("Café IA")
    page.get_by_role("button", name="Ouvrir la salle").click()
    key = page.get_by_role("textbox", name="Clé d'animation").input_value()
    assert len(key) >= 40
    page.get_by_role("link", name="Aller à la page d'animation").click()
    code = page.locator(".big-code strong").inner_text()
    laptop.close()

    shared = chromium(tmp_path / "shared")
    page = shared.new_page()
    page.goto(f"{live_arena}/w/{code}/projection/")  # the projector first: it asks for the key
    page.get_by_label("Clé", exact=True).fill("une clé fausse")
    page.get_by_role("button", name="Ouvrir", exact=True).click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("Clé", exact=True).fill(key)
    page.get_by_role("button", name="Ouvrir", exact=True).click()
    page.wait_for_url(f"{live_arena}/w/{code}/projection/")
    assert key not in page.content()
    page.goto(f"{live_arena}/w/{code}/animer/")
    page.get_by_role("button", name="Oublier la clé sur ce navigateur").click()
    page.wait_for_url(f"{live_arena}/w/{code}/animer/")
    assert page.get_by_label("Clé", exact=True).is_visible()  # asked again: the next user gets no room
    shared.close()

    for profile in ("laptop", "shared"):
        kept = addresses(tmp_path / profile)
        assert any(f"/w/{code}/" in url for url in kept), kept  # the history was written
        assert not [url for url in kept if key in url], profile

    # The control: the link the pages gave until now (the API's facilitator_url) is honoured,
    # and kept in history.
    old = chromium(tmp_path / "old")
    page = old.new_page()
    page.goto(f"{live_arena}/w/{code}/animer/{key}/")
    page.wait_for_url(f"{live_arena}/w/{code}/animer/")
    old.close()
    assert [url for url in addresses(tmp_path / "old") if key in url]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_keys_pages_read_on_a_phone_and_pass_axe(live_arena, chromium, tmp_path, lang):
    # bypass_csp: axe-core is injected by the test; the pages themselves load no inline script.
    browser = chromium(tmp_path / "p", bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = browser.new_page()
    page.goto(live_arena + "/")
    browser.add_cookies([{"name": "django_language", "value": lang, "url": live_arena}])
    page.goto(live_arena + "/ateliers/")
    page.locator("#title").fill("Café IA")
    page.locator("#title").press("Enter")
    page.wait_for_selector("#facilitator-key")
    label = {"fr": "Clé d'animation", "en": "Facilitator's key"}[lang]
    assert page.locator("label[for=facilitator-key]").inner_text() == label
    code = page.locator("#facilitator-url").input_value().rstrip("/").split("/")[-2]
    found = {"created": axe_violations(page)}
    page.goto(f"{live_arena}/w/{code}/animer/")
    found["facilitator"] = axe_violations(page)
    page.locator("button[name=forget]").click()
    page.wait_for_selector("#facilitator-key")
    found["asked"] = axe_violations(page)
    page.locator("#facilitator-key").fill("not the key")
    page.locator("#facilitator-key").press("Enter")  # the keyboard alone signs in
    page.wait_for_selector("#signin-error")
    found["wrong key"] = axe_violations(page)
    assert page.locator("#facilitator-key").get_attribute("aria-describedby") == "signin-error"
    page.set_viewport_size({"width": 360, "height": 740})
    assert no_sideways_scroll(page), "the key's form at 360 px"
    browser.close()
    assert all(not v for v in found.values()), found
