"""The request contract without a worker: what a body parses to, what it is refused for,
and what of it reaches the engine."""

from __future__ import annotations

import json

import pytest

from inference_workers.protocol import APIError, parse_chat_request
from inference_workers.serving import MIN_SAMPLING_TEMPERATURE, ChatServing, Limits

OK = {"model": "tiny", "messages": [{"role": "user", "content": "Bonjour"}]}


def _parse(body) -> object:
    return parse_chat_request(json.dumps(body).encode())


def _refusal(raw: bytes) -> dict:
    with pytest.raises(APIError) as caught:
        parse_chat_request(raw)
    assert caught.value.status == 400
    return caught.value.body()["error"]


def _serving(vocab_size=None, **options) -> ChatServing:
    return ChatServing(
        upstream_url="http://127.0.0.1:1",
        upstream_model="/models/tiny",
        served_names={"tiny"},
        public_name="tiny",
        meter=None,
        metrics=None,
        limits=Limits(max_tokens=16, max_prompt_chars=10),
        engine_alive=lambda: True,
        vocab_size=vocab_size,
        **options,
    )


@pytest.mark.parametrize(
    "raw,code",
    [
        (b'{"max_tokens": ' + b"9" * 5000 + b"}", "invalid_json"),  # past Python's int-string limit
        (b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "invalid_json"),  # deeper than recursion
        (b'{"model": "\\ud800", "messages": []}', "invalid_json"),  # a lone surrogate
        (b'{"temperature": NaN}', "invalid_json"),
        (b"\xff\xfe\x00", "invalid_json"),
        (json.dumps({**OK, "temperature": 1e400}).replace("Infinity", "1e400").encode(), "invalid_parameter"),
    ],
)
def test_it_refuses_what_json_cannot_carry_on(raw, code):
    error = _refusal(raw)
    assert error["code"] == code and set(error) == {"message", "type", "param", "code"}


def test_it_names_an_unknown_field_as_openai_does():
    error = _refusal(json.dumps({**OK, "tools": []}).encode())
    assert error["param"] == "tools" and error["message"] == "unrecognized request argument supplied: tools"


def test_it_counts_every_text_part_and_the_name():
    req = _parse({**OK, "messages": [{"role": "user", "content": [{"type": "text", "text": "ab"}] * 3, "name": "z"}]})
    assert req.messages[0].text() == "ab\nab\nab" and req.prompt_chars() == 9


def test_it_sends_the_engine_text_and_known_roles_only():
    req = _parse(
        {
            **OK,
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": None},
            ],
            "stop": "x",
            "logit_bias": {},
            "n": 1,
            "user": "someone",
            "stream_options": {"include_usage": False},
            "temperature": 1e-300,
            "max_completion_tokens": 3,
        }
    )
    body = _serving()._upstream_body(req)
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": ""},
    ]
    assert body["stop"] == ["x"] and body["temperature"] == MIN_SAMPLING_TEMPERATURE
    assert body["max_tokens"] == 3 and body["stream_options"] == {"include_usage": True}
    assert not {"logit_bias", "n", "user", "max_completion_tokens"} & set(body)
    assert body["model"] == "/models/tiny" and body["stream"] is True


def test_it_keeps_a_greedy_temperature_of_zero():
    assert _serving()._upstream_body(_parse({**OK, "temperature": 0}))["temperature"] == 0


def test_it_bounds_logit_bias_where_the_vocabulary_is_known():
    req = _parse({**OK, "logit_bias": {"99": 1, "100": -1}})
    _serving(vocab_size=101).check(req)
    with pytest.raises(APIError) as caught:
        _serving(vocab_size=100).check(req)
    assert caught.value.status == 400 and caught.value.param == "logit_bias"
    _serving(vocab_size=None).check(req)  # unknown: the engine judges


@pytest.mark.parametrize(
    "field,value",
    [
        ("temperature", 0),
        ("top_p", 0.9),
        ("presence_penalty", 0.5),
        ("frequency_penalty", 0.5),
        ("seed", 1),
        ("stop", "x"),
        ("logit_bias", {"5": 1}),
    ],
)
def test_it_refuses_sampling_that_a_batching_transformers_engine_would_apply_to_everyone(field, value):
    batching = _serving(shared_sampling=True)
    with pytest.raises(APIError) as caught:
        batching.check(_parse({**OK, field: value}))
    assert caught.value.status == 400 and caught.value.param == field
    assert caught.value.code == "unsupported_parameter" and "continuous batching" in caught.value.message
    batching.check(_parse({**OK, "max_tokens": 8, "stop": [], "logit_bias": {}}))  # the length is per request
    _serving().check(_parse({**OK, field: value}))  # one request at a time: each its own
