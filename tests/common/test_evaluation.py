"""evaluate: episode returns over seeded episodes."""

import numpy as np
import pytest

from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate, summarize


@pytest.fixture
def mountaincar():
    env = make_env("MountainCar-v0")
    yield env
    env.close()


def pump(obs) -> int:
    """Push in the direction of motion: climbs out of the valley in ~100-170 steps."""
    return 2 if obs[1] >= 0 else 0


def test_never_pushing_scores_minus_200_per_episode(mountaincar):
    returns = evaluate(lambda obs: 1, mountaincar, n_episodes=3, seed=0)
    assert returns.dtype == np.float64 and returns.shape == (3,)
    np.testing.assert_array_equal(returns, [-200.0, -200.0, -200.0])


def test_a_policy_that_solves_it_scores_better_than_the_time_limit(mountaincar):
    returns = evaluate(pump, mountaincar, n_episodes=4, seed=0)
    assert np.all(returns > -200) and np.all(returns < -50)


def test_same_seed_same_returns(mountaincar):
    a = evaluate(pump, mountaincar, n_episodes=5, seed=100)
    b = evaluate(pump, mountaincar, n_episodes=5, seed=100)
    np.testing.assert_array_equal(a, b)
    assert len(set(a.tolist())) > 1  # the start states differ from episode to episode


def test_episode_i_uses_seed_plus_i(mountaincar):
    three = evaluate(pump, mountaincar, n_episodes=3, seed=10)
    two = evaluate(pump, mountaincar, n_episodes=2, seed=11)
    np.testing.assert_array_equal(three[1:], two)


def test_the_episode_starts_from_reset_with_the_seed(mountaincar):
    seen = []

    def recording_policy(obs):
        seen.append(obs.copy())
        return 1

    evaluate(recording_policy, mountaincar, n_episodes=1, seed=7)
    assert len(seen) == 200  # one action per step until the time limit
    other = make_env("MountainCar-v0")
    expected, _ = other.reset(seed=7)
    other.close()
    np.testing.assert_array_equal(seen[0], expected)


@pytest.mark.parametrize("n_episodes", [0, -1])
def test_n_episodes_below_one_is_refused(mountaincar, n_episodes):
    with pytest.raises(ValueError, match="n_episodes must be a whole number >= 1"):
        evaluate(lambda obs: 1, mountaincar, n_episodes=n_episodes, seed=0)


def test_summarize():
    assert summarize(np.array([-200.0, -200.0])) == "-200.0 ± 0.0 over 2 episodes"
    assert summarize([1.0, 3.0]) == "2.0 ± 1.0 over 2 episodes"


def test_a_bar_counts_the_episodes_and_changes_nothing(mountaincar, monkeypatch):
    import course_utils.common.evaluation as evaluation

    bars = []

    def kept(*args, **kwargs):
        bars.append(real(*args, **kwargs))
        return bars[-1]

    real = evaluation.progress_bar
    monkeypatch.setattr(evaluation, "progress_bar", kept)
    policy = pump
    quiet = evaluate(policy, mountaincar, n_episodes=3, seed=5)
    shown = evaluate(policy, mountaincar, n_episodes=3, seed=5, progress=True)
    np.testing.assert_array_equal(quiet, shown)
    assert bars[0].disable and bars[1].n == bars[1].total == 3 and bars[1].leave
    outer = evaluation.progress_bar(range(2), desc="agents")
    evaluate(policy, mountaincar, n_episodes=2, seed=5, progress=outer)
    assert bars[-1].leave is False  # under another bar: no trace left
    outer.close()
