"""Checks for the exercises of 02_rl_concepts.ipynb.

Each ``check_*`` takes the student's function, tests it on cases small enough to work
out by hand, and returns it (or the course's reference while the exercise still
raises ``NotImplementedError``): ``fn = check_fn(fn)``.
"""

from __future__ import annotations

from collections.abc import Callable

from course_utils.agents.tabular import discounted_return, q_learning_update
from course_utils.common.policies import epsilon_greedy
from course_utils.lessons.checks import (
    exercise_check,
    expect_close,
    expect_true,
    under_global_seeds,
)
from course_utils.lessons.checks.pinned import np

CORRIDOR_GAMMA = 0.5  # the discount of Exercise 2


def predict_corridor_values() -> tuple[float, float]:
    """Reference for Exercise 2: ``(V*(1), A*(1, left))`` in the corridor, γ = 0.5.

    Cells 0..4; stepping into cell 0 pays +1, into cell 4 pays +10, and both end
    the episode. From cell 1, the left exit pays 1 now; going right pays 10 after
    three steps, worth ``γ² · 10`` today.
    """
    q_left = 1.0
    q_right = CORRIDOR_GAMMA**2 * 10.0
    v_star = max(q_left, q_right)
    return v_star, q_left - v_star


def _discounted_return_cases(fn: Callable) -> None:
    hint = "G = r_1 + γ r_2 + γ² r_3 + ...: the first reward is not discounted."
    got = fn([1.0, 1.0, 1.0], 0.5)
    if np.isclose(got, 0.875):
        raise AssertionError(f"got 0.875 for [1, 1, 1] with γ = 0.5. {hint}")
    expect_close(got, 1.75, what="rewards [1, 1, 1], γ = 0.5", hint=hint)
    got = fn([0.0, 0.0, 10.0], 0.9)
    expect_close(
        got,
        8.1,
        what="rewards [0, 0, 10], γ = 0.9",
        hint="The k-th reward r_k is multiplied by γ^(k-1): the third one by "
        "0.9² (0.9² · 10 = 8.1).",
    )
    expect_close(
        fn([2.0, 0.0, 0.0, 1.0], 0.5),
        2.125,
        what="rewards [2, 0, 0, 1], γ = 0.5",
        hint="Use every reward, the first and the last included: 2 + 0.5³ · 1.",
    )
    expect_close(
        fn([1.0, 2.0, 3.0], 1.0),
        6.0,
        what="rewards [1, 2, 3], γ = 1",
        hint="With γ = 1 the return is the plain sum.",
    )
    expect_close(
        fn([], 0.9),
        0.0,
        what="no rewards at all",
        hint="An empty episode has return 0.",
    )
    expect_close(
        fn(np.full(200, -1.0), 0.99),
        -(1 - 0.99**200) / 0.01,
        what="200 rewards of -1 (a NumPy array), γ = 0.99",
        hint="Accept any sequence of rewards, lists and NumPy arrays alike.",
    )


check_discounted_return = exercise_check(
    "Exercise 1: discounted return",
    _discounted_return_cases,
    reference=discounted_return,
)


def _predict_cases(fn: Callable) -> None:
    answer = fn()
    expect_true(
        isinstance(answer, (tuple, list)) and len(answer) == 2,
        f"return two numbers (V*(1), A*(1, left)), got {answer!r}.",
    )
    v_star, advantage = (float(x) for x in answer)
    hints = {
        10.0: "10 is the exit's reward, undiscounted: it arrives three steps later.",
        5.0: "Count the steps from cell 1 to the +10 exit: the reward comes on the "
        "third step, so it is worth γ² · 10.",
        1.0: "The left exit pays 1 at once, but is it the best move? Compare with "
        "going right.",
    }
    hint = next(
        (h for k, h in hints.items() if np.isclose(v_star, k)),
        "V*(1) = max(Q*(1, left), Q*(1, right)).",
    )
    expect_close(v_star, 2.5, what="V*(1) with γ = 0.5", hint=hint)
    hint = (
        "A*(s, a) = Q*(s, a) - V*(s): negative (or zero) for every action, zero "
        "for the best one."
    )
    expect_close(advantage, -1.5, what="A*(1, left) with γ = 0.5", hint=hint)


check_predict_corridor_values = exercise_check(
    "Exercise 2: predict the values", _predict_cases, reference=predict_corridor_values
)


def _frequencies(
    fn: Callable,
    q_values: list[float],
    epsilon: float,
    n: int,
    rng: np.random.Generator,
) -> np.ndarray:
    q_values = np.asarray(q_values, dtype=np.float64)
    counts = np.zeros(len(q_values))
    for _ in range(n):
        action = fn(q_values.copy(), epsilon, rng)
        expect_true(
            isinstance(action, (int, np.integer)) and 0 <= int(action) < len(q_values),
            f"return an action index 0..{len(q_values) - 1} (an int), "
            f"got {action!r} for q_values={q_values.tolist()}.",
        )
        counts[int(action)] += 1
    return counts / n


def _epsilon_greedy_cases(fn: Callable) -> None:
    rng = np.random.default_rng(2024)
    freq = _frequencies(fn, [1.0, 3.0, 2.0], 0.0, 50, rng)
    expect_close(
        freq,
        [0, 1, 0],
        what="ε = 0, q_values [1, 3, 2]: how often each action is chosen",
        hint="With ε = 0, always pick the argmax.",
    )
    freq = _frequencies(fn, [-3.0, -1.0, -2.0], 0.0, 20, rng)
    expect_close(
        freq,
        [0, 1, 0],
        what="ε = 0, q_values [-3, -1, -2]",
        hint="The largest value is -1: negative values work like any other.",
    )
    freq = _frequencies(fn, [5.0, 1.0, 5.0, 5.0], 0.0, 900, rng)
    expect_true(
        freq[1] == 0 and np.all(np.abs(freq[[0, 2, 3]] - 1 / 3) < 0.08),
        "ε = 0, q_values [5, 1, 5, 5]: actions 0, 2, 3 tie and should each be "
        "chosen about 1/3 of the time, got frequencies "
        f"{freq.round(2).tolist()}. "
        "np.argmax always returns the first maximum: pick at random among "
        "np.flatnonzero(q_values == q_values.max()).",
    )
    freq = _frequencies(fn, [0.0, 10.0, 0.0, 0.0], 1.0, 4000, rng)
    expect_true(
        np.all(np.abs(freq - 0.25) < 0.04),
        f"ε = 1, 4 actions: each should be chosen about 25% of the time, got "
        f"{freq.round(3).tolist()}. Explore uniformly among all "
        "len(q_values) actions, the greedy one included.",
    )
    freq = _frequencies(fn, [0.0, 1.0, 0.0], 0.5, 6000, rng)
    expected = np.array([1 / 6, 2 / 3, 1 / 6])
    expect_true(
        np.all(np.abs(freq - expected) < 0.04),
        f"ε = 0.5, q_values [0, 1, 0]: expected frequencies about "
        f"{expected.round(3).tolist()} (greedy half the time, plus its share "
        f"of the random half), got {freq.round(3).tolist()}. Explore with "
        "probability ε, among all actions.",
    )


def _actions_drawn(fn: Callable, rng_seed: int) -> list[int]:
    """60 ε = 0.5 choices with a tie, from ``default_rng(rng_seed)``."""
    rng = np.random.default_rng(rng_seed)
    q_values = np.array([0.0, 1.0, 1.0, 0.5])
    return [int(fn(q_values.copy(), 0.5, rng)) for _ in range(60)]


def _uses_the_given_rng(fn: Callable) -> None:
    first, again = under_global_seeds(lambda: _actions_drawn(fn, 5))
    expect_true(
        first == again,
        "the same rng, seeded the same way, gave different actions: some random "
        "number came from elsewhere (np.random.random(), np.random.choice(), the "
        "random module, or a new np.random.default_rng()). Draw every random number "
        "from the rng argument, so a run can be reproduced from its seed.",
    )
    expect_true(
        first != under_global_seeds(lambda: _actions_drawn(fn, 6), seeds=(1,))[0],
        "two differently seeded rngs gave exactly the same 60 actions: the function "
        "ignores its rng (a generator made inside with a fixed seed?). Use the rng "
        "argument.",
    )


def _epsilon_greedy_all_cases(fn: Callable) -> None:
    _epsilon_greedy_cases(fn)
    _uses_the_given_rng(fn)


check_epsilon_greedy = exercise_check(
    "Exercise 3: ε-greedy", _epsilon_greedy_all_cases, reference=epsilon_greedy
)


def _q_table() -> np.ndarray:
    return np.array([[0.0, 0.0], [0.5, 0.2], [1.0, 2.0]])


def _q_learning_cases(fn: Callable) -> None:
    q_table = _q_table()
    fn(q_table, 1, 0, 1.0, 2, False, alpha=0.5, gamma=0.9)
    expect_true(
        q_table[1, 0] != 0.5,
        "q_table did not change: update it in place, "
        "q_table[state, action] += ..., rather than returning a copy.",
    )
    expected = _q_table()
    expected[1, 0] = 0.5 + 0.5 * (1.0 + 0.9 * 2.0 - 0.5)  # 1.65
    hint = {
        1.2: "Bootstrap with the best next action, max_a' Q[next_state, a'], not "
        "Q[next_state, action].",
        0.975: "The target looks at next_state's row, not state's.",
        2.8: "Move Q[s, a] only a fraction α of the way to the target.",
        1.85: "α and γ look swapped.",
    }
    hint = next(
        (h for k, h in hint.items() if np.isclose(q_table[1, 0], k)),
        "Q[s, a] += α (r + γ max_a' Q[s', a'] - Q[s, a]).",
    )
    expect_close(
        q_table,
        expected,
        what="Q-table after s=1, a=0, r=1, s'=2, "
        "α=0.5, γ=0.9 (only Q[1, 0] should change, to 1.65)",
        hint=hint,
    )
    q_table = _q_table()
    fn(q_table, 1, 1, -1.0, 2, True, alpha=0.5, gamma=0.9)
    expected = _q_table()
    expected[1, 1] = 0.2 + 0.5 * (-1.0 - 0.2)  # -0.4
    expect_close(
        q_table,
        expected,
        what="Q-table after a terminal transition s=1, "
        "a=1, r=-1, α=0.5 (Q[1, 1] should become -0.4)",
        hint="After a terminal state there is no future: the target is "
        "just r, do not add γ max Q[next_state].",
    )
    q_table = _q_table()
    fn(q_table, 1, 1, -1.0, 2, np.True_, alpha=0.5, gamma=0.9)
    expect_close(
        q_table,
        expected,
        what="the same terminal transition with terminated=np.True_ (environments "
        "often return NumPy booleans)",
        hint="Test `if not terminated:` rather than `terminated is False` or "
        "`is True`: np.True_ is not the object True.",
    )
    q_table = _q_table()
    fn(q_table, 0, 1, 0.5, 1, False, alpha=0.25, gamma=0.5)
    expected = _q_table()
    expected[0, 1] = 0.25 * (0.5 + 0.5 * 0.5)  # 0.1875
    hint = {
        0.2375: "γ looks hard-coded to 0.9: use the gamma argument.",
        0.3125: "α and γ look swapped.",
        0.375: "Take the max over next_state's row only, not the whole table.",
    }
    hint = next(
        (h for k, h in hint.items() if np.isclose(q_table[0, 1], k)),
        "Q[s, a] += α (r + γ max_a' Q[s', a'] - Q[s, a]), with the alpha and gamma "
        "given.",
    )
    expect_close(
        q_table,
        expected,
        what="s=0, a=1, r=0.5, s'=1, α=0.25, γ=0.5 (Q[0, 1] should become 0.1875)",
        hint=hint,
    )
    q_table = _q_table()
    fn(q_table, 2, 1, 3.0, 0, False, alpha=1.0, gamma=0.0)
    expected = _q_table()
    expected[2, 1] = 3.0
    expect_close(
        q_table,
        expected,
        what="α = 1, γ = 0 (Q[2, 1] should become r = 3)",
        hint="Use the alpha and gamma arguments, not constants.",
    )


check_q_learning_update = exercise_check(
    "Exercise 4: the Q-learning update", _q_learning_cases, reference=q_learning_update
)
