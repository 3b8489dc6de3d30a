"""A real worker under hostile requests: bad JSON of every kind, wrong types and bounds for
every field, unknown fields, non-text content, oversized bodies and odd ids get a 4xx in
OpenAI's error shape, never a 5xx (nor a stream that ends on an engine error), and the
worker answers a normal request afterwards."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from devtools.launcher import start_worker
from inference_workers.protocol import MAX_BODY_BYTES
from tests.conftest import TEST_LOGS
from tests.hostile import FUZZ, JSON, TEXT, printable

pytestmark = pytest.mark.slow

MAX_PROMPT_CHARS = 2000
VOCAB_GUESS = 1600  # about the tiny models' vocabulary: token ids in and past it get generated
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
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "stop",
    "logit_bias",
    "stream_options",
    "user",
    "tools",
    "response_format",
    "generation_config",
]
# A valid request with one field replaced by anything, or extra fields added.
MUTATED = st.builds(
    lambda key, value, extra: {**OK, key: value, **extra},
    st.sampled_from(FIELDS),
    JSON,
    st.dictionaries(TEXT, JSON, max_size=2),
)
# Values of about the right type, at and past the edges an engine fails on.
NUMBERS = (
    st.floats(allow_nan=False)
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([0, -0.0, 1e-300, 5e-324, -1, -2, 2, 2.0000001, 100, 101, 1e308, 2**63, 2**64])
)
TOKEN_IDS = st.integers(-5, 2 * VOCAB_GUESS).map(str) | st.sampled_from(["05", " 5", "5.0", "", "1e3"]) | TEXT
FIELD_VALUES = st.one_of(
    st.tuples(st.sampled_from(["temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "n"]), NUMBERS),
    st.tuples(st.sampled_from(["max_tokens", "max_completion_tokens"]), st.integers(-3, 6) | NUMBERS),
    st.tuples(st.just("stop"), TEXT | st.lists(TEXT, max_size=6) | JSON),
    st.tuples(st.just("logit_bias"), st.dictionaries(TOKEN_IDS, NUMBERS | JSON, max_size=4)),
    st.tuples(st.just("stream_options"), st.dictionaries(TEXT, JSON, max_size=3)),
    st.tuples(st.just("user"), TEXT | JSON),
)
FIELD_BODIES = st.builds(
    lambda pairs, stream: {**OK, **dict(pairs), "stream": stream}, st.lists(FIELD_VALUES, max_size=3), st.booleans()
)
PART_TYPES = ["text", "image_url", "input_audio", "file", "input_text", "video_url", ""]
PARTS = st.lists(
    st.fixed_dictionaries({"type": st.sampled_from(PART_TYPES) | JSON}, optional={"text": TEXT | JSON, "x": JSON})
    | JSON,
    max_size=4,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "developer", "assistant", "tool", "function", "robot"]) | JSON},
    optional={"content": TEXT | PARTS | JSON, "name": TEXT | JSON, "tool_call_id": TEXT, "tool_calls": JSON},
)
MESSAGES = st.builds(
    lambda messages, stream: {**OK, "messages": messages, "stream": stream},
    st.lists(MESSAGE, max_size=4) | JSON,
    st.booleans(),
)
# Parts, each under the prompt limit, that together may go over it: every part counts.
OVERSIZED = st.builds(
    lambda sizes: {**OK, "messages": [{"role": "user", "content": [{"type": "text", "text": "x" * n} for n in sizes]}]},
    st.lists(st.integers(0, MAX_PROMPT_CHARS), min_size=1, max_size=4),
)
RAW = st.sampled_from(
    [
        '{"model": "tiny", "max_tokens": ' + "9" * 5000 + "}",
        '{"model": "tiny", "messages": ' + "[" * 5000 + "]" * 5000 + "}",
        '{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}], "max_tokens": 1}',
        '{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1, "\\udfff": 1}',
        '{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": NaN}',
        '{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "temperature": 1e400}',
        '{"model": "tiny", "messages": [{"role": "user", "content": "x"}], "logit_bias": {"5": -Infinity}}',
        "\x00\x01\xff",
        "",
        "[]",
        "null",
        "{",
    ]
)


@pytest.fixture(scope="module")
def worker(tiny_model):
    # A low max_tokens limit: whatever a generated body asks for, the engine writes little.
    handle = start_worker(
        tiny_model,
        name="tiny",
        log_dir=TEST_LOGS,
        extra=["--max-prompt-chars", str(MAX_PROMPT_CHARS), "--max-tokens-limit", "4"],
        batching=False,  # every sampling field reaches the engine (a batching one refuses them)
    )
    handle.wait_ready()
    yield handle
    handle.stop()


def _post(worker, body) -> httpx.Response:
    if isinstance(body, bytes):
        content = body
    else:  # lone surrogates travel as they are, as a hostile client would send them
        text = body if isinstance(body, str) else json.dumps(body)
        content = text.encode("utf-8", "surrogatepass")
    return httpx.post(
        worker.url + "/v1/chat/completions",
        content=content,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


def _check(response: httpx.Response) -> None:
    """No 5xx; an error in OpenAI's shape; a stream that ends without an error event."""
    assert response.status_code < 500, response.text[:300]
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["message"] and error["type"] and set(error) == {"message", "type", "param", "code"}
    elif response.headers["content-type"].startswith("text/event-stream"):
        assert '"error"' not in response.text, response.text[-300:]


@FUZZ
@given(body=MUTATED | RAW | st.binary(max_size=64))
def test_it_never_answers_a_hostile_body_with_a_5xx(worker, body):
    _check(_post(worker, body))


@FUZZ
@given(body=FIELD_BODIES)
def test_it_never_answers_hostile_field_values_with_a_5xx(worker, body):
    _check(_post(worker, body))


@FUZZ
@given(body=MESSAGES | OVERSIZED)
def test_it_never_answers_hostile_messages_with_a_5xx(worker, body):
    _check(_post(worker, body))


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({**OK, "tools": [{"type": "function"}]}, 400, "invalid_parameter"),  # unknown: refused, not passed on
        ({**OK, "generation_config": "{}"}, 400, "invalid_parameter"),  # the engine's own knob: not ours to pass
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
        ({**OK, "messages": [{"role": "tool", "content": "x", "tool_call_id": "a"}]}, 400, "invalid_parameter"),
        ({**OK, "temperature": 9}, 400, "invalid_parameter"),
        ({**OK, "frequency_penalty": -1}, 400, "invalid_parameter"),
        ({**OK, "logit_bias": {"abc": 1}}, 400, "invalid_parameter"),
        ({**OK, "logit_bias": {"5": 101}}, 400, "invalid_parameter"),
        ({**OK, "stop": ["a", "b", "c", "d", "e"]}, 400, "invalid_parameter"),
        ({**OK, "stop": [""]}, 400, "invalid_parameter"),
    ],
)
def test_it_refuses_what_an_engine_should_not_get(worker, body, status, code):
    response = _post(worker, body)
    assert response.status_code == status and response.json()["error"]["code"] == code, response.text


def test_it_says_why_it_refuses_an_image(worker):
    body = {**OK, "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}
    error = _post(worker, body).json()["error"]
    assert "image_url" in error["message"] and "text only" in error["message"]
    assert error["param"] == "messages.0.content"


@pytest.mark.parametrize(
    "extra",
    [
        {"messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Bonjour"}]},
        {"stop": "Le", "seed": 2**63 - 1, "presence_penalty": -2, "frequency_penalty": -0.5},
        {"stop": [], "logit_bias": {}, "user": "u", "n": 1, "stream_options": {"include_usage": False}},
        {"temperature": 1e-300, "top_p": 1e-300},  # under the engine's floor: raised to it, not a NaN there
        {"logit_bias": {"0": 100, "1": -100.0}},
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_it_takes_the_openai_fields_it_knows(worker, extra, stream):
    response = _post(worker, {**OK, **extra, "stream": stream})
    assert response.status_code == 200, response.text
    _check(response)


def test_it_bounds_logit_bias_by_the_models_vocabulary(worker, tiny_model):
    vocab_size = json.loads((tiny_model / "config.json").read_text())["vocab_size"]
    last = _post(worker, {**OK, "logit_bias": {str(vocab_size - 1): -100}})
    past = _post(worker, {**OK, "logit_bias": {str(vocab_size): -100}})
    assert last.status_code == 200, last.text
    assert past.status_code == 400 and past.json()["error"]["param"] == "logit_bias", past.text


def test_it_refuses_an_oversized_body_before_reading_it(worker):
    response = _post(worker, {**OK, "user": "x" * (MAX_BODY_BYTES + 10)})
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_it_refuses_an_oversized_chunked_body(worker):
    def body():  # no Content-Length: the size shows only while reading
        yield b'{"model": "tiny", "user": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536

    response = httpx.post(worker.url + "/v1/chat/completions", content=body(), timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


@FUZZ
@given(rid=TEXT.map(printable))
@example(rid="0/")  # found by hypothesis: a trailing slash was redirected (307), not answered
def test_it_answers_odd_request_ids_with_a_4xx(worker, rid):
    response = httpx.get(worker.url + "/v1/requests/" + quote(rid, safe=""), timeout=30)
    assert response.status_code == 404 and response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path", ["..%2F..", "abc%0A", "%00", "%ff%fe", "%ED%A0%80", "a" * 5000, "a/b", "", "%20", "x?y=%ff"]
)
def test_it_answers_odd_request_paths_the_openai_way(worker, path):
    response = httpx.get(worker.url + "/v1/requests/" + path, timeout=30)
    assert response.status_code == 404 and response.json()["error"]["message"]


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
