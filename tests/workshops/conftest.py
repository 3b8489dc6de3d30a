"""Fixtures for the workshop tests: the arena's (demo catalogue, owner and stranger with
their clients, battles built in the database) and a room with its facilitator."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.arena.conftest import (  # noqa: F401  (fixtures, used by name)
    catalogue,
    clear_cache,
    make_battle,
    owner,
    owner_client,
    post_json,
    stranger,
    stranger_client,
)


def create_room(client: Client | None = None, **body):
    client = client or Client()
    response = post_json(client, "/api/workshops", {"title": "Classe de 4e B", **body})
    assert response.status_code == 201, response.content
    return response.json(), client


def bearer(key: str) -> dict:
    """The Authorization header of a room's facilitator key."""
    return {"HTTP_AUTHORIZATION": "Bearer " + key}


@pytest.fixture
def room(catalogue, clear_cache):  # noqa: F811  (the imported fixtures, by name)
    """(the API's answer, the facilitator's headers) for a fresh room."""
    data, _client = create_room()
    return data, bearer(data["facilitator_key"])
