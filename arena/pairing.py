"""Choose which two models answer a battle, and on which side.

Pure Python on purpose (no Django import): the battle view builds `Candidate`s
from the catalogue and the per-pair vote counts from the database, and this
module only decides.

Modes
-----
- ``random``: any two enabled models.
- ``frugal``: two small models (``params_b <= small_max_params_b``).
- ``david_vs_goliath``: one big model (``params_b >= big_min_params_b``)
  against one small model.
- ``custom``: the person picks one or two models. Two: that pair. One: that
  model against an opponent drawn by the rule below among every other enabled
  model.

Size is the total parameter count (``params_b``), not the active one of a
mixture of experts: it is what the public reads as "the size" of a model and
what sets the memory a replica needs; the energy shown after the vote already
reflects the compute actually used.

The rule: favour the least-compared pairs
-----------------------------------------
compar:IA draws pairs uniformly, so the pairs that happen to be unlucky stay
rarely compared and their ranking keeps wide confidence intervals. Here every
allowed (unordered) pair is drawn with a probability proportional to

    weight(pair) = 1 / (1 + votes(pair) - fewest) ** alpha     (alpha = 1 by default)

where `fewest` is the vote count of the least-voted allowed pair. A pair with
no vote is drawn 1001 times more often than one with 1000 votes, so a new
model catches up quickly; weights stay positive, so every allowed pair keeps a
chance of being drawn.

Why the gap to the least-voted pair rather than the raw count: with
1 / (1 + votes) the pull fades as counts grow (1000 and 1030 votes weigh
almost the same) and the spread between pairs grows like the square root of
the number of battles, as with uniform draws. Counting from the least-voted
pair keeps the same pull at any scale: in simulation (6 models, votes landing
after each draw) the gap between the most and least voted pair stays around 3
to 5 votes after 300 or 30,000 battles, against about 15 and 150 for uniform
draws.

Why a weighted draw rather than "always the least-voted pair": votes land
minutes after the draw, so many battles started at once would all get the same
least-voted pair; a deterministic choice is also predictable, which helps
anyone trying to guess which models answer. The weighted draw keeps the choice
random and still steers votes towards the gaps. (A model just added to the
catalogue is in most battles until its pairs catch up; lower alpha to soften
that.)

Sides are then swapped with probability 1/2, so no model sits on side a more
often than on side b (position bias is a known effect in pairwise votes).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MODES = ("random", "frugal", "david_vs_goliath", "custom")

# Exponent of the weight 1 / (1 + votes - fewest) ** alpha: 0 would be
# compar:IA's uniform draw; larger values push harder towards the least-voted pairs.
DEFAULT_ALPHA = 1.0


def gettext_noop(message: str) -> str:
    """Marks a message for translation without Django: the arena translates
    `PairingError.template` and fills in `PairingError.params`."""
    return message


class PairingError(ValueError):
    """No pair can be drawn for this request; the message says why."""

    def __init__(self, template: str, **params):
        super().__init__(template % params)
        self.template = template
        self.params = params


@dataclass(frozen=True)
class Candidate:
    """What pairing needs to know about a model of the catalogue."""

    slug: str
    params_b: float
    enabled: bool = True


def choose_pair(
    models: Sequence[Candidate],
    mode: str,
    *,
    pair_votes: Mapping[frozenset[str], int],
    rng: random.Random,
    chosen: Sequence[str] = (),
    small_max_params_b: float,
    big_min_params_b: float,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[str, str]:
    """Return the slugs for side a and side b of a new battle.

    `pair_votes` maps frozenset({slug1, slug2}) to the votes that pair has had
    so far (missing pairs count as 0). Raises PairingError when the mode is
    unknown or has no possible pair.
    """
    if mode not in MODES:
        raise PairingError(
            gettext_noop("Unknown mode %(mode)s; expected one of: %(modes)s."), mode=mode, modes=", ".join(MODES)
        )
    if small_max_params_b >= big_min_params_b:
        raise PairingError(
            gettext_noop(
                "The small threshold (%(small)s B) must be below the big one (%(big)s B), "
                "or a model would be both small and big."
            ),
            small=small_max_params_b,
            big=big_min_params_b,
        )
    if alpha < 0:
        raise PairingError(gettext_noop("alpha must be >= 0, got %(alpha)s."), alpha=alpha)
    if mode != "custom" and chosen:
        raise PairingError(gettext_noop("Models can only be picked in custom mode, not in %(mode)s."), mode=mode)

    enabled = _enabled_by_slug(models)
    pairs = _allowed_pairs(mode, enabled, chosen, small_max_params_b, big_min_params_b)
    first, second = _draw_least_compared(pairs, pair_votes, rng, alpha)
    if rng.random() < 0.5:
        first, second = second, first
    return first, second


def _enabled_by_slug(models: Iterable[Candidate]) -> dict[str, Candidate]:
    by_slug: dict[str, Candidate] = {}
    for model in models:
        if model.slug in by_slug:
            raise PairingError(gettext_noop("Model %(slug)s is listed twice."), slug=model.slug)
        by_slug[model.slug] = model
    return {slug: model for slug, model in by_slug.items() if model.enabled}


def _allowed_pairs(
    mode: str,
    enabled: Mapping[str, Candidate],
    chosen: Sequence[str],
    small_max_params_b: float,
    big_min_params_b: float,
) -> list[tuple[str, str]]:
    # Sorted so that a seeded rng gives the same draw whatever the input order.
    slugs = sorted(enabled)
    small = [s for s in slugs if enabled[s].params_b <= small_max_params_b]
    big = [s for s in slugs if enabled[s].params_b >= big_min_params_b]

    if mode == "random":
        if len(slugs) < 2:
            raise PairingError(
                gettext_noop("Random mode needs at least two enabled models; there are %(n)d."), n=len(slugs)
            )
        return list(itertools.combinations(slugs, 2))

    if mode == "frugal":
        if len(small) < 2:
            raise PairingError(
                gettext_noop(
                    "Frugal mode needs at least two small models (<= %(small)s B parameters); there are %(n)d."
                ),
                small=small_max_params_b,
                n=len(small),
            )
        return list(itertools.combinations(small, 2))

    if mode == "david_vs_goliath":
        if not big or not small:
            raise PairingError(
                gettext_noop(
                    "David vs Goliath mode needs one big model (>= %(big)s B) and one small model "
                    "(<= %(small)s B); there are %(n_big)d big and %(n_small)d small."
                ),
                big=big_min_params_b,
                small=small_max_params_b,
                n_big=len(big),
                n_small=len(small),
            )
        return [(b, s) for b in big for s in small]

    # custom
    if not 1 <= len(chosen) <= 2:
        raise PairingError(gettext_noop("Custom mode takes one or two models; got %(n)d."), n=len(chosen))
    if len(set(chosen)) != len(chosen):
        raise PairingError(gettext_noop("The same model cannot answer on both sides: %(slug)s."), slug=chosen[0])
    unknown = [slug for slug in chosen if slug not in enabled]
    if unknown:
        raise PairingError(gettext_noop("Unknown or disabled model(s): %(slugs)s."), slugs=", ".join(unknown))
    if len(chosen) == 2:
        return [(chosen[0], chosen[1])]
    (picked,) = chosen
    opponents = [s for s in slugs if s != picked]
    if not opponents:
        raise PairingError(gettext_noop("No other enabled model to put against %(slug)s."), slug=picked)
    return [(picked, other) for other in opponents]


def _draw_least_compared(
    pairs: Sequence[tuple[str, str]],
    pair_votes: Mapping[frozenset[str], int],
    rng: random.Random,
    alpha: float,
) -> tuple[str, str]:
    votes = [max(0, pair_votes.get(frozenset(pair), 0)) for pair in pairs]
    fewest = min(votes)
    weights = [1.0 / (1 + count - fewest) ** alpha for count in votes]
    return rng.choices(pairs, weights=weights, k=1)[0]
