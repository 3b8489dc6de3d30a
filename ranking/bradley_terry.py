"""The Bradley-Terry model: ratings from collapsed battles, and the leaderboard entry point.

P(i beats j) = sigmoid(theta_i - theta_j + x.beta), with x the optional style
covariates of the battle. `fit_ratings` maximises the penalised log-likelihood
(ties credited half to each side) by Newton's method; `fit_reweighted` solves
many reweightings of the same rows at once, which is what the bootstrap in
`ranking.intervals` needs. `fit_bradley_terry` chains collapse, fit, bootstrap
intervals, ranks and pairwise matrices for the leaderboard.

Ratings are on the Elo-like scale of Chatbot Arena: 400/ln(10) points per
logit (a 400-point gap means 10:1 odds), centred so that the unweighted mean
rating of the fitted models is 1000. The centring is a convention only:
Bradley-Terry identifies differences, never levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.special import expit

from ranking.collapse import CollapsedBattles, collapse_battles, credit_shares, pairwise_matrices, without_both_bad

# Elo convention used by Chatbot Arena: ratings in base-10 logits times 400.
RATING_POINTS_PER_LOGIT = 400.0 / np.log(10.0)
RATING_MEAN = 1000.0

# A tiny L2 penalty on the logits keeps every fit finite when the data do not
# identify it: a model that won all its battles in a bootstrap resample, or a
# comparison graph in several pieces. It is counted in battles of mean weight
# (see _weight_unit), so it means the same whatever unit the weights come in;
# its pull on real fits is ridge * theta / curvature, about 1e-6 rating points
# for a model with 100 votes. ridge=0 gives the plain maximum-likelihood fit,
# which exists only when the comparison graph is connected and every model both
# won and lost.
DEFAULT_RIDGE = 1e-4


# ---------------------------------------------------------------- design and likelihood


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
    share_i, share_j = credit_shares(collapsed, both_bad)
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
        row_to_pair = sparse.csr_array((np.ones(r), (battle_pair, np.arange(r))), shape=(len(pair_keys), r))
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
        row_i,
        row_j,
        incidence,
        style,
        style_outer,
        pair_i,
        pair_j,
        row_to_pair,
        to_rows_i,
        to_rows_j,
        m,
    )


def _weight_unit(collapsed: CollapsedBattles) -> float:
    """Mean weight per battle: the unit the solver measures weights in.

    Bradley-Terry's maximum does not move when every weight is multiplied by
    the same factor, but a fixed ridge does: in raw weight units, weights
    normalised to sum to 1 made the 1e-4 ridge as strong as 1e-4 * n battles
    and shrank ratings by up to 5.5 points. Dividing the weights by their mean
    makes the whole objective, penalty included, scale-free, and leaves
    unweighted fits (mean weight 1) exactly as they were. Dividing by the total
    weight instead would make the penalty grow with the number of battles.
    """
    total_weight = float(collapsed.weight.sum())
    n_battles = collapsed.n_battles
    return total_weight / n_battles if total_weight > 0 and n_battles > 0 else 1.0


def _row_credits(design: _Design, row_weights: np.ndarray, weight_unit: float):
    """Map (B, R) collapsed-row weights to (B, L) credits for each side, in weight units."""
    row_weights = row_weights / weight_unit
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


# ---------------------------------------------------------------- Newton solver


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

    credit_i/credit_j are (B, L) weights; start is (B, M + k) with logits that
    sum to zero. The objective is concave and its negative Hessian is a
    weighted graph Laplacian plus style blocks plus ridge * I; Newton's method
    with step halving converges in a handful of steps from a warm start.
    Problems that have converged leave the batch.
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
        _fix_gauge(hess, m)

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
            new_loglik[bad] = _log_likelihood(new_margin[bad], ci[bad], cj[bad], new_params[bad], ridge)
        params[active] = new_params
        loglik[active] = new_loglik

        done = (decrement < tol) | (np.abs(step).max(1) < 1e-12)
        active = active[~done]
        margin = new_margin[~done]
    return params


def _fix_gauge(hess: np.ndarray, n_models: int) -> None:
    """Make the (B, M + k, M + k) negative Hessians invertible without changing the step.

    The likelihood sees only differences of logits, so the all-ones direction
    over the models is in the null space of the Laplacian block: with ridge=0
    the Hessian is singular (np.linalg.solve fails at 1M battles). Adding
    c * 1 1^T to that block pins the gauge instead: every battle credits one
    side what it takes from the other, so the logit gradient sums to zero, and
    then the solution of the augmented system has steps that sum to zero and
    is otherwise the Newton step (with ridge > 0 exactly the step of before).
    The logits keep the zero sum they start with. c is only there to condition
    the solve: the mean diagonal spread over the M models.
    """
    m = n_models
    diag = np.arange(m)
    mean_diagonal = hess[:, diag, diag].mean(1)
    c = np.where(mean_diagonal > 0, mean_diagonal, 1.0) / m
    hess[:, :m, :m] += c[:, None, None]


# ---------------------------------------------------------------- fits


def _style_scale(collapsed: CollapsedBattles) -> np.ndarray | None:
    """Per-covariate scale used inside the solver (covariates divided by it)."""
    if collapsed.style is None:
        return None
    scale = np.sqrt((collapsed.style**2).mean(0))  # RMS: no centring, so a-b symmetry holds
    return np.where(scale > 0, scale, 1.0)


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
    theta = theta - theta.mean()  # the solver keeps the zero sum it starts from
    beta = coefficients / RATING_POINTS_PER_LOGIT
    if collapsed.style is not None:
        beta = beta * _style_scale(collapsed)
    return np.concatenate([theta, beta])


def fit_ratings(
    collapsed: CollapsedBattles, *, both_bad: str = "tie", ridge: float = DEFAULT_RIDGE
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood Bradley-Terry fit on collapsed battles.

    Returns (ratings, style_coefficients): ratings (M,) on the rating scale
    (mean 1000), and style coefficients (k,) in rating points per unit of each
    covariate (empty without style). P(i beats j) = sigmoid((R_i - R_j + x.beta)
    / RATING_POINTS_PER_LOGIT), ties credited half to each side. The result
    does not depend on the scale of the weights; ``ridge`` is in battles of
    mean weight (see DEFAULT_RIDGE).
    """
    design = _design(collapsed, both_bad, _style_scale(collapsed))
    credit_i, credit_j = _row_credits(design, collapsed.weight[None, :], _weight_unit(collapsed))
    k = 0 if collapsed.style is None else collapsed.style.shape[1]
    params = _newton_fit(design, credit_i, credit_j, np.zeros((1, collapsed.n_models + k)), ridge)
    ratings, coefficients = _to_rating_scale(params, collapsed)
    return ratings[0], coefficients[0]


def fit_reweighted(
    collapsed: CollapsedBattles,
    row_weight_batches: Iterable[np.ndarray],
    *,
    start: tuple[np.ndarray, np.ndarray],
    both_bad: str = "tie",
    ridge: float = DEFAULT_RIDGE,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Refit on new weights for the collapsed rows, a (B, R) batch at a time.

    Yields (ratings (B, M), style coefficients (B, k)) per batch. The B fits of
    a batch are solved together as one batched Newton problem, warm-started
    from ``start`` = (ratings, coefficients), typically the full-data fit. The
    weights are measured in the full data's mean weight per battle, so every
    refit carries the same penalty as the fit it perturbs.
    """
    design = _design(collapsed, both_bad, _style_scale(collapsed))
    weight_unit = _weight_unit(collapsed)
    start_params = _from_rating_scale(*start, collapsed)
    for row_weights in row_weight_batches:
        credit_i, credit_j = _row_credits(design, row_weights, weight_unit)
        starts = np.tile(start_params, (len(row_weights), 1))
        yield _to_rating_scale(_newton_fit(design, credit_i, credit_j, starts, ridge), collapsed)


# ---------------------------------------------------------------- leaderboard entry point


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
                self.style_names, self.style_coefficients, self.style_lower, self.style_upper, strict=True
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
    weights: optional non-negative per-battle weights (only their ratios matter).
    style: optional (n, k) covariates of side a minus side b (see
    `style_covariates`), fitted jointly so that ratings are style-controlled.
    Cost: without style each bootstrap round is a fit over at most
    M(M-1)/2 pairs; with style every battle is a row, so rounds cost O(n).
    """
    # ranking.intervals resamples and refits through this module's solver, so
    # it can only be imported once this module exists: at call time.
    from ranking.intervals import bootstrap_ratings, percentile_intervals, rank_from_intervals

    if both_bad not in ("tie", "exclude"):
        raise ValueError('both_bad must be "tie" or "exclude"')
    collapsed = collapse_battles(model_a, model_b, outcome, weights=weights, names=names, style=style)
    if both_bad == "exclude":
        collapsed = without_both_bad(collapsed)
    if collapsed.n_battles == 0:
        raise ValueError("no battles to rank")
    ratings, coefficients = fit_ratings(collapsed, both_bad=both_bad, ridge=ridge)
    if bootstrap > 0:
        boot, boot_coefficients = bootstrap_ratings(
            collapsed,
            rounds=bootstrap,
            seed=seed,
            both_bad=both_bad,
            ridge=ridge,
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
