"""The web's health probes (config/health.py): /healthz (ready: the database answers) and
/livez (alive), answered whatever the Host and over plain HTTP, as a kubelet asks."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError
from django.test import Client

pytestmark = pytest.mark.django_db

POD_HOST = "10.42.0.17:8000"  # what a kubelet sends as Host: the pod's address, never in ALLOWED_HOSTS


def test_it_is_ready_when_the_database_answers(client, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = client.get("/healthz", HTTP_HOST=POD_HOST)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_it_is_not_ready_when_the_database_fails(client):
    with mock.patch("config.health.connection.cursor", side_effect=OperationalError("connection refused")):
        response = client.get("/healthz", HTTP_HOST=POD_HOST)
    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "down"}
    assert b"refused" not in response.content  # nothing of the error leaks


def test_it_is_alive_without_asking_the_database(client, django_assert_num_queries):
    with (
        django_assert_num_queries(0),
        mock.patch("config.health.connection.cursor", side_effect=OperationalError("down")),
    ):
        response = client.get("/livez", HTTP_HOST=POD_HOST)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_answers_a_probe_over_http_when_https_is_required(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST=POD_HOST).status_code == 200
    assert client.get("/livez", HTTP_HOST=POD_HOST).status_code == 200
    # ... while pages are redirected to HTTPS.
    assert client.get("/", HTTP_HOST="127.0.0.1").status_code == 301


def test_it_still_checks_the_host_of_every_other_path(client):
    assert client.get("/classement/", HTTP_HOST=POD_HOST).status_code == 400


def test_it_refuses_other_methods():
    client = Client(enforce_csrf_checks=True)
    for path in ("/healthz", "/livez"):
        response = client.post(path, HTTP_HOST=POD_HOST)
        assert response.status_code == 405
        assert response["Allow"] == "GET, HEAD"
    assert client.head("/healthz", HTTP_HOST=POD_HOST).status_code == 200
