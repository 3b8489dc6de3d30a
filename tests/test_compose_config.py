"""docker-compose.yml read by a real compose parser: Debian's `docker-compose` (1.29, installed
by `make test`) resolves the file with `config`, which needs no Docker daemon. It refuses
what tests/test_docker_compose.py's YAML reading cannot see: an unknown or misspelt option,
a wrong type, a `depends_on` or volume that names nothing, a bad interpolation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = "/usr/bin/docker-compose"
DEMO_PROFILE = "demo"


def compose_config(*args: str, compose_file: Path = COMPOSE_FILE, **env: str) -> subprocess.CompletedProcess:
    """`docker-compose config` in the repository (relative paths resolve from there), with
    none of the caller's SECRET_KEY or Docker variables unless given in `env`."""
    if not shutil.which(DOCKER_COMPOSE):
        pytest.fail(f"{DOCKER_COMPOSE} not found: `make test` installs Debian's docker-compose")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
    clean.pop("SECRET_KEY", None)
    return subprocess.run(
        [DOCKER_COMPOSE, "--project-directory", str(ROOT), "-f", str(compose_file), *args, "config"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def resolved(*args: str, **env: str) -> dict:
    result = compose_config(*args, **env)
    assert result.returncode == 0, f"docker-compose config refuses the file:\n{result.stderr}"
    return yaml.safe_load(result.stdout)


def test_it_passes_the_compose_parser():
    config = resolved(SECRET_KEY="x" * 50)
    declared = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert set(config["services"]) == set(declared["services"])  # `config` lists every profile's services
    assert config["services"]["web"]["environment"]["SECRET_KEY"] == "x" * 50


def test_it_passes_the_compose_parser_with_the_demo_profile():
    config = resolved("--profile", DEMO_PROFILE, SECRET_KEY="x" * 50)
    declared = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert set(config["services"]) == set(declared["services"])


def test_it_reaches_every_worker_by_a_service_of_the_file():
    from urllib.parse import urlsplit

    config = resolved("--profile", DEMO_PROFILE, SECRET_KEY="x" * 50)
    for web in ("web", "web-demo"):
        urls = {k: v for k, v in config["services"][web]["environment"].items() if k.startswith("WORKER_URL_")}
        assert urls, web
        for variable, url in urls.items():
            for one in url.split(","):  # a model may list several replicas
                assert urlsplit(one.strip()).hostname in config["services"], f"{web}: {variable}={url}"


def test_it_refuses_to_resolve_without_a_secret_key():
    result = compose_config()
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_it_uses_a_parser_that_refuses_a_broken_file(tmp_path):
    """The parser is not a rubber stamp: a misspelt option and a missing dependency fail."""
    broken = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    broken["services"]["redis"]["imagee"] = broken["services"]["redis"].pop("image")
    broken["services"]["web"]["depends_on"]["nowhere"] = {"condition": "service_healthy"}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = compose_config(compose_file=path, SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "imagee" in result.stderr, result.stderr
    del broken["services"]["redis"]["imagee"]
    broken["services"]["redis"]["image"] = "redis:7"
    path.write_text(yaml.safe_dump(broken), encoding="utf-8")
    result = compose_config(compose_file=path, SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "nowhere" in result.stderr, result.stderr
