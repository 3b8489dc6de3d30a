"""The tree keeps its seams: no package swallows the project, the WebSocket consumer is
framing only, and the pure packages import without the web stack."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "arena",
    "config",
    "devtools",
    "exports",
    "footprint",
    "inference",
    "inference_workers",
    "leaderboard",
    "ranking",
    "workshops",
)


def python_lines(package: str) -> int:
    return sum(
        len(p.read_text(encoding="utf-8").splitlines())
        for p in (REPO / package).rglob("*.py")
        if "migrations" not in p.parts
    )


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_it_keeps_every_package_under_a_third_of_the_code():
    lines = {package: python_lines(package) for package in PACKAGES}
    total = sum(lines.values())
    shares = {package: n / total for package, n in lines.items()}
    assert max(shares.values()) <= 0.30, shares


def test_it_keeps_the_consumer_to_websocket_framing():
    imports = imported_modules(REPO / "arena" / "consumers.py")
    assert "httpx" not in imports and "json" in imports
    assert "inference" in imports  # the model boundary lives there


def test_it_keeps_the_worker_contract_free_of_the_web_framework():
    assert imported_modules(REPO / "inference_workers" / "protocol.py") <= {"__future__", "json", "typing", "pydantic"}
