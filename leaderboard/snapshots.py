"""Leaderboard snapshots: votes and measured energy turned into a stored table.

The ranking maths is in the pure `ranking` package; this module reads the database (votes
as integer-coded arrays, energy as one aggregate), calls it, adds the energy columns and
stores the result, so pages and the API only read a snapshot. Celery beat refreshes it on
Redis; `manage.py refresh_leaderboard` does it on demand, or keeps it fresh (`--every`).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from django.conf import settings
from django.db.models import Case, Count, F, Max, Q, Sum, When
from django.utils import timezone

import footprint
import ranking
from arena.models import LLM, Battle, Message, Vote

from .models import LeaderboardSnapshot

MIN_VOTES_DEFAULT = 1


def _scope(filters: dict, date_field: str):
    """Battles within the filters (mode, language, workshop rooms, dates on `date_field`)."""
    qs = Battle.objects.all()
    if filters.get("mode"):
        qs = qs.filter(mode=filters["mode"])
    if filters.get("language"):
        qs = qs.filter(language=filters["language"])
    if filters.get("workshop"):  # one room's own leaderboard (its dashboard and summary)
        qs = qs.filter(workshop_code=filters["workshop"])
    elif not filters.get("workshops"):  # rooms are left out of the public tables unless asked
        qs = qs.filter(workshop_code__isnull=True)
    if filters.get("since"):
        qs = qs.filter(**{f"{date_field}__date__gte": filters["since"]})
    if filters.get("until"):
        qs = qs.filter(**{f"{date_field}__date__lte": filters["until"]})
    return qs


def _filtered_battles(filters: dict):
    """The votes that count: voted battles in scope (dates of the vote), identity leaks
    always left out."""
    return _scope(filters, "voted_at").filter(voted_at__isnull=False, leak_flagged=False)


def _answer_energy_rows(filters: dict) -> list[tuple[str, float, int, bool]]:
    """(model slug, J over every try, output tokens, all tries measured) per finished
    answer of a voted battle in scope, in one aggregate query.

    Energy belongs to answers, not votes, yet only voted battles count: a column that moved
    when an unvoted answer finished would name that battle's models before the vote.
    Identity-leak flags do not matter here (they concern the vote, not the energy)."""
    rows = (
        Message.objects.filter(
            status=Message.Status.DONE,
            turn__battle__in=_scope(filters, "created_at"),
            turn__battle__voted_at__isnull=False,
        )
        .annotate(
            slug=Case(When(side="a", then=F("turn__battle__model_a__slug")), default=F("turn__battle__model_b__slug")),
            energy_sum_j=Sum("attempts__energy_j"),
            unmeasured=Count("attempts", filter=Q(attempts__energy_j__isnull=False, attempts__measured=False)),
        )
        .filter(energy_sum_j__isnull=False)
        .values_list("slug", "energy_sum_j", "completion_tokens", "unmeasured")
    )
    return [(slug, energy_j, tokens or 0, unmeasured == 0) for slug, energy_j, tokens, unmeasured in rows]


def energy_columns(model_slugs: list[str], filters: dict | None = None) -> dict[str, dict]:
    """Per model: median Wh per answer, Wh per 1,000 output tokens (median and IQR),
    share of answers measured, gCO2e (electricity use) per 1,000 tokens in the deployment zone."""
    from arena.impacts import deployment_profile

    profile = deployment_profile()
    per_model: dict[str, list[tuple[float, int, bool]]] = defaultdict(list)
    for slug, energy_j, tokens, measured in _answer_energy_rows(filters or {}):
        per_model[slug].append((energy_j / 3600.0, tokens, measured))
    out = {}
    for slug in model_slugs:
        rows = per_model.get(slug, [])
        if not rows:
            out[slug] = {
                "answers": 0,
                "median_wh": None,
                "wh_per_1k_tokens": None,
                "wh_per_1k_tokens_q1": None,
                "wh_per_1k_tokens_q3": None,
                "measured_share": None,
                "gwp_g_per_1k_tokens": None,
            }
            continue
        wh = np.array([r[0] for r in rows])
        per_k = np.array([r[0] / r[1] * 1000 for r in rows if r[1] > 0])
        tokens = sum(r[1] for r in rows)
        # Electricity-use emissions are proportional to energy: one computation on the sum.
        gwp = footprint.compute_impacts({"energy_j": float(wh.sum()) * 3600.0}, profile).gwp_usage_g.value
        out[slug] = {
            "answers": len(rows),
            "median_wh": float(np.median(wh)),
            "wh_per_1k_tokens": float(np.median(per_k)) if per_k.size else None,
            "wh_per_1k_tokens_q1": float(np.percentile(per_k, 25)) if per_k.size else None,
            "wh_per_1k_tokens_q3": float(np.percentile(per_k, 75)) if per_k.size else None,
            "measured_share": sum(r[2] for r in rows) / len(rows),
            "gwp_g_per_1k_tokens": gwp / tokens * 1000 if tokens else None,
        }
    return out


def compute_leaderboard(
    filters: dict | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    style_control: bool = False,
    both_bad: str = "tie",
    min_group: int = 0,
) -> dict:
    """The leaderboard table. With `min_group`, a scope of fewer voted battles gives no
    rows (`too_few`): a filter narrow enough to hold one person's battle would show it."""
    filters = filters or {}
    min_votes = int(filters.get("min_votes") or MIN_VOTES_DEFAULT)
    # Scalars only, models as integer codes: the ranking core is fastest on codes.
    battles = list(_filtered_battles(filters).values_list("pk", "model_a_id", "model_b_id", "vote__choice"))
    if len(battles) < min_group:
        return {
            "computed_at": timezone.now().isoformat(),
            "filters": {k: str(v) for k, v in filters.items() if v},
            "battles": len(battles),
            "too_few": min_group,
            "bootstrap": bootstrap,
            "style_control": style_control,
            "zone": settings.ARENA_ZONE,
            "rows": [],
            "style": {},
        }
    models = {m.slug: m for m in LLM.objects.all()}
    rows = []
    result = None
    if battles:
        by_pk = {m.pk: m for m in models.values()}
        code_of = {pk: code for code, pk in enumerate(by_pk)}
        pks, a, b_, choices = zip(*battles, strict=True)
        outcome = np.array([ranking.OUTCOMES.index(c) for c in choices], dtype=np.int8)
        style = _style_features(pks) if style_control else None
        result = ranking.fit_bradley_terry(
            np.array([code_of[pk] for pk in a]),
            np.array([code_of[pk] for pk in b_]),
            outcome,
            names=[m.slug for m in by_pk.values()],
            bootstrap=bootstrap,
            seed=seed,
            both_bad=both_bad,
            style=style,
            style_names=["length", "markdown"] if style is not None else None,
        )
    energy = energy_columns(list(models), filters)
    if result is not None:
        for entry in result.leaderboard:
            if entry.votes < min_votes:
                continue
            llm = models[entry.name]
            rows.append(
                {
                    "slug": llm.slug,
                    "name": llm.name,
                    "organization": llm.organization,
                    "license_kind": llm.license_kind,
                    "params_b": llm.params_b,
                    "rating": entry.rating,
                    "lower": entry.lower,
                    "upper": entry.upper,
                    "rank": entry.rank,
                    "votes": entry.votes,
                    **energy[llm.slug],
                }
            )
    costs = [r["wh_per_1k_tokens"] if r["wh_per_1k_tokens"] is not None else math.nan for r in rows]
    if rows:
        frontier = ranking.pareto_frontier(np.array([r["rating"] for r in rows]), np.array(costs, dtype=float))
        for row, on in zip(rows, frontier, strict=True):
            row["pareto"] = bool(on)
    return {
        "computed_at": timezone.now().isoformat(),
        "filters": {k: str(v) for k, v in filters.items() if v},
        "battles": len(battles),
        "bootstrap": bootstrap,
        "style_control": style_control,
        "zone": settings.ARENA_ZONE,
        "rows": rows,
        "style": {k: list(v) for k, v in (result.style or {}).items()} if result is not None and result.style else {},
    }


MARKDOWN_MARKS = ("\n#", "\n- ", "\n* ", "**", "\n1.")


def _style_features(battle_pks) -> np.ndarray:
    """Per battle, (a minus b) answer length and Markdown structure, read in one query."""
    text: dict[tuple, list[str]] = defaultdict(list)
    rows = Message.objects.filter(turn__battle__in=list(battle_pks)).order_by("turn__index")
    for battle_id, side, content in rows.values_list("turn__battle_id", "side", "content"):
        text[(battle_id, side)].append(content)
    feats = []
    for pk in battle_pks:
        a, b = ("".join(text[(pk, side)]) for side in ("a", "b"))
        feats.append([len(a), len(b), sum(a.count(m) for m in MARKDOWN_MARKS), sum(b.count(m) for m in MARKDOWN_MARKS)])
    f = np.array(feats, dtype=float)
    length = ranking.style_covariates(f[:, 0], f[:, 1])
    markdown = ranking.style_covariates(f[:, 2], f[:, 3])
    return np.column_stack([length, markdown])


def refresh_snapshot(**kwargs) -> LeaderboardSnapshot:
    # Stamped with the time the computation started: a vote cast while it runs is newer
    # than the snapshot, so the next staleness check picks it up.
    started = timezone.now()
    data = compute_leaderboard(**kwargs)
    return LeaderboardSnapshot.objects.create(created_at=started, data=data)


def snapshot_is_stale() -> bool:
    """True when a vote came in after the latest snapshot (or there are votes and no snapshot)."""
    newest_vote = Vote.objects.aggregate(t=Max("created_at"))["t"]
    if newest_vote is None:
        return False
    snap = LeaderboardSnapshot.objects.order_by("-created_at").only("created_at").first()
    return snap is None or snap.created_at < newest_vote


def latest_snapshot() -> dict | None:
    snap = LeaderboardSnapshot.objects.order_by("-created_at").first()
    return snap.data if snap else None
