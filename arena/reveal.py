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
from django.utils.translation import gettext_lazy

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


# What each warning code of `footprint` means for a reader.
WARNINGS = {
    "embodied-unknown-device": gettext_lazy(
        "A device that ran this answer is not in our hardware data: its manufacturing share is left out."
    ),
    "embodied-unknown-hardware": gettext_lazy("The hardware is unknown: the manufacturing share is left out."),
    "electricity-mix-wue-world": gettext_lazy(
        "No water figure for this zone's electricity: the world average is used."
    ),
    "input-tokens-not-modelled": gettext_lazy(
        "The EcoLogits estimate counts output tokens only: the length of the question is not modelled."
    ),
}
MISSING_EMBODIED = gettext_lazy("Manufacturing figures are missing for one indicator: its share is left out.")


def _figure(fig, scale: float = 1.0) -> dict | None:
    return {"value": fig.value * scale, "min": fig.min * scale, "max": fig.max * scale} if fig else None


def impacts_for_people(total, profile, lang: str) -> dict:
    """The five indicators with their ranges, the split between electricity use and
    manufacturing, the warnings, and the equivalents of an `Impacts`."""
    pe_wh = 1000 / 3.6  # primary energy: MJ -> Wh, the unit people know
    return {
        "zone": profile.zone,
        "energy_wall_wh": total.wall_energy_wh.value if total.wall_energy_wh else None,
        "gwp_g": total.gwp_g.value,
        "gwp_g_min": total.gwp_g.min,
        "gwp_g_max": total.gwp_g.max,
        "water_ml": total.water_ml.value if total.water_ml else None,
        "indicators": {
            "energy_wh": {"total": _figure(total.wall_energy_wh)},
            "gwp_g": {
                "total": _figure(total.gwp_g),
                "usage": _figure(total.gwp_usage_g),
                "embodied": _figure(total.gwp_embodied_g),
            },
            "water_ml": {"total": _figure(total.water_ml)},
            "adpe_mgsbeq": {
                "total": _figure(total.adpe_kgsbeq, 1e6),
                "usage": _figure(total.adpe_usage_kgsbeq, 1e6),
                "embodied": _figure(total.adpe_embodied_kgsbeq, 1e6),
            },
            "pe_wh": {
                "total": _figure(total.pe_mj, pe_wh),
                "usage": _figure(total.pe_usage_mj, pe_wh),
                "embodied": _figure(total.pe_embodied_mj, pe_wh),
            },
        },
        "warnings": [
            {"code": code, "text": str(WARNINGS.get(code, MISSING_EMBODIED if code.startswith("embodied-") else code))}
            for code in total.notes
        ],
        "equivalents": [e for fig in footprint.equivalents_for(total, lang).values() for e in fig],
    }


def _side_reveal(battle: Battle, side: str, messages: list[Message], lang: str, profile) -> dict:
    attempts = [a for m in messages for a in m.attempts.all()]
    with_figures = [a for a in attempts if a.energy_j is not None]
    impacts = [footprint.compute_impacts(a.energy_record(), profile) for a in with_figures]
    total = footprint.sum_impacts(impacts) if impacts else None
    methods = sorted({a.method for a in attempts if a.method})
    measured = bool(with_figures) and all(a.measured for a in with_figures)
    estimates = [m.estimate for m in messages if m.estimate]
    impacts_out = impacts_for_people(total, profile, lang) if total is not None else None
    energy_wh = sum(a.energy_j for a in with_figures) / 3600.0 if with_figures else None
    tokens = sum(m.completion_tokens or 0 for m in messages)
    per_1k = footprint.wh_per_1k_tokens(energy_wh, tokens)

    def message_out(m: Message) -> dict:
        last = m.attempts.all()[len(m.attempts.all()) - 1] if m.tries else None
        wh = m.energy_sum_j / 3600.0 if m.tries_with_figures else None
        return {
            "id": str(m.id),
            "turn": m.turn.index,
            "energy_wh": wh,
            "energy_class": footprint.energy_class(footprint.wh_per_1k_tokens(wh, m.completion_tokens)),
            "attempts": m.tries,
            "measured": bool(last and last.measured),
            "method": last.method if last else None,
            "completion_tokens": m.completion_tokens,
        }

    return {
        "model": battle.model(side).card(lang),
        "energy": {
            # None, not 0, when no try of this side has a figure: "not measured".
            "energy_wh": energy_wh,
            "measured": measured,
            "method": ", ".join(methods),
            "estimated_by_arena": "ecologits" in methods,  # a remote API: nothing metered it
            "completion_tokens": tokens,
            "prompt_tokens": sum(m.prompt_tokens or 0 for m in messages),
            "duration_ms": sum(m.duration_ms or 0 for m in messages),
            "wh_per_1k_tokens": per_1k,
            "energy_class": footprint.energy_class(per_1k),
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
    attempts = [a for m in messages for a in m.attempts.all() if a.energy_j is not None]
    both = (
        footprint.sum_impacts([footprint.compute_impacts(a.energy_record(), profile) for a in attempts])
        if attempts
        else None
    )
    return {
        "battle": str(battle.id),
        "vote": {"choice": vote.choice, "tags": vote.tags, "comments": vote.comments},
        "a": sides["a"],
        "b": sides["b"],
        "comparison": energy_comparison(energy_a, energy_b, lang),
        "conversation": impacts_for_people(both, profile, lang) if both else None,
        "sobriety": sobriety_lines(battle, vote.choice, energy_a, energy_b, lang),
        "worth_question": {"asked": worth_side is not None, "answer": vote.worth_extra_energy},
        "leak": {"flagged": battle.leak_flagged, "detail": battle.leak_detail},
        "zones": footprint.zone_labels(lang),
    }


def sobriety_lines(
    battle: Battle, choice: str, energy_a: float | None, energy_b: float | None, lang: str
) -> list[dict]:
    """Neutral, sourced lines that open a way forward, when they apply: the conversation
    beside a web search, and the smaller model's answer preferred or judged as good."""
    lines = []
    if energy_a is not None and energy_b is not None:
        search = footprint.sobriety_reference("web_search", lang)
        times = (energy_a + energy_b) / search["value"]
        lines.append(
            {
                "text": search["text"]
                + " "
                + _("This conversation used as much as %(n)s web searches.")
                % {"n": f"{times:.2g}".replace(".", "," if lang == "fr" else ".")},
                "source": search["source"],
                "year": search["year"],
            }
        )
    params = {"a": battle.model_a.params_b, "b": battle.model_b.params_b}
    if params["a"] != params["b"]:
        smaller = min(params, key=params.get)
        if choice == smaller:
            lines.append({"text": _("The smaller model's answer won your vote."), "source": None, "year": None})
        elif choice == "tie":
            lines.append(
                {
                    "text": _("You judged the smaller model's answer as good as the bigger one's."),
                    "source": None,
                    "year": None,
                }
            )
    return lines
