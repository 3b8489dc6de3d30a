"""The admin login is rate-limited per network: password guessing gets a 429."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_it_throttles_admin_login_attempts(client, clear_cache, settings):
    settings.ARENA_ADMIN_LOGINS_PER_MINUTE_IP = 3
    assert client.get("/admin/login/").status_code == 200  # looking at the form costs nothing
    for _ in range(3):
        response = client.post("/admin/login/", {"username": "admin", "password": "guess"})
        assert response.status_code == 200  # the form again, with its error
    refused = client.post("/admin/login/", {"username": "admin", "password": "guess"})
    assert refused.status_code == 429 and refused["Retry-After"]
    assert "Trop de tentatives de connexion" in refused.content.decode()


@pytest.mark.django_db
def test_it_still_logs_a_staff_member_in(client, clear_cache, django_user_model):
    django_user_model.objects.create_superuser("staff", "staff@example.org", "a long passphrase")
    response = client.post("/admin/login/?next=/admin/", {"username": "staff", "password": "a long passphrase"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
