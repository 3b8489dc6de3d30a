"""What the arena stores: the catalogue, visitors, battles, turns, answers, votes, reactions.

A battle pits two catalogue models (sides a and b) over one or more turns. Each turn is
one user prompt and one answer per side; each side keeps its own history. The vote ends
the battle and unlocks the reveal.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from inference_workers.protocol import EnergyRecord

from .impacts import ecologits_estimate
from .rendering import render_answer

log = logging.getLogger("arena.models")

SIDES = ("a", "b")
# A streaming try's task renews its lease every STREAM_HEARTBEAT_S; a try whose lease is
# older than STREAM_LEASE_S has no task any more (its web process died). Three missed
# heartbeats: a live task whose database thread is busy for a few seconds keeps its answer,
# while a visitor whose socket reconnected after the death waits about this long to be
# told the answer failed (then may retry it).
STREAM_HEARTBEAT_S = 5
STREAM_LEASE_S = 15


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
    worker_env = models.CharField(max_length=100, blank=True, help_text="environment variable holding the worker URL")
    worker_default_url = models.URLField(blank=True)
    # A remote OpenAI-compatible API instead of a metered worker: {"base_url", "model",
    # "key_env", "provider", "key_optional"?, "url_env"?}. Only the key's variable name is kept.
    remote_api = models.JSONField(default=dict, blank=True)
    # Training footprint as its authors published it: {"energy": constant, "gwp": constant},
    # each {value, unit, source, year}; empty where they published none.
    training_footprint = models.JSONField(default=dict, blank=True)
    identity_words = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = "LLM"

    def __str__(self) -> str:
        return self.name

    def description(self, lang: str) -> str:
        return self.description_en if lang == "en" and self.description_en else self.description_fr

    def card(self, lang: str = "fr") -> dict:
        return {
            "slug": self.slug,
            "name": self.name,
            "organization": self.organization,
            "license": self.license,
            "license_kind": self.license_kind,
            "params_b": self.params_b,
            "active_params_b": self.active_params_b,
            "architecture": self.architecture,
            "release_date": self.release_date.isoformat() if self.release_date else None,
            "description": self.description(lang),
            "training": self.training_footprint or None,
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
    estimate = models.JSONField(null=True, blank=True, help_text="EcoLogits estimate for the same answer")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["turn__index", "side"]
        constraints = [models.UniqueConstraint(fields=["turn", "side"], name="one_answer_per_side")]

    # -- transitions: pending -> streaming -> done | stopped | error (-> pending on retry)
    def begin_attempt(self, backend: str, request_id: str | None = None) -> Attempt | None:
        """A new try at this answer: the message streams, the try gets a request id (the one
        already sent with its request where it was sent before the try was stored).

        None when the answer is no longer pending: another socket (a second tab, a
        replayed request) claimed it first, and one answer is generated once at a time."""
        with transaction.atomic():
            claimed = Message.objects.filter(pk=self.pk, status=Message.Status.PENDING).update(
                status=Message.Status.STREAMING
            )
            if not claimed:
                return None
            self.status = Message.Status.STREAMING
            return Attempt.objects.create(message=self, backend=backend, request_id=request_id or uuid.uuid4().hex)

    def finish(
        self,
        attempt: Attempt,
        status: str,
        content: str,
        *,
        energy: EnergyRecord | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        ttft_ms: int | None,
        duration_ms: int,
        error_code: str = "",
    ) -> None:
        """End the current try: keep the text (rendered), the tokens and what the try cost,
        and flag the battle when the answer named its own model."""
        battle = self.turn.battle
        self.status = status
        self.content = content
        self.html = render_answer(content) if content else ""
        self.error_code = error_code
        self.ttft_ms = ttft_ms
        self.duration_ms = duration_ms
        self.finished_at = timezone.now()
        self.prompt_tokens, self.completion_tokens = prompt_tokens, completion_tokens
        if status == Message.Status.DONE:
            try:
                self.estimate = ecologits_estimate(
                    battle.model(self.side), prompt_tokens, completion_tokens, duration_ms
                )
            except Exception:  # an estimate must never lose an answer
                log.exception("EcoLogits estimate failed for message %s", self.pk)
        attempt.outcome = status
        attempt.finished_at = self.finished_at
        attempt.prompt_tokens, attempt.completion_tokens = prompt_tokens, completion_tokens
        attempt.set_energy(energy)
        with transaction.atomic():
            self.save()
            attempt.save()
            word = battle.model(self.side).leaked_in(content) if content else None
            if word and not battle.leak_flagged:
                battle.leak_flagged = True
                battle.leak_detail = f"side {self.side}"
                battle.save(update_fields=["leak_flagged", "leak_detail"])

    @classmethod
    def end_abandoned_streams(cls, **scope) -> int:
        """Answers left `streaming` by a task that is gone (a crashed or restarted web
        process): their try's lease ran out, so they fail and can be retried."""
        stale = timezone.now() - timedelta(seconds=STREAM_LEASE_S)
        abandoned = list(
            cls.objects.filter(status=cls.Status.STREAMING, **scope)
            .exclude(attempts__alive_at__gte=stale)
            .values_list("pk", flat=True)
        )
        if not abandoned:
            return 0
        with transaction.atomic():
            Attempt.objects.filter(message__in=abandoned, outcome=Attempt.Outcome.STREAMING).update(
                outcome=Attempt.Outcome.ERROR, finished_at=timezone.now()
            )
            return cls.objects.filter(pk__in=abandoned, status=cls.Status.STREAMING).update(
                status=cls.Status.ERROR, error_code="interrupted", finished_at=timezone.now()
            )

    def cut_to(self, shown: str) -> None:
        """Keep only the text the visitor saw of this answer (its pacer held the rest): a
        finished answer cut so becomes stopped. Its tries keep their energy and tokens."""
        if self.status == Message.Status.DONE:
            self.status = Message.Status.STOPPED
        self.content = shown
        self.html = render_answer(shown) if shown else ""
        self.save(update_fields=["status", "content", "html"])

    def reset_for_retry(self) -> None:
        """Back to pending for another try. Earlier tries keep their energy: they used it."""
        self.status = Message.Status.PENDING
        self.content = self.html = self.error_code = ""
        self.estimate = None
        self.save(update_fields=["status", "content", "html", "error_code", "estimate"])


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
    worth_extra_energy = models.BooleanField(
        null=True, blank=True, help_text="'was it worth the extra energy?' when the preferred answer used more"
    )
    created_at = models.DateTimeField(default=timezone.now)


class Reaction(models.Model):
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="reaction")
    # Where the message stands, copied when the reaction is saved (as on Attempt): a dataset
    # release reads the reactions in their battles' order, and finding each one's battle through
    # its message and turn made PostgreSQL read every answer again (exports/source.py).
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="+")
    turn_index = models.PositiveSmallIntegerField()
    side = models.CharField(max_length=1, choices=[(s, s) for s in SIDES])
    liked = models.BooleanField(null=True, blank=True)
    tags = models.JSONField(default=list)
    comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def save(self, *args, **kwargs):
        if self.battle_id is None:
            turn = self.message.turn
            self.battle_id, self.turn_index, self.side = turn.battle_id, turn.index, self.message.side
        super().save(*args, **kwargs)


class Attempt(models.Model):
    """One try at an answer: the request sent to a backend and what it cost.

    A message is tried once, and again after each retry; every try that reached a
    worker used energy, so totals sum attempts, never just the last one. The figures
    are columns (for database aggregates); `record` keeps the worker's record whole.
    """

    class Outcome(models.TextChoices):
        STREAMING = "streaming"
        DONE = "done"
        STOPPED = "stopped"
        ERROR = "error"
        # Tries stored before this table existed, whose outcome was not recorded.
        UNKNOWN = "unknown"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempts")
    # Where the message stands, copied when the try is stored (a message never moves): a dataset
    # release reads millions of tries in their battles' order, and joining each one through its
    # message and turn cost more than the rest of that query (exports/source.py).
    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="+")
    turn_index = models.PositiveSmallIntegerField()
    side = models.CharField(max_length=1, choices=[(s, s) for s in SIDES])
    request_id = models.CharField(
        max_length=64,
        blank=True,
        db_index=True,
        help_text="X-Request-ID sent to the worker: matches its logs and /v1/requests/<id>",
    )
    backend = models.CharField(max_length=200, blank=True, help_text="which backend (worker URL) served it")
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.STREAMING)
    started_at = models.DateTimeField(default=timezone.now)
    alive_at = models.DateTimeField(default=timezone.now, help_text="last sign of life of the task streaming it")
    finished_at = models.DateTimeField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    energy_j = models.FloatField(null=True, blank=True)
    gpu_j = models.FloatField(null=True, blank=True)
    cpu_j = models.FloatField(null=True, blank=True)
    measured = models.BooleanField(default=False)
    method = models.CharField(max_length=40, blank=True)
    # The record's other figures, as columns too (reading them out of four million JSON records
    # was a quarter of a release's largest query).
    duration_s = models.FloatField(null=True, blank=True)
    avg_concurrency = models.FloatField(null=True, blank=True)
    sampling_period_s = models.FloatField(null=True, blank=True)
    devices = models.JSONField(default=list, blank=True)
    record = models.JSONField(null=True, blank=True, help_text="the worker's energy record, whole")

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [  # routing counts the answers streaming from each replica, for every new try
            models.Index(fields=["backend"], name="attempt_streaming_backend", condition=models.Q(outcome="streaming"))
        ]

    def save(self, *args, **kwargs):
        if self.battle_id is None:
            self._place()
        super().save(*args, **kwargs)

    def _place(self) -> None:
        """battle, turn_index and side from the message (in memory when it is, else one query)."""
        message = self.message if Attempt.message.is_cached(self) else None
        if message is not None and Message.turn.is_cached(message):
            turn = message.turn
            self.battle_id, self.turn_index, self.side = turn.battle_id, turn.index, message.side
        else:
            self.battle_id, self.turn_index, self.side = (
                Message.objects.filter(pk=self.message_id).values_list("turn__battle_id", "turn__index", "side").get()
            )

    def set_energy(self, record: EnergyRecord | None) -> None:
        """Copy a worker's record into the columns (no record: the worker's was lost)."""
        if record is None:
            return
        self.record = record.model_dump()
        self.energy_j, self.gpu_j, self.cpu_j = record.energy_j, record.gpu_j, record.cpu_j
        self.measured, self.method = record.measured, record.method
        self.duration_s, self.avg_concurrency = record.duration_s, record.avg_concurrency
        self.sampling_period_s, self.devices = record.sampling_period_s, list(record.devices)
        self.prompt_tokens = record.prompt_tokens if record.prompt_tokens is not None else self.prompt_tokens
        self.completion_tokens = (
            record.completion_tokens if record.completion_tokens is not None else self.completion_tokens
        )

    def energy_record(self) -> EnergyRecord:
        return EnergyRecord.model_validate(self.record or {})


class PairVotes(models.Model):
    """Votes per unordered pair of models, kept up to date by each vote: pairing reads it for
    every new battle, and an aggregate over all votes would grow with them."""

    low = models.ForeignKey(LLM, on_delete=models.CASCADE, related_name="+")
    high = models.ForeignKey(LLM, on_delete=models.CASCADE, related_name="+")
    votes = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["low", "high"], name="one_count_per_pair")]

    @classmethod
    def count_one(cls, model_a_id: int, model_b_id: int) -> None:
        """One more vote for the pair, in the caller's transaction (the row's lock orders votes)."""
        low, high = sorted((model_a_id, model_b_id))
        if cls.objects.filter(low_id=low, high_id=high).update(votes=models.F("votes") + 1):
            return
        try:
            with transaction.atomic():  # a savepoint: the first vote of a pair may race another
                cls.objects.create(low_id=low, high_id=high, votes=1)
        except IntegrityError:
            cls.objects.filter(low_id=low, high_id=high).update(votes=models.F("votes") + 1)
