"""A real worker under hostile requests: bad JSON of every kind, unknown fields, non-text
content, oversized bodies and odd ids get a 4xx in OpenAI's error shape, never a 5xx, and
the worker answers a normal request afterwards."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devtools.launcher import start_worker
from inference_workers.protocol import MAX_BODY_BYTES
from tests.conftest import TEST_LOGS
from tests.hostile import FUZZ, JSON, TEXT, printable

pytestmark = pytest.mark.slow

OK = {"model": "tiny", "messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 1}
FIELDS = [
    "model",
    "messages",
    "stream",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "seed",
    "stop",
    "logit_bias",
    "stream_options",
    "user",
    "tools",
    "response_format",
]
# A valid request with one field replaced by anything, or extra fields added.
MUTATED = st.builds(
    lambda key, value, extra: {**OK, key: value, **extra},
    st.sampled_from(FIELDS),
    JSON,
    st.dictionaries(TEXT, JSON, max_size=2),
)
MESSAGES = st.builds(
    lambda content, role: {**OK, "messages": [{"role": role, "content": content}]},
    JSON,
    st.sampled_from(["user", "system", "assistant", "robot"]),
)
RAW = st.sampled_from(
    [
        '{"model": "tiny", "max_tokens": ' + "9" * 5000 + "}",
        '{"model": "tiny", "messages": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}], "max_tokens": 1}',
        "\x00\x01\xff",
        "",
        "[]",
        "null",
        "{",
    ]
)


@pytest.fixture(scope="module")
def worker(tiny_model):
    handle = start_worker(tiny_model, name="tiny", log_dir=TEST_LOGS, extra=["--max-prompt-chars", "2000"])
    handle.wait_ready()
    yield handle
    handle.stop()


def _post(worker, body) -> httpx.Response:
    content = body if isinstance(body, str) else json.dumps(body)  # lone surrogates travel as \ud800
    return httpx.post(
        worker.url + "/v1/chat/completions",
        content=content.encode("utf-8", "surrogatepass"),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"]


@FUZZ
@given(body=MUTATED | MESSAGES | RAW)
def test_it_never_answers_a_hostile_body_with_a_5xx(worker, body):
    _check(_post(worker, body))


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({**OK, "tools": [{"type": "function"}]}, 400, "invalid_parameter"),  # unknown: refused, not passed on
        (
            {**OK, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
            400,
            "invalid_parameter",
        ),
        (
            {**OK, "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 1500}] * 2}]},
            413,
            "prompt_too_long",
        ),  # every part counts toward the limit
        ({**OK, "messages": [{"role": "user", "content": "x", "name": "y" * 2500}]}, 400, "invalid_parameter"),
        ({**OK, "temperature": 9}, 400, "invalid_parameter"),
    ],
)
def test_it_refuses_what_an_engine_should_not_get(worker, body, status, code):
    response = _post(worker, body)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.text


def test_it_refuses_an_oversized_body_before_reading_it(worker):
    response = _post(worker, {**OK, "user": "x" * (MAX_BODY_BYTES + 10)})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


@FUZZ
@given(rid=TEXT.map(printable))
def test_it_answers_odd_request_ids_with_a_4xx(worker, rid):
    response = httpx.get(worker.url + "/v1/requests/" + quote(rid, safe=""), timeout=30)
    assert response.status_code < 500


def test_it_still_answers_after_all_that(worker):
    response = _post(
        worker,
        {
            **OK,
            "max_tokens": 4,
            "temperature": 0.5,
            "seed": 3,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Bonjour"}]}],
        },
    )
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["role"] == "assistant"
