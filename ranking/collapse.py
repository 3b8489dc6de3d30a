"""Data preparation for the ranking: battles in, compact oriented rows out.

Encodes model names and outcome labels as integer codes, collapses battles
into unique (model_i, model_j, outcome) rows with counts and weight sums
(`collapse_battles`), and derives what the model and the leaderboard read from
those rows: the credit each side gets (`credit_shares`), the pairwise win-rate
and battle-count matrices (`pairwise_matrices`), and style covariates
(`style_covariates`). Nothing here fits anything.

Conventions
-----------
* A battle is (model_a, model_b, outcome) with outcome one of OUTCOMES:
  "a" (a won), "b" (b won), "tie", "both_bad". Outcomes may also be given as
  their integer codes 0..3 (the index in OUTCOMES); models as strings, or as
  integer codes together with ``names``. Integer codes keep 10M battles small.
* A tie counts as half a win for each side. "both_bad" is a tie by default;
  ``both_bad="exclude"`` drops those battles from the fit and the matrices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import numpy as np

OUTCOMES = ("a", "b", "tie", "both_bad")
A_WINS, B_WINS, TIE, BOTH_BAD = range(4)

_COLLAPSE_CHUNK = 1_000_000
# The outcome seen from the other side: a win for a is a win for b once a and b swap.
_FLIPPED_OUTCOME = np.array([B_WINS, A_WINS, TIE, BOTH_BAD], dtype=np.int8)


@dataclass(frozen=True)
class CollapsedBattles:
    """Battles reduced to unique rows, oriented so that model_i < model_j.

    Without style covariates a row is a unique (pair, outcome) with its count,
    so 40 models need at most 40*39/2*4 rows whatever the number of battles.
    With style covariates every battle keeps its own row (the covariates are
    continuous), with the covariates negated where the battle was flipped.
    """

    names: tuple[str, ...]
    model_i: np.ndarray  # (R,) int, index into names
    model_j: np.ndarray  # (R,) int, model_i < model_j
    outcome: np.ndarray  # (R,) int8 code seen from model_i: A_WINS means i won
    count: np.ndarray  # (R,) int64 number of battles in the row
    weight: np.ndarray  # (R,) float64 sum of battle weights in the row
    style: np.ndarray | None = None  # (R, k) covariates, i minus j

    @property
    def n_battles(self) -> int:
        return int(self.count.sum())

    @property
    def n_models(self) -> int:
        return len(self.names)


# ---------------------------------------------------------------- encoding


def _codes_or_labels(values):
    """An integer ndarray of model codes, or a Python list of model labels.

    Names stay Python objects on purpose: sorting a numpy string array (what
    np.unique did here) cost 35-55x the whole collapse of integer codes at 1M
    battles (bench/ranking.py), and turning a list of names into a numpy
    string array costs more than factorising the list directly with a dict.
    """
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise ValueError("model_a and model_b must be 1-d arrays of the same length")
        return values if np.issubdtype(values.dtype, np.integer) else values.tolist()
    values = values if isinstance(values, (list, tuple)) else list(values)
    if values and isinstance(values[0], str):
        return values
    return _codes_or_labels(np.asarray(values))


def _factorise(labels_a: Sequence, labels_b: Sequence) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Integer codes for two label lists, indexing into the sorted distinct names."""
    # A defaultdict whose factory is its own length hands out 0, 1, 2, ... to
    # labels in order of first sight: one hash lookup per battle, no sort.
    first_seen = defaultdict()
    first_seen.default_factory = first_seen.__len__
    codes_a = np.fromiter(map(first_seen.__getitem__, labels_a), dtype=np.int32, count=len(labels_a))
    codes_b = np.fromiter(map(first_seen.__getitem__, labels_b), dtype=np.int32, count=len(labels_b))
    # Only the few distinct labels are sorted. Going through str() merges labels
    # that print alike (1 and "1"), as a numpy string array would.
    seen_names = [str(label) for label in first_seen]
    names = sorted(set(seen_names))
    position = {name: index for index, name in enumerate(names)}
    to_sorted = np.array([position[name] for name in seen_names], dtype=np.int32)
    return to_sorted[codes_a], to_sorted[codes_b], names


def _encode_models(model_a, model_b, names):
    model_a = _codes_or_labels(model_a)
    model_b = _codes_or_labels(model_b)
    if len(model_a) != len(model_b):
        raise ValueError("model_a and model_b must be 1-d arrays of the same length")
    if isinstance(model_a, np.ndarray) and isinstance(model_b, np.ndarray):
        n_codes = int(max(model_a.max(initial=-1), model_b.max(initial=-1))) + 1
        if names is None:
            names = [str(code) for code in range(n_codes)]
        names = [str(name) for name in names]
        if min(model_a.min(initial=0), model_b.min(initial=0)) < 0 or n_codes > len(names):
            raise ValueError("integer model codes must index into names")
        return model_a, model_b, names
    if names is not None:
        raise ValueError("names is only used with integer model codes")
    as_list = [side.tolist() if isinstance(side, np.ndarray) else side for side in (model_a, model_b)]
    return _factorise(*as_list)


def _encode_outcomes(outcome) -> np.ndarray:
    if isinstance(outcome, (list, tuple)) and outcome and isinstance(outcome[0], str):
        # A list of labels: a dict lookup per battle beats copying it into a numpy string array.
        code_of = {label: code for code, label in enumerate(OUTCOMES)}
        unknown = repeat(-1, len(outcome))
        codes = np.fromiter(map(code_of.get, outcome, unknown), dtype=np.int8, count=len(outcome))
    else:
        outcome = np.asarray(outcome)
        if np.issubdtype(outcome.dtype, np.integer):
            codes = outcome
        else:
            codes = np.full(outcome.shape, -1, dtype=np.int8)
            for code, label in enumerate(OUTCOMES):
                codes[outcome == label] = code
    if codes.size and (codes.min() < 0 or codes.max() > BOTH_BAD):
        raise ValueError(f"outcomes must be one of {OUTCOMES}")
    return codes


# ---------------------------------------------------------------- collapse


def collapse_battles(
    model_a,
    model_b,
    outcome,
    *,
    weights=None,
    names: Sequence[str] | None = None,
    style=None,
) -> CollapsedBattles:
    """Collapse per-battle arrays into unique, consistently oriented rows.

    (a, b, "a") and (b, a, "b") land in the same row: each battle is turned so
    that the model with the lower index comes first, swapping "a" and "b" (and
    negating style covariates) when it was flipped. Models with no battle are
    dropped; ``names`` keeps its order otherwise (strings are sorted).
    """
    codes_a, codes_b, all_names = _encode_models(model_a, model_b, names)
    outcome_codes = _encode_outcomes(outcome)
    n = len(codes_a)
    if outcome_codes.shape != (n,):
        raise ValueError("outcome must have one entry per battle")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n,) or np.any(weights < 0):
            raise ValueError("weights must be non-negative, one per battle")
    if np.any(codes_a == codes_b):
        raise ValueError("a model cannot battle itself")

    # Keep only models that appear, so every fitted model has data.
    n_all = len(all_names)
    seen = np.zeros(n_all, dtype=bool)
    seen[codes_a] = True
    seen[codes_b] = True
    remap = np.cumsum(seen) - 1
    kept_names = tuple(name for name, used in zip(all_names, seen, strict=True) if used)
    m = len(kept_names)

    if style is not None:
        style = np.asarray(style, dtype=np.float64)
        if style.ndim == 1:
            style = style[:, None]
        if style.shape[0] != n:
            raise ValueError("style must have one row per battle")
        i = remap[codes_a]
        j = remap[codes_b]
        flipped = i > j
        oriented = np.where(flipped, _FLIPPED_OUTCOME[outcome_codes], outcome_codes).astype(np.int8)
        return CollapsedBattles(
            names=kept_names,
            model_i=np.where(flipped, j, i),
            model_j=np.where(flipped, i, j),
            outcome=oriented,
            count=np.ones(n, dtype=np.int64),
            weight=np.ones(n) if weights is None else weights.copy(),
            style=np.where(flipped[:, None], -style, style),
        )

    # key = ((i * m) + j) * 4 + outcome, counted in chunks to bound memory.
    n_keys = m * m * 4
    counts = np.zeros(n_keys, dtype=np.int64)
    weight_sums = np.zeros(n_keys) if weights is not None else None
    remap = remap.astype(np.int64)
    for start in range(0, n, _COLLAPSE_CHUNK):
        stop = min(start + _COLLAPSE_CHUNK, n)
        i = remap[codes_a[start:stop]]
        j = remap[codes_b[start:stop]]
        o = outcome_codes[start:stop]
        flipped = i > j
        key = (np.minimum(i, j) * m + np.maximum(i, j)) * 4 + np.where(flipped, _FLIPPED_OUTCOME[o], o)
        counts += np.bincount(key, minlength=n_keys)
        if weight_sums is not None:
            weight_sums += np.bincount(key, weights=weights[start:stop], minlength=n_keys)
    rows = np.flatnonzero(counts)
    pair, out = np.divmod(rows, 4)
    pi, pj = np.divmod(pair, m)
    return CollapsedBattles(
        names=kept_names,
        model_i=pi,
        model_j=pj,
        outcome=out.astype(np.int8),
        count=counts[rows],
        weight=counts[rows].astype(np.float64) if weight_sums is None else weight_sums[rows],
    )


def without_both_bad(collapsed: CollapsedBattles) -> CollapsedBattles:
    """Drop both_bad rows, and any model left without battles."""
    keep = collapsed.outcome != BOTH_BAD
    used = np.zeros(collapsed.n_models, dtype=bool)
    used[collapsed.model_i[keep]] = True
    used[collapsed.model_j[keep]] = True
    remap = np.cumsum(used) - 1
    return CollapsedBattles(
        names=tuple(name for name, u in zip(collapsed.names, used, strict=True) if u),
        model_i=remap[collapsed.model_i[keep]],
        model_j=remap[collapsed.model_j[keep]],
        outcome=collapsed.outcome[keep],
        count=collapsed.count[keep],
        weight=collapsed.weight[keep],
        style=None if collapsed.style is None else collapsed.style[keep],
    )


# ---------------------------------------------------------------- derived tables


def credit_shares(collapsed: CollapsedBattles, both_bad: str = "tie") -> tuple[np.ndarray, np.ndarray]:
    """Share of each row's weight credited to model_i and to model_j (ties: half each)."""
    if both_bad not in ("tie", "exclude"):
        raise ValueError('both_bad must be "tie" or "exclude"')
    both_bad_share = 0.5 if both_bad == "tie" else 0.0
    share_i = np.array([1.0, 0.0, 0.5, both_bad_share])[collapsed.outcome]
    share_j = np.array([0.0, 1.0, 0.5, both_bad_share])[collapsed.outcome]
    return share_i, share_j


def pairwise_matrices(collapsed: CollapsedBattles, *, both_bad: str = "tie") -> tuple[np.ndarray, np.ndarray]:
    """Return (win_rate, battle_counts), both (M, M) in the order of ``names``.

    win_rate[i, j] is the weighted share of i's battles against j that i won,
    ties counting half (NaN where they never met); battle_counts[i, j] counts
    those battles. With ``both_bad="exclude"`` both_bad battles are left out.
    """
    share_i, share_j = credit_shares(collapsed, both_bad)
    used = share_i + share_j > 0
    m = collapsed.n_models
    i, j = collapsed.model_i[used], collapsed.model_j[used]
    counts = np.zeros((m, m), dtype=np.int64)
    np.add.at(counts, (i, j), collapsed.count[used])
    counts += counts.T
    wins = np.zeros((m, m))
    np.add.at(wins, (i, j), (collapsed.weight * share_i)[used])
    np.add.at(wins, (j, i), (collapsed.weight * share_j)[used])
    totals = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(totals > 0, wins / totals, np.nan)
    return win_rate, counts


def style_covariates(features_a, features_b) -> np.ndarray:
    """Normalised style differences (a - b) / (a + b), as Chatbot Arena's style control.

    features_a/b: (n, k) non-negative per-answer counts (tokens, headers, list
    items, bold spans). The result lies in [-1, 1], 0 where both are 0, and
    flips sign when a and b swap.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (a - b) / total, 0.0)
