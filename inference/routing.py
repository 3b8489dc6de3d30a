"""Which backend answers for a catalogue model.

Two kinds of backend:
- metered inference workers (`kind="worker"`), found by URL: the environment variable the
  catalogue entry names (so deployments point at their own workers without editing the
  catalogue), else the entry's default. Either may list several replicas, comma-separated
  (or be one load balancer's URL). Their final chunk carries the worker's EnergyRecord.
- a remote OpenAI-compatible API (`kind="api"`: a provider's service, ChatGPT, Mistral...),
  which meters nothing: its answers get an EcoLogits estimate. Its key is read from the
  environment variable the entry names at request time, and never stored or logged.
Callers only see `Backend`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Backend:
    """Where to send a chat request, and under which model name."""

    url: str  # base URL of an OpenAI-compatible server, without a trailing slash
    served_name: str  # the `model` field the server expects
    replicas: tuple[str, ...] = ()  # every replica's URL (url is one of them); () for one server
    kind: str = "worker"  # "worker" (metered) or "api" (remote, estimated)
    key_env: str = ""  # api: the environment variable holding its key
    key_optional: bool = False  # api: a keyless endpoint (the demo's local one)

    @property
    def label(self) -> str:
        """What the `Attempt` table records as the backend that served a try (never a key)."""
        return self.url

    @property
    def metered(self) -> bool:
        return self.kind == "worker"

    @property
    def ready(self) -> bool:
        """False for a remote API whose key is not set: it stays out of new battles."""
        return self.metered or self.key_optional or bool(os.environ.get(self.key_env))

    @property
    def urls(self) -> tuple[str, ...]:
        return self.replicas or (self.url,)

    def on(self, url: str) -> Backend:
        """The same backend, pinned to one of its replicas."""
        return replace(self, url=url)

    def headers(self) -> dict[str, str]:
        """A remote API's key, or the workers' shared token (ARENA_WORKER_TOKEN), read now."""
        env = self.key_env if not self.metered else "ARENA_WORKER_TOKEN"
        key = os.environ.get(env) if env else None
        return {"Authorization": f"Bearer {key}"} if key else {}


def worker_url(worker_env: str, default_url: str) -> str:
    return worker_urls(worker_env, default_url)[0]


def worker_urls(worker_env: str, default_url: str) -> tuple[str, ...]:
    """The replicas' URLs: a comma-separated list in the variable (or the default)."""
    raw = os.environ.get(worker_env) or default_url
    return tuple(u.strip().rstrip("/") for u in raw.split(",") if u.strip())


def backend_for(llm) -> Backend:
    """The backend for a catalogue model (an `arena.models.LLM`, or anything with its fields)."""
    api = getattr(llm, "remote_api", None) or {}
    if api:
        return Backend(
            url=worker_url(api.get("url_env", ""), api["base_url"]),
            served_name=api["model"],
            kind="api",
            key_env=api.get("key_env", ""),
            key_optional=bool(api.get("key_optional")),
        )
    urls = worker_urls(llm.worker_env, llm.worker_default_url)
    return Backend(url=urls[0], served_name=llm.slug, replicas=urls if len(urls) > 1 else ())
