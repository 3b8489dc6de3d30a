"""Generate voted battles from known model strengths, for tests, demos and benchmarks.

Ratings default to a spread proportional to model size (bigger = stronger) unless
given with --ratings slug=1100,slug2=950. Each answer gets a synthetic energy record
(labelled method "synthetic", measured false) so the energy columns have data.
"""

import random

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

import ranking
from arena.models import LLM, Attempt, Battle, Message, PairVotes, Turn, Visitor, Vote
from inference_workers.protocol import EnergyRecord


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("count", type=int)
        parser.add_argument("--ratings", default="", help="slug=rating,... (default: by size)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--tie-rate", type=float, default=0.1)

    def handle(self, *args, count, ratings, seed, tie_rate, **options):
        models = {m.slug: m for m in LLM.objects.filter(enabled=True)}
        if len(models) < 2:
            raise CommandError("need at least two enabled models: run load_catalogue first")
        if ratings:
            try:
                true = {k: float(v) for k, v in (item.split("=") for item in ratings.split(","))}
            except ValueError:
                raise CommandError("--ratings takes slug=rating pairs separated by commas") from None
            unknown = set(true) - set(models)
            if unknown:
                raise CommandError(f"unknown models: {', '.join(sorted(unknown))}")
        else:
            ordered = sorted(models.values(), key=lambda m: m.params_b)
            true = {m.slug: 900 + 50 * i for i, m in enumerate(ordered)}
        sim = ranking.simulate_battles(true, count, tie_rate=tie_rate, seed=seed)
        rng = random.Random(seed)
        visitor = Visitor.objects.create(terms_accepted_at=timezone.now())
        with transaction.atomic():
            for a_code, b_code, o_code in zip(sim.model_a, sim.model_b, sim.outcome, strict=True):
                a, b = models[sim.names[a_code]], models[sim.names[b_code]]
                battle = Battle.objects.create(
                    visitor=visitor, mode="random", model_a=a, model_b=b, voted_at=timezone.now()
                )
                turn = Turn.objects.create(battle=battle, index=0, prompt="synthetic")
                for side, llm in (("a", a), ("b", b)):
                    tokens = rng.randint(20, 200)
                    energy_j = tokens * llm.params_b * 2.0 * rng.uniform(0.8, 1.2)
                    message = Message.objects.create(
                        turn=turn,
                        side=side,
                        status=Message.Status.DONE,
                        content="synthetic",
                        completion_tokens=tokens,
                        prompt_tokens=10,
                    )
                    attempt = Attempt(message=message, outcome=Attempt.Outcome.DONE, finished_at=timezone.now())
                    attempt.set_energy(
                        EnergyRecord(
                            measured=False,
                            method="synthetic",
                            energy_j=energy_j,
                            duration_s=1.0,
                            avg_concurrency=1.0,
                            prompt_tokens=10,
                            completion_tokens=tokens,
                        )
                    )
                    attempt.save()
                Vote.objects.create(battle=battle, choice=ranking.OUTCOMES[o_code])
                PairVotes.count_one(battle.model_a_id, battle.model_b_id)
        self.stdout.write(f"{count} synthetic battles over {len(true)} models")
