"""GET /donnees/ (the latest published release) and /donnees/<release>/<file> (its files)."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from exports.models import Release
from exports.release import Options, export_release
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(played, tmp_path) -> Release:
    played(tags={"a": ["useful"], "b": []}, reactions={(0, "a"): (True, [], "")})
    played(choice="tie", prompts=("Deuxième question",))
    return export_release(tmp_path / "release", Options(sample=1), publish=True)


def _html(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def test_it_says_when_no_dataset_is_published_yet(client):
    html = _html(client.get("/donnees/"))

    assert '<html lang="fr">' in html
    assert "Aucun jeu de données n'a encore été publié." in html


def test_it_lists_the_latest_release_with_rows_sizes_checksums_and_links(client, published, played, tmp_path):
    played()
    unlisted = export_release(tmp_path / "private", Options(), publish=False)  # not published: not shown
    assert isinstance(unlisted, dict)

    html = _html(client.get("/donnees/"))

    assert f"Dernière version : {published.name}" in html
    for name in ("conversations", "votes", "reactions", "energy", "arena_battles", "models"):
        assert f'<h3 id="table-{name}"><code>{name}</code></h3>' in html
        assert f'href="/donnees/{published.name}/{name}/{name}.parquet"' in html
        assert f'href="/donnees/{published.name}/{name}/{name}.jsonl"' in html
    votes_file = published.manifest["tables"]["votes"]["files"][0]
    assert votes_file["sha256"] in html
    assert re.search(r"Lignes :\s*<strong>2</strong>", html)  # votes, conversations, arena_battles
    assert f'href="/donnees/{published.name}/SHA256SUMS"' in html
    assert f'href="/donnees/{published.name}/README.md"' in html
    assert f'href="/donnees/{published.name}/samples/votes.jsonl"' in html
    assert '<div class="dataset-card" lang="en">' in html and "How energy was measured and estimated" in html
    assert "Écartés : pas de consentement à la publication" in html


def test_it_speaks_english_when_the_visitor_chose_it(client, published):
    client.cookies["django_language"] = "en"

    html = _html(client.get("/donnees/"))

    assert '<html lang="en">' in html
    assert "Datasets for research" in html and f"Latest release: {published.name}" in html
    assert "One row per vote, with compar:IA&#x27;s column names" in html


def test_it_serves_the_files_the_release_lists(client, published):
    for entry in published.files():
        response = client.get(f"/donnees/{published.name}/{entry['path']}")
        assert response.status_code == 200, entry["path"]
        body = b"".join(response.streaming_content)
        assert len(body) == entry["bytes"]
    parquet = client.get(f"/donnees/{published.name}/votes/votes.parquet")
    assert parquet["Content-Type"] == "application/vnd.apache.parquet"
    assert 'attachment; filename="votes.parquet"' in parquet["Content-Disposition"]
    assert client.get(f"/donnees/{published.name}/README.md")["Content-Type"].startswith("text/markdown")


@pytest.mark.django_db(transaction=True)
def test_a_download_gives_its_database_connection_back_before_the_file_is_sent(client, published):
    """A release file can take minutes to download: meanwhile its request must not hold one of
    the process's few pooled PostgreSQL connections (config/settings.py)."""
    response = client.get(f"/donnees/{published.name}/SHA256SUMS")
    assert response.status_code == 200 and response.streaming
    assert connection.connection is None  # given back before a byte of the file went out
    assert b"".join(response.streaming_content).strip()


@pytest.mark.parametrize(
    "path", ["votes/other.parquet", "../release/votes/votes.parquet", "votes/../README.md", "%2e%2e/manage.py"]
)
def test_it_serves_nothing_the_release_does_not_list(client, published, path):
    assert client.get(f"/donnees/{published.name}/{path}").status_code == 404


def test_it_serves_nothing_of_an_unpublished_or_unknown_release(client, published):
    Release.objects.filter(pk=published.pk).update(published=False)

    assert client.get(f"/donnees/{published.name}/README.md").status_code == 404
    assert client.get("/donnees/2000-01-01-000000/README.md").status_code == 404
    assert "Aucun jeu de données" in _html(client.get("/donnees/"))


def test_it_links_to_the_storage_that_serves_the_files(client, published, settings):
    settings.EXPORTS_URL = "https://data.example.org/arena"

    html = _html(client.get("/donnees/"))

    assert f'href="https://data.example.org/arena/{published.name}/votes/votes.parquet"' in html


def test_it_refuses_other_methods(client, published):
    assert client.post("/donnees/").status_code == 405
    assert client.post(f"/donnees/{published.name}/README.md").status_code == 405


def test_it_loads_nothing_from_another_host(client, published):
    html = _html(client.get("/donnees/"))

    assert not re.search(r'\bsrc="(?:https?:)?//', html)
    assert not re.search(r'<link[^>]+href="(?:https?:)?//', html)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_fits_a_360_px_wide_phone(published_live, browser):
    """Nothing wider than the screen: the checksums and the card's tables wrap or scroll in their box."""
    url, name = published_live
    page = browser.new_page(viewport={"width": 360, "height": 740}, locale="fr-FR")
    page.goto(f"{url}/donnees/")
    assert page.get_by_role("heading", name=f"Dernière version : {name}").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "datasets-360px.png"))
    page.locator("#table-votes").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "datasets-360px-tables.png"))
    page.get_by_text("Fiche du jeu de données", exact=False).click()  # open the card too
    page.get_by_role("heading", name="Schema").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "datasets-360px-card.png"))

    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.close()


@pytest.fixture
def published_live(live_arena, played, tmp_path):
    """A published release and the arena serving it from a child process (transactional database)."""
    played(prompts=("Une question assez longue pour remplir une ligne entière sur un téléphone",))
    release = export_release(tmp_path / "release", Options(sample=1), publish=True)
    return live_arena, release.name
