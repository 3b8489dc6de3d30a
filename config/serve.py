"""How the arena's ASGI server is started, in one place: make run, the tests, the benches
and the images all run the same daphne command line.

Why the options: a handshake waits for the consumer's database check, which can queue
behind a burst of other sockets' work on a loaded machine, so it gets 30 s rather than
daphne's 5; a battle frame is a short JSON command, so a frame over 128 KiB is refused by
the server before the application reads it. No access log (see DAPHNE_OPTIONS).
"""

DAPHNE_OPTIONS = (
    "--websocket_connect_timeout",
    "30",
    "--websocket-max-message-size",
    "131072",
    # No access log: daphne's names each client's IP address, and the facilitator's link
    # (`/w/<code>/animer/<token>/`) carries the room's token in its path. Errors still log.
    "--access-log",
    "/dev/null",
)


def daphne_command(host: str, port: int) -> list[str]:
    return ["daphne", "-b", host, "-p", str(port), *DAPHNE_OPTIONS, "config.asgi:application"]


# uvicorn, tried side by side with daphne (bench/arena_overhead.py): the same limits where it
# has them; no per-message compression (CPU on every delta, and compressed sizes can tell
# texts apart); the client's address left to the arena's own rule (ARENA_TRUST_X_FORWARDED_FOR),
# not rewritten from X-Forwarded-For; no access log (it names each client's IP address).
UVICORN_OPTIONS = (
    "--ws-max-size",
    "131072",
    "--ws-per-message-deflate",
    "false",
    "--no-proxy-headers",
    "--lifespan",
    "off",
    "--no-access-log",
)


def uvicorn_command(host: str, port: int) -> list[str]:
    return ["uvicorn", "--host", host, "--port", str(port), *UVICORN_OPTIONS, "config.asgi:application"]
