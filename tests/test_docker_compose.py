"""Checks on docker-compose.yml, the Dockerfiles in docker/ and .dockerignore.

No Docker engine runs where the suite runs, so the stack must be right by construction: this file
parses the compose file and the Dockerfiles and checks them against the code and data they must
agree with (config/settings.py, the worker CLI, the catalogues, requirements/, the imports of
inference_workers/). It needs PyYAML only (runs with `-p no:django`).
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from config.serve import daphne_command
from devtools import tiny_model
from inference_workers.__main__ import serve_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
SETTINGS = ROOT / "config" / "settings.py"
CATALOGUE_DIR = ROOT / "fixtures" / "catalogue"
PRODUCTION = CATALOGUE_DIR / "production.yaml"
DEMO = CATALOGUE_DIR / "demo.yaml"
REQUIREMENTS = ROOT / "requirements"

WEB_DOCKERFILE = "docker/web.Dockerfile"
GPU_DOCKERFILE = "docker/worker-gpu.Dockerfile"
CPU_DOCKERFILE = "docker/worker-cpu.Dockerfile"
WORKER_REQUIREMENTS = "requirements/worker.txt"
# What each image must install (requirement files, relative to the repository root).
IMAGE_REQUIREMENTS = {
    WEB_DOCKERFILE: {"requirements/base.txt"},
    GPU_DOCKERFILE: {WORKER_REQUIREMENTS, "requirements/gpu.txt"},
    CPU_DOCKERFILE: {WORKER_REQUIREMENTS, "requirements/engine-cpu.txt"},
}
# The distribution that provides each third-party module the worker imports.
WORKER_IMPORT_DISTRIBUTIONS = {
    "fastapi": "fastapi",
    "starlette": "fastapi",  # FastAPI's own foundation, pinned by it
    "uvicorn": "uvicorn",
    "httpx": "httpx",
    "pydantic": "pydantic",
    "prometheus_client": "prometheus-client",
    "pynvml": "nvidia-ml-py",
    "yaml": "pyyaml",
}
WEB_PROCESSES = ("web", "celery-worker", "celery-beat")
DEMO_PROFILE = "demo"
WORKER_PORT = 8000
GPU_MEMORY_GB = 80  # the GPU class the compose file's layout assumes (see its header)
# Variables settings.py reads through a library rather than by name.
READ_INDIRECTLY = {"DATABASE_URL": "dj_database_url.config("}


# --- Helpers ------------------------------------------------------------------------------------


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def production() -> list[dict]:
    return metered(load_yaml(PRODUCTION))


@pytest.fixture(scope="module")
def demo() -> list[dict]:
    return metered(load_yaml(DEMO))


def metered(models: list[dict]) -> list[dict]:
    """The models served by a worker of this stack (a remote API entry has none)."""
    return [m for m in models if "worker" in m]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def profiles(service: dict) -> list[str]:
    return list(service.get("profiles") or [])


def command_segments(service: dict) -> list[list[str]]:
    """The service's command as a list of simple commands (a `sh -c` script is split on && || ;)."""
    command = service.get("command")
    assert command, "no command"
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if argv[:2] == ["sh", "-c"]:
        assert len(argv) == 3, f"sh -c takes one script: {argv}"
        tokens = shlex.split(argv[2])
    else:
        tokens = argv
    segments, current = [], []
    for token in tokens:
        if token in {"&&", "||", ";"}:
            segments.append(current)
            current = []
        else:
            current.append(token.rstrip(";"))
    segments.append(current)
    return [s[1:] if s and s[0] == "exec" else s for s in segments if s]


def module_args(service: dict, module: str, subcommand: str) -> list[str] | None:
    """The arguments after `python -m MODULE SUBCOMMAND`, if the command runs it."""
    if not service.get("command"):
        return None
    found = [
        s[4:]
        for s in command_segments(service)
        if s[:4] in (["python", "-m", module, subcommand], ["python3", "-m", module, subcommand])
    ]
    assert len(found) <= 1, f"runs {module} {subcommand} more than once"
    return found[0] if found else None


def inference_workers_args(service: dict, subcommand: str) -> list[str] | None:
    return module_args(service, "inference_workers", subcommand)


def parse_serve(args: list[str]) -> argparse.Namespace:
    """Parse with the worker's own CLI parser: a typo or unknown option fails here."""
    parser = argparse.ArgumentParser(prog="python -m inference_workers", exit_on_error=False)
    sub = parser.add_subparsers(dest="command", required=True)
    serve_parser(sub)
    try:
        return parser.parse_args(["serve", *args])
    except (SystemExit, argparse.ArgumentError) as error:
        raise AssertionError(f"`python -m inference_workers serve` rejects {args}: {error}") from None


def parse_tiny_model(args: list[str], monkeypatch) -> dict:
    """Run the real tiny-model CLI with the builder replaced by a recorder."""
    seen = {}

    def record(out_dir, **kwargs):
        seen.update(kwargs, out_dir=Path(out_dir))
        return Path(out_dir)

    monkeypatch.setattr(tiny_model, "build_tiny_model", record)
    try:
        assert tiny_model.main(list(args)) == 0
    except SystemExit as error:
        raise AssertionError(f"`python -m devtools tiny-model` rejects {args}") from error
    return seen


def serve_of(service: dict) -> argparse.Namespace:
    args = inference_workers_args(service, "serve")
    assert args is not None, "does not run `python -m inference_workers serve`"
    return parse_serve(args)


def is_gpu_worker(service: dict) -> bool:
    args = inference_workers_args(service, "serve")
    return args is not None and parse_serve(args).engine == "vllm"


def dockerfile_of(service: dict) -> str | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return str((Path(build) / "Dockerfile").as_posix())
    context = Path(build.get("context", "."))
    return (context / build.get("dockerfile", "Dockerfile")).as_posix().removeprefix("./")


def published_ports(service: dict) -> list[tuple[int, int]]:
    """(host, container) pairs."""
    pairs = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.append((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"publish with an explicit host port: {port!r}"
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def gpu_reservations(service: dict) -> list[dict]:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return [d for d in devices if "gpu" in (d.get("capabilities") or [])]


def healthcheck_command(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(str(t) for t in test)


def settings_env_names() -> set[str]:
    text = SETTINGS.read_text(encoding="utf-8")
    pattern = r"""(?:os\.getenv|os\.environ\.get|env[a-z]*)\(\s*["']([A-Z][A-Z0-9_]*)["']|os\.environ\[["']([A-Z][A-Z0-9_]*)["']\]"""
    names = {a or b for a, b in re.findall(pattern, text)}
    names |= {name for name, call in READ_INDIRECTLY.items() if call in text}
    return names


def catalogue_thresholds(path: Path) -> dict[str, str]:
    """The thresholds a catalogue proposes in its header comment."""
    text = path.read_text(encoding="utf-8")
    return dict(re.findall(r"#\s+(ARENA_(?:SMALL_MAX|BIG_MIN)_PARAMS_B)=([0-9.]+)", text))


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, line continuations joined, comments dropped."""
    instructions, pending = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    assert not pending, f"{path.name}: dangling line continuation"
    return instructions


def copy_sources(arguments: str) -> list[str]:
    """Source paths of a COPY/ADD (not --from=stage copies), the destination dropped."""
    if arguments.startswith("["):
        parts = ast.literal_eval(arguments)
    else:
        parts = shlex.split(arguments)
    if any(p.startswith("--from") for p in parts):
        return []
    parts = [p for p in parts if not p.startswith("--")]
    return parts[:-1]


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_dockerignored(path: str, patterns: list[str]) -> bool:
    path = path.strip("/").removeprefix("./")
    parts = path.split("/")
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(parts[i - 1], pattern[3:])
            ):
                ignored = not negate
                break
    return ignored


def requirement_names(path: Path) -> set[str]:
    """The distributions a requirements file pins itself (not those of the files it includes)."""
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>~!\[; ]", line, maxsplit=1)[0].lower())
    return names


def included_requirements(requirement: str) -> set[str]:
    """`requirement` and the files it includes with `-r`, recursively (paths from the repository root)."""
    found, todo = set(), [requirement]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        for line in (ROOT / current).read_text(encoding="utf-8").splitlines():
            if line.startswith("-r "):
                todo.append((Path(current).parent / line[3:].strip()).as_posix())
    return found


def third_party_imports(folder: Path) -> set[str]:
    """Top-level names of the modules a package imports, anywhere in its files, less the stdlib's."""
    names = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "__future__" and n != folder.name}


def requirement_pin(path: Path, name: str) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\[[^\]]*\])?==([^\s#;]+)", line.strip(), re.IGNORECASE)
        if m:
            return m.group(1)
    raise AssertionError(f"{path.name} does not pin {name}")


# --- Services -----------------------------------------------------------------------------------


def test_it_has_the_expected_services(services, production, demo):
    expected = {"postgres", "redis", *WEB_PROCESSES, "web-demo"}
    expected |= {f"worker-{m['slug']}" for m in production}
    expected |= {f"demo-worker-{m['slug']}" for m in demo}
    assert set(services) == expected


def test_it_runs_postgres_and_redis_with_healthchecks_and_volumes(compose, services):
    postgres, redis = services["postgres"], services["redis"]
    assert postgres["image"] == "postgres:17"
    assert "pg_isready" in healthcheck_command(postgres)
    assert redis["image"].split(":")[0] == "redis" and redis["image"].split(":")[1].startswith("7")
    assert "redis-cli" in healthcheck_command(redis) and "ping" in healthcheck_command(redis)
    for name, target in (("postgres", "/var/lib/postgresql/data"), ("redis", "/data")):
        mounts = [str(v).split(":") for v in services[name]["volumes"]]
        assert any(m[1] == target and m[0] in compose["volumes"] for m in mounts), name


def test_it_publishes_only_the_web_ports(services):
    published = {name: published_ports(s) for name, s in services.items() if published_ports(s)}
    assert published == {"web": [(8000, 8000)], "web-demo": [(8001, 8000)]}
    for name in published:
        cmd = " ".join(command_segments(services[name])[-1])
        assert cmd == " ".join(daphne_command("0.0.0.0", 8000)), name


def test_it_starts_the_web_after_migrations_and_the_catalogue(services):
    for name in ("web", "web-demo"):
        segments = command_segments(services[name])
        assert segments[0] == ["python", "manage.py", "migrate", "--noinput"], name
        assert segments[1] == ["python", "manage.py", "load_catalogue"], name
        assert segments[-1][0] == "daphne", name
        script = services[name]["command"][2]
        assert script.count("&&") == 2 and "||" not in script, "the web must not start if a step fails"


def test_it_runs_celery_worker_and_beat_with_the_web_settings(services):
    assert command_segments(services["celery-worker"]) == [["celery", "-A", "config", "worker", "-l", "info"]]
    beat = command_segments(services["celery-beat"])
    assert len(beat) == 1 and beat[0][:6] == ["celery", "-A", "config", "beat", "-l", "info"]
    web_env = environment(services["web"])
    for name in ("celery-worker", "celery-beat"):
        assert environment(services[name]) == web_env, name
    # `-A config` names the package that holds the Celery app (celery looks for `celery_app`).
    import config

    assert (
        type(config.celery_app).__name__ == "Celery"
        and "leaderboard.tasks.refresh_leaderboard"
        in (config.celery_app.conf.beat_schedule["refresh-leaderboard"]["task"])
    )


# Read by the web outside config/settings.py: the workers' token, when a request is sent
# (inference/routing.py), so that a rotated token needs no settings reload.
READ_ELSEWHERE = {"ARENA_WORKER_TOKEN"}


def test_it_sets_only_environment_variables_that_the_web_reads(services):
    read = settings_env_names() | READ_ELSEWHERE
    assert {
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "REDIS_URL",
        "DATABASE_URL",
        "ARENA_CATALOGUE",
        "ARENA_SMALL_MAX_PARAMS_B",
        "ARENA_BIG_MIN_PARAMS_B",
    } <= read
    for name in (*WEB_PROCESSES, "web-demo"):
        unread = {k for k in environment(services[name]) if not k.startswith("WORKER_URL_")} - read
        assert not unread, f"{name} sets variables config/settings.py never reads: {sorted(unread)}"


def test_it_configures_the_production_web(services):
    env = environment(services["web"])
    assert env["DATABASE_URL"].startswith("postgres://") and urlsplit(env["DATABASE_URL"]).hostname == "postgres"
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert re.fullmatch(r"\$\{SECRET_KEY:\?[^}]+\}", env["SECRET_KEY"]), "SECRET_KEY must be required"
    assert env["ALLOWED_HOSTS"]
    assert env["ARENA_CATALOGUE"] == "/app/fixtures/catalogue/production.yaml"


@pytest.mark.parametrize("service_name, catalogue", [("web", PRODUCTION), ("web-demo", DEMO)])
def test_it_uses_the_thresholds_the_catalogue_proposes(services, service_name, catalogue):
    env = environment(services[service_name])
    proposed = catalogue_thresholds(catalogue)
    assert set(proposed) == {"ARENA_SMALL_MAX_PARAMS_B", "ARENA_BIG_MIN_PARAMS_B"}
    for name, value in proposed.items():
        assert float(env[name]) == float(value), name
    assert env["ARENA_CATALOGUE"] == f"/app/fixtures/catalogue/{catalogue.name}"


@pytest.mark.parametrize(
    "web_name, catalogue, worker_prefix",
    [
        ("web", PRODUCTION, "worker-"),
        ("web-demo", DEMO, "demo-worker-"),
    ],
)
def test_it_points_every_worker_url_at_the_worker_of_that_model(services, web_name, catalogue, worker_prefix):
    models = {m["worker"]["env"]: m for m in metered(load_yaml(catalogue))}
    env = environment(services[web_name])
    urls = {k: v for k, v in env.items() if k.startswith("WORKER_URL_")}
    assert set(urls) == set(models), "one WORKER_URL_* per catalogue model, none other"
    for var, url in urls.items():
        slug = models[var]["slug"]
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.path in ("", "/"), url
        assert parts.hostname == f"{worker_prefix}{slug}", url
        serve = serve_of(services[parts.hostname])
        assert parts.port == serve.port == WORKER_PORT, url
        assert serve.host == "0.0.0.0", f"{parts.hostname} must listen beyond localhost"
        assert serve.served_model_name == slug


def test_it_runs_one_gpu_worker_per_production_model(services, production):
    gpu_workers = {name: serve_of(s) for name, s in services.items() if is_gpu_worker(s)}
    assert len(gpu_workers) == len(production)
    for model in production:
        serving = [name for name, args in gpu_workers.items() if args.model == model["hf_id"]]
        assert serving == [f"worker-{model['slug']}"], model["slug"]
        args = gpu_workers[serving[0]]
        assert args.served_model_name == model["slug"]
        assert args.engine == "vllm" and args.upstream is None
        assert args.ready_timeout >= 1800, "the first start downloads the weights"


def test_it_gives_every_gpu_worker_the_gpus_its_command_lists(services, production):
    params = {f"worker-{m['slug']}": m["params_b"] for m in production}
    owners: dict[str, str] = {}
    for name, service in services.items():
        if not is_gpu_worker(service):
            assert not gpu_reservations(service), f"{name} reserves a GPU it does not use"
            continue
        gpus = serve_of(service).gpus
        reservations = gpu_reservations(service)
        assert len(reservations) == 1, name
        device = reservations[0]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], name
        assert ("device_ids" in device) != ("count" in device), f"{name}: device_ids or count, not both"
        if "device_ids" in device:
            ids = [str(i) for i in device["device_ids"]]
            assert len(set(ids)) == len(ids), name
            for gpu in ids:
                # Energy is metered per GPU and charged to one worker's requests.
                assert gpu not in owners, f"GPU {gpu} reserved by {owners.get(gpu)} and {name}"
                owners[gpu] = name
            count = len(ids)
        else:
            count = int(device["count"])
        # Inside the container the reserved GPUs are numbered from 0.
        assert gpus == list(range(count)), f"{name}: --gpus {gpus} for {count} reserved GPU(s)"
        assert count in (1, 2, 4, 8), f"{name}: tensor parallel size {count}"
        # bf16 weights (2 bytes per parameter) must leave room for the KV cache.
        assert params[name] * 2 <= 0.9 * GPU_MEMORY_GB * count, f"{name}: too few GPUs for its weights"
    big = [n for n, p in params.items() if p >= 60]
    assert big and all(len(serve_of(services[n]).gpus) >= 2 for n in big)


def test_it_sets_up_the_gpu_workers_for_downloads_and_health(compose, services):
    for name, service in services.items():
        if not is_gpu_worker(service):
            continue
        assert dockerfile_of(service) == GPU_DOCKERFILE, name
        assert not profiles(service), f"{name} must start by default, not in a profile"
        env = environment(service)
        assert env.get("HF_TOKEN") == "${HF_TOKEN:-}", f"{name}: HF_TOKEN optional, from the environment"
        assert env.get("HF_HUB_OFFLINE") == "0", f"{name}: the engine would not download its weights"
        mounts = [str(v).split(":") for v in service["volumes"]]
        assert [m for m in mounts if m[0] == "hf-cache"] == [["hf-cache", env["HF_HOME"]]], name
        assert "hf-cache" in compose["volumes"]
        assert f"127.0.0.1:{WORKER_PORT}/health" in healthcheck_command(service), name


def test_it_builds_each_demo_model_from_its_catalogue_recipe(compose, services, demo, monkeypatch):
    for model in demo:
        name = f"demo-worker-{model['slug']}"
        service = services[name]
        assert dockerfile_of(service) == CPU_DOCKERFILE, name
        tiny_args = module_args(service, "devtools", "tiny-model")
        assert tiny_args is not None, f"{name} does not build its model"
        built = parse_tiny_model(tiny_args, monkeypatch)
        recipe = model["recipe"]
        assert (built["seed"], built["layers"], built["hidden_size"]) == (
            recipe["seed"],
            recipe["layers"],
            recipe["hidden_size"],
        ), name
        serve = serve_of(service)
        assert serve.engine == "transformers" and not serve.gpus, name
        assert Path(serve.model) == built["out_dir"], f"{name} serves another directory than it builds"
        # The model lives in a named volume (built once) and the build is skipped when present.
        mounts = [str(v).split(":") for v in service["volumes"]]
        assert any(m[0] in compose["volumes"] and built["out_dir"].is_relative_to(m[1]) for m in mounts), name
        first = command_segments(service)[0]
        assert first[:2] == ["test", "-f"] and first[2].startswith(str(built["out_dir"]) + "/"), name
        assert f"127.0.0.1:{WORKER_PORT}/health" in healthcheck_command(service), name


def test_it_keeps_the_demo_in_its_profile(services):
    for name, service in services.items():
        in_demo = name == "web-demo" or name.startswith("demo-worker-")
        assert profiles(service) == ([DEMO_PROFILE] if in_demo else []), name
    demo_env = environment(services["web-demo"])
    assert "REDIS_URL" not in demo_env, "the demo is embedded: no Redis"
    assert demo_env["DATABASE_URL"].startswith("sqlite:///")
    assert set(depends_on(services["web-demo"])) == {n for n in services if n.startswith("demo-worker-")}


def test_it_depends_only_on_existing_services_with_healthchecks(services):
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert condition in conditions, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert services[target].get("healthcheck", {}).get("test"), f"{target} has no healthcheck"
            # A service started by default must not wait on one that only a profile starts.
            assert set(profiles(services[target])) <= set(profiles(service)) or not profiles(services[target]), (
                f"{name} depends on {target}, which its profiles do not start"
            )
    for name in WEB_PROCESSES:
        deps = depends_on(services[name])
        assert deps["postgres"] == deps["redis"] == "service_healthy", name
        assert not any(d.startswith("worker-") for d in deps), f"{name} must not wait for model downloads"


def test_it_declares_the_named_volumes_it_mounts(compose, services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in services.values():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/", "~", "$")):
                used.add(source)
    assert used == declared


# --- Images -------------------------------------------------------------------------------------


def test_it_builds_every_process_from_the_right_dockerfile(services):
    for name, service in services.items():
        if name in ("postgres", "redis"):
            assert "build" not in service
            continue
        expected = (
            WEB_DOCKERFILE
            if name in (*WEB_PROCESSES, "web-demo")
            else (CPU_DOCKERFILE if name.startswith("demo-worker-") else GPU_DOCKERFILE)
        )
        assert dockerfile_of(service) == expected, name
        build = service["build"]
        assert (ROOT / build.get("context", ".")).resolve() == ROOT, f"{name}: build from the repository root"


@pytest.mark.parametrize("dockerfile", sorted(IMAGE_REQUIREMENTS))
def test_it_builds_images_from_files_that_exist(dockerfile):
    path = ROOT / dockerfile
    assert path.is_file()
    instructions = dockerfile_instructions(path)
    words = [w for w, _ in instructions]
    assert "FROM" in words and set(words[: words.index("FROM")]) <= {"ARG"}, "FROM comes first"
    patterns = dockerignore_patterns()
    copied: set[str] = set()
    mentioned: set[str] = set()
    for word, arguments in instructions:
        if word in ("COPY", "ADD"):
            for source in copy_sources(arguments):
                assert source == "." or any(ROOT.glob(source.rstrip("/"))), f"{dockerfile}: COPY {source}: no such file"
                assert source == "." or not is_dockerignored(source, patterns), f".dockerignore drops {source}"
                copied.add(source.rstrip("/"))
        if word != "RUN":
            continue
        for requirement in set(re.findall(r"requirements/[A-Za-z0-9_.-]+\.txt", arguments)):
            assert (ROOT / requirement).is_file(), f"{dockerfile} uses {requirement}, which does not exist"
            mentioned.add(requirement)
            # `pip install -r` reads the files a requirements file includes with `-r` too, and all
            # of them must be in the image before this RUN, not by a later COPY.
            for needed in included_requirements(requirement):
                assert (ROOT / needed).is_file(), f"{requirement} includes {needed}, which does not exist"
                assert needed in copied or "." in copied or "requirements" in copied, (
                    f"{dockerfile} uses {needed} before copying it"
                )
    assert IMAGE_REQUIREMENTS[dockerfile] <= mentioned, f"{dockerfile} installs {sorted(mentioned)}"


def base_image(dockerfile: str) -> str:
    instructions = dockerfile_instructions(ROOT / dockerfile)
    args = {}
    for word, arguments in instructions:
        if word == "ARG" and "=" in arguments:
            key, value = arguments.split("=", 1)
            args[key.strip()] = value.strip().strip('"')
        if word == "FROM":
            image = arguments.split()[0]
            return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), image)
    raise AssertionError(f"{dockerfile}: no FROM")


def test_it_uses_the_python_each_image_needs():
    assert base_image(WEB_DOCKERFILE).startswith("python:3.12"), "Django 6 needs Python 3.12"
    assert base_image(CPU_DOCKERFILE).startswith("python:3.11"), "the CPU torch wheel is cp311"
    vllm = requirement_pin(REQUIREMENTS / "gpu.txt", "vllm")
    assert base_image(GPU_DOCKERFILE) == f"vllm/vllm-openai:v{vllm}", "the vLLM image must match requirements/gpu.txt"


def test_it_keeps_transformers_within_the_vllm_range():
    version = tuple(int(x) for x in requirement_pin(REQUIREMENTS / "engine-cpu.txt", "transformers").split(".")[:2])
    assert version < (5, 21)
    assert "torch" not in {
        re.split(r"[=<>\[ ]", line)[0].lower()
        for line in (REQUIREMENTS / "gpu.txt").read_text().splitlines()
        if line and not line.startswith("#")
    }, "vLLM brings its own torch"


def test_it_pins_exactly_what_the_worker_imports():
    imported = third_party_imports(ROOT / "inference_workers")
    unknown = imported - set(WORKER_IMPORT_DISTRIBUTIONS)
    assert not unknown, f"inference_workers imports {sorted(unknown)}: pin them in {WORKER_REQUIREMENTS}"
    needed = {WORKER_IMPORT_DISTRIBUTIONS[name] for name in imported}
    assert requirement_names(ROOT / WORKER_REQUIREMENTS) == needed


def test_it_keeps_the_worker_pins_in_worker_txt_only():
    base = REQUIREMENTS / "base.txt"
    assert "-r worker.txt" in base.read_text(encoding="utf-8").splitlines(), "base.txt must include worker.txt"
    repeated = requirement_names(base) & requirement_names(ROOT / WORKER_REQUIREMENTS)
    assert not repeated, f"base.txt repeats the worker's pins {sorted(repeated)}"


@pytest.mark.parametrize("dockerfile", [GPU_DOCKERFILE, CPU_DOCKERFILE])
def test_it_installs_the_worker_dependencies_without_the_web(dockerfile):
    runs = [arguments for word, arguments in dockerfile_instructions(ROOT / dockerfile) if word == "RUN"]
    assert any(re.search(rf"pip install .*-r {re.escape(WORKER_REQUIREMENTS)}", run) for run in runs), dockerfile
    assert not any("requirements/base.txt" in run for run in runs), "base.txt would install Django"


def test_it_ships_devtools_in_the_cpu_image_only():
    def copied(dockerfile: str) -> set[str]:
        return {
            source.rstrip("/")
            for word, arguments in dockerfile_instructions(ROOT / dockerfile)
            if word in ("COPY", "ADD")
            for source in copy_sources(arguments)
        }

    # The demo workers build their tiny models with `python -m devtools tiny-model`.
    assert {"inference_workers", "devtools", "fixtures"} <= copied(CPU_DOCKERFILE)
    assert "inference_workers" in copied(GPU_DOCKERFILE)
    assert "devtools" not in copied(GPU_DOCKERFILE) and "." not in copied(GPU_DOCKERFILE)
    # ... and the worker itself runs without it.
    assert "devtools" not in third_party_imports(ROOT / "inference_workers")


def test_it_runs_the_worker_code_on_the_cpu_image_python():
    files = sorted([*(ROOT / "inference_workers").glob("*.py"), *(ROOT / "devtools").glob("*.py")])
    for path in files:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 11))
    # A real 3.11 interpreter also catches 3.12-only f-strings, which feature_version lets through.
    python311 = shutil.which("python3.11") or next(
        (str(p) for p in [ROOT / ".venv-engine" / "bin" / "python"] if p.exists()), None
    )
    if python311:
        version = subprocess.run(
            [python311, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"], capture_output=True, text=True
        ).stdout.strip()
        if version == "True":
            code = "import sys; [compile(open(f, encoding='utf-8').read(), f, 'exec') for f in sys.argv[1:]]"
            result = subprocess.run([python311, "-c", code, *map(str, files)], capture_output=True, text=True)
            assert result.returncode == 0, result.stderr


def test_it_keeps_local_state_out_of_the_build_context():
    patterns = dockerignore_patterns()
    for path in (".git", ".venv", ".venv-engine", "var/models", "var/db.sqlite3", "arena/__pycache__/x.pyc"):
        assert is_dockerignored(path, patterns), path
    for path in (
        "requirements/base.txt",
        "requirements/worker.txt",
        "inference_workers/app.py",
        "devtools/tiny_model.py",
        "fixtures/tiny_corpus/en.txt",
        "manage.py",
    ):
        assert not is_dockerignored(path, patterns), path
