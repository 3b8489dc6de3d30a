"""The leaderboard says that its energy columns add measured figures and estimates, and
shows the measured share in both tables, the ranked one and the one listed apart."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(clear_cache, settings):
    settings.LEADERBOARD_MIN_GROUP = 0


def _page(client) -> str:
    call_command("synthetic_battles", "30", "--ratings", "albatros=1200,pivert=1000,mesange=800", stdout=io.StringIO())
    call_command("refresh_leaderboard", "--bootstrap", "50", stdout=io.StringIO())
    client.cookies["django_language"] = "en"
    return client.get("/classement/").content.decode()


def test_it_does_not_call_estimates_measurements(catalogue, client):
    html = _page(client)

    assert "come from the stored measurements" not in html
    assert "with measured energy" not in html
    assert "Energy columns add measured figures and estimates" in html
    assert "with energy measured or estimated" in html
    notes = html[html.index('id="notes"') :]
    assert "<dt>Measured</dt>" in notes and "estimated" in notes


def test_the_table_listed_apart_has_the_measured_share_too(catalogue, client, settings):
    settings.LEADERBOARD_DISPLAY_MIN_VOTES = 1000  # every model listed apart

    html = _page(client)

    apart = html[html.index('id="provisional"') :]
    head = re.search(r"<thead>(.*?)</thead>", apart, re.S).group(1)
    assert ">Measured</th>" in head
    body = re.search(r"<tbody>(.*?)</tbody>", apart, re.S).group(1)
    # synthetic_battles writes estimates (measured: false): 0 % of each model's answers.
    assert body.count('<td class="num">0 %</td>') == 3
