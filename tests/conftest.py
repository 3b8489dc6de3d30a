"""Fixtures shared by the whole suite: tiny models and real inference workers."""

from __future__ import annotations

import pytest

from devtools.launcher import MODELS_DIR, ensure_chatty_model, ensure_tiny_model, start_worker

TEST_LOGS = MODELS_DIR.parent / "test-logs"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases, and before PostgreSQL's is dropped, the sessions still
    open on it ended. A test that makes ORM calls while Playwright's event loop runs (the QR
    code test) gets a connection in a context of its own, which the teardown cannot see or
    close; PostgreSQL then refused to drop the database ("being accessed by other users")."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def tiny_model():
    """A trained tiny model: short answers made of words."""
    return ensure_tiny_model(MODELS_DIR / "test-tiny", seed=11, layers=1)


@pytest.fixture(scope="session")
def chatty_model():
    return ensure_chatty_model(MODELS_DIR / "test-chatty", seed=12)


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


# -- the arena against real workers ------------------------------------------------------
ARENA_WORKERS = {  # slug -> (model fixture directory, seed, trained?)
    "tiny-a": ("test-tiny", 11, True),
    "tiny-b": ("test-tiny-b", 13, True),
    "chatty": ("test-chatty", 12, False),
}


@pytest.fixture(scope="session")
def arena_workers():
    """One real worker per test model, started once for the session: slug -> URL."""
    handles = []
    try:
        for slug, (dirname, seed, trained) in ARENA_WORKERS.items():
            if trained:
                model = ensure_tiny_model(MODELS_DIR / dirname, seed=seed, layers=1)
            else:
                model = ensure_chatty_model(MODELS_DIR / dirname, seed=seed)
            handles.append(start_worker(model, name=slug, log_dir=TEST_LOGS))
        for handle in handles:
            handle.wait_ready()
        yield {h.name: h.url for h in handles}
    finally:
        for handle in handles:
            handle.stop()


def make_llm(slug: str, url: str, **fields):
    from arena.models import LLM

    defaults = dict(
        name=f"Modèle {slug.title()}",
        organization=f"Org{slug.replace('-', '').title()}",
        license="Apache-2.0",
        license_kind="open",
        params_b=0.0005,
        active_params_b=0.0005,
        architecture="dense transformer (Llama)",
        description_fr="Un petit modèle.",
        description_en="A small model.",
        worker_env=f"WORKER_URL_TEST_{slug.upper().replace('-', '_')}",
        worker_default_url=url,
        identity_words=[f"Modèle {slug.title()}"],
    )
    defaults.update(fields)
    return LLM.objects.update_or_create(slug=slug, defaults=defaults)[0]


@pytest.fixture
def arena_llms(arena_workers, transactional_db):
    """LLM rows pointing at the session's workers."""
    return {slug: make_llm(slug, url) for slug, url in arena_workers.items()}


def make_battle(visitor_id, llm_a, llm_b, prompt="Bonjour, parle-moi du soleil."):
    from django.utils import timezone

    from arena import battles
    from arena.models import Battle, Visitor

    visitor, _ = Visitor.objects.get_or_create(pk=visitor_id, defaults={"terms_accepted_at": timezone.now()})
    battle = Battle.objects.create(visitor=visitor, mode="custom", model_a=llm_a, model_b=llm_b)
    battles._add_turn(battle, 0, prompt)
    return battle


def test_database_url() -> str:
    """A URL for child processes (server, Celery worker) to reach the test database."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def serve_arena(log_path, port=None, **extra_env):
    """The arena served by daphne in a child process on the test database: (URL, process).
    `port`: a given one (a process started in place of one that died); `extra_env`
    overrides the environment (e.g. a shared CACHE_KEY_PREFIX for two processes)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from config.serve import daphne_command
    from inference_workers.engines import REPO, free_port

    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "ARENA_MAX_TOKENS": "24",
        "DEBUG": "False",
        "ARENA_PROMPTS_PER_MINUTE_VISITOR": "100",
        "ARENA_PROMPTS_PER_MINUTE_IP": "1000",
        # Its own rate-limit counters when the cache is a shared Redis.
        "CACHE_KEY_PREFIX": f"live-{port}",
        **extra_env,
    }
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", *daphne_command("127.0.0.1", port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log = log
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    return f"http://127.0.0.1:{port}", proc


def stop_arena(proc) -> None:
    proc.terminate()
    proc.wait(timeout=10)
    proc.log.close()


@pytest.fixture
def live_arena(transactional_db, tmp_path):
    """The arena served by daphne in a child process, on the test database."""
    url, proc = serve_arena(tmp_path / "daphne.log")
    yield url
    stop_arena(proc)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread
    while it is open, which the asyncio tests of other modules cannot share."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the
    # test makes around it are synchronous and safe, so let Django allow them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    executable = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    if not os.path.exists(executable):
        pytest.fail(f"Chromium not found at {executable}: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


ARTIFACTS = MODELS_DIR.parent.parent / "test-artifacts"
