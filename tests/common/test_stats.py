"""course_utils.common.stats: the interquartile mean and the bootstrap over runs."""

import numpy as np
import pytest

from course_utils.common.stats import (
    bootstrap_ci,
    bootstrap_diff_ci,
    curves_on_grid,
    iqm,
    mean,
)


def test_iqm_trims_a_quarter_at_each_end():
    # 8 runs: the 2 lowest and the 2 highest go, the mean of 3, 4, 5, 6 stays
    assert iqm(np.array([100.0, 1, 2, 3, 4, 5, 6, -50])) == pytest.approx(3.5)
    # 5 runs: int(1.25) = 1 run trimmed at each end (scipy.stats.trim_mean's rule)
    assert iqm(np.array([0.0, 10, 20, 30, 1000])) == pytest.approx(20.0)
    # per column for curves
    curves = np.array([[0.0, 1], [10, 2], [20, 3], [30, 4]])
    np.testing.assert_allclose(iqm(curves), [15.0, 2.5])


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for runs in (4, 5, 7, 10, 13):
        x = rng.normal(size=(runs, 3))
        np.testing.assert_allclose(iqm(x), scipy_stats.trim_mean(x, 0.25, axis=0))


def test_bootstrap_ci_brackets_the_point_and_is_reproducible():
    scores = np.array([-98.6, -98.4, -100.1, -105.0, -99.0, -130.0])
    point, low, high = bootstrap_ci(scores, mean, rng=np.random.default_rng(1))
    assert point == pytest.approx(scores.mean())
    assert low < point < high
    again = bootstrap_ci(scores, mean, rng=np.random.default_rng(1))
    assert (low, high) == (again[1], again[2])
    other = bootstrap_ci(scores, mean, rng=np.random.default_rng(2))
    assert (low, high) != (other[1], other[2])  # the rng is used


def test_bootstrap_ci_equals_a_by_hand_bootstrap():
    scores = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    _, low, high = bootstrap_ci(
        scores, mean, rng=np.random.default_rng(3), reps=1000, confidence=0.9
    )
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 5, size=(1000, 5))
    values = scores[draws].mean(axis=1)
    assert low == pytest.approx(np.quantile(values, 0.05))
    assert high == pytest.approx(np.quantile(values, 0.95))


def test_bootstrap_ci_resamples_runs_not_points():
    # two curves that never cross: every resample's mean curve is between them, and
    # the same runs are drawn for every point, so the band's width is the same at
    # every point when the curves are parallel
    curves = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
    point, low, high = bootstrap_ci(curves, mean, rng=np.random.default_rng(0))
    np.testing.assert_allclose(point, [5, 6, 7])
    np.testing.assert_allclose(high - low, (high - low)[0])
    assert (low >= curves[0]).all() and (high <= curves[1]).all()


def test_more_runs_give_a_narrower_interval():
    rng = np.random.default_rng(0)
    few, many = rng.normal(size=5), rng.normal(size=500)
    _, lo5, hi5 = bootstrap_ci(few, mean, rng=np.random.default_rng(0))
    _, lo500, hi500 = bootstrap_ci(many, mean, rng=np.random.default_rng(0))
    assert hi500 - lo500 < (hi5 - lo5) / 3


@pytest.mark.parametrize(
    "scores, match",
    [
        (np.array([1.0]), "at least 2 runs"),
        (np.zeros((2, 2, 2)), "at least 2 runs"),
        (np.array([1.0, np.nan]), "NaN"),
    ],
)
def test_bootstrap_ci_refuses_bad_scores(scores, match):
    with pytest.raises(ValueError, match=match):
        bootstrap_ci(scores, rng=np.random.default_rng(0))


def test_bootstrap_ci_needs_a_generator():
    with pytest.raises(ValueError, match="default_rng"):
        bootstrap_ci(np.ones(3), rng=np.random.RandomState(0))


def test_matches_scipy_bootstrap():
    # an independent implementation (scipy.stats.bootstrap, percentile method):
    # different random draws, so the bounds agree to within Monte Carlo error
    scipy_stats = pytest.importorskip("scipy.stats")
    scores = np.random.default_rng(0).normal(-100, 5, size=10)
    for ours_stat, theirs_stat in ((mean, np.mean), (iqm, lambda x, axis: iqm(x.T))):
        ours = bootstrap_ci(
            scores, ours_stat, rng=np.random.default_rng(0), reps=10_000
        )
        theirs = scipy_stats.bootstrap(
            (scores,),
            theirs_stat,
            n_resamples=20_000,
            method="percentile",
            rng=np.random.default_rng(1),
        ).confidence_interval
        assert ours[1] == pytest.approx(theirs.low, abs=0.25)
        assert ours[2] == pytest.approx(theirs.high, abs=0.25)


def test_curves_on_grid_interpolates_and_extends():
    runs = [([0, 10], [0.0, 10.0]), ([0, 5], [2.0, 4.0])]
    np.testing.assert_allclose(
        curves_on_grid(runs, np.array([0, 5, 10])), [[0, 5, 10], [2, 4, 4]]
    )


def test_bootstrap_diff_ci_is_a_minus_b_and_resamples_each_group():
    a, b = np.array([10.0, 12.0, 11.0]), np.array([1.0, 2.0, 3.0, 2.0])
    diff, low, high = bootstrap_diff_ci(a, b, rng=np.random.default_rng(0))
    assert diff == pytest.approx(9.0)  # a - b, not b - a
    # every resample's difference lies between the extremes' differences
    assert 10.0 - 3.0 <= low < diff < high <= 12.0 - 1.0
    # by hand: the same draws, group a first, then group b
    rng = np.random.default_rng(5)
    ra = a[rng.integers(0, 3, size=(200, 3))].mean(axis=1)
    rb = b[rng.integers(0, 4, size=(200, 4))].mean(axis=1)
    want = np.quantile(ra - rb, [0.05, 0.95])
    got = bootstrap_diff_ci(
        a, b, rng=np.random.default_rng(5), reps=200, confidence=0.9
    )
    np.testing.assert_allclose(got[1:], want)


def test_bootstrap_diff_ci_straddles_zero_for_two_samples_of_one_population():
    rng = np.random.default_rng(3)
    a, b = rng.normal(300, 60, size=3), rng.normal(300, 60, size=3)
    _, low, high = bootstrap_diff_ci(a, b, rng=np.random.default_rng(0))
    assert low < 0 < high
    shifted = bootstrap_diff_ci(a + 1000, b, rng=np.random.default_rng(0))
    assert shifted[1] > 0  # a clear difference excludes 0


@pytest.mark.parametrize(
    "a, b, kwargs, message",
    [
        ([1.0], [1.0, 2.0], {}, "at least 2 runs each"),
        ([1.0, 2.0], [[1.0, 2.0]], {}, "two 1-D score arrays"),
        ([1.0, np.nan], [1.0, 2.0], {}, "NaN or inf"),
        ([1.0, 2.0], [1.0, 2.0], {"confidence": 1.0}, r"confidence must be .*\(0, 1\)"),
    ],
)
def test_bootstrap_diff_ci_refuses_bad_input(a, b, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_diff_ci(
            np.array(a), np.array(b), rng=np.random.default_rng(0), **kwargs
        )
    with pytest.raises(ValueError, match="default_rng"):
        bootstrap_diff_ci(np.array([1.0, 2.0]), np.array([1.0, 2.0]), rng=0)


def test_the_course_bootstrap_agrees_with_rliable():
    """The field's library (the ``bench`` extra) and the course's small bootstrap give
    the same IQM and the same 95 % interval, on the recorded MountainCar study (each
    run's mean greedy evaluation, 5 seeds per recipe; one task, so rliable's stratified
    bootstrap resamples the runs as ours does). The intervals differ only by Monte
    Carlo noise (rliable's resamples are its own): both draw 10 000 resamples, and
    each end agrees within a tenth of the interval's width (measured: within 0.06)."""
    pytest.importorskip(
        "rliable",
        reason="rliable is not installed (the bench extra: pip install -e '.[bench]')",
    )
    from pathlib import Path

    from rliable import library as rly
    from rliable import metrics

    from course_utils.lessons.studies import read_study

    study = Path(__file__).resolve().parents[2] / "data/studies/mountaincar_seeds"
    variants = read_study(study)["variants"]
    scores = {
        name: np.array([[np.mean(run["evals"])] for run in v["runs"].values()])
        for name, v in variants.items()
    }
    assert len(scores) >= 2 and all(s.shape[0] >= 5 for s in scores.values())
    points, intervals = rly.get_interval_estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=10_000
    )
    rng = np.random.default_rng(0)
    for name, runs in scores.items():
        point, low, high = bootstrap_ci(runs[:, 0], iqm, rng=rng, reps=10_000)
        assert point == pytest.approx(points[name][0], abs=1e-9), name
        theirs_low, theirs_high = intervals[name][:, 0]
        width = theirs_high - theirs_low
        assert low == pytest.approx(theirs_low, abs=0.1 * width + 1e-9), name
        assert high == pytest.approx(theirs_high, abs=0.1 * width + 1e-9), name


@pytest.mark.parametrize("statistic", [iqm, mean])
@pytest.mark.parametrize(
    "scores, message",
    [
        ([1.0, 2.0, np.nan, 4.0], "NaN or inf"),  # iqm would trim the NaN run away
        ([1.0, np.inf], "NaN or inf"),
        ([], "at least 1 run"),
        (np.zeros((0, 3)), "at least 1 run"),
        (3.0, "at least 1 run"),
        (["a", "b"], "numbers"),
    ],
)
def test_statistics_refuse_what_has_no_value(statistic, scores, message):
    with pytest.raises(ValueError, match=message):
        statistic(scores)


@pytest.mark.parametrize("reps", [10**12, 10**8])
def test_reps_that_would_exhaust_memory_are_refused_before_drawing(reps):
    """10**12 resamples of 3 runs would draw 22 TiB of indices."""
    with pytest.raises(ValueError, match=r"reps must be .*from 1 to .*Fix"):
        bootstrap_ci(np.ones(3), rng=np.random.default_rng(0), reps=reps)
    with pytest.raises(ValueError, match=r"reps must be .*from 1 to .*Fix"):
        bootstrap_diff_ci(
            np.ones(3), np.ones(3), rng=np.random.default_rng(0), reps=reps
        )


@pytest.mark.parametrize(
    "runs, grid, message",
    [
        ([], [0, 1], "at least 1 run"),
        ([([0, 10], [0.0, np.nan])], [0, 5], "NaN or inf"),
        ([([10, 0], [0.0, 1.0])], [0, 5], "increasing"),
        ([([0, 10], [0.0])], [0, 5], "as many"),
        ([([0, 10], [0.0, 1.0])], [[0, 5]], "grid"),
    ],
)
def test_curves_on_grid_refuses_curves_it_would_misread(runs, grid, message):
    with pytest.raises(ValueError, match=message):
        curves_on_grid(runs, np.array(grid))
