"""What a voter sees after the vote: both model cards, what each side's answers cost
(energy per message and per conversation, impacts, equivalents), whether each figure was
measured or estimated, and the "was it worth the extra energy?" question.

Totals come from database aggregates over `Attempt`; impacts are computed per attempt
(embodied shares depend on each try's duration and concurrency; a remote API's try gets
EcoLogits' own impacts, manufacturing included, `arena.impacts.attempt_impacts`). An
attempt without figures (a worker run with `--meter off`, a record lost with its worker)
counts as "not measured", never as zero; where other tries have figures, the total is
flagged `partial` rather than shown as complete.

Bases: `energy.energy_wh` is the servers' energy as the worker metered it (the data
centre's overhead, PUE, left out); `impacts` start from energy at the data centre (PUE
included), and so do the equivalents and the web-search line, as
fixtures/footprint/equivalents.yaml defines them. The EcoLogits estimate is given on both
bases, each named.

For people: method codes in words (`method_label`; the codes stay in `method`), each warning
said once, and a note (`gwp_scope`) when A's and B's greenhouse gases cover different scopes.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, Sum
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

import footprint

from .errors import ArenaError
from .impacts import attempt_impacts, deployment_profile, estimate_energy, point_range
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
        "A device that ran this answer is not in our hardware data: its manufacturing share is not known, "
        "so not counted (it is not zero)."
    ),
    "embodied-unknown-hardware": gettext_lazy(
        "The hardware that ran this answer is unknown: its manufacturing share is not known, "
        "so not counted (it is not zero)."
    ),
    "electricity-mix-wue-world": gettext_lazy(
        "No water figure for this zone's electricity: the world average is used."
    ),
    "input-tokens-not-modelled": gettext_lazy(
        "The EcoLogits estimate counts output tokens only: the length of the question is not modelled."
    ),
}
MISSING_EMBODIED = gettext_lazy(
    "Manufacturing figures are missing for one indicator: its share is not known, so not counted (it is not zero)."
)
# The manufacturing warnings all say one thing, its share left out: one is shown, the most
# specific (a device named and not found says why; "unknown hardware" follows from it, as
# does a missing figure for one indicator).
EMBODIED_SPECIFICITY = ("embodied-unknown-device", "embodied-unknown-hardware")


def _warnings(notes: list[str]) -> list[dict]:
    """What `footprint`'s warning codes say, for people: each statement once. The manufacturing
    share's warnings (codes "embodied-...") say the same thing, so only the most specific stays."""
    embodied = [code for code in notes if code.startswith("embodied-")]
    kept = min(
        embodied,
        key=lambda c: EMBODIED_SPECIFICITY.index(c) if c in EMBODIED_SPECIFICITY else len(EMBODIED_SPECIFICITY),
        default=None,
    )
    return [
        {"code": code, "text": str(WARNINGS.get(code, MISSING_EMBODIED if code.startswith("embodied-") else code))}
        for code in notes
        if not code.startswith("embodied-") or code == kept
    ]


# How a try's energy was obtained, for people; the code stays in the JSON's `method`. Whether
# it was measured or estimated is said beside it (`measured`), not repeated here.
METHOD_LABELS = {
    "cpu-time-model": gettext_lazy("CPU-time model"),
    "ecologits": gettext_lazy("EcoLogits estimate"),
    "nvml": gettext_lazy("GPU energy counter (NVML)"),
    "nvml-power-polling": gettext_lazy("GPU power polling (NVML)"),
    "rapl": gettext_lazy("CPU energy counter (RAPL)"),
    "off": gettext_lazy("meter off"),
}


def method_label(methods: str | None) -> str:
    """A '+'-joined method code ("cpu-time-model+nvml") in words, in the active language, joined
    by " + "; an unknown code is shown as it is."""
    return " + ".join(str(METHOD_LABELS.get(code, code)) for code in (methods or "").split("+") if code)


def _methods(attempts) -> str:
    """How a set of tries was metered, as the exports write it: the methods of the tries with
    figures, sorted and joined by '+' ("cpu-time-model+nvml"); without any figure, those of all
    tries (a worker run with `--meter off` says "off")."""
    with_figures = [a for a in attempts if a.energy_j is not None]
    return "+".join(sorted({a.method for a in (with_figures or attempts) if a.method}))


def _figure(fig, scale: float = 1.0) -> dict | None:
    return {"value": fig.value * scale, "min": fig.min * scale, "max": fig.max * scale} if fig else None


def impacts_for_people(total, profile, lang: str) -> dict:
    """The five indicators with their ranges, the split between electricity use and
    manufacturing, the warnings, and the equivalents of an `Impacts`."""
    pe_wh = 1000 / 3.6  # primary energy: MJ -> Wh, the unit people know
    return {
        "zone": profile.zone,
        # What the figures rest on: a measurement, a CPU-time model, or EcoLogits' estimate
        # (a remote API's tries: their manufacturing share is EcoLogits' too).
        "method": total.method,
        "method_label": method_label(total.method),
        "source": total.source,
        "estimated_by_ecologits": "ecologits" in total.method.split("+"),
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
        "warnings": _warnings(total.notes),
        # A warning already says the manufacturing share is not known: the page says it once.
        "embodied_warned": any(code.startswith("embodied-") for code in total.notes),
        "equivalents": [e for fig in footprint.equivalents_for(total, lang).values() for e in fig],
    }


def _estimate_out(messages: list[Message]) -> dict:
    """The EcoLogits estimates stored with a side's finished answers, summed, on both bases.

    `energy_wh` (kept as it was) is at the data centre, PUE included, with `energy_wh_min`/
    `_max`; `energy_servers` is the same without the PUE, the basis of `energy.energy_wh`,
    and `energy_wall` repeats the first with its name. The servers' min/max are the wall's
    divided by the same PUE bounds (`arena.impacts.estimate_energy`), None where no range is
    known or where it is one point: `servers_range_from_pue_only` says when the wall's range
    comes from the PUE alone. An estimate is stored with each answer that finished;
    `answers_estimated` of `answers` says how many it covers, and it covers the answers'
    last tries only: `earlier_tries_left_out` when a retried answer's earlier tries are in
    the energy but not in the estimate."""
    estimates = [m.estimate for m in messages if m.estimate]
    bases = [estimate_energy(e) for e in estimates]

    def total(basis: str) -> dict | None:
        if not bases:
            return None
        figures = [b[basis] for b in bases]
        ranged = all(f["min"] is not None and f["max"] is not None for f in figures)
        return {
            "value": sum(f["value"] for f in figures),
            "min": sum(f["min"] for f in figures) if ranged else None,
            "max": sum(f["max"] for f in figures) if ranged else None,
        }

    wall, servers = total("wall"), total("servers")
    # EcoLogits' range at the wall may come from the PUE alone (a model whose parameter count
    # is one number): at the servers it is then one point, shown as no range at all.
    servers_point = servers is not None and point_range(servers)
    if servers_point:
        servers = {**servers, "min": None, "max": None}
    return {
        "energy_wh": wall["value"] if wall else None,
        "energy_wh_min": wall["min"] if wall else None,
        "energy_wh_max": wall["max"] if wall else None,
        "source": estimates[0]["source"] if estimates else None,
        "energy_wall": wall,
        "energy_servers": servers,
        "servers_range_from_pue_only": servers_point and wall["min"] is not None,
        "answers_estimated": len(estimates),
        "answers": len(messages),
        "earlier_tries_left_out": any(m.tries > 1 for m in messages),
    }


def _side_reveal(battle: Battle, side: str, messages: list[Message], lang: str, profile, impacts_by_try: dict) -> dict:
    attempts = [a for m in messages for a in m.attempts.all()]
    with_figures = [a for a in attempts if a.energy_j is not None]
    impacts = [impacts_by_try[a.pk] for a in with_figures]
    total = footprint.sum_impacts(impacts) if impacts else None
    methods = _methods(attempts)
    measured = bool(with_figures) and all(a.measured for a in with_figures)
    impacts_out = impacts_for_people(total, profile, lang) if total is not None else None
    energy_wh = sum(a.energy_j for a in with_figures) / 3600.0 if with_figures else None
    tokens = sum(m.completion_tokens or 0 for m in messages)
    per_1k = footprint.wh_per_1k_tokens(energy_wh, tokens)
    missing = len(attempts) - len(with_figures)

    def message_out(m: Message) -> dict:
        tries = list(m.attempts.all())
        figured = [a for a in tries if a.energy_j is not None]
        wh = m.energy_sum_j / 3600.0 if m.tries_with_figures else None
        return {
            "id": str(m.id),
            "turn": m.turn.index,
            "energy_wh": wh,
            "energy_class": footprint.energy_class(footprint.wh_per_1k_tokens(wh, m.completion_tokens)),
            "attempts": m.tries,
            # Over every try with a figure, as `energy_wh` sums them (not the last try's).
            "measured": bool(figured) and all(a.measured for a in figured),
            "method": _methods(tries) or None,
            "method_label": method_label(_methods(tries)) or None,
            # Some tries have no figure (a record lost with its worker): `energy_wh` counts the
            # others only, a lower bound.
            "partial": bool(figured) and len(figured) < len(tries),
            "attempts_without_figures": len(tries) - len(figured),
            "completion_tokens": m.completion_tokens,
        }

    return {
        "model": battle.model(side).card(lang),
        "energy": {
            # None, not 0, when no try of this side has a figure: "not measured".
            "energy_wh": energy_wh,
            # At the servers, as metered: the data centre's overhead (PUE) is not in it.
            "basis": "servers",
            "measured": measured,
            "method": methods,  # the codes, as the exports write them
            "method_label": method_label(methods),  # the same in words
            "partial": bool(with_figures) and missing > 0,
            "attempts": len(attempts),
            "attempts_without_figures": missing,
            "estimated_by_arena": "ecologits" in methods.split("+"),  # a remote API: nothing metered it
            "completion_tokens": tokens,
            "prompt_tokens": sum(m.prompt_tokens or 0 for m in messages),
            "duration_ms": sum(m.duration_ms or 0 for m in messages),
            "wh_per_1k_tokens": per_1k,
            "energy_class": footprint.energy_class(per_1k),
            "messages": [message_out(m) for m in messages],
        },
        "impacts": impacts_out,
        "estimate": _estimate_out(messages),
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


def gwp_scope_note(impacts_a: dict | None, impacts_b: dict | None) -> dict | None:
    """A note for the greenhouse-gas figures when A's and B's cover different scopes: one side's
    manufacturing share is counted (known hardware, or EcoLogits' estimate for a remote API),
    the other's is not known and left out, so a side that used more energy may show less CO2e.
    None when both sides count the same things, or one has no figure."""
    if impacts_a is None or impacts_b is None:
        return None
    known = {side: i["indicators"]["gwp_g"]["embodied"] is not None for side, i in (("a", impacts_a), ("b", impacts_b))}
    if known["a"] == known["b"]:
        return None
    included, left_out = ("a", "b") if known["a"] else ("b", "a")
    by_ecologits = (impacts_a if included == "a" else impacts_b)["estimated_by_ecologits"]
    text = (
        _(
            "%(included)s's greenhouse gases include manufacturing (EcoLogits estimate); %(left_out)s's "
            "manufacturing share is not known and not counted: the two are not comparable as they stand."
        )
        if by_ecologits
        else _(
            "%(included)s's greenhouse gases include manufacturing; %(left_out)s's manufacturing share is "
            "not known and not counted: the two are not comparable as they stand."
        )
    )
    return {
        "included": included,
        "left_out": left_out,
        "text": text % {"included": included.upper(), "left_out": left_out.upper()},
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
    # Each try's impacts once, for its side and for the whole conversation.
    impacts_by_try = {
        a.pk: attempt_impacts(a, battle.model(m.side), profile)
        for m in messages
        for a in m.attempts.all()
        if a.energy_j is not None
    }
    sides = {
        side: _side_reveal(battle, side, [m for m in messages if m.side == side], lang, profile, impacts_by_try)
        for side in SIDES
    }
    energy_a, energy_b = sides["a"]["energy"]["energy_wh"], sides["b"]["energy"]["energy_wh"]
    worth_side = worth_question_side(vote.choice, {"a": energy_a, "b": energy_b})
    both = footprint.sum_impacts(list(impacts_by_try.values())) if impacts_by_try else None
    partial = sides["a"]["energy"]["partial"] or sides["b"]["energy"]["partial"]
    return {
        "battle": str(battle.id),
        "vote": {"choice": vote.choice, "tags": vote.tags, "comments": vote.comments},
        "a": sides["a"],
        "b": sides["b"],
        "comparison": energy_comparison(energy_a, energy_b, lang),
        "gwp_scope": gwp_scope_note(sides["a"]["impacts"], sides["b"]["impacts"]),
        "conversation": _conversation(both, list(impacts_by_try.values()), profile, lang) if both else None,
        "sobriety": sobriety_lines(
            battle,
            vote.choice,
            # The web search's figure is a data centre's, as the equivalents are: compare
            # the conversation's energy at the data centre (PUE included), both sides measured.
            both.wall_energy_wh.value if both and energy_a is not None and energy_b is not None else None,
            lang,
            partial=partial,
        ),
        "worth_question": {"asked": worth_side is not None, "answer": vote.worth_extra_energy},
        "leak": {"flagged": battle.leak_flagged, "detail": battle.leak_detail},
        "zones": footprint.zone_labels(lang),
    }


def _conversation(both, tries: list, profile, lang: str) -> dict:
    """Both sides' impacts together. Where some tries count their manufacturing (a remote API's,
    EcoLogits') and others cannot, the sum's share is not known, yet the totals hold part of it:
    `embodied_partial` says so, rather than "not counted" for the whole."""
    known = [t.gwp_embodied_g is not None for t in tries]
    return {**impacts_for_people(both, profile, lang), "embodied_partial": any(known) and not all(known)}


def sobriety_lines(
    battle: Battle, choice: str, conversation_wall_wh: float | None, lang: str, *, partial: bool = False
) -> list[dict]:
    """Neutral, sourced lines that open a way forward, when they apply: the conversation
    beside a web search, and the smaller model's answer preferred or judged as good.

    `conversation_wall_wh`: both sides' energy at the data centre (PUE included), the basis
    of the web search's figure and of the reveal's equivalents; None when a side has no
    figure. `partial`: some tries have no figure, so the count is a lower bound."""
    lines = []
    if conversation_wall_wh is not None:
        search = footprint.sobriety_reference("web_search", lang)
        times = conversation_wall_wh / search["value"]
        n = f"{times:.2g}".replace(".", "," if lang == "fr" else ".")
        said = (
            _("This conversation used at least as much as %(n)s web searches (some tries have no figure).")
            if partial
            else _("This conversation used as much as %(n)s web searches.")
        )
        lines.append(
            {
                "text": search["text"] + " " + said % {"n": n},
                "source": search["source"],
                "year": search["year"],
                "energy_wh": conversation_wall_wh,
                "basis": "data_centre",
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
