"""Fixtures shared by the whole suite: tiny models and real inference workers."""

from __future__ import annotations

import json

import pytest

from inference_workers.launcher import MODELS_DIR, ensure_tiny_model, start_worker

TEST_LOGS = MODELS_DIR.parent / "test-logs"


@pytest.fixture(scope="session")
def tiny_model():
    """A trained tiny model: short answers made of words."""
    return ensure_tiny_model(MODELS_DIR / "test-tiny", seed=11, layers=1)


@pytest.fixture(scope="session")
def chatty_model():
    """An untrained tiny model: it almost never emits its end token, so streams run as
    long as max_tokens allows (for stop, disconnect and kill tests)."""
    return ensure_tiny_model(MODELS_DIR / "test-chatty", seed=12, layers=1, train_steps=0)


def eos_bias(model_dir) -> dict:
    """A logit_bias that forbids the end token: the answer runs to max_tokens."""
    eos = json.loads((model_dir / "generation_config.json").read_text())["eos_token_id"]
    return {str(eos): -100.0}


@pytest.fixture
def launch_worker():
    """Start real workers (engine included); every one is stopped after the test."""
    started = []

    def launch(model_dir, name="tiny", extra=()):
        handle = start_worker(model_dir, name=name, extra=list(extra), log_dir=TEST_LOGS)
        started.append(handle)
        handle.wait_ready()
        return handle

    yield launch
    for handle in started:
        handle.stop()
