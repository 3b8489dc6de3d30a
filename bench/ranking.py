"""Benchmark of the ranking core: collapse, fit and bootstrap on synthetic battles.

Run by hand, not in the test suite:

    .venv/bin/python bench/ranking.py [--sizes 100k,1M,10M] [--models 40] [--rounds 1000] [--compare-size 1M]

Each size is timed once with memory tracing off, then run again under
tracemalloc to report the peak memory the ranking itself allocates (numpy
buffers included; the input battle arrays are excluded and listed apart).

A second table times the same battles given as model names rather than
integer codes (a list of str, as leaderboard/snapshots.py passes them, and a
numpy string array): names must be factorised first, and only the collapse
should pay for it.
"""

import argparse
import resource
import sys
import time
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ranking import (
    OUTCOMES,
    bootstrap_ratings,
    collapse_battles,
    fit_bradley_terry,
    fit_ratings,
    simulate_battles,
)


def _parse_size(text: str) -> int:
    multipliers = {"k": 1_000, "m": 1_000_000}
    suffix = text[-1].lower()
    if suffix in multipliers:
        return int(float(text[:-1]) * multipliers[suffix])
    return int(text)


def _rank(battles, rounds: int, seed: int):
    started = time.perf_counter()
    collapsed = collapse_battles(battles.model_a, battles.model_b, battles.outcome, names=battles.names)
    collapsed_s = time.perf_counter()
    ratings, coefficients = fit_ratings(collapsed)
    fitted_s = time.perf_counter()
    bootstrap_ratings(collapsed, rounds=rounds, seed=seed, start=(ratings, coefficients))
    done_s = time.perf_counter()
    return collapsed, (collapsed_s - started, fitted_s - collapsed_s, done_s - fitted_s)


def _best_of(repeats: int, work) -> tuple[float, object]:
    """Shortest wall time of ``repeats`` runs (the machine is shared: the minimum is the least noisy)."""
    best_s, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = work()
        best_s = min(best_s, time.perf_counter() - started)
    return best_s, result


def _compare_names_and_codes(true_ratings, size: int, rounds: int, seed: int) -> None:
    battles = simulate_battles(true_ratings, size, tie_rate=0.1, seed=seed)
    names = np.asarray(battles.names)
    as_arrays = (names[battles.model_a], names[battles.model_b], np.asarray(OUTCOMES)[battles.outcome])
    inputs = {
        "integer codes + names": ((battles.model_a, battles.model_b, battles.outcome), {"names": battles.names}),
        "names, list of str": (tuple(x.tolist() for x in as_arrays), {}),
        "names, numpy str array": (as_arrays, {}),
    }
    print()
    print(f"string names vs integer codes, {size:,} battles; end to end = fit_bradley_terry, {rounds} rounds")
    header = (
        f"{'input':<24} {'collapse s':>10} {'fit s':>7} {'end to end s':>12} "
        f"{'collapse x codes':>16} {'end to end x codes':>18}"
    )
    print(header)
    print("-" * len(header))
    baseline = None
    for label, (battle_arrays, kwargs) in inputs.items():
        collapse_s, collapsed = _best_of(3, partial(collapse_battles, *battle_arrays, **kwargs))
        fit_s, _ = _best_of(3, partial(fit_ratings, collapsed))
        total_s, _ = _best_of(3, partial(fit_bradley_terry, *battle_arrays, bootstrap=rounds, seed=seed, **kwargs))
        baseline = baseline or (collapse_s, total_s)
        print(
            f"{label:<24} {collapse_s:>10.3f} {fit_s:>7.3f} {total_s:>12.3f} "
            f"{collapse_s / baseline[0]:>16.1f} {total_s / baseline[1]:>18.2f}"
        )
    print("each time: best of 3 runs (time.perf_counter)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100k,1M,10M", help="comma-separated battle counts")
    parser.add_argument("--models", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare-size", default="1M", help="battles for the names-vs-codes table")
    args = parser.parse_args()

    true_ratings = np.linspace(-400.0, 400.0, args.models)
    print(f"{args.models} models, {args.rounds} bootstrap rounds, tie_rate 0.1, numpy {np.__version__}")
    header = (
        f"{'battles':>11} {'rows':>6} {'input MiB':>9} {'collapse s':>10} {'fit s':>7} "
        f"{'bootstrap s':>11} {'total s':>8} {'peak MiB':>9}"
    )
    print(header)
    print("-" * len(header))
    for size in (_parse_size(text) for text in args.sizes.split(",")):
        battles = simulate_battles(true_ratings, size, tie_rate=0.1, seed=args.seed)
        input_mib = sum(x.nbytes for x in battles[:3]) / 2**20
        collapsed, (collapse_s, fit_s, bootstrap_s) = _rank(battles, args.rounds, args.seed)

        tracemalloc.start()
        _rank(battles, args.rounds, args.seed)
        _, peak_bytes = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{size:>11,} {len(collapsed.count):>6} {input_mib:>9.1f} {collapse_s:>10.3f} "
            f"{fit_s:>7.3f} {bootstrap_s:>11.3f} {collapse_s + fit_s + bootstrap_s:>8.3f} "
            f"{peak_bytes / 2**20:>9.1f}"
        )
        del battles, collapsed
    max_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    print("times: one untraced run (time.perf_counter); peak MiB: tracemalloc peak during a second run")
    print(f"(collapse + fit + bootstrap, input arrays excluded); process max RSS {max_rss_mib:.0f} MiB (getrusage)")

    _compare_names_and_codes(true_ratings, _parse_size(args.compare_size), args.rounds, args.seed)


if __name__ == "__main__":
    main()
