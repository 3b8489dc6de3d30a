"""Leaderboard maths: Bradley-Terry ratings with bootstrap intervals, ranks, style control.

Pure functions over numpy arrays, in the arena-rank layout: data preparation
(`collapse_battles`) is separate from the model (`fit_ratings`, a penalised
Bradley-Terry / logistic likelihood maximised by Newton's method) and from the
intervals (`bootstrap_ratings`, `rank_from_intervals`). `fit_bradley_terry`
chains them for the leaderboard. Nothing here touches Django or a database, so
a Celery task can call it on arrays read from the votes table.

Conventions
-----------
* A battle is (model_a, model_b, outcome) with outcome one of OUTCOMES:
  "a" (a won), "b" (b won), "tie", "both_bad". Outcomes may also be given as
  their integer codes 0..3 (the index in OUTCOMES); models as strings, or as
  integer codes together with ``names``. Integer codes keep 10M battles small.
* A tie counts as half a win for each side. "both_bad" is a tie by default;
  ``both_bad="exclude"`` drops those battles from the fit and the matrices.
* Ratings are on the Elo-like scale of Chatbot Arena: 400/ln(10) points per
  logit (a 400-point gap means 10:1 odds), centred so that the unweighted mean
  rating of the fitted models is 1000. The centring is a convention only:
  Bradley-Terry identifies differences, never levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np
from scipy import sparse
from scipy.special import expit

OUTCOMES = ("a", "b", "tie", "both_bad")
A_WINS, B_WINS, TIE, BOTH_BAD = range(4)

# Elo convention used by Chatbot Arena: ratings in base-10 logits times 400.
RATING_POINTS_PER_LOGIT = 400.0 / np.log(10.0)
RATING_MEAN = 1000.0

# A tiny L2 penalty (in log-likelihood units, on logits) keeps every fit finite
# when the data do not identify it: a model that won all its battles in a
# bootstrap resample, or a comparison graph in several pieces. It also pins the
# mean logit at 0. Its pull on real fits is ridge * theta / curvature, about
# 1e-6 rating points for a model with 100 votes.
DEFAULT_RIDGE = 1e-4

# Bootstrap rounds are solved together as one batched Newton problem; cap the
# size of the (rounds x rows) arrays of one batch so memory stays bounded.
_MAX_BATCH_CELLS = 2_000_000
_COLLAPSE_CHUNK = 1_000_000


# ---------------------------------------------------------------- data preparation


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


def _encode_models(model_a, model_b, names):
    model_a = np.asarray(model_a)
    model_b = np.asarray(model_b)
    if model_a.shape != model_b.shape or model_a.ndim != 1:
        raise ValueError("model_a and model_b must be 1-d arrays of the same length")
    if np.issubdtype(model_a.dtype, np.integer) and np.issubdtype(model_b.dtype, np.integer):
        n_codes = int(max(model_a.max(initial=-1), model_b.max(initial=-1))) + 1
        if names is None:
            names = [str(code) for code in range(n_codes)]
        names = [str(name) for name in names]
        if min(model_a.min(initial=0), model_b.min(initial=0)) < 0 or n_codes > len(names):
            raise ValueError("integer model codes must index into names")
        return model_a, model_b, names
    if names is not None:
        raise ValueError("names is only used with integer model codes")
    names, codes = np.unique(np.concatenate([model_a, model_b]), return_inverse=True)
    codes = codes.astype(np.int32)
    return codes[: len(model_a)], codes[len(model_a) :], [str(name) for name in names]


def _encode_outcomes(outcome) -> np.ndarray:
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
    kept_names = tuple(name for name, used in zip(all_names, seen) if used)
    m = len(kept_names)
    flip_outcome = np.array([B_WINS, A_WINS, TIE, BOTH_BAD], dtype=np.int8)

    if style is not None:
        style = np.asarray(style, dtype=np.float64)
        if style.ndim == 1:
            style = style[:, None]
        if style.shape[0] != n:
            raise ValueError("style must have one row per battle")
        i = remap[codes_a]
        j = remap[codes_b]
        flipped = i > j
        oriented = np.where(flipped, flip_outcome[outcome_codes], outcome_codes).astype(np.int8)
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
        key = (np.minimum(i, j) * m + np.maximum(i, j)) * 4 + np.where(flipped, flip_outcome[o], o)
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


def _scores(collapsed: CollapsedBattles, both_bad: str) -> tuple[np.ndarray, np.ndarray]:
    """Share of each row's weight credited to model_i and to model_j."""
    if both_bad not in ("tie", "exclude"):
        raise ValueError('both_bad must be "tie" or "exclude"')
    both_bad_share = 0.5 if both_bad == "tie" else 0.0
    share_i = np.array([1.0, 0.0, 0.5, both_bad_share])[collapsed.outcome]
    share_j = np.array([0.0, 1.0, 0.5, both_bad_share])[collapsed.outcome]
    return share_i, share_j


def pairwise_matrices(
    collapsed: CollapsedBattles, *, both_bad: str = "tie"
) -> tuple[np.ndarray, np.ndarray]:
    """Return (win_rate, battle_counts), both (M, M) in the order of ``names``.

    win_rate[i, j] is the weighted share of i's battles against j that i won,
    ties counting half (NaN where they never met); battle_counts[i, j] counts
    those battles. With ``both_bad="exclude"`` both_bad battles are left out.
    """
    share_i, share_j = _scores(collapsed, both_bad)
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


# ---------------------------------------------------------------- the model


class _Design(NamedTuple):
    """Everything the Newton solver needs that does not change between rounds."""

    row_i: np.ndarray  # (L,) model index of the first side of each loss row
    row_j: np.ndarray  # (L,)
    incidence: sparse.csr_array  # (L, M): +1 at row_i, -1 at row_j
    style: np.ndarray | None  # (L, k) standardised covariates
    style_outer: np.ndarray | None  # (L, k*k) per-row outer products of style
    pair_i: np.ndarray  # (P,) unique pairs, for the Laplacian part of the Hessian
    pair_j: np.ndarray
    row_to_pair: sparse.csr_array | None  # (P, L), None when rows are the pairs
    to_rows_i: sparse.csr_array  # (R, L): collapsed-row weight -> credit to row_i
    to_rows_j: sparse.csr_array  # (R, L)
    n_models: int


def _design(collapsed: CollapsedBattles, both_bad: str, style_scale) -> _Design:
    share_i, share_j = _scores(collapsed, both_bad)
    r = len(collapsed.model_i)
    m = collapsed.n_models
    if collapsed.style is None:
        # Loss rows are the unique pairs: all outcomes of a pair add up into
        # one (credit_i, credit_j) pair of weights, whatever the resample.
        pair_key = collapsed.model_i * m + collapsed.model_j
        pair_keys, row_pair = np.unique(pair_key, return_inverse=True)
        row_i, row_j = np.divmod(pair_keys, m)
        n_rows = len(pair_keys)
        style = style_outer = None
        pair_i, pair_j, row_to_pair = row_i, row_j, None
    else:
        row_pair = np.arange(r)
        row_i, row_j = collapsed.model_i, collapsed.model_j
        n_rows = r
        style = collapsed.style / style_scale
        k = style.shape[1]
        style_outer = (style[:, :, None] * style[:, None, :]).reshape(r, k * k)
        pair_key = row_i * m + row_j
        pair_keys, battle_pair = np.unique(pair_key, return_inverse=True)
        pair_i, pair_j = np.divmod(pair_keys, m)
        row_to_pair = sparse.csr_array(
            (np.ones(r), (battle_pair, np.arange(r))), shape=(len(pair_keys), r)
        )
    incidence = sparse.csr_array(
        (
            np.concatenate([np.ones(n_rows), -np.ones(n_rows)]),
            (np.tile(np.arange(n_rows), 2), np.concatenate([row_i, row_j])),
        ),
        shape=(n_rows, m),
    )
    to_rows_i = sparse.csr_array((share_i, (np.arange(r), row_pair)), shape=(r, n_rows))
    to_rows_j = sparse.csr_array((share_j, (np.arange(r), row_pair)), shape=(r, n_rows))
    return _Design(
        row_i, row_j, incidence, style, style_outer, pair_i, pair_j, row_to_pair,
        to_rows_i, to_rows_j, m,
    )


def _row_credits(design: _Design, row_weights: np.ndarray):
    """Map (B, R) collapsed-row weights to (B, L) credits for each side."""
    credit_i = (design.to_rows_i.T @ row_weights.T).T
    credit_j = (design.to_rows_j.T @ row_weights.T).T
    return np.ascontiguousarray(credit_i), np.ascontiguousarray(credit_j)


def _margins(design: _Design, params: np.ndarray) -> np.ndarray:
    m = design.n_models
    margin = params[:, design.row_i] - params[:, design.row_j]
    if design.style is not None:
        margin += params[:, m:] @ design.style.T
    return margin


def _log_likelihood(margin, credit_i, credit_j, params, ridge):
    # log sigmoid(x) = -log(1 + exp(-x)), written stably.
    ll = -(credit_i * np.logaddexp(0.0, -margin)).sum(1) - (credit_j * np.logaddexp(0.0, margin)).sum(1)
    return ll - 0.5 * ridge * (params * params).sum(1)


def _newton_fit(
    design: _Design,
    credit_i: np.ndarray,
    credit_j: np.ndarray,
    start: np.ndarray,
    ridge: float,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> np.ndarray:
    """Maximise the penalised Bradley-Terry log-likelihood for B problems at once.

    credit_i/credit_j are (B, L) weights; start is (B, M + k). The objective is
    concave, the negative Hessian (a weighted graph Laplacian plus style blocks
    plus ridge * I) positive definite, so Newton's method with step halving
    converges in a handful of steps from a warm start. Problems that have
    converged leave the batch.
    """
    m = design.n_models
    n_params = start.shape[1]
    params = start.astype(np.float64, copy=True)
    active = np.arange(len(params))
    margin = _margins(design, params)
    loglik = _log_likelihood(margin, credit_i, credit_j, params, ridge)
    diag = np.arange(n_params)
    for _ in range(max_iter):
        if active.size == 0:
            break
        p, d = params[active], margin
        ci, cj = credit_i[active], credit_j[active]
        s = expit(d)
        total = ci + cj
        resid = ci - total * s  # d loglik / d margin
        curv = total * s * (1.0 - s)  # -d2 loglik / d margin2
        b = len(active)

        grad = np.empty((b, n_params))
        grad[:, :m] = (design.incidence.T @ resid.T).T
        hess = np.zeros((b, n_params, n_params))
        pair_curv = curv if design.row_to_pair is None else (design.row_to_pair @ curv.T).T
        hess[:, design.pair_i, design.pair_j] = -pair_curv
        hess[:, design.pair_j, design.pair_i] = -pair_curv
        hess[:, diag[:m], diag[:m]] = -hess[:, :m, :m].sum(2)
        if design.style is not None:
            k = n_params - m
            grad[:, m:] = resid @ design.style
            weighted = (curv[:, :, None] * design.style[None]).transpose(1, 0, 2).reshape(-1, b * k)
            cross = (design.incidence.T @ weighted).reshape(m, b, k).transpose(1, 0, 2)
            hess[:, :m, m:] = cross
            hess[:, m:, :m] = cross.transpose(0, 2, 1)
            hess[:, m:, m:] = (curv @ design.style_outer).reshape(b, k, k)
        grad -= ridge * p
        hess[:, diag, diag] += ridge

        step = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
        decrement = (grad * step).sum(1)
        d_step = _margins(design, step)

        # Step halving: accept the longest step that does not lower the
        # objective (up to rounding), per problem.
        t = np.ones(b)
        old = loglik[active]
        new_margin = d + d_step
        new_params = p + step
        new_loglik = _log_likelihood(new_margin, ci, cj, new_params, ridge)
        for _halving in range(40):
            bad = new_loglik < old - 1e-12 * (np.abs(old) + 1.0)
            if not bad.any():
                break
            t[bad] *= 0.5
            new_margin[bad] = d[bad] + t[bad, None] * d_step[bad]
            new_params[bad] = p[bad] + t[bad, None] * step[bad]
            new_loglik[bad] = _log_likelihood(
                new_margin[bad], ci[bad], cj[bad], new_params[bad], ridge
            )
        params[active] = new_params
        loglik[active] = new_loglik

        done = (decrement < tol) | (np.abs(step).max(1) < 1e-12)
        active = active[~done]
        margin = new_margin[~done]
    return params


def _style_scale(collapsed: CollapsedBattles) -> np.ndarray | None:
    """Per-covariate scale used inside the solver (covariates divided by it)."""
    if collapsed.style is None:
        return None
    scale = np.sqrt((collapsed.style**2).mean(0))  # RMS: no centring, so a-b symmetry holds
    return np.where(scale > 0, scale, 1.0)


def fit_ratings(
    collapsed: CollapsedBattles, *, both_bad: str = "tie", ridge: float = DEFAULT_RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood Bradley-Terry fit on collapsed battles.

    Returns (ratings, style_coefficients): ratings (M,) on the rating scale
    (mean 1000), and style coefficients (k,) in rating points per unit of each
    covariate (empty without style). P(i beats j) = sigmoid((R_i - R_j + x.beta)
    / RATING_POINTS_PER_LOGIT), ties credited half to each side.
    """
    design = _design(collapsed, both_bad, _style_scale(collapsed))
    credit_i, credit_j = _row_credits(design, collapsed.weight[None, :])
    k = 0 if collapsed.style is None else collapsed.style.shape[1]
    params = _newton_fit(design, credit_i, credit_j, np.zeros((1, collapsed.n_models + k)), ridge)
    ratings, coefficients = _to_rating_scale(params, collapsed)
    return ratings[0], coefficients[0]


def _to_rating_scale(params: np.ndarray, collapsed: CollapsedBattles):
    m = collapsed.n_models
    theta = params[:, :m]
    ratings = RATING_MEAN + RATING_POINTS_PER_LOGIT * (theta - theta.mean(1, keepdims=True))
    coefficients = RATING_POINTS_PER_LOGIT * params[:, m:]
    if collapsed.style is not None:
        coefficients = coefficients / _style_scale(collapsed)
    return ratings, coefficients


def _from_rating_scale(ratings, coefficients, collapsed: CollapsedBattles) -> np.ndarray:
    theta = (ratings - RATING_MEAN) / RATING_POINTS_PER_LOGIT
    beta = coefficients / RATING_POINTS_PER_LOGIT
    if collapsed.style is not None:
        beta = beta * _style_scale(collapsed)
    return np.concatenate([theta, beta])


# ---------------------------------------------------------------- intervals


def bootstrap_ratings(
    collapsed: CollapsedBattles,
    *,
    rounds: int = 1000,
    seed: int = 0,
    both_bad: str = "tie",
    ridge: float = DEFAULT_RIDGE,
    start: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Refit on ``rounds`` multinomial resamples of the collapsed rows.

    Each round draws new row counts (total = number of battles, probabilities
    = observed counts / total), the non-parametric bootstrap over battles done
    on the collapsed table. A row's weight scales with its drawn count (its
    mean weight per battle is kept). Rounds are solved together as batched
    Newton problems, warm-started from ``start`` (the full fit) when given.
    Returns (ratings (rounds, M), style coefficients (rounds, k)).
    """
    rng = np.random.default_rng(seed)
    design = _design(collapsed, both_bad, _style_scale(collapsed))
    k = 0 if collapsed.style is None else collapsed.style.shape[1]
    if start is None:
        start = fit_ratings(collapsed, both_bad=both_bad, ridge=ridge)
    start_params = _from_rating_scale(*start, collapsed)
    n = collapsed.n_battles
    probabilities = collapsed.count / n
    mean_weight = collapsed.weight / collapsed.count
    batch = max(1, _MAX_BATCH_CELLS // max(len(collapsed.count), len(design.row_i)))
    ratings = np.empty((rounds, collapsed.n_models))
    coefficients = np.empty((rounds, k))
    for first in range(0, rounds, batch):
        size = min(batch, rounds - first)
        drawn = rng.multinomial(n, probabilities, size=size)
        credit_i, credit_j = _row_credits(design, drawn * mean_weight)
        params = _newton_fit(design, credit_i, credit_j, np.tile(start_params, (size, 1)), ridge)
        ratings[first : first + size], coefficients[first : first + size] = _to_rating_scale(
            params, collapsed
        )
    return ratings, coefficients


def percentile_intervals(samples: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over axis 0 (bootstrap rounds)."""
    tail = 100.0 * (1.0 - level) / 2.0
    lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return lower, upper


def rank_from_intervals(lower, upper) -> np.ndarray:
    """Chatbot Arena rank: 1 + number of models whose lower bound is above my upper bound.

    Models whose intervals overlap share a rank, so ranks may repeat and skip.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    return 1 + (lower[None, :] > upper[:, None]).sum(1)


# ---------------------------------------------------------------- entry point


@dataclass(frozen=True)
class ModelRating:
    name: str
    rating: float
    lower: float
    upper: float
    rank: int
    votes: int


@dataclass(frozen=True)
class BradleyTerryResult:
    """What `fit_bradley_terry` returns.

    Arrays are aligned with ``names`` (models that appear in the battles, in
    sorted order for string names or the order of ``names`` for codes).
    ``leaderboard`` lists the same models as `ModelRating` rows, best first.
    With ``bootstrap=0`` lower and upper equal the rating, so ranks follow the
    point ratings. Style coefficients are in rating points per unit of each
    covariate (a positive value: the side with more of it wins more often).
    """

    names: tuple[str, ...]
    ratings: np.ndarray  # (M,) full-data maximum-likelihood fit, mean 1000
    lower: np.ndarray  # (M,) percentile bounds at ``level``
    upper: np.ndarray
    rank: np.ndarray  # (M,) int, see rank_from_intervals
    votes: np.ndarray  # (M,) int, battles that entered the fit
    win_rate: np.ndarray  # (M, M), see pairwise_matrices
    battle_counts: np.ndarray  # (M, M)
    bootstrap_ratings: np.ndarray  # (rounds, M)
    style_names: tuple[str, ...]  # () without style control
    style_coefficients: np.ndarray  # (k,)
    style_lower: np.ndarray  # (k,)
    style_upper: np.ndarray  # (k,)
    level: float = 0.95

    @property
    def leaderboard(self) -> list[ModelRating]:
        order = np.lexsort((-self.ratings, self.rank))
        return [
            ModelRating(
                name=self.names[i],
                rating=float(self.ratings[i]),
                lower=float(self.lower[i]),
                upper=float(self.upper[i]),
                rank=int(self.rank[i]),
                votes=int(self.votes[i]),
            )
            for i in order
        ]

    @property
    def style(self) -> dict[str, tuple[float, float, float]]:
        """{covariate: (coefficient, lower, upper)} in rating points per unit."""
        return {
            name: (float(c), float(lo), float(hi))
            for name, c, lo, hi in zip(
                self.style_names, self.style_coefficients, self.style_lower, self.style_upper
            )
        }


def fit_bradley_terry(
    model_a,
    model_b,
    outcome,
    *,
    weights=None,
    names: Sequence[str] | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    both_bad: str = "tie",
    style=None,
    style_names: Sequence[str] | None = None,
    level: float = 0.95,
    ridge: float = DEFAULT_RIDGE,
) -> BradleyTerryResult:
    """Ratings, bootstrap intervals, ranks and pairwise matrices for a leaderboard.

    model_a, model_b: per-battle model names, or integer codes into ``names``.
    outcome: per-battle "a" | "b" | "tie" | "both_bad" (or codes 0..3).
    weights: optional non-negative per-battle weights.
    style: optional (n, k) covariates of side a minus side b (see
    `style_covariates`), fitted jointly so that ratings are style-controlled.
    Cost: without style each bootstrap round is a fit over at most
    M(M-1)/2 pairs; with style every battle is a row, so rounds cost O(n).
    """
    if both_bad not in ("tie", "exclude"):
        raise ValueError('both_bad must be "tie" or "exclude"')
    collapsed = collapse_battles(model_a, model_b, outcome, weights=weights, names=names, style=style)
    if both_bad == "exclude":
        collapsed = _without_both_bad(collapsed)
    if collapsed.n_battles == 0:
        raise ValueError("no battles to rank")
    ratings, coefficients = fit_ratings(collapsed, both_bad=both_bad, ridge=ridge)
    if bootstrap > 0:
        boot, boot_coefficients = bootstrap_ratings(
            collapsed, rounds=bootstrap, seed=seed, both_bad=both_bad, ridge=ridge,
            start=(ratings, coefficients),
        )
        lower, upper = percentile_intervals(boot, level)
        style_lower, style_upper = percentile_intervals(boot_coefficients, level)
    else:
        boot = np.empty((0, collapsed.n_models))
        lower, upper = ratings.copy(), ratings.copy()
        style_lower, style_upper = coefficients.copy(), coefficients.copy()
    win_rate, counts = pairwise_matrices(collapsed, both_bad=both_bad)
    k = len(coefficients)
    if style_names is None:
        style_names = [f"style_{c}" for c in range(k)]
    if len(style_names) != k:
        raise ValueError("style_names must name every style column")
    return BradleyTerryResult(
        names=collapsed.names,
        ratings=ratings,
        lower=lower,
        upper=upper,
        rank=rank_from_intervals(lower, upper),
        votes=counts.sum(1),
        win_rate=win_rate,
        battle_counts=counts,
        bootstrap_ratings=boot,
        style_names=tuple(style_names),
        style_coefficients=coefficients,
        style_lower=style_lower,
        style_upper=style_upper,
        level=level,
    )


def _without_both_bad(collapsed: CollapsedBattles) -> CollapsedBattles:
    """Drop both_bad rows, and any model left without battles."""
    keep = collapsed.outcome != BOTH_BAD
    used = np.zeros(collapsed.n_models, dtype=bool)
    used[collapsed.model_i[keep]] = True
    used[collapsed.model_j[keep]] = True
    remap = np.cumsum(used) - 1
    return CollapsedBattles(
        names=tuple(name for name, u in zip(collapsed.names, used) if u),
        model_i=remap[collapsed.model_i[keep]],
        model_j=remap[collapsed.model_j[keep]],
        outcome=collapsed.outcome[keep],
        count=collapsed.count[keep],
        weight=collapsed.weight[keep],
        style=None if collapsed.style is None else collapsed.style[keep],
    )


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


# ---------------------------------------------------------------- synthetic data and Pareto


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


def pareto_frontier(score, cost) -> np.ndarray:
    """Mask of models no other model dominates (higher score is better, lower cost is better).

    Model j dominates i when score_j >= score_i and cost_j <= cost_i with at
    least one strict. Models with identical (score, cost) both stay on the
    frontier. A NaN score or cost (say, energy never measured) is neither on
    the frontier nor dominates anyone.
    """
    score = np.asarray(score, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    if score.shape != cost.shape or score.ndim != 1:
        raise ValueError("score and cost must be 1-d arrays of the same length")
    valid = ~(np.isnan(score) | np.isnan(cost))
    s, c = score[:, None], cost[:, None]  # i along rows, j along columns
    no_worse = (score[None, :] >= s) & (cost[None, :] <= c)
    better = (score[None, :] > s) | (cost[None, :] < c)
    dominated = (no_worse & better & valid[None, :]).any(1)
    return valid & ~dominated
