"""A workshop room: a code participants type, a secret the facilitator holds, a state.

Battles started in a room carry its code (`Battle.workshop_code`); the room keeps who
joined and, once closed, its frozen summary. The facilitator's token is stored only as a
SHA-256 digest: it is 32 random bytes, so a plain digest is as strong as a password hash
and lets every request be checked in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import models
from django.utils import timezone

from arena.models import Visitor

# No look-alikes: no 0/O, 1/I/L, 2/Z, 5/S, 8/B. 25 symbols, 6 of them: 244 million codes.
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """What a person typed, as stored: upper case, spaces and dashes dropped."""
    return "".join(ch for ch in (raw or "").upper() if ch not in " -\t")[:32]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Workshop(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "open"
        PAUSED = "paused", "paused"
        CLOSED = "closed", "closed"

    code = models.CharField(max_length=CODE_LENGTH, unique=True)
    title = models.CharField(max_length=120)
    language = models.CharField(max_length=8, default="fr")
    modes = models.JSONField(default=list, blank=True, help_text="modes offered; empty: all")
    model_slugs = models.JSONField(default=list, blank=True, help_text="models offered; empty: the catalogue")
    zone = models.CharField(max_length=16, blank=True, help_text="electricity zone of the figures; empty: the arena's")
    max_participants = models.PositiveIntegerField(default=60)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    token_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    summary = models.JSONField(null=True, blank=True, help_text="the figures frozen at close")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @classmethod
    def open_new(cls, **fields) -> tuple[Workshop, str]:
        """A new room and its facilitator token (returned once, never stored)."""
        token = secrets.token_urlsafe(32)
        for _attempt in range(20):
            code = new_code()
            if not cls.objects.filter(code=code).exists():
                return cls.objects.create(code=code, token_digest=token_digest(token), **fields), token
        raise RuntimeError("no free workshop code after 20 draws")  # 244 million codes: not in practice

    def token_matches(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.token_digest, token_digest(token))

    @property
    def is_closed(self) -> bool:
        return self.state == self.State.CLOSED


class Participant(models.Model):
    workshop = models.ForeignKey(Workshop, on_delete=models.CASCADE, related_name="participants")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="+")
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workshop", "visitor"], name="one_seat_per_visitor")]
