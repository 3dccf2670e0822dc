"""The wrong-answer bank of 02_rl_concepts (``wrong_answer_helpers`` says how
a bank works).

| 02: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 discounted return | 8 | 0 | 0 |
| 2 predict the values | 8 | 0 | 0 |
| 3 ε-greedy | 10 | 1 | 0 |
| 4 Q-learning update | 10 | 0 | 0 |
| 5 training loop | 8 | 0 | 0 |
| 6 MountainCar grid | 5 | 0 | 0 |

Passed before: ε-greedy breaking ties with noise of size 1, which reorders values closer
than 1. A 2×2 grid is no wrong answer: the velocity's sign is enough to swing up.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wrong_answer_helpers import bank_tests, fails, passes

from course_utils.agents.tabular import GridDiscretizer
from course_utils.lessons.checks import rl_basics as checks

# --------------------------------------------------- Exercise 1: discounted return


def dr_gamma_from_one(rewards, gamma):  # first reward already discounted once
    return float(sum(gamma ** (t + 1) * r for t, r in enumerate(rewards)))


def dr_reversed_powers(rewards, gamma):  # discounts the last reward least
    n = len(rewards)
    return float(sum(gamma ** (n - 1 - t) * r for t, r in enumerate(rewards)))


def dr_in_place(rewards, gamma):  # discounts the caller's list in place
    for t in range(len(rewards)):
        rewards[t] *= gamma**t
    return float(sum(rewards))


def dr_forward_wrong(rewards, gamma):  # G = G + gamma * r going forwards
    g = 0.0
    for r in rewards:
        g = g * gamma + r
    return float(g)


def dr_undiscounted(rewards, gamma):  # ignores gamma
    return float(sum(rewards))


def dr_empty_none(rewards, gamma):  # an empty episode returns None
    if len(rewards) == 0:
        return None
    return float(np.dot(gamma ** np.arange(len(rewards)), rewards))


def dr_gamma_times_t(rewards, gamma):  # gamma * t instead of gamma ** t
    return float(sum((gamma * t if t else 1.0) * r for t, r in enumerate(rewards)))


def dr_tensor(rewards, gamma):  # a torch scalar
    r = torch.as_tensor(np.asarray(rewards, dtype=float))
    return (r * gamma ** torch.arange(len(r))).sum()


def dr_ok_backward(rewards, gamma):  # correct: the backward recursion
    g = 0.0
    for r in reversed(list(rewards)):
        g = r + gamma * g
    return g


def dr_ok_polyval(rewards, gamma):  # correct: Horner's scheme through np.polyval
    if len(rewards) == 0:
        return 0.0
    return float(np.polyval(np.asarray(rewards, dtype=float)[::-1], gamma))


DR_WRONG = [
    dr_gamma_from_one,
    dr_reversed_powers,
    dr_in_place,
    dr_forward_wrong,
    dr_undiscounted,
    dr_empty_none,
    dr_gamma_times_t,
    dr_tensor,
]


# ------------------------------------------------ Exercise 2: predict the values

# The answer is (2.5, -1.5); the wrong ones are the slips of a hand computation.
PREDICTIONS_WRONG = [
    (1.0, 0.0),  # believes the near exit is best
    (5.0, -4.0),  # +10 discounted once per cell crossed, one power short
    (1.25, -0.25),  # one power too many, then the near exit looks best
    (2.5, 1.0),  # Q*(1, ←) instead of the advantage
    (2.5, 1.5),  # the advantage's sign flipped
    (8.1, -7.1),  # the notebook's γ = 0.9 instead of 0.5
    (10.0, -9.0),  # no discount at all
    (2.5, -2.5),  # A = -V: forgets the +1 of the left exit
]


@pytest.mark.parametrize("answer", PREDICTIONS_WRONG)
def test_predict_values_wrong(answer):
    message = fails(checks.check_predict_corridor_values, lambda: answer)
    for value, given in zip(
        ("2.5", "-1.5"), answer, strict=True
    ):  # the student's own echo
        if float(value) != given:
            assert value not in message, "never print the answer"


@pytest.mark.parametrize(
    "answer",
    [(2.5, -1.5), [2.5, -1.5], (np.float64(2.5), np.float64(-1.5)), (5 / 2, 1 - 2.5)],
)
def test_predict_values_right(answer):
    passes(checks.check_predict_corridor_values, lambda: answer)


# ---------------------------------------------------------- Exercise 3: ε-greedy


def eg_argmax_ties(q, eps, rng):  # ties to the first index
    if rng.random() < eps:
        return int(rng.integers(len(q)))
    return int(np.argmax(q))


def eg_excludes_greedy(q, eps, rng):  # explores among the other actions only
    best = int(np.argmax(q))
    if rng.random() < eps:
        return int(rng.choice([a for a in range(len(q)) if a != best]))
    return best


def eg_global_rng(q, eps, rng):  # np.random instead of the generator
    if np.random.random() < eps:
        return int(np.random.randint(len(q)))
    best = np.flatnonzero(q == q.max())
    return int(np.random.choice(best))


def eg_noise_in_place(q, eps, rng):
    # breaks ties by adding noise to the caller's q_values
    if rng.random() < eps:
        return int(rng.integers(len(q)))
    q += 1e-9 * rng.random(len(q))
    return int(np.argmax(q))


def eg_numpy_int(q, eps, rng):  # returns np.int64
    if rng.random() < eps:
        return rng.integers(len(q))
    return rng.choice(np.flatnonzero(q == q.max()))


def eg_inverted(q, eps, rng):  # explores with probability 1 - eps
    if rng.random() > eps:
        return int(rng.integers(len(q)))
    return int(rng.choice(np.flatnonzero(q == q.max())))


def eg_big_noise(q, eps, rng):  # noise of size 1 to break ties: reorders close values
    if rng.random() < eps:
        return int(rng.integers(len(q)))
    return int(np.argmax(q + rng.random(len(q))))


def eg_off_by_one(q, eps, rng):  # rng.integers(len(q) - 1): never the last action
    if rng.random() < eps:
        return int(rng.integers(len(q) - 1))
    return int(rng.choice(np.flatnonzero(q == q.max())))


def eg_argmin(q, eps, rng):  # picks the smallest value
    if rng.random() < eps:
        return int(rng.integers(len(q)))
    return int(rng.choice(np.flatnonzero(q == q.min())))


def eg_max_value(q, eps, rng):  # returns the best value, not its index
    if rng.random() < eps:
        return int(rng.integers(len(q)))
    return int(q.max())


def eg_ok_nanargmax(q, eps, rng):  # correct: a random permutation then nanargmax
    if rng.random() < eps:
        return int(rng.integers(0, q.shape[0]))
    order = rng.permutation(q.shape[0])
    return int(order[np.nanargmax(q[order])])


def eg_ok_loop(q, eps, rng):  # correct: a loop collecting the ties
    if rng.uniform() < eps:
        return int(rng.integers(len(q)))
    best, ties = -np.inf, []
    for a, value in enumerate(q):
        if value > best:
            best, ties = value, [a]
        elif value == best:
            ties.append(a)
    return int(ties[rng.integers(len(ties))])


EG_WRONG = [
    eg_argmax_ties,
    eg_excludes_greedy,
    eg_global_rng,
    eg_noise_in_place,
    eg_numpy_int,
    eg_inverted,
    eg_big_noise,
    eg_off_by_one,
    eg_argmin,
    eg_max_value,
]


def test_epsilon_greedy_view_of_the_table_is_left_alone():
    """Notebook 02 passes q_table[state], a view: shifting it corrupts the table."""
    fails(checks.check_epsilon_greedy, eg_noise_in_place)


# ------------------------------------------------- Exercise 4: Q-learning update


def ql_two_statements(q, s, a, r, s2, term, *, alpha, gamma):
    # reward, then bootstrap apart
    q[s, a] += alpha * (r - q[s, a])
    if not term:
        q[s, a] += alpha * gamma * q[s2].max()


def ql_ignore_terminal(q, s, a, r, s2, term, *, alpha, gamma):  # always bootstraps
    q[s, a] += alpha * (r + gamma * q[s2].max() - q[s, a])


def ql_is_true(q, s, a, r, s2, term, *, alpha, gamma):  # `is True` misses np.bool_
    target = r if term is True else r + gamma * q[s2].max()
    q[s, a] += alpha * (target - q[s, a])


def ql_copy(q, s, a, r, s2, term, *, alpha, gamma):  # updates a copy and returns it
    q = q.copy()
    q[s, a] += alpha * (r + (0 if term else gamma * q[s2].max()) - q[s, a])
    return q


def ql_mean(q, s, a, r, s2, term, *, alpha, gamma):  # expectation over a uniform policy
    q[s, a] += alpha * (r + (0 if term else gamma * q[s2].mean()) - q[s, a])


def ql_alpha_on_target(q, s, a, r, s2, term, *, alpha, gamma):  # Q += α · target
    q[s, a] += alpha * (r + (0 if term else gamma * q[s2].max()))


def ql_inverted_term(q, s, a, r, s2, term, *, alpha, gamma):
    # bootstraps only at the end
    q[s, a] += alpha * (r + gamma * q[s2].max() * term - q[s, a])


def ql_state_row(q, s, a, r, s2, term, *, alpha, gamma):  # max over the current state
    q[s, a] += alpha * (r + (0 if term else gamma * q[s].max()) - q[s, a])


def ql_whole_row(q, s, a, r, s2, term, *, alpha, gamma):  # updates every action of s
    q[s] += alpha * (r + (0 if term else gamma * q[s2].max()) - q[s, a])


def ql_action_of_next(q, s, a, r, s2, term, *, alpha, gamma):
    # Q(s', a) (SARSA-like slip)
    q[s, a] += alpha * (r + (0 if term else gamma * q[s2, a]) - q[s, a])


def ql_ok_convex(q, s, a, r, s2, term, *, alpha, gamma):
    # correct: (1 - α) Q + α target
    target = r + gamma * np.max(q[s2]) * (1 - float(term))
    q[s, a] = (1 - alpha) * q[s, a] + alpha * target


def ql_ok_target_first(q, s, a, r, s2, term, *, alpha, gamma):  # correct: target first
    best_next = 0.0 if term else float(np.max(q[s2, :]))
    td_error = r + gamma * best_next - q[s, a]
    q[s, a] = q[s, a] + alpha * td_error


QL_WRONG = [
    ql_two_statements,
    ql_ignore_terminal,
    ql_is_true,
    ql_copy,
    ql_mean,
    ql_alpha_on_target,
    ql_inverted_term,
    ql_state_row,
    ql_whole_row,
    ql_action_of_next,
]


# --------------------------------------------------- Exercise 5: the training loop


def _loop(env, q_table, to_index, *, n_episodes, alpha, gamma, epsilon, rng, slip=None):
    """Tabular Q-learning with the student's pieces (here the course's)."""
    from course_utils.agents.tabular import q_learning_update
    from course_utils.common.policies import epsilon_greedy

    returns = []
    for episode in range(n_episodes):
        if slip != "reset_once" or episode == 0:
            obs, _ = env.reset(seed=episode) if slip == "reset_seed" else env.reset()
        state, total, done = to_index(obs), 0.0, False
        while not done:
            if slip == "greedy_argmax":
                action = int(np.argmax(q_table[state]))
            else:
                action = epsilon_greedy(q_table[state], epsilon, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            next_state = to_index(obs)
            end = (
                (terminated or truncated) if slip == "done_as_terminal" else terminated
            )
            if slip == "no_last_update" and (terminated or truncated):
                pass
            else:
                q_learning_update(
                    q_table,
                    state,
                    action,
                    reward,
                    next_state,
                    end,
                    alpha=alpha,
                    gamma=gamma,
                )
            total += reward * (gamma**0 if slip != "discounted" else 1.0)
            state = next_state
            done = (
                terminated if slip == "ignore_truncated" else (terminated or truncated)
            )
            if slip == "extra_draw":
                rng.random()
        returns.append(total)
    if slip == "list":
        return returns
    return np.array(returns)


def _slipped(slip):
    def train_q_learning(env, q_table, to_index, **kw):
        return _loop(env, q_table, to_index, slip=slip, **kw)

    train_q_learning.__name__ = f"loop_{slip}"
    return train_q_learning


LOOP_WRONG = {
    "reset_seed": "resets with a seed each episode: every episode the same start",
    "reset_once": "resets only before the first episode",
    "greedy_argmax": "acts greedily with argmax instead of ε-greedy",
    "done_as_terminal": "stores terminated or truncated: no bootstrap at the limit",
    "no_last_update": "skips the update of an episode's last step",
    "ignore_truncated": "runs past the time limit",
    "extra_draw": "draws from rng outside epsilon_greedy",
}


@pytest.mark.parametrize("slip", list(LOOP_WRONG))
def test_training_loop_wrong(slip):
    fails(checks.check_train_q_learning, _slipped(slip))


def loop_returns_list(env, q_table, to_index, **kw):
    # a list where an array is the contract
    return _loop(env, q_table, to_index, slip="list", **kw)


def test_training_loop_list_is_refused():
    fails(checks.check_train_q_learning, loop_returns_list)


def loop_ok_for(env, q_table, to_index, *, n_episodes, alpha, gamma, epsilon, rng):
    """Correct: a loop over steps with break, returns in a preallocated array."""
    from course_utils.agents.tabular import q_learning_update
    from course_utils.common.policies import epsilon_greedy

    returns = np.zeros(n_episodes)
    for i in range(n_episodes):
        obs, _ = env.reset()
        s = to_index(obs)
        while True:
            a = epsilon_greedy(q_table[s], epsilon, rng)
            obs, r, terminated, truncated, _ = env.step(a)
            s2 = to_index(obs)
            q_learning_update(
                q_table, s, a, r, s2, terminated, alpha=alpha, gamma=gamma
            )
            returns[i] += r
            s = s2
            if terminated or truncated:
                break
    return returns


def test_training_loop_right():
    passes(checks.check_train_q_learning, loop_ok_for)
    passes(checks.check_train_q_learning, _slipped(None))


# ---------------------------------------------------- Exercise 6: the MountainCar grid


def grid_bins_tuple(low, high):  # returns the bins, not a GridDiscretizer
    return (20, 20)


def grid_one_cell(low, high):  # a single cell: one action everywhere
    return GridDiscretizer(low, high, bins=1)


def grid_ok_two_by_two(low, high):  # correct: the velocity's sign is enough to swing up
    return GridDiscretizer(low, high, bins=2)


def grid_position_only(low, high):  # ignores the velocity
    return GridDiscretizer(low, high, bins=(40, 1))


def grid_swapped_bounds(low, high):
    # bounds in the wrong order raise: must be a clear failure
    return GridDiscretizer(high, low, bins=10)


def grid_velocity_only(low, high):  # ignores the position
    return GridDiscretizer(low, high, bins=(1, 40))


GRID_WRONG = [grid_bins_tuple, grid_one_cell, grid_position_only, grid_velocity_only]


def test_grid_with_swapped_bounds_says_so():
    with pytest.raises(ValueError, match="low < high"):
        checks.check_mountaincar_grid(grid_swapped_bounds)


def test_grid_right():
    passes(checks.check_mountaincar_grid, grid_ok_two_by_two)


@pytest.mark.parametrize("right", [ql_ok_convex, ql_ok_target_first])
def test_q_learning_update_right_in_the_same_as_course_cell(right):
    """Notebook 02's comparison of one Q-learning step with one gradient step."""
    from course_utils.lessons.checks import same_as_course

    q_demo = np.zeros((5, 2))
    q_demo[2] = [0.3, 0.8]
    target = 0.0 + 0.9 * q_demo[2].max()
    h, estimate = 1e-6, q_demo[1, 1]

    def loss(q):
        return 0.5 * (target - q) ** 2

    gradient = (loss(estimate + h) - loss(estimate - h)) / (2 * h)
    by_q_learning = q_demo.copy()
    right(by_q_learning, 1, 1, 0.0, 2, False, alpha=0.5, gamma=0.9)
    same_as_course(
        by_q_learning[1, 1],
        estimate - 0.5 * gradient,
        rtol=1e-6,
        exercise="Exercise 4 (the Q-learning update)",
        what="the new Q(s, a)",
    )


WRONG = [
    (checks.check_discounted_return, DR_WRONG),
    (checks.check_epsilon_greedy, EG_WRONG),
    (checks.check_q_learning_update, QL_WRONG),
    (checks.check_mountaincar_grid, GRID_WRONG),
]
RIGHT = [
    (checks.check_discounted_return, [dr_ok_backward, dr_ok_polyval]),
    (checks.check_epsilon_greedy, [eg_ok_nanargmax, eg_ok_loop]),
    (checks.check_q_learning_update, [ql_ok_convex, ql_ok_target_first]),
]


(
    test_the_check_refuses_the_wrong_answer,
    test_the_check_accepts_the_right_answer,
) = bank_tests(WRONG, RIGHT)
