"""What a voter sees after the vote: both model cards, what each side's answers cost
(energy per message and per conversation, impacts, equivalents), whether each figure was
measured or estimated, and the "was it worth the extra energy?" question.

Totals come from database aggregates over `Attempt`; impacts are computed per attempt
(embodied shares depend on each try's duration and concurrency). An attempt without
figures (a worker run with `--meter off`, a record lost with its worker) counts as
"not measured", never as zero.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, Sum
from django.utils.translation import gettext as _

import footprint

from .errors import ArenaError
from .impacts import deployment_profile
from .models import SIDES, Attempt, Battle, Message


def side_energy_j(battle: Battle) -> dict[str, float | None]:
    """Joules used by each side's answers, every try included (one query); None for a
    side none of whose tries has a figure."""
    rows = (
        Attempt.objects.filter(message__turn__battle=battle)
        .values("message__side")
        .annotate(j=Sum("energy_j"))
        .order_by()
    )
    energy: dict[str, float | None] = {side: None for side in SIDES}
    for row in rows:
        energy[row["message__side"]] = row["j"]
    return energy


def worth_question_side(choice: str, energy_by_side: dict[str, float | None]) -> str | None:
    """The side whose extra energy is in question: the preferred one, when it used more.
    Nothing to ask after a tie, or when a side has no figure to compare."""
    if choice not in SIDES:
        return None
    mine, theirs = energy_by_side[choice], energy_by_side["b" if choice == "a" else "a"]
    if mine is None or theirs is None:
        return None
    return choice if mine > theirs else None


def _messages(battle: Battle) -> list[Message]:
    """Both sides' answers with their tries and per-message totals, in three queries."""
    return list(
        Message.objects.filter(turn__battle=battle)
        .select_related("turn")
        .order_by("turn__index", "side")
        .annotate(
            energy_sum_j=Sum("attempts__energy_j"),
            tries=Count("attempts"),
            tries_with_figures=Count("attempts", filter=Q(attempts__energy_j__isnull=False)),
        )
        .prefetch_related(Prefetch("attempts", queryset=Attempt.objects.order_by("started_at", "id")))
    )


def _side_reveal(battle: Battle, side: str, messages: list[Message], lang: str, profile) -> dict:
    attempts = [a for m in messages for a in m.attempts.all()]
    with_figures = [a for a in attempts if a.energy_j is not None]
    impacts = [footprint.compute_impacts(a.energy_record(), profile) for a in with_figures]
    total = footprint.sum_impacts(impacts) if impacts else None
    methods = sorted({a.method for a in attempts if a.method})
    measured = bool(with_figures) and all(a.measured for a in with_figures)
    estimates = [m.estimate for m in messages if m.estimate]
    impacts_out = None
    if total is not None:
        impacts_out = {
            "zone": profile.zone,
            "energy_wall_wh": total.wall_energy_wh.value if total.wall_energy_wh else None,
            "gwp_g": total.gwp_g.value,
            "gwp_g_min": total.gwp_g.min,
            "gwp_g_max": total.gwp_g.max,
            "water_ml": total.water_ml.value if total.water_ml else None,
            "equivalents": [e for fig in footprint.equivalents_for(total, lang).values() for e in fig],
        }

    def message_out(m: Message) -> dict:
        last = m.attempts.all()[len(m.attempts.all()) - 1] if m.tries else None
        return {
            "id": str(m.id),
            "turn": m.turn.index,
            "energy_wh": m.energy_sum_j / 3600.0 if m.tries_with_figures else None,
            "attempts": m.tries,
            "measured": bool(last and last.measured),
            "method": last.method if last else None,
            "completion_tokens": m.completion_tokens,
        }

    return {
        "model": battle.model(side).card(lang),
        "energy": {
            # None, not 0, when no try of this side has a figure: "not measured".
            "energy_wh": sum(a.energy_j for a in with_figures) / 3600.0 if with_figures else None,
            "measured": measured,
            "method": ", ".join(methods),
            "completion_tokens": sum(m.completion_tokens or 0 for m in messages),
            "messages": [message_out(m) for m in messages],
        },
        "impacts": impacts_out,
        "estimate": {
            "energy_wh": sum(e["energy_wh"] for e in estimates) if estimates else None,
            "source": estimates[0]["source"] if estimates else None,
        },
    }


def energy_comparison(energy_a_wh: float | None, energy_b_wh: float | None, lang: str = "fr") -> str:
    if not energy_a_wh or not energy_b_wh or energy_a_wh <= 0 or energy_b_wh <= 0:
        return ""
    hi, lo, big = (energy_a_wh, energy_b_wh, "A") if energy_a_wh >= energy_b_wh else (energy_b_wh, energy_a_wh, "B")
    small = "B" if big == "A" else "A"
    ratio = hi / lo
    if ratio < 1.05:
        return _("A and B used about the same energy.")
    return _("%(big)s used %(ratio)sx the energy of %(small)s.") % {
        "big": big,
        "small": small,
        "ratio": f"{ratio:.1f}".replace(".", "," if lang == "fr" else "."),
    }


def build_reveal(battle: Battle, lang: str = "fr", zone: str | None = None) -> dict:
    """Everything shown after the vote. `zone` recomputes impacts "as if" the answers had
    run in another zone; nothing stored changes."""
    vote = battle.vote
    profile = deployment_profile()
    if zone:
        try:
            profile = profile.in_zone(zone)
        except (KeyError, ValueError):
            raise ArenaError(400, "unknown_zone", _("Unknown zone: %(zone)s.") % {"zone": zone}) from None
    messages = _messages(battle)
    sides = {side: _side_reveal(battle, side, [m for m in messages if m.side == side], lang, profile) for side in SIDES}
    energy_a, energy_b = sides["a"]["energy"]["energy_wh"], sides["b"]["energy"]["energy_wh"]
    worth_side = worth_question_side(vote.choice, {"a": energy_a, "b": energy_b})
    return {
        "battle": str(battle.id),
        "vote": {"choice": vote.choice, "tags": vote.tags, "comments": vote.comments},
        "a": sides["a"],
        "b": sides["b"],
        "comparison": energy_comparison(energy_a, energy_b, lang),
        "worth_question": {"asked": worth_side is not None, "answer": vote.worth_extra_energy},
        "leak": {"flagged": battle.leak_flagged, "detail": battle.leak_detail},
        "zones": footprint.zone_labels(lang),
    }
