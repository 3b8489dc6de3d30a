"""The worker command line `devtools.launcher.start_worker` builds for make run, the tests and the benches."""

from __future__ import annotations

import subprocess

import pytest

from devtools import launcher


@pytest.fixture
def started(monkeypatch):
    """The command lines start_worker would run (nothing is started)."""
    commands = []

    class Recorded:
        def __init__(self, cmd, **kwargs):
            commands.append(cmd)

    monkeypatch.setattr(subprocess, "Popen", Recorded)
    return commands


def test_it_batches_on_the_transformers_engine_unless_asked_not_to(started, tmp_path):
    launcher.start_worker(tmp_path, name="a")
    launcher.start_worker(tmp_path, name="b", batching=False)
    launcher.start_worker(tmp_path, name="c", engine="vllm")
    batching, one_at_a_time, vllm = started
    assert "--continuous-batching" in batching
    assert "--continuous-batching" not in one_at_a_time and "--continuous-batching" not in vllm


def test_it_keeps_engine_arguments_last(started, tmp_path):
    launcher.start_worker(tmp_path, name="a", extra=["--meter", "cpu", "--", "--dtype", "float32"], log_dir=tmp_path)
    cmd = started[0]
    assert cmd[-3:] == ["--", "--dtype", "float32"]  # after `--`, everything goes to the engine
    assert cmd.index("--engine-log") < cmd.index("--")


def test_the_worker_serves_on_the_socket_the_launcher_bound(started, tmp_path):
    launcher.start_worker(tmp_path, name="a")
    cmd = started[0]
    assert "--fd" in cmd and "--port" not in cmd


def test_a_taken_port_is_refused_with_a_clear_message(started, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"port {port} is taken"):
            launcher.start_worker(tmp_path, name="a", port=port)
    assert started == []  # nothing was launched
