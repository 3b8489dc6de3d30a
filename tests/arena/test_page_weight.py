"""The battle page stays light: its HTML, CSS and JS under 100 KB before compression,
and nothing on it is fetched from another host."""

import re
import uuid

import pytest
from django.contrib.staticfiles import finders
from django.utils import timezone

from arena.catalogue import load_catalogue
from arena.models import LLM, Visitor
from tests.conftest import make_battle

LIMIT_BYTES = 100 * 1024


@pytest.mark.django_db
def test_it_keeps_the_battle_page_under_100_kb(client):
    load_catalogue("fixtures/catalogue/demo.yaml")
    visitor = str(uuid.uuid4())
    Visitor.objects.create(pk=visitor, terms_accepted_at=timezone.now())
    a, b = LLM.objects.all()[:2]
    battle = make_battle(visitor, a, b)
    client.cookies["arena_visitor"] = visitor
    html = client.get(f"/battles/{battle.id}/").content
    assets = re.findall(rb'(?:href|src)="/static/([^"]+)"', html)
    total = len(html)
    for asset in assets:
        total += len(open(finders.find(asset.decode()), "rb").read())
        if asset.endswith(b".js"):  # modules it imports
            for imported in re.findall(rb'from "\./([^"]+)"', open(finders.find(asset.decode()), "rb").read()):
                total += len(open(finders.find("arena/" + imported.decode()), "rb").read())
    assert b"arena/battle.js" in b" ".join(assets)
    assert total < LIMIT_BYTES, f"{total} bytes"
    # No third-party request: every URL in the page is relative to this site.
    assert not re.search(rb'(?:href|src)="(?:https?:)?//', html)
