"""Synthetic battles between models of known strength, for tests, benchmarks and demo data.

`simulate_battles` draws battles whose expected half-win score matches the
Bradley-Terry model exactly, optionally with planted style effects, so a fit
can be checked against the ratings it should recover.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import expit

from ranking.bradley_terry import RATING_POINTS_PER_LOGIT
from ranking.collapse import A_WINS, B_WINS, BOTH_BAD, TIE


class SimulatedBattles(NamedTuple):
    """Compact synthetic battles: int16 model codes into ``names``, int8 outcome codes."""

    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    names: tuple[str, ...]
    style: np.ndarray | None  # (n, k) a-minus-b covariates when style was planted


def simulate_battles(
    true_ratings: Mapping[str, float] | Sequence[float] | np.ndarray,
    n_battles: int,
    *,
    tie_rate: float = 0.1,
    both_bad_rate: float = 0.0,
    model_style=None,
    style_coefficients=None,
    style_noise: float = 0.1,
    seed: int = 0,
    chunk_size: int = 1_000_000,
) -> SimulatedBattles:
    """Draw battles between uniformly random pairs of models of known strength.

    p = P(a beats b) = sigmoid((R_a - R_b + x.beta) / RATING_POINTS_PER_LOGIT).
    A battle is tie-like with probability q = (tie_rate + both_bad_rate) *
    4p(1-p) (largest between equals, vanishing for mismatches), reported as
    "both_bad" in the proportion both_bad_rate; otherwise a wins with
    probability p - q/2. Then a's expected score, ties counting half, is
    exactly p: the quantity the half-win Bradley-Terry fit estimates.

    Style: model_style (M, k) holds each model's typical covariate; a battle's
    covariates are model_style[a] - model_style[b] plus normal noise of sd
    style_noise, and style_coefficients (k,) are in rating points per unit.
    Generated in chunks so 10M battles need only the compact outputs.
    """
    if isinstance(true_ratings, Mapping):
        names = tuple(str(name) for name in true_ratings)
        strengths = np.array([float(true_ratings[name]) for name in names])
    else:
        strengths = np.asarray(true_ratings, dtype=np.float64)
        names = tuple(f"model_{i:02d}" for i in range(len(strengths)))
    m = len(strengths)
    if m < 2 or m > np.iinfo(np.int16).max:
        raise ValueError("need between 2 and 32767 models")
    tie_like = tie_rate + both_bad_rate
    if tie_rate < 0 or both_bad_rate < 0 or tie_like > 0.5:
        raise ValueError("tie_rate + both_bad_rate must lie in [0, 0.5]")
    planted = model_style is not None
    if planted:
        model_style = np.asarray(model_style, dtype=np.float64).reshape(m, -1)
        beta = np.asarray(style_coefficients, dtype=np.float64).reshape(model_style.shape[1])
    theta = strengths / RATING_POINTS_PER_LOGIT
    rng = np.random.default_rng(seed)
    model_a = np.empty(n_battles, dtype=np.int16)
    model_b = np.empty(n_battles, dtype=np.int16)
    outcome = np.empty(n_battles, dtype=np.int8)
    style = np.empty((n_battles, model_style.shape[1])) if planted else None
    for start in range(0, n_battles, chunk_size):
        size = min(chunk_size, n_battles - start)
        a = rng.integers(0, m, size)
        b = rng.integers(0, m - 1, size)
        b += b >= a
        margin = theta[a] - theta[b]
        if planted:
            x = model_style[a] - model_style[b] + style_noise * rng.standard_normal((size, len(beta)))
            margin += x @ beta / RATING_POINTS_PER_LOGIT
            style[start : start + size] = x
        p = expit(margin)
        q = tie_like * 4.0 * p * (1.0 - p)
        u = rng.random(size)
        a_wins = p - q / 2.0
        codes = np.full(size, B_WINS, dtype=np.int8)
        codes[u < a_wins + q] = TIE
        if both_bad_rate > 0:
            codes[(u >= a_wins) & (u < a_wins + q * both_bad_rate / tie_like)] = BOTH_BAD
        codes[u < a_wins] = A_WINS
        model_a[start : start + size] = a
        model_b[start : start + size] = b
        outcome[start : start + size] = codes
    return SimulatedBattles(model_a, model_b, outcome, names, style)
