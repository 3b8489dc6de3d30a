"""What the arena stores: the catalogue, visitors, battles, turns, answers, votes, reactions.

A battle pits two catalogue models (sides a and b) over one or more turns. Each turn is
one user prompt and one answer per side; each side keeps its own history. The vote ends
the battle and unlocks the reveal.
"""

from __future__ import annotations

import os
import re
import uuid

from django.db import models
from django.utils import timezone

SIDES = ("a", "b")


class LLM(models.Model):
    """A model of the catalogue (loaded from fixtures/catalogue by `load_catalogue`)."""

    class LicenseKind(models.TextChoices):
        OPEN = "open", "open"
        SEMI_OPEN = "semi_open", "semi-open"
        PROPRIETARY = "proprietary", "proprietary"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    organization = models.CharField(max_length=120)
    license = models.CharField(max_length=120)
    license_kind = models.CharField(max_length=20, choices=LicenseKind.choices)
    params_b = models.FloatField(help_text="total parameters, billions")
    active_params_b = models.FloatField(help_text="parameters used per token, billions")
    architecture = models.CharField(max_length=120, blank=True)
    release_date = models.DateField(null=True, blank=True)
    description_fr = models.TextField(blank=True)
    description_en = models.TextField(blank=True)
    hf_id = models.CharField(max_length=200, blank=True)
    worker_env = models.CharField(max_length=100, help_text="environment variable holding the worker URL")
    worker_default_url = models.URLField(blank=True)
    identity_words = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "LLM"

    def __str__(self) -> str:
        return self.name

    @property
    def worker_url(self) -> str:
        return os.environ.get(self.worker_env) or self.worker_default_url

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" and self.description_en else self.description_fr

    def card(self, lang: str = "fr") -> dict:
        return {
            "slug": self.slug, "name": self.name, "organization": self.organization, "license": self.license,
            "license_kind": self.license_kind, "params_b": self.params_b, "active_params_b": self.active_params_b,
            "architecture": self.architecture,
            "release_date": self.release_date.isoformat() if self.release_date else None,
            "description": self.description(lang),
        }

    def leaked_in(self, text: str) -> str | None:
        """The first identity word that the text contains as a whole word, if any."""
        for word in self.identity_words:
            if word and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, flags=re.IGNORECASE):
                return word
        return None


class Visitor(models.Model):
    """A browser, known only by a random cookie id. No account, no raw IP."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = models.DateTimeField(default=timezone.now)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    publish_consent = models.BooleanField(default=False, help_text="agreed that their battles may be published")


class Battle(models.Model):
    class Mode(models.TextChoices):
        RANDOM = "random", "random"
        FRUGAL = "frugal", "frugal"
        DAVID_VS_GOLIATH = "david_vs_goliath", "David vs Goliath"
        CUSTOM = "custom", "custom"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="battles")
    mode = models.CharField(max_length=20, choices=Mode.choices)
    model_a = models.ForeignKey(LLM, on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey(LLM, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    voted_at = models.DateTimeField(null=True, blank=True)
    language = models.CharField(max_length=8, default="fr")
    # Room for workshops and exports (later issues): a nullable link and the consent flag.
    workshop_code = models.CharField(max_length=32, blank=True, null=True, db_index=True)
    publish_consent = models.BooleanField(default=False)
    leak_flagged = models.BooleanField(default=False, help_text="an answer named its model: excluded from rankings")
    leak_detail = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def model(self, side: str) -> LLM:
        return self.model_a if side == "a" else self.model_b

    @property
    def is_voted(self) -> bool:
        return self.voted_at is not None

    def last_turn(self) -> Turn | None:
        return self.turns.order_by("-index").first()


class Turn(models.Model):
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    prompt = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["battle", "index"], name="unique_turn_index")]


class Message(models.Model):
    """One side's answer to one turn."""

    class Status(models.TextChoices):
        PENDING = "pending"
        STREAMING = "streaming"
        DONE = "done"
        STOPPED = "stopped"
        ERROR = "error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="messages")
    side = models.CharField(max_length=1, choices=[(s, s) for s in SIDES])
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    content = models.TextField(blank=True)
    html = models.TextField(blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    energy = models.JSONField(null=True, blank=True, help_text="the worker's energy record")
    earlier_energy = models.JSONField(default=list, blank=True,
                                      help_text="energy records of failed or stopped attempts before a retry")
    estimate = models.JSONField(null=True, blank=True, help_text="EcoLogits estimate for the same answer")
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["turn__index", "side"]
        constraints = [models.UniqueConstraint(fields=["turn", "side"], name="one_answer_per_side")]

    def energy_records(self) -> list[dict]:
        """Every attempt's energy record: retried attempts used energy too."""
        return [*self.earlier_energy, *([self.energy] if self.energy else [])]

    @property
    def energy_j(self) -> float:
        return sum(float(r.get("energy_j") or 0.0) for r in self.energy_records())


class Vote(models.Model):
    class Choice(models.TextChoices):
        A = "a"
        B = "b"
        TIE = "tie"
        BOTH_BAD = "both_bad"

    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, related_name="vote")
    choice = models.CharField(max_length=10, choices=Choice.choices)
    tags = models.JSONField(default=dict)
    comments = models.JSONField(default=dict)
    worth_extra_energy = models.BooleanField(null=True, blank=True,
                                             help_text="'was it worth the extra energy?' when the preferred answer used more")
    created_at = models.DateTimeField(default=timezone.now)


class Reaction(models.Model):
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="reaction")
    liked = models.BooleanField(null=True, blank=True)
    tags = models.JSONField(default=list)
    comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class LeaderboardSnapshot(models.Model):
    """A computed leaderboard (ratings, intervals, energy columns), refreshed by Celery beat."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    data = models.JSONField()

    class Meta:
        get_latest_by = "created_at"
