"""Scores over several training seeds: interquartile mean and bootstrap intervals.

The field's standard for "is method A better than B" with a handful of seeds is the
interquartile mean (IQM: the mean of the middle 50 % of runs) or the mean, with a 95 %
percentile bootstrap confidence interval that resamples *runs* (Agarwal et al., 2021,
the ``rliable`` library). With one task, rliable's stratified bootstrap is this plain
bootstrap over runs. The notebooks use this small version (NumPy only); the benchmarks
may use rliable itself (the ``bench`` extra, with ``pandas<3``, which its ``arch``
dependency needs). ``tests/common/test_stats.py`` checks this module against
``scipy.stats.bootstrap``, hand-computed resamples and, where it is installed, rliable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils.common.validate import generator, number, refuse, whole_number

Statistic = Callable[[np.ndarray], np.ndarray]
MAX_DRAWS = 50_000_000  # run indices one bootstrap may draw: 400 MB of int64


def _runs(name: str, scores: object) -> np.ndarray:
    """``scores`` as a float array of at least one run along axis 0, every value
    finite: a NaN run is refused, never trimmed or averaged away in silence."""
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        refuse(name, "numbers, one row per run", scores)
    if array.ndim == 0 or array.shape[0] < 1:
        refuse(name, "scores of at least 1 run", scores)
    if not np.isfinite(array).all():
        refuse(name, "finite scores", scores, fix="drop or fix the NaN or inf runs.")
    return array


def _reps(reps: object, runs: int) -> int:
    """``reps`` bounded so that its resamples fit in memory (``MAX_DRAWS``)."""
    return whole_number(
        "reps",
        reps,
        maximum=MAX_DRAWS // runs,
        why=f"bootstrap resamples of {runs} runs, at most {MAX_DRAWS:,} draws",
        fix="the default, 5_000, gives a steady 95 % interval.",
    )


def iqm(scores: np.ndarray) -> np.ndarray:
    """Interquartile mean over the first axis (runs): the mean of the runs between
    the 25th and 75th percentiles, as ``scipy.stats.trim_mean(scores, 0.25)`` (and
    rliable's ``aggregate_iqm``) computes it.

    Args:
        scores: ``(runs, ...)`` float.

    Returns:
        ``scores.shape[1:]``: one value per remaining index (e.g. per step of a curve).
    """
    scores = np.sort(_runs("scores", scores), axis=0)
    n = scores.shape[0]
    cut = int(0.25 * n)  # whole runs trimmed at each end, as scipy does
    return scores[cut : n - cut].mean(axis=0)


def mean(scores: np.ndarray) -> np.ndarray:
    """Mean over the first axis (runs)."""
    return _runs("scores", scores).mean(axis=0)


def bootstrap_ci(
    scores: np.ndarray,
    statistic: Statistic = iqm,
    *,
    rng: np.random.Generator,
    reps: int = 5_000,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The statistic over runs, and its percentile bootstrap confidence interval.

    Each of ``reps`` resamples draws ``runs`` rows with replacement (the same rows
    for every column, so a curve's points stay together), applies ``statistic``,
    and the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    quantiles of those values.

    Args:
        scores: ``(runs,)`` or ``(runs, points)`` float, e.g. one learning curve per
            training seed on a common grid of environment steps.
        statistic: ``iqm`` or ``mean`` (any function of ``(runs, ...)`` over axis 0).
        rng: draws the resamples.

    Returns:
        ``(point, low, high)``, each of shape ``scores.shape[1:]``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim not in (1, 2) or scores.shape[0] < 2:
        raise ValueError(
            f"bootstrap_ci needs (runs,) or (runs, points) scores with at least 2 "
            f"runs, got shape {scores.shape}: one run has no spread to resample."
        )
    if not np.isfinite(scores).all():
        raise ValueError("bootstrap_ci got NaN or inf scores; drop or fix those runs.")
    generator("rng", rng)
    runs = scores.shape[0]
    reps = _reps(reps, runs)
    number("confidence", confidence, above=0.0, below=1.0, why="e.g. 0.95")
    idx = rng.integers(0, runs, size=(reps, runs))
    values = np.stack([statistic(scores[i]) for i in idx])
    tail = (1 - confidence) / 2
    low, high = np.quantile(values, [tail, 1 - tail], axis=0)
    return statistic(scores), low, high


def bootstrap_diff_ci(
    a: np.ndarray,
    b: np.ndarray,
    *,
    rng: np.random.Generator,
    reps: int = 5_000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` and its percentile bootstrap confidence interval, each
    group's runs resampled on their own (two recipes trained on separate runs).

    Args:
        a, b: ``(runs,)`` scores of the two recipes, at least 2 runs each.
        rng: draws the resamples.

    Returns:
        ``(difference, low, high)``: an interval that excludes 0 says the recipes
        differ at this confidence; one that straddles 0 says these runs cannot tell.
    """
    a, b = (np.asarray(x, dtype=np.float64) for x in (a, b))
    if a.ndim != 1 or b.ndim != 1 or len(a) < 2 or len(b) < 2:
        raise ValueError(
            f"bootstrap_diff_ci needs two 1-D score arrays of at least 2 runs each, "
            f"got shapes {a.shape} and {b.shape}."
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("bootstrap_diff_ci got NaN or inf scores; drop those runs.")
    generator("rng", rng)
    reps = _reps(reps, max(len(a), len(b)))
    number("confidence", confidence, above=0.0, below=1.0, why="e.g. 0.95")
    resampled_a = a[rng.integers(0, len(a), size=(reps, len(a)))].mean(axis=1)
    resampled_b = b[rng.integers(0, len(b), size=(reps, len(b)))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(resampled_a - resampled_b, [tail, 1 - tail])
    return float(a.mean() - b.mean()), float(low), float(high)


def curves_on_grid(
    runs: list[tuple[list[int], list[float]]], grid: np.ndarray
) -> np.ndarray:
    """Learning curves ``(steps, values)`` of several runs, each interpolated on the
    same ``grid`` of environment steps: ``(runs, len(grid))``, ready for
    :func:`bootstrap_ci`. A run that stopped early is extended with its last value.
    """
    grid = np.asarray(grid, dtype=np.float64)
    if grid.ndim != 1 or not np.isfinite(grid).all():
        refuse("grid", "a 1-D array of finite environment steps", grid)
    if not isinstance(runs, (list, tuple)) or not runs:
        refuse("runs", "a list of at least 1 run's (steps, values)", runs)
    curves = []
    for i, (steps, values) in enumerate(runs):
        steps, values = (
            _runs(f"runs[{i}] steps", steps),
            _runs(f"runs[{i}]", values),
        )
        if steps.ndim != 1 or steps.shape != values.shape:
            refuse(f"runs[{i}]", "as many steps as values, 1-D", (steps, values))
        if (np.diff(steps) <= 0).any():
            refuse(f"runs[{i}] steps", "increasing environment steps", steps)
        curves.append(np.interp(grid, steps, values))
    return np.array(curves)
