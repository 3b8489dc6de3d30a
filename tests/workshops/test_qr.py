"""The QR code a room projects decodes, as a phone would read it, to its join URL: the
server's SVG drawn by Chromium, the screenshot decoded by zxing-cpp."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from django.test import Client
from PIL import Image

from workshops.qr import qr_svg

from .conftest import create_room

pytestmark = pytest.mark.browser


def decode_svg_in(browser, html: str) -> list[str]:
    page = browser.new_page(viewport={"width": 800, "height": 800})
    page.set_content(f"<!doctype html><body style='margin:0;background:#fff'>{html}</body>")
    png = page.locator("svg.qr").first.screenshot()
    page.close()
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def test_the_svg_decodes_to_the_url(browser):
    url = "https://arene.example.org/w/AC3DEF/"
    assert decode_svg_in(browser, qr_svg(url)) == [url]


@pytest.mark.django_db
def test_the_facilitator_page_shows_a_code_that_decodes_to_the_join_url(browser, catalogue, clear_cache):
    data, _client = create_room()
    facilitator = Client()
    facilitator.post(f"/w/{data['code']}/animer/", {"key": data["facilitator_key"]})
    html = facilitator.get(f"/w/{data['code']}/animer/").text
    assert decode_svg_in(browser, html) == [data["join_url"]]
    sheet = Client().get(f"/w/{data['code']}/feuille/").text
    assert decode_svg_in(browser, sheet) == [data["join_url"]]
