"""Security headers and deploy checks (config/settings.py): the Content Security Policy on
every response, templates and server-drawn HTML that need no 'unsafe-inline', HTTPS settings
from ARENA_HTTPS, and `manage.py check --deploy` clean with the settings deploy/ sets."""

from __future__ import annotations

import ast
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APPS = ("arena", "leaderboard", "workshops", "exports", "config", "footprint")
CONFIG_MAP = ROOT / "deploy" / "10-config.yaml"

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
STYLE = re.compile(r"<style\b|<[a-z][^>]*\sstyle\s*=", re.IGNORECASE | re.DOTALL)
JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _inline_code(text: str) -> list[str]:
    found = []
    for name, pattern in (
        ("inline script", INLINE_SCRIPT),
        ("inline event handler", EVENT_HANDLER),
        ("inline style", STYLE),
        ("javascript: URL", JS_URL),
    ):
        found += [f"{name}: {m.group(0)[:80]!r}" for m in pattern.finditer(text)]
    return found


# --- Content Security Policy ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/classement/", "/methodologie/", "/ateliers/", "/donnees/", "/api/leaderboard"])
def test_it_sends_a_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = dict(
        (directive.split()[0], directive.split()[1:])
        for directive in response["Content-Security-Policy"].split(";")
        if directive.strip()
    )
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_it_has_no_inline_code_in_templates():
    """The policy allows no inline script, event handler or style: no template may hold one."""
    templates = [p for app in APPS for p in (ROOT / app).rglob("templates/**/*.html")]
    assert len(templates) > 10
    problems = [f"{p.relative_to(ROOT)}: {found}" for p in templates for found in _inline_code(p.read_text("utf-8"))]
    assert not problems, "\n".join(problems)


def test_it_draws_no_inline_code_from_python():
    """SVG and HTML built in Python strings (charts, pictures, QR codes) obey the same rule."""
    problems = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    problems += [f"{path.relative_to(ROOT)}:{node.lineno}: {f}" for f in _inline_code(node.value)]
    assert not problems, "\n".join(problems)


def test_it_finds_inline_code():
    """The scan is not a rubber stamp."""
    assert _inline_code("<script>alert(1)</script>")
    assert _inline_code('<button type="button" onclick="go()">')
    assert _inline_code('<div class="x"\n  style="color: red">')
    assert _inline_code('<a href="javascript:go()">')
    assert not _inline_code('<script type="module" src="/static/arena/battle.js"></script>')
    assert not _inline_code('<p class="stylish" data-onclick="x">only text: style=, onclick=</p>')


def test_it_renders_the_qr_code_and_chart_without_inline_style():
    from leaderboard.charts import score_energy_svg
    from workshops.qr import qr_svg

    rows = [
        {"slug": s, "name": s, "rating": r, "lower": r - 20, "upper": r + 20, "wh_per_1k_tokens": w, "pareto": True}
        for s, r, w in (("a", 1000, 0.5), ("b", 1050, 2.0))
    ]
    svg = score_energy_svg(rows, title="t", x_label="x", y_label="y")
    assert "<svg" in svg and not _inline_code(svg)
    qr = qr_svg("https://arena.example.org/w/ACDEF3/", title="QR")
    assert "<svg" in qr and not _inline_code(qr)


# --- Settings read in a fresh interpreter ----------------------------------------------------

READ = """
import json, os, django
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
django.setup()
from django.conf import settings as s
print(json.dumps({
    "ssl_redirect": s.SECURE_SSL_REDIRECT, "session_secure": s.SESSION_COOKIE_SECURE,
    "csrf_secure": s.CSRF_COOKIE_SECURE, "hsts_s": s.SECURE_HSTS_SECONDS,
    "hsts_subdomains": s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "hsts_preload": s.SECURE_HSTS_PRELOAD,
    "proxy_ssl_header": s.SECURE_PROXY_SSL_HEADER, "hops": s.ARENA_TRUST_X_FORWARDED_FOR,
}))
"""
OURS = ("ARENA_", "DJANGO_", "SECURE_")


def _clean_env(**env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(OURS)
        and k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "DATABASE_URL", "REDIS_URL"}
    }
    return {**clean, **env}


def _run(code: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *code], cwd=ROOT, env=_clean_env(**env), capture_output=True, text=True, timeout=120
    )


def _settings(**env: str) -> dict:
    import json

    result = _run(["-c", READ], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_serves_plain_http_by_default():
    s = _settings()
    assert not s["ssl_redirect"] and not s["session_secure"] and not s["csrf_secure"]
    assert s["hsts_s"] == 0 and s["proxy_ssl_header"] is None and s["hops"] == 0


def test_it_requires_https_when_served_over_https():
    s = _settings(ARENA_HTTPS="true")
    assert s["ssl_redirect"] and s["session_secure"] and s["csrf_secure"]
    assert s["hsts_s"] == 365 * 24 * 3600 and s["hsts_subdomains"] and not s["hsts_preload"]
    s = _settings(ARENA_HTTPS="true", ARENA_HSTS_SECONDS="600", ARENA_HSTS_PRELOAD="true")
    assert s["hsts_s"] == 600 and s["hsts_preload"]


def test_it_reads_the_scheme_from_the_trusted_proxy_only():
    assert _settings(ARENA_TRUST_X_FORWARDED_FOR="1")["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert _settings(ARENA_TRUST_X_FORWARDED_FOR="2")["hops"] == 2


@pytest.mark.parametrize(
    "env, message",
    [
        ({"ARENA_TRUST_X_FORWARDED_FOR": "-1"}, "must be 0 or more proxies"),
        ({"ARENA_TRUST_X_FORWARDED_FOR": "one"}, "ARENA_TRUST_X_FORWARDED_FOR='one' is not a whole number"),
        ({"ARENA_HTTPS": "true", "ARENA_HSTS_SECONDS": "1y"}, "ARENA_HSTS_SECONDS='1y' is not a whole number"),
        ({"ARENA_HTTPS": "ture"}, "is neither true nor false"),
    ],
)
def test_it_refuses_a_bad_value(env, message):
    result = _run(["-c", READ], **env)
    assert result.returncode != 0
    assert message in result.stderr


def production_env() -> dict[str, str]:
    """What a production deployment sets: deploy/'s ConfigMap, and secrets as an operator makes them."""
    config = next(d for d in yaml.safe_load_all(CONFIG_MAP.read_text("utf-8")) if d and d["kind"] == "ConfigMap")
    return {
        **config["data"],
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ARENA_IP_HASH_SALT": secrets.token_urlsafe(32),
        # Named, never reached: the checks of --deploy connect to nothing.
        "DATABASE_URL": "postgres://arena:secret@postgres.invalid:5432/arena",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }


def test_it_passes_check_deploy_with_production_settings():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_it_fails_check_deploy_with_the_embedded_default():
    """The check is not a rubber stamp: the development defaults are no production settings."""
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012", "security.W016"):
        assert warning in result.stderr, warning
