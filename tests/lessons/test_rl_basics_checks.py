"""Tabular reference code (course_utils.agents.tabular) and the checks of
02_rl_concepts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from course_utils.agents.tabular import (
    GridDiscretizer,
    discounted_return,
    mountaincar_step,
    q_learning_update,
    reachable_cells,
    train_q_learning,
)
from course_utils.common.policies import epsilon_greedy
from course_utils.lessons.checks.rl_basics import (
    check_discounted_return,
    check_epsilon_greedy,
    check_mountaincar_grid,
    check_predict_corridor_values,
    check_q_learning_update,
    check_train_q_learning,
    make_mountaincar_grid,
    predict_corridor_values,
)

# ---------------------------------------------------------------- reference code


def test_discounted_return_by_hand():
    assert discounted_return([1.0, 1.0, 1.0], 0.5) == pytest.approx(1.75)
    assert discounted_return([0.0, 0.0, 10.0], 0.9) == pytest.approx(8.1)
    assert discounted_return([], 0.9) == 0.0
    assert discounted_return(np.ones(4), 1.0) == pytest.approx(4.0)


def test_epsilon_greedy_ties_and_extremes():
    rng = np.random.default_rng(0)
    greedy = {epsilon_greedy(np.array([1.0, 3.0, 2.0]), 0.0, rng) for _ in range(50)}
    assert greedy == {1}
    tied = [epsilon_greedy(np.array([2.0, 0.0, 2.0]), 0.0, rng) for _ in range(200)]
    assert set(tied) == {0, 2}
    q_values = np.array([0.0, 9.0, 0.0, 0.0])
    uniform = [epsilon_greedy(q_values, 1.0, rng) for _ in range(400)]
    assert set(uniform) == {0, 1, 2, 3}
    assert isinstance(epsilon_greedy(np.zeros(3), 0.5, rng), int)


def test_q_learning_update_terminal_does_not_bootstrap():
    q_table = np.array([[0.0, 0.0], [4.0, 6.0]])
    q_learning_update(q_table, 0, 1, 1.0, 1, False, alpha=0.5, gamma=0.5)
    assert q_table[0, 1] == pytest.approx(0.5 * (1.0 + 0.5 * 6.0))
    q_learning_update(q_table, 0, 0, 1.0, 1, True, alpha=0.5, gamma=0.5)
    assert q_table[0, 0] == pytest.approx(0.5)
    assert q_table[1].tolist() == [4.0, 6.0]


def test_grid_discretizer():
    grid = GridDiscretizer(np.array([-1.0, 0.0]), np.array([1.0, 10.0]), bins=(2, 5))
    assert grid.n_states == 10
    assert grid(np.array([-0.5, 1.0])) == 0
    assert grid(np.array([-0.5, 3.0])) == 1
    assert grid(np.array([0.5, 9.9])) == 9
    assert grid(np.array([5.0, -3.0])) == 5  # outside the box: clipped to the edge
    env_like = GridDiscretizer([-1.2, -0.07], [0.6, 0.07], bins=20)
    assert env_like.n_states == 400
    rng = np.random.default_rng(0)
    for obs in rng.uniform([-1.3, -0.08], [0.7, 0.08], size=(200, 2)):
        assert 0 <= env_like(obs.astype(np.float32)) < 400
    with pytest.raises(ValueError, match="low < high"):
        GridDiscretizer([0.0], [0.0], bins=3)
    with pytest.raises(ValueError, match="bins"):
        GridDiscretizer([0.0], [1.0], bins=0)


# ---------------------------------------------------------------- the checks


def _not_done(*args, **kwargs):
    raise NotImplementedError("Exercise: not done yet")


CHECKS = [
    (check_discounted_return, discounted_return),
    (check_predict_corridor_values, predict_corridor_values),
    (check_epsilon_greedy, epsilon_greedy),
    (check_q_learning_update, q_learning_update),
    (check_train_q_learning, train_q_learning),
]


@pytest.mark.parametrize(("check", "reference"), CHECKS)
def test_check_passes_the_reference(check, reference, capsys):
    assert check(reference) is reference
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(("check", "reference"), CHECKS)
def test_check_falls_back_to_the_reference(check, reference, capsys):
    assert check(_not_done) is reference
    assert "not done yet" in capsys.readouterr().out


def _first_reward_discounted(rewards, gamma):
    return sum(gamma ** (k + 1) * r for k, r in enumerate(rewards))


def _discounted_backwards(rewards, gamma):
    n = len(rewards)
    return sum(gamma ** (n - 1 - k) * r for k, r in enumerate(rewards))


def _drops_the_last_reward(rewards, gamma):  # off by one at the end
    return sum(gamma**k * r for k, r in enumerate(rewards[:-1]))


def _skips_the_first_reward(rewards, gamma):  # off by one at the start
    return sum(gamma**k * r for k, r in enumerate(rewards[1:]))


@pytest.mark.parametrize(
    "wrong",
    [
        _first_reward_discounted,
        _discounted_backwards,
        lambda rewards, gamma: float(sum(rewards)),
        _drops_the_last_reward,
        _skips_the_first_reward,
    ],
)
def test_discounted_return_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError, match="Exercise 1"):
        check_discounted_return(wrong)


@pytest.mark.parametrize(
    "wrong",
    [
        (10.0, -9.0),  # the +10 undiscounted
        (5.0, -4.0),  # discounted once: one step too few
        (1.25, -0.25),  # γ³ · 10: one step too many (off by one)
        (1.0, 0.0),  # the left exit taken for the best
        (2.5, 1.5),  # the advantage's sign flipped
        (2.5, 1.0),  # Q*(1, left) given instead of A*(1, left)
        (-1.5, 2.5),  # the two numbers swapped
        2.5,  # one number only
    ],
)
def test_predict_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError, match="Exercise 2") as failure:
        check_predict_corridor_values(lambda: wrong)
    message = str(failure.value)
    # a hand-worked exercise: right or wrong with a hint, never the expected numbers
    given = set(np.ravel(wrong).tolist())
    assert "expected" not in message
    for value, pattern in [(2.5, r"(?<![-\d.])2\.5"), (-1.5, r"-1\.5")]:
        if value not in given:
            assert not re.search(pattern, message), message


@pytest.mark.parametrize("right", [(2.5, -1.5), [2.5, -1.5], (np.float64(2.5), -1.5)])
def test_predict_check_accepts_the_answer_written_other_ways(right, capsys):
    check_predict_corridor_values(lambda: right)
    assert "✓" in capsys.readouterr().out


def _first_argmax(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return int(np.argmax(q_values))


def _explore_two_actions(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(2))
    return epsilon_greedy(q_values, 0.0, rng)


def _explore_three_actions(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(3))
    return epsilon_greedy(q_values, 0.0, rng)


def _explore_non_greedy_only(q_values, epsilon, rng):
    greedy = epsilon_greedy(q_values, 0.0, rng)
    if rng.random() < epsilon:
        others = [a for a in range(len(q_values)) if a != greedy]
        return int(rng.choice(others))
    return greedy


def _inverted_epsilon(q_values, epsilon, rng):
    return epsilon_greedy(q_values, 1.0 - epsilon, rng)


def _global_numpy_random(q_values, epsilon, rng):  # ignores rng: not reproducible
    if np.random.random() < epsilon:
        return int(np.random.randint(len(q_values)))
    return int(np.random.choice(np.flatnonzero(q_values == q_values.max())))


def _global_numpy_ties_only(q_values, epsilon, rng):  # rng for ε, np.random for ties
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return int(np.random.choice(np.flatnonzero(q_values == q_values.max())))


def _python_random_module(q_values, epsilon, rng):
    import random

    if random.random() < epsilon:
        return random.randrange(len(q_values))
    return random.choice(np.flatnonzero(q_values == q_values.max()).tolist())


def _fresh_unseeded_generator(q_values, epsilon, rng):
    return epsilon_greedy(q_values, epsilon, np.random.default_rng())


def _fixed_seed_generator(q_values, epsilon, rng):  # same draws whatever rng is given
    return epsilon_greedy(q_values, epsilon, np.random.default_rng(0))


def _explore_off_by_one(q_values, epsilon, rng):  # rng.integers(1, n): never action 0
    if rng.random() < epsilon:
        return int(rng.integers(1, len(q_values)))
    return epsilon_greedy(q_values, 0.0, rng)


def _greedy_is_argmin(q_values, epsilon, rng):
    return epsilon_greedy(-np.asarray(q_values), epsilon, rng)


@pytest.mark.parametrize(
    "wrong",
    [
        _first_argmax,
        _explore_two_actions,
        _explore_three_actions,
        _explore_non_greedy_only,
        _inverted_epsilon,
        _global_numpy_random,
        _global_numpy_ties_only,
        _python_random_module,
        _fresh_unseeded_generator,
        _fixed_seed_generator,
        _explore_off_by_one,
        _greedy_is_argmin,
    ],
)
def test_epsilon_greedy_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError, match="Exercise 3"):
        check_epsilon_greedy(wrong)


def _bootstraps_through_terminal(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    q_learning_update(
        q_table, state, action, reward, next_state, False, alpha=alpha, gamma=gamma
    )


def _same_action_next(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    target = reward + (0.0 if terminated else gamma * q_table[next_state, action])
    q_table[state, action] += alpha * (target - q_table[state, action])


def _returns_a_copy(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    q_table = q_table.copy()
    q_learning_update(
        q_table, state, action, reward, next_state, terminated, alpha=alpha, gamma=gamma
    )
    return q_table


def _no_learning_rate(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    q_learning_update(
        q_table, state, action, reward, next_state, terminated, alpha=1.0, gamma=gamma
    )


def _gamma_hard_coded(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    q_learning_update(
        q_table, state, action, reward, next_state, terminated, alpha=alpha, gamma=0.9
    )


def _alpha_and_gamma_swapped(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    q_learning_update(
        q_table, state, action, reward, next_state, terminated, alpha=gamma, gamma=alpha
    )


def _state_and_next_state_swapped(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    target = reward + (0.0 if terminated else gamma * q_table[state].max())
    q_table[next_state, action] += alpha * (target - q_table[next_state, action])


def _terminated_is_true(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    target = (
        reward if terminated is True else reward + gamma * q_table[next_state].max()
    )
    q_table[state, action] += alpha * (target - q_table[state, action])


def _max_over_the_whole_table(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    target = reward + (0.0 if terminated else gamma * q_table.max())
    q_table[state, action] += alpha * (target - q_table[state, action])


def _next_action_off_by_one(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    target = reward + (0.0 if terminated else gamma * q_table[next_state, :-1].max())
    q_table[state, action] += alpha * (target - q_table[state, action])


def _two_statements(
    q_table, state, action, reward, next_state, terminated, *, alpha, gamma
):
    # shrinks Q[s, a] first, then reads max Q[s'] from the changed row: wrong if s' == s
    q_table[state, action] *= 1 - alpha
    target = reward if terminated else reward + gamma * np.max(q_table[next_state])
    q_table[state, action] += alpha * target


def test_q_learning_check_fails_when_next_state_is_the_state():
    with pytest.raises(AssertionError, match="next_state == state"):
        check_q_learning_update(_two_statements)


@pytest.mark.parametrize(
    "wrong",
    [
        _bootstraps_through_terminal,
        _same_action_next,
        _returns_a_copy,
        _no_learning_rate,
        _gamma_hard_coded,
        _alpha_and_gamma_swapped,
        _state_and_next_state_swapped,
        _terminated_is_true,
        _max_over_the_whole_table,
        _next_action_off_by_one,
    ],
)
def test_q_learning_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError, match="Exercise 4"):
        check_q_learning_update(wrong)


def test_wrong_answers_get_a_useful_hint():
    with pytest.raises(AssertionError, match="first reward is not discounted"):
        check_discounted_return(_first_reward_discounted)
    with pytest.raises(AssertionError, match="first maximum"):
        check_epsilon_greedy(_first_argmax)
    with pytest.raises(AssertionError, match="no future"):
        check_q_learning_update(_bootstraps_through_terminal)
    with pytest.raises(AssertionError, match="in place"):
        check_q_learning_update(_returns_a_copy)
    with pytest.raises(AssertionError, match="global generator"):
        check_epsilon_greedy(_global_numpy_random)
    with pytest.raises(AssertionError, match="hard-coded"):
        check_q_learning_update(_gamma_hard_coded)
    with pytest.raises(AssertionError, match="np.True_"):
        check_q_learning_update(_terminated_is_true)
    with pytest.raises(AssertionError, match="whole table"):
        check_q_learning_update(_max_over_the_whole_table)
    with pytest.raises(AssertionError, match="swapped"):
        check_q_learning_update(_alpha_and_gamma_swapped)


def test_epsilon_greedy_check_leaves_the_global_generators_alone():
    import random

    np.random.seed(3)
    random.seed(3)
    expected = (np.random.random(), random.random())
    np.random.seed(3)
    random.seed(3)
    check_epsilon_greedy(epsilon_greedy)
    assert (np.random.random(), random.random()) == expected


# ---------------------------------------------------------------- Exercise 5: the loop


def _loop(
    choose=None,
    *,
    done_on="either",
    bootstrap_truncated=True,
    discount=False,
    advance=True,
    reset_seed=None,
    step_returns=False,
):
    """A training loop with one mistake switched on (the defaults are right)."""

    def train(env, q_table, to_index, *, n_episodes, alpha, gamma, epsilon, rng):
        returns = np.zeros(n_episodes)
        for episode in range(n_episodes):
            obs, _ = env.reset() if reset_seed is None else env.reset(seed=reset_seed)
            state, done, k = to_index(obs), False, 0
            while not done:
                action = (choose or epsilon_greedy)(q_table[state], epsilon, rng)
                obs, reward, terminated, truncated, _ = env.step(action)
                next_state = to_index(obs)
                stop = terminated if bootstrap_truncated else (terminated or truncated)
                q_learning_update(
                    q_table,
                    state,
                    action,
                    reward,
                    next_state,
                    stop,
                    alpha=alpha,
                    gamma=gamma,
                )
                returns[episode] += reward * (gamma**k if discount else 1.0)
                k += 1
                if advance:
                    state = next_state
                done = (
                    terminated if done_on == "terminated" else (terminated or truncated)
                )
        return returns[:1] if step_returns else returns

    return train


def _argmax_choice(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return int(np.argmax(q_values))


def _works_on_a_copy(env, q_table, to_index, **settings):
    return train_q_learning(env, q_table.copy(), to_index, **settings)


def _returns_a_list(env, q_table, to_index, **settings):
    return list(train_q_learning(env, q_table, to_index, **settings))


def _total_only(env, q_table, to_index, **settings):
    return float(train_q_learning(env, q_table, to_index, **settings).sum())


@pytest.mark.parametrize(
    "wrong",
    [
        _loop(bootstrap_truncated=False),  # truncation treated as termination
        _loop(done_on="terminated"),  # never stops at the time limit
        _loop(discount=True),  # discounted returns
        _loop(advance=False),  # forgets state = next_state
        _loop(reset_seed=0),  # reseeds every episode
        _loop(choose=_argmax_choice),  # its own ε-greedy, ties to action 0
        _loop(step_returns=True),  # wrong shape
        _works_on_a_copy,
        _returns_a_list,
        _total_only,
    ],
)
def test_train_loop_check_fails_wrong_answers(wrong):
    with pytest.raises(AssertionError, match="Exercise 5"):
        check_train_q_learning(wrong)


def test_train_loop_check_names_the_mistake():
    with pytest.raises(AssertionError, match="end of the world"):
        check_train_q_learning(_loop(bootstrap_truncated=False))
    with pytest.raises(AssertionError, match="given a seed"):
        check_train_q_learning(_loop(reset_seed=0))


def _while_true_loop(env, q_table, to_index, *, n_episodes, alpha, gamma, epsilon, rng):
    returns = []
    for _ in range(n_episodes):
        obs, _ = env.reset()
        total = 0.0
        while True:
            state = to_index(obs)
            action = epsilon_greedy(q_table[state], epsilon, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            q_learning_update(
                q_table,
                state,
                action,
                reward,
                to_index(obs),
                terminated,
                alpha=alpha,
                gamma=gamma,
            )
            total += reward
            if terminated or truncated:
                break
        returns.append(total)
    return np.array(returns)


@pytest.mark.parametrize("right", [_loop(), _while_true_loop])
def test_train_loop_check_accepts_loops_written_other_ways(right, capsys):
    assert check_train_q_learning(right) is right
    assert "✓" in capsys.readouterr().out


# ---------------------------------------------------------------- Exercise 6: the grid


def test_mountaincar_step_is_gymnasiums_physics():
    import gymnasium as gym

    env = gym.make("MountainCar-v0").unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(500):
        before = np.array(env.state, dtype=float)
        action = int(rng.integers(3))
        obs, _, terminated, _, _ = env.step(action)
        position, velocity, done = mountaincar_step(
            before[:1], before[1:], np.array([action])
        )
        assert np.allclose([position[0], velocity[0]], obs, atol=1e-7)
        assert done[0] == terminated
        if terminated:
            env.reset()


def test_reachable_cells_leave_out_the_fast_corners():
    grid = GridDiscretizer([-1.2, -0.07], [0.6, 0.07], bins=10)
    reached = reachable_cells(grid, resolution=100).reshape(10, 10)
    assert reached[4, 5] and reached[5, 4]  # around rest at the valley floor
    assert (
        not reached[0, 9] and not reached[9, 0]
    )  # far left moving right fast, and back
    assert 0.5 < reached.mean() < 1.0


def test_grid_check_passes_the_reference(capsys):
    assert check_mountaincar_grid(make_mountaincar_grid) is make_mountaincar_grid
    out = capsys.readouterr().out
    assert "✓" in out and "reached the flag from" in out  # the achieved rate is shown


class _NoRows:
    def __call__(self, obs):
        return 0


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda low, high: GridDiscretizer(low, high, bins=40), "reached the flag"),
        (lambda low, high: GridDiscretizer(low, high, bins=1), "reached the flag"),
        (lambda low, high: _NoRows(), "return a GridDiscretizer"),
        (lambda low, high: lambda obs: 0, "return a GridDiscretizer"),
        (lambda low, high: 100, "return a GridDiscretizer"),
    ],
)
def test_grid_check_fails_wrong_designs(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        check_mountaincar_grid(wrong)


def test_grid_check_refuses_rows_out_of_range():
    class OffByOne(GridDiscretizer):
        def __call__(self, obs):
            return super().__call__(obs) + 1  # the last cell's row is n_states

    with pytest.raises(AssertionError, match="0 to n_states - 1"):
        check_mountaincar_grid(lambda low, high: OffByOne(low, high, bins=10))


# ---------------------------------------------------------------- generic kinds


def _reverses_the_callers_list(rewards, gamma):
    if isinstance(rewards, list):
        rewards.reverse()  # walks the list backwards by turning the caller's around
        ret = 0.0
        for reward in rewards:
            ret = reward + gamma * ret
        return ret
    return discounted_return(rewards, gamma)


def _discounts_the_callers_array(rewards, gamma):
    rewards = np.asarray(rewards, dtype=float)  # the caller's array when given one
    rewards *= gamma ** np.arange(len(rewards))
    return float(rewards.sum())


def _forgets_return(rewards, gamma):
    discounted_return(rewards, gamma)


def _tensor_return(rewards, gamma):
    import torch

    return torch.tensor(discounted_return(rewards, gamma))


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (_reverses_the_callers_list, "changed"),
        (_discounts_the_callers_array, "changed"),
        (_forgets_return, "return"),
        (_tensor_return, "tensor"),
    ],
)
def test_discounted_return_check_fails_the_generic_kinds(wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        check_discounted_return(wrong)


def _shifts_q_values(q_values, epsilon, rng):
    q_values -= q_values.max()  # "normalises" the caller's row: the Q-table's, in 02
    return epsilon_greedy(q_values, epsilon, rng)


def _loop_without_return(env, q_table, to_index, **settings):
    train_q_learning(env, q_table, to_index, **settings)


@pytest.mark.parametrize(
    ("check", "wrong", "hint"),
    [
        (check_epsilon_greedy, _shifts_q_values, "changed"),
        (check_train_q_learning, _loop_without_return, "return"),
    ],
)
def test_checks_fail_in_place_edits_and_missing_returns(check, wrong, hint):
    with pytest.raises(AssertionError, match=hint):
        check(wrong)
