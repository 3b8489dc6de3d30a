"""Log filters. A facilitator's link carries the room's token in its path
(`/w/<code>/animer/<token>/`); Django logs the path of every 4xx (`django.request`: "Not Found:
...", "Forbidden: ...") and of a CSRF failure. The token is cut out of those records before any
handler sees them: logs go to containers, ingress and aggregators that participants may read."""

from __future__ import annotations

import logging
import re

_TOKEN_IN_PATH = re.compile(r"(/animer/)[^/?\s]+")


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[token]", text)


class RedactFacilitatorTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
