"""course_utils.agents.tabular: numbers are checked where they enter.

The reference behaviour itself is tested in tests/lessons/test_rl_basics_checks.py.
"""

import numpy as np
import pytest

from course_utils.agents.tabular import (
    GridDiscretizer,
    discounted_return,
    q_learning_update,
)


@pytest.mark.parametrize("gamma", [-0.5, 1.5, np.nan, "0.9"], ids=repr)
def test_discounted_return_refuses_gamma_outside_0_1(gamma):
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, 1\]"):
        discounted_return([1.0, 2.0], gamma)


def test_discounted_return_refuses_nan_rewards():
    with pytest.raises(ValueError, match="finite"):
        discounted_return([1.0, np.nan], 0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"alpha": np.nan}, "alpha"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"gamma": 1.5}, "gamma"),
        ({"gamma": np.nan}, "gamma"),
        ({"reward": np.nan}, "reward"),
        ({"reward": np.inf}, "reward"),
        ({"state": -1}, "state"),  # would silently update the last row
        ({"state": 3}, "state"),
        ({"state": 1.5}, "state"),
        ({"next_state": -1}, "next_state"),
        ({"action": 2}, "action"),
        ({"action": -1}, "action"),
    ],
)
def test_q_learning_update_refuses_bad_numbers_and_changes_nothing(kwargs, match):
    table = np.arange(6, dtype=float).reshape(3, 2)
    args = {"state": 1, "action": 0, "reward": 1.0, "next_state": 2}
    args.update({k: v for k, v in kwargs.items() if k in args})
    rates = {"alpha": 0.5, "gamma": 0.9}
    rates.update({k: v for k, v in kwargs.items() if k in rates})
    with pytest.raises(ValueError, match=match):
        q_learning_update(table, terminated=False, **args, **rates)
    np.testing.assert_array_equal(table, np.arange(6).reshape(3, 2))


def test_grid_discretizer_same_cells_as_before_for_finite_observations():
    grid = GridDiscretizer([-1.2, -0.07], [0.6, 0.07], bins=20)
    obs = np.random.default_rng(0).uniform([-1.5, -0.1], [0.9, 0.1], size=(1000, 2))
    assert sum(grid(o) * (i + 1) for i, o in enumerate(obs)) == 97065182


def test_grid_discretizer_clips_infinities_to_the_edge_cells():
    grid = GridDiscretizer([0.0, 0.0], [1.0, 1.0], bins=4)
    assert grid(np.array([np.inf, np.inf])) == grid(np.array([5.0, 5.0])) == 15
    assert grid(np.array([-np.inf, 0.1])) == grid(np.array([-5.0, 0.1])) == 0
    assert grid(np.array([1e300, -1e300])) == 12  # huge but finite: clipped too


@pytest.mark.parametrize("obs", [[np.nan, 0.5], [0.5, np.nan]])
def test_grid_discretizer_refuses_nan(obs):
    grid = GridDiscretizer([0.0, 0.0], [1.0, 1.0], bins=4)
    with pytest.raises(ValueError, match="NaN"):
        grid(np.array(obs))


@pytest.mark.parametrize("obs", [[0.5], [0.5, 0.5, 0.5], [[0.5, 0.5]]])
def test_grid_discretizer_refuses_a_wrong_shape(obs):
    grid = GridDiscretizer([0.0, 0.0], [1.0, 1.0], bins=4)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        grid(np.array(obs))


@pytest.mark.parametrize("bins", [2.5, [2, 3, 4], "4", [2, 0], True], ids=repr)
def test_grid_discretizer_refuses_bad_bins(bins):
    with pytest.raises(ValueError, match="bins"):
        GridDiscretizer([0.0, 0.0], [1.0, 1.0], bins=bins)


@pytest.mark.parametrize("low", [[np.nan, 0.0], [-np.inf, 0.0]])
def test_grid_discretizer_refuses_nan_or_infinite_bounds(low):
    with pytest.raises(ValueError, match="finite bounds"):
        GridDiscretizer(low, [1.0, 1.0], bins=4)
