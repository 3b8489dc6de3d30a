"""`python -m devtools tiny-model` typed in the web environment, which has no torch.

The command runs itself again with the engine's interpreter, or says what to install; it never
dies on `No module named 'torch'`. These tests run the web interpreter (the one running pytest)
as a subprocess, the way a developer types the command.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = os.environ.get("ARENA_ENGINE_PYTHON", str(REPO / ".venv-engine/bin/python"))

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="this interpreter has torch: nothing to run again"
)


def tiny_model_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools", "tiny-model", *args],
        cwd=REPO,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(not Path(ENGINE_PYTHON).exists(), reason=f"engine interpreter {ENGINE_PYTHON} not found")
def test_it_builds_a_model_with_the_engine_interpreter(tmp_path):
    # No training steps: tokenizer, initialisation and save only, a few seconds.
    result = tiny_model_cli(str(tmp_path / "model"), "--layers", "1", "--train-steps", "0")
    assert result.returncode == 0, result.stderr
    assert "No module named" not in result.stderr
    assert "tiny model written to" in result.stdout
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_it_answers_help_without_the_engine_interpreter(tmp_path):
    result = tiny_model_cli("--help", ARENA_ENGINE_PYTHON=str(tmp_path / "missing" / "python"))
    assert result.returncode == 0, result.stderr
    assert "OUT_DIR" in result.stdout and "--hidden-size" in result.stdout


def test_it_says_what_to_install_without_an_engine_interpreter(tmp_path):
    result = tiny_model_cli(str(tmp_path / "model"), ARENA_ENGINE_PYTHON=str(tmp_path / "missing" / "python"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "No module named" not in result.stderr
    assert "make install" in result.stderr
    assert "pip install -r requirements/engine-cpu.txt" in result.stderr
    assert not (tmp_path / "model").exists()


def test_it_says_what_to_install_when_the_engine_interpreter_has_no_torch(tmp_path):
    # Another path to this same torch-less interpreter: the command runs it once, not forever.
    no_torch = tmp_path / "python"
    no_torch.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    no_torch.chmod(0o755)
    result = tiny_model_cli(str(tmp_path / "model"), ARENA_ENGINE_PYTHON=str(no_torch))
    assert result.returncode == 1
    assert "has no torch" in result.stderr and "make install" in result.stderr
    assert "Traceback" not in result.stderr
