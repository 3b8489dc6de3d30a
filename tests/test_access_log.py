"""The web server writes no access log: daphne's names each client's IP address (the arena
stores none) and a facilitator's link carries the room's token in its path. The server is
started as everywhere (config.serve), the images and manifests say the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from config.serve import daphne_command
from tests.conftest import serve_arena, stop_arena

ROOT = Path(__file__).resolve().parent.parent


def test_a_facilitators_link_and_a_visitors_address_are_not_logged(transactional_db, tmp_path):
    url, proc = serve_arena(tmp_path / "daphne.log")
    try:
        token = "a-secret-facilitator-token-0123456789"
        assert httpx.get(f"{url}/w/ABCDEF/animer/{token}/").status_code == 404
        assert httpx.get(f"{url}/").status_code == 200
    finally:
        stop_arena(proc)
    log = (tmp_path / "daphne.log").read_text()
    assert token not in log and not re.search(r'"GET /', log), log[-2000:]


def test_the_image_starts_the_same_server():
    dockerfile = (ROOT / "docker" / "web.Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert cmd == daphne_command("0.0.0.0", 8000)
