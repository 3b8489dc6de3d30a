"""docs/openapi.yaml: a valid OpenAPI 3.1 description that stays true to the code.

- Every /api/ route of the Django URLconf is in the spec and every path of the spec is routed,
  with the methods the views accept.
- Every operation has a row in docs/architecture.md's contract table, which names the same
  error codes as its `x-error-codes`.
- schemathesis fuzzes every operation in-process (Django's WSGI handler, the real middleware:
  CSRF, visitor cookie, languages), a bounded number of examples each, valid and invalid
  inputs: no answer is a 5xx, every status, content type and JSON body is one the spec
  describes, and another visitor's battle, vote, reaction and room, stored before, are still
  there, unchanged, after every request.
"""

from __future__ import annotations

import random
import re
import uuid
from pathlib import Path

import jsonschema
import pytest
import schemathesis
import yaml
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from hypothesis import HealthCheck, settings

from tests.arena.conftest import catalogue, make_battle, owner, stranger  # noqa: F401  (fixtures, used by name)

ROOT = Path(__file__).resolve().parent.parent
SPEC_PATH = ROOT / "docs" / "openapi.yaml"
METHODS = ("get", "post", "put", "patch", "delete")
CSRF_TOKEN = "openapiFuzzCsrfToken0123456789ab"  # 32 characters: Django's unmasked secret form
EXAMPLES_PER_OPERATION = 25
# Within an operation, the share of examples aimed at a stored object rather than a random id.
AIM_AT_STORED = 0.6


def load_spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def django_routes() -> dict[str, str]:
    """OpenAPI path template -> URL name, for every route of the URLconf."""
    found = {}

    def walk(patterns, prefix: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern):
                template = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.lstrip("^").rstrip("$"))
                found[template] = p.name

    walk(get_resolver().url_patterns, "")
    return found


# --- The description itself --------------------------------------------------------------------


def test_it_is_a_valid_openapi_31_document():
    from schemathesis.specs.openapi.definitions import OPENAPI_31

    spec = load_spec()
    assert spec["openapi"].startswith("3.1")
    jsonschema.Draft202012Validator(OPENAPI_31).validate(spec)
    for name, schema in spec["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            raise AssertionError(f"components/schemas/{name}: {error.message}") from None


def test_it_describes_every_api_route_and_only_routed_paths():
    routes = django_routes()
    described = set(load_spec()["paths"])
    api_routes = {path for path in routes if path.startswith("/api/")}
    assert api_routes - described == set(), "routes under /api/ missing from docs/openapi.yaml"
    assert described - set(routes) == set(), "paths in docs/openapi.yaml that the URLconf does not route"


def test_it_lists_the_methods_each_view_accepts(db):
    """A documented method reaches the view; any other gets 405."""
    client = Client()
    for path, item in load_spec()["paths"].items():
        url = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("_id") else "ZZZZZZ", path)
        for method in METHODS:
            status = getattr(client, method)(url).status_code
            if method in item:
                assert status != 405, f"{method.upper()} {path}: documented, refused"
            else:
                assert status == 405, f"{method.upper()} {path}: answers {status}, not documented"


def operations() -> dict[tuple[str, str], dict]:
    """(METHOD, path template) -> the operation."""
    return {
        (method.upper(), path): op
        for path, item in load_spec()["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _normalized(path: str) -> str:
    return re.sub(r"\{\w+\}|<\w+>", "{}", path)


def contract_error_codes() -> dict[tuple[str, str], set[str]]:
    """The error codes docs/architecture.md's contract table names, per endpoint."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    table = text[text.index("| endpoint | body | success | errors |") :].split("\n\n", 1)[0]
    found = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]  # not on escaped \|
        method, _, path = re.match(r"`([^`]*)`", cells[0]).group(1).partition(" ")
        path = path.split("[")[0]
        found[(method, _normalized(path))] = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", cells[-1]))
    return found


# Codes every operation may answer, named once above the contract table rather than per row.
COMMON_CODES = {"invalid_url", "invalid_json", "too_large"}


def test_it_names_the_error_codes_of_the_contract():
    """Each operation lists its error codes by status (`x-error-codes`); the contract table of
    docs/architecture.md has a row for every operation, naming the same codes (those common
    to every request aside)."""
    spec_codes = {
        (method, _normalized(path)): {c for codes in op["x-error-codes"].values() for c in codes}
        for (method, path), op in operations().items()
    }
    contract = contract_error_codes()
    documented = {key for key in contract if key[1].startswith("/api/") or key[1] == "/classement.csv"}
    assert documented == set(spec_codes), "operations and contract table rows differ"
    for key in documented:
        table, spec = contract[key] - COMMON_CODES, spec_codes[key] - COMMON_CODES
        assert table <= spec, f"{key}: {sorted(table - spec)} in docs/architecture.md, not in docs/openapi.yaml"
        assert spec <= table, f"{key}: {sorted(spec - table)} in docs/openapi.yaml, not in docs/architecture.md"
    for (method, path), op in operations().items():
        for status in op["x-error-codes"]:
            assert str(status) in {str(k) for k in op["responses"]}, f"{method} {path}: {status} not a response"


# --- Fuzzing ------------------------------------------------------------------------------------


@pytest.fixture
def in_process_wsgi():
    """Django's WSGI handler called in this process, on the test transaction: as Django's test
    client does, the request signals must not close the connection between requests."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _stored(world: dict) -> dict:
    """Everything of the other visitor's that the fuzzer must not lose or change."""
    from arena.models import Attempt, Battle, Message, Reaction, Vote
    from workshops.models import Workshop

    theirs = world["theirs"]
    vote = Vote.objects.filter(battle=theirs).values("choice", "tags", "comments", "worth_extra_energy").first()
    return {
        "battle": Battle.objects.filter(pk=theirs.pk).values("visitor_id", "voted_at", "workshop_code").first(),
        "vote": vote,
        "messages": list(Message.objects.filter(turn__battle=theirs).order_by("pk").values("pk", "status", "content")),
        "attempts": list(Attempt.objects.filter(message__turn__battle=theirs).order_by("pk").values("pk", "energy_j")),
        "reaction": Reaction.objects.filter(message=world["their_message"]).values("liked", "tags", "comment").first(),
        "room": Workshop.objects.filter(code=world["their_room"]).values("title", "state", "summary").first(),
    }


@pytest.fixture
def world(catalogue, make_battle, owner, stranger, settings):  # noqa: F811  (fixtures of tests/arena/conftest.py)
    """Two visitors: the fuzzer (owner: a finished battle, a voted one, a room of its own) and
    another one whose battle, vote, reaction and room are stored before the fuzzing."""
    from arena.models import Message, Reaction
    from workshops import rules

    cache.clear()
    settings.ARENA_PROMPTS_PER_MINUTE_VISITOR = settings.ARENA_PROMPTS_PER_MINUTE_IP = 10**6
    settings.LEADERBOARD_COMPUTES_PER_MINUTE_IP = settings.WORKSHOP_CREATES_PER_HOUR_IP = 10**6
    theirs = make_battle(visitor=stranger, vote="b")
    their_message = Message.objects.filter(turn__battle=theirs, side="a").get()
    Reaction.objects.create(message=their_message, liked=True, tags=["useful"], comment="Très clair.")
    their_room, _token = rules.create("someone-else", title="Salle d'un autre", language="fr", max_participants=30)
    mine, my_token = rules.create("fuzzer", title="Ma salle", language="fr", max_participants=30)
    finished, voted = make_battle(), make_battle(vote="a")
    world = {
        "theirs": theirs,
        "their_message": their_message,
        "their_room": their_room.code,
        "battle_id": [str(finished.id), str(voted.id), str(theirs.id)],
        "message_id": [str(m.id) for m in Message.objects.filter(turn__battle__in=[finished, voted, theirs])],
        "code": [mine.code, their_room.code, mine.code.lower()],
        "cookies": {
            "arena_visitor": str(owner.pk),
            "csrftoken": CSRF_TOKEN,
            f"arena_room_{mine.code}": my_token,
        },
        "started": timezone.now(),
    }
    world["before"] = _stored(world)
    return world


def _aim(case, world: dict) -> None:
    """Aim part of the examples at stored objects (a random UUID only ever meets a 404)."""
    chooser = random.Random(repr((case.operation.label, case.path_parameters, case.body, case.query)))
    for name in list(case.path_parameters or {}):
        if name in world and chooser.random() < AIM_AT_STORED:
            case.path_parameters[name] = chooser.choice(world[name])


# Loaded at collection: schemathesis's fixture-based (lazy) loader does not run on pytest 9.
api = schemathesis.openapi.from_path(
    SPEC_PATH,
    config=schemathesis.config.SchemathesisConfig.from_dict(
        {
            "phases": {
                "examples": {"enabled": False},
                "coverage": {"enabled": False},
                "stateful": {"enabled": False},
                "fuzzing": {"enabled": True},
            },
            "generation": {"mode": "all", "max-examples": EXAMPLES_PER_OPERATION},
        }
    ),
)


@pytest.mark.django_db
@api.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_it_survives_fuzzing_and_keeps_what_is_stored(case, world, in_process_wsgi):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    _aim(case, world)
    response = case.call(
        app=in_process_wsgi,
        cookies={**world["cookies"], **(case.cookies or {})},
        headers={"X-CSRFToken": CSRF_TOKEN},
    )
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
    assert _stored(world) == world["before"], f"{case.operation.label} changed another visitor's data"
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        code = response.json()["error"]["code"]
        listed = case.operation.definition.raw.get("x-error-codes", {})
        assert code in listed.get(response.status_code, []), (
            f"{case.operation.label}: {response.status_code} {code} is not in its x-error-codes"
        )
