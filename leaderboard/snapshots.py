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
from django.db.models import Case, Count, F, Max, Q, When
from django.utils import timezone

import footprint
import ranking
from arena.models import LLM, Attempt, Battle, Message, Vote

from .models import LeaderboardSnapshot

MIN_VOTES_DEFAULT = 1
# A model is ranked (given a rank and a tier) once it has this many votes; before, it is
# listed apart, "not enough votes yet". With 50 votes against even opponents a rating's
# 95 % interval is about +-100 points (standard error 2 / sqrt(50) logits x 173.7 points
# per logit): wide enough already. LEADERBOARD_DISPLAY_MIN_VOTES overrides it.
DISPLAY_MIN_VOTES_DEFAULT = 50


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


def _answer_tries(filters: dict):
    """Per try with figures at a finished answer of a voted battle in scope, in one query:
    (answer id, model slug, J, measured, the answer's output tokens, and from the worker's
    record the duration, the average concurrency and the devices, which the manufacturing
    share of the CO2e needs).

    Energy belongs to answers, not votes, yet only voted battles count: a column that moved
    when an unvoted answer finished would name that battle's models before the vote.
    Identity-leak flags do not matter here (they concern the vote, not the energy)."""
    return (
        Attempt.objects.filter(
            energy_j__isnull=False,
            message__status=Message.Status.DONE,
            message__turn__battle__in=_scope(filters, "created_at"),
            message__turn__battle__voted_at__isnull=False,
        )
        .annotate(
            slug=Case(
                When(message__side="a", then=F("message__turn__battle__model_a__slug")),
                default=F("message__turn__battle__model_b__slug"),
            )
        )
        .order_by()
        .values_list(
            "message_id",
            "slug",
            "energy_j",
            "measured",
            "message__completion_tokens",
            "record__duration_s",
            "record__avg_concurrency",
            "record__devices",
            "method",
            "pk",
        )
    )


def _gwp_per_model(hardware_shares: dict[tuple, list[float]], profile) -> dict[str, footprint.Impacts]:
    """Impacts per model, computed as the reveal computes them (`footprint.compute_impacts`
    per try, summed), but once per (model, devices) group instead of once per try.

    Exact, not an approximation: for a given set of devices every impact is linear in the
    energy (use) and in duration / concurrency (the manufacturing share), so a group's sums
    give the sum of its tries' impacts."""
    per_model: dict[str, list] = defaultdict(list)
    for (slug, devices), (energy_j, share_s) in hardware_shares.items():
        record = {"energy_j": energy_j, "duration_s": share_s, "avg_concurrency": 1.0, "devices": list(devices)}
        per_model[slug].append(footprint.compute_impacts(record, profile))
    return {slug: footprint.sum_impacts(items) for slug, items in per_model.items()}


EMPTY_ENERGY = {
    "answers": 0,
    "median_wh": None,
    "wh_per_1k_tokens": None,
    "wh_per_1k_tokens_q1": None,
    "wh_per_1k_tokens_q3": None,
    "measured_share": None,
    "gwp_total_g_per_1k_tokens": None,
    "gwp_total_g_per_1k_tokens_min": None,
    "gwp_total_g_per_1k_tokens_max": None,
    "gwp_usage_g_per_1k_tokens": None,
    "gwp_embodied_g_per_1k_tokens": None,
}


def energy_columns(model_slugs: list[str], filters: dict | None = None) -> dict[str, dict]:
    """Per model: median Wh per answer, Wh per 1,000 output tokens (median and IQR), share
    of answers measured, and gCO2e per 1,000 output tokens in the deployment zone.

    CO2e is the reveal's: electricity use plus the manufacturing (embodied) share of the
    hardware, `footprint`'s total `gwp_g`, with its range and its two parts (the embodied
    part is None when a try ran on hardware we have no manufacturing data for; the total
    then counts its use only, as the reveal does). A remote API's tries get EcoLogits' own
    impacts, manufacturing included (`arena.impacts.attempt_impacts`), as in the reveal."""
    from arena.impacts import ESTIMATE_METHOD, attempt_impacts, deployment_profile

    profile = deployment_profile()
    answers: dict[int, list] = {}  # answer id -> [slug, J, tokens, every try measured]
    hardware_shares: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    estimated: dict[str, list] = defaultdict(list)  # slug -> a remote API's try ids
    for row in _answer_tries(filters or {}):
        message_id, slug, energy_j, measured, tokens, duration_s, concurrency, devices, method, attempt_id = row
        answer = answers.setdefault(message_id, [slug, 0.0, tokens or 0, True])
        answer[1] += energy_j
        answer[3] = answer[3] and measured
        if method == ESTIMATE_METHOD:  # no hardware we know: EcoLogits' impacts, per try
            estimated[slug].append(attempt_id)
            continue
        # The record's own share of the hardware's time, as footprint.compute_impacts takes it.
        share_s = float(duration_s or 0.0) / max(float(concurrency or 1.0), 1.0)
        group = hardware_shares[(slug, tuple(sorted(str(d) for d in devices or ())))]
        group[0] += energy_j
        group[1] += share_s
    per_model: dict[str, list[tuple[float, int, bool]]] = defaultdict(list)
    for slug, energy_j, tokens, measured in answers.values():
        per_model[slug].append((energy_j / 3600.0, tokens, measured))
    impacts = _gwp_per_model(hardware_shares, profile)
    for slug, attempt_ids in estimated.items():
        llm = LLM.objects.get(slug=slug)
        tries = [attempt_impacts(a, llm, profile) for a in Attempt.objects.filter(pk__in=attempt_ids)]
        impacts[slug] = footprint.sum_impacts(tries + ([impacts[slug]] if slug in impacts else []))
    out = {}
    for slug in model_slugs:
        rows = per_model.get(slug, [])
        if not rows:
            out[slug] = dict(EMPTY_ENERGY)
            continue
        wh = np.array([r[0] for r in rows])
        per_k = np.array([r[0] / r[1] * 1000 for r in rows if r[1] > 0])
        tokens = sum(r[1] for r in rows)

        def per_1k(grams: float | None, tokens=tokens) -> float | None:
            return grams / tokens * 1000 if tokens and grams is not None else None

        gwp = impacts[slug]
        out[slug] = {
            "answers": len(rows),
            "median_wh": float(np.median(wh)),
            "wh_per_1k_tokens": float(np.median(per_k)) if per_k.size else None,
            "wh_per_1k_tokens_q1": float(np.percentile(per_k, 25)) if per_k.size else None,
            "wh_per_1k_tokens_q3": float(np.percentile(per_k, 75)) if per_k.size else None,
            "measured_share": sum(r[2] for r in rows) / len(rows),
            "gwp_total_g_per_1k_tokens": per_1k(gwp.gwp_g.value),
            "gwp_total_g_per_1k_tokens_min": per_1k(gwp.gwp_g.min),
            "gwp_total_g_per_1k_tokens_max": per_1k(gwp.gwp_g.max),
            "gwp_usage_g_per_1k_tokens": per_1k(gwp.gwp_usage_g.value),
            "gwp_embodied_g_per_1k_tokens": per_1k(gwp.gwp_embodied_g.value if gwp.gwp_embodied_g else None),
        }
    return out


def worth_columns(filters: dict | None = None) -> dict[str, dict]:
    """Per model, the answers to "was it worth the extra energy?" about its own answers.

    The question is asked only after a vote for a side whose answers used more energy than
    the other's (`arena.reveal.worth_question_side`), so an answer is always about the
    preferred side's model: `worth_answered` counts those answers, `worth_yes_share` is the
    share of "yes" among them (None before any). Votes that count only (as the ratings)."""
    preferred = Case(When(choice="a", then=F("battle__model_a__slug")), default=F("battle__model_b__slug"))
    rows = (
        Vote.objects.filter(
            battle__in=_filtered_battles(filters or {}), choice__in=("a", "b"), worth_extra_energy__isnull=False
        )
        .annotate(preferred=preferred)
        .values("preferred")
        .annotate(answered=Count("pk"), yes=Count("pk", filter=Q(worth_extra_energy=True)))
        .order_by()
    )
    return {
        row["preferred"]: {
            "worth_answered": row["answered"],
            "worth_yes": row["yes"],
            "worth_yes_share": row["yes"] / row["answered"],
        }
        for row in rows
    }


def display_min_votes() -> int:
    """Votes a model needs to be ranked on the public leaderboard (fewer: listed apart)."""
    return int(getattr(settings, "LEADERBOARD_DISPLAY_MIN_VOTES", DISPLAY_MIN_VOTES_DEFAULT))


def compute_leaderboard(
    filters: dict | None = None,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    style_control: bool = False,
    both_bad: str = "tie",
    min_group: int = 0,
    display_min_votes: int = 0,
) -> dict:
    """The leaderboard table. With `min_group`, a scope of fewer voted battles gives no
    rows (`too_few`): a filter narrow enough to hold one person's battle would show it.

    Every model with votes enters the fit (its battles inform the others' ratings); a model
    with fewer than `display_min_votes` votes is then listed apart in `provisional`, without
    rank or tier, and the ranks (Chatbot Arena's: 1 + the models significantly better),
    statistical tiers (`ranking.tiers`) and Pareto frontier are computed over `rows`, the
    ranked models, ordered by tier, rank, then rating. `min_votes` (a filter) hides models
    altogether."""
    filters = filters or {}
    min_votes = int(filters.get("min_votes") or MIN_VOTES_DEFAULT)
    # Scalars only, models as integer codes: the ranking core is fastest on codes.
    battles = list(_filtered_battles(filters).values_list("pk", "model_a_id", "model_b_id", "vote__choice"))
    head = {
        "computed_at": timezone.now().isoformat(),
        "filters": {k: str(v) for k, v in filters.items() if v},
        "battles": len(battles),
        "bootstrap": bootstrap,
        "style_control": style_control,
        "zone": settings.ARENA_ZONE,
        "display_min_votes": display_min_votes,
    }
    if len(battles) < min_group:
        return {**head, "too_few": min_group, "rows": [], "provisional": [], "style": {}}
    models = {m.slug: m for m in LLM.objects.all()}
    # "both_bad" left out may leave nothing to fit: an empty table, not an error.
    fitted = [b for b in battles if not (both_bad == "exclude" and b[3] == "both_bad")]
    result = None
    if fitted:
        by_pk = {m.pk: m for m in models.values()}
        code_of = {pk: code for code, pk in enumerate(by_pk)}
        pks, a, b_, choices = zip(*fitted, strict=True)
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
    rows, provisional = [], []
    if result is not None:
        shown = result.votes >= max(min_votes, 1)
        ranked = shown & (result.votes >= display_min_votes)
        rating, lower, upper = result.ratings, result.lower, result.upper
        if ranked.any():
            # Centred on the ranked models, so that those listed apart (or hidden) do not
            # widen their intervals; with every voted model ranked this changes nothing.
            rating, lower, upper = ranking.recentre(result.ratings, result.bootstrap_ratings, ranked, result.level)
        energy = energy_columns(list(models), filters)
        worth = worth_columns(filters)
        no_worth = {"worth_answered": 0, "worth_yes": 0, "worth_yes_share": None}
        for i in np.flatnonzero(shown):
            llm = models[result.names[i]]
            row = {
                "slug": llm.slug,
                "name": llm.name,
                "organization": llm.organization,
                "license": llm.license,
                "license_kind": llm.license_kind,
                "params_b": llm.params_b,
                "active_params_b": llm.active_params_b,
                "rating": float(rating[i]),
                "lower": float(lower[i]),
                "upper": float(upper[i]),
                "votes": int(result.votes[i]),
                **energy[llm.slug],
                **worth.get(llm.slug, no_worth),
            }
            (rows if ranked[i] else provisional).append(row)
    if rows:
        _rank(rows)
    provisional.sort(key=lambda r: (-r["votes"], r["name"]))
    style_out = {k: list(v) for k, v in result.style.items()} if result is not None and result.style else {}
    return {**head, "rows": rows, "provisional": provisional, "style": style_out}


def _rank(rows: list[dict]) -> None:
    """Rank, tier and Pareto flag of the ranked rows, computed among them only; sorts them
    by tier, rank, then rating."""
    rating, lower, upper = (np.array([r[key] for r in rows]) for key in ("rating", "lower", "upper"))
    ranks = ranking.rank_from_intervals(lower, upper)
    tiers = ranking.statistical_tiers(rating, lower, upper)
    costs = np.array([math.nan if r["wh_per_1k_tokens"] is None else r["wh_per_1k_tokens"] for r in rows])
    frontier = ranking.pareto_frontier(rating, costs)
    for row, rank, tier, on in zip(rows, ranks, tiers, frontier, strict=True):
        row.update(rank=int(rank), tier=int(tier), pareto=bool(on))
    rows.sort(key=lambda r: (r["tier"], r["rank"], -r["rating"]))


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
    """Compute and store the public snapshot (models under the display threshold apart)."""
    kwargs.setdefault("display_min_votes", display_min_votes())
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
