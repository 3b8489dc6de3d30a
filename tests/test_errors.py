"""The site's error answers (config/errors.py): under /api/ the contract's JSON with a code and
a message in the visitor's language, elsewhere a page in that language; never Django's English
defaults, and never a 405 without a body."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from config import errors

pytestmark = pytest.mark.django_db


def english() -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def test_an_address_nothing_answers_gets_json_under_the_api_and_a_page_elsewhere():
    api = english().get("/api/battles/not-a-uuid/vote")
    assert api.status_code == 404 and api["Content-Type"] == "application/json"
    assert api.json() == {"error": {"code": "not_found", "message": "There is nothing at this address."}}
    assert Client().get("/api/nothing").json()["error"]["message"] == "Il n'y a rien à cette adresse."
    page = Client().get("/battles/ABC/")
    assert page.status_code == 404 and "Page introuvable" in page.text and '<html lang="fr"' in page.text


def test_a_wrong_method_on_the_api_says_which_it_takes():
    response = english().get("/api/battles")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert response.json()["error"] == {
        "code": "method_not_allowed",
        "message": "This address does not take GET requests.",
    }


def test_a_body_over_the_servers_limit_is_too_large_not_a_bad_request():
    response = Client().post("/api/consent", b"x" * (3 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"] == {"code": "too_large", "message": "La requête est trop volumineuse."}


def test_a_post_without_its_csrf_token_is_told_to_reload():
    client = Client(enforce_csrf_checks=True)
    client.cookies["django_language"] = "en"
    response = client.post("/api/consent", {"accept_terms": True}, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"
    assert "reload the page" in response.json()["error"]["message"]
    page = Client(enforce_csrf_checks=True).post("/ateliers/", {"title": "Atelier"})
    assert page.status_code == 403 and "recharger" in page.text.lower()


def test_a_server_error_asks_nothing_of_what_failed():
    for path, kind in (("/api/battles", "application/json"), ("/battles/x/", "text/html; charset=utf-8")):
        response = errors.server_error(RequestFactory().get(path))
        assert response.status_code == 500 and response["Content-Type"] == kind
