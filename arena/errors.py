"""The arena's one error type: an HTTP status, a stable code and a message for people.

Rules (battles, limits, access) raise it; the API answers it as
`{"error": {"code", "message"}}` with its status (and `Retry-After` when set); the
WebSocket sends it as an error frame. Messages are translated where they are raised.
"""

from __future__ import annotations


class ArenaError(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after_s: int | None = None):
        super().__init__(str(message))
        self.status = status
        self.code = code
        self.message = str(message)
        self.retry_after_s = retry_after_s
