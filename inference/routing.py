"""Which backend answers for a catalogue model.

Today a backend is one metered inference worker, found by URL: the environment variable
the catalogue entry names (so deployments point at their own workers without editing
the catalogue), else the entry's default. Replicas and remote APIs are later kinds of
backend; callers only see `Backend`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Backend:
    """Where to send a chat request, and under which model name."""

    url: str  # base URL of an OpenAI-compatible server, without a trailing slash
    served_name: str  # the `model` field the server expects

    @property
    def label(self) -> str:
        """What the `Attempt` table records as the backend that served a try."""
        return self.url


def worker_url(worker_env: str, default_url: str) -> str:
    return (os.environ.get(worker_env) or default_url).rstrip("/")


def backend_for(llm) -> Backend:
    """The backend for a catalogue model (an `arena.models.LLM`, or anything with its fields)."""
    return Backend(url=worker_url(llm.worker_env, llm.worker_default_url), served_name=llm.slug)
