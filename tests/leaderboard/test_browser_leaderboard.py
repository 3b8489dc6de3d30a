"""The leaderboard page in headless Chromium, on a desktop and on a 360 px phone: tiers,
models listed apart, the filter form, the chart and the tables, and never a page that
scrolls sideways (wide content scrolls inside its own box); axe-core finds no WCAG 2.1 AA
violation on the populated page, in French and in English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.browser]
AXE = Path(__file__).resolve().parents[2] / "var" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RANKED = "mesange=900,rouge-gorge=960,pivert=1000,heron=1040,albatros=1150"


@pytest.fixture
def board(live_arena, transactional_db):
    """400 battles between five demo models, and a sixth (martinet) with a handful: listed apart."""
    from django.core.management import call_command

    from arena.catalogue import load_catalogue

    load_catalogue("fixtures/catalogue/demo.yaml")
    call_command("synthetic_battles", 400, ratings=RANKED, seed=3)
    call_command("synthetic_battles", 6, ratings="martinet=1000,pivert=1000", seed=4)
    call_command("refresh_leaderboard", bootstrap=200, display_min_votes=50)
    return live_arena


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _check_page(page, width: int) -> None:
    scroll_width, inner_width = _page_width(page)
    assert inner_width == width
    assert scroll_width <= width, f"the page scrolls sideways at {width} px: {scroll_width}"
    ranked, apart = page.locator("table.leaderboard-table").all()
    assert ranked.locator("tbody tr").count() == 5 and apart.locator("tbody tr").count() == 1
    assert "Martinet" in apart.inner_text() and "Martinet" not in ranked.inner_text()
    for table in (ranked, apart):  # headers and a caption, for screen readers
        assert table.locator("caption").count() == 1
        assert table.locator("th[scope=col]").count() >= 6
        assert table.locator("tbody th[scope=row]").count() == table.locator("tbody tr").count()
    tiers = [row.locator("td").first.inner_text() for row in ranked.locator("tbody tr").all()]
    assert tiers[0] == "1" and all(t.isdigit() for t in tiers)  # tiers in words, not only a line
    assert "Intervalle à 95" in ranked.inner_text()
    for region in page.locator(".table-scroll, .chart-scroll").all():  # each box fits the screen
        box = region.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5
        assert region.get_attribute("tabindex") == "0"  # keyboard users can scroll it
    form = page.locator("form.filters")
    assert form.locator("select[name=both_bad]").count() == 1
    assert form.locator("input[name=workshops][value=include]").count() == 1
    assert page.locator("svg.chart circle").count() == 5
    assert page.locator("svg.chart .score-interval").count() == 5


def test_it_fits_a_phone_and_a_desktop(board, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in ((1280, 900), (360, 800)):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(board + "/classement/")
        _check_page(page, width)
        if width == 360:  # the wide table and chart scroll inside their boxes instead of the page
            table_box = page.locator(".table-scroll").first
            assert table_box.evaluate("e => e.scrollWidth > e.clientWidth")
            assert page.locator(".chart-scroll").evaluate("e => e.scrollWidth > e.clientWidth")
        page.screenshot(path=str(ARTIFACTS / f"leaderboard-{width}.png"), full_page=True)
        page.close()


def test_it_fits_a_phone_with_filters_applied(board, browser):
    page = browser.new_page(viewport={"width": 360, "height": 800})
    page.goto(board + "/classement/?both_bad=exclude&workshops=include")
    _check_page(page, 360)
    assert page.locator("select[name=both_bad]").input_value() == "exclude"
    assert page.locator("input[name=workshops]").is_checked()
    page.screenshot(path=str(ARTIFACTS / "leaderboard-360-filtered.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_it_has_no_wcag_violation_on_a_full_board(board, browser, language):
    if not AXE.exists():
        pytest.fail(f"axe-core not found at {AXE}: `make test` installs it from npm")
    # axe is injected by the test, not served by the page: let it past the page's CSP.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    context.add_cookies([{"name": "django_language", "value": language, "url": board}])
    page = context.new_page()
    found = {}
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(board + "/classement/")
        assert page.evaluate("document.documentElement.lang") == language
        page.add_script_tag(path=str(AXE))
        result = page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_21_AA
        )
        assert len(result["passes"]) > 10  # axe did check the page
        found[width] = [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]
    context.close()
    assert not any(found.values()), json.dumps(found, indent=1)
