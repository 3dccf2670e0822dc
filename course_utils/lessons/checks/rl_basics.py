"""Checks for the exercises of 02_rl_concepts.ipynb: the discounted return, value
predictions, ε-greedy, and tabular Q-learning's update and loop (what a check does:
``course_utils.lessons.checks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from course_utils.agents.tabular import (
    GridDiscretizer,
    discounted_return,
    mountaincar_step,
    q_learning_update,
    train_q_learning,
)
from course_utils.common.policies import epsilon_greedy
from course_utils.lessons.checks import (
    exercise,
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


@exercise("Exercise 1: discounted return", reference=discounted_return, returns="float")
def check_discounted_return(fn: Callable) -> None:
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


@exercise("Exercise 2: predict the values", reference=predict_corridor_values)
def check_predict_corridor_values(fn: Callable) -> None:
    """Right or wrong with a hint: the numbers are the student's to work out, so no
    message shows the expected values."""
    answer = fn()
    expect_true(
        isinstance(answer, (tuple, list)) and len(answer) == 2,
        f"return two numbers (V*(1), A*(1, left)), got {answer!r}.",
    )
    try:
        v_star, advantage = (float(x) for x in answer)
    except (TypeError, ValueError):
        raise AssertionError(f"return two numbers, got {answer!r}.") from None
    right_v, right_a = predict_corridor_values()
    hints = {
        10.0: "10 is the exit's reward, undiscounted: it arrives some steps later.",
        5.0: "Count the steps from cell 1 to the +10 exit: on which step does the "
        "reward come, and how many factors γ does it carry?",
        1.0: "The left exit pays 1 at once, but is it the best move? Compare with "
        "going right.",
    }
    hint = next(
        (h for k, h in hints.items() if np.isclose(v_star, k)),
        "V*(1) = max(Q*(1, left), Q*(1, right)); work backwards from cell 3.",
    )
    expect_true(np.isclose(v_star, right_v), f"V*(1) = {v_star:g} is not right. {hint}")
    hint = (
        "A*(s, a) = Q*(s, a) - V*(s): negative (or zero) for every action, zero "
        "for the best one."
    )
    if advantage > 0:
        hint = "An optimal advantage is never positive. " + hint
    expect_true(
        np.isclose(advantage, right_a),
        f"V*(1) is right, but A*(1, left) = {advantage:g} is not. {hint}",
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
    freq = _frequencies(fn, [0.25, 0.7, 0.65, 0.1], 0.0, 200, rng)
    expect_true(
        freq[1] == 1,
        "ε = 0, q_values [0.25, 0.7, 0.65, 0.1]: the greedy action is 1 every time, "
        f"got frequencies {freq.round(2).tolist()}. Values that differ by less than 1 "
        "must keep their order: break ties only among the actions that share exactly "
        "the largest value (random noise added to the values reorders close ones).",
    )
    freq = _frequencies(fn, [5.0, 1.0, 5.0, 5.0], 0.0, 900, rng)
    expect_true(
        freq[1] == 0 and np.all(np.abs(freq[[0, 2, 3]] - 1 / 3) < 0.08),
        "ε = 0, q_values [5, 1, 5, 5]: actions 0, 2, 3 tie and should each be "
        "chosen about 1/3 of the time, got frequencies "
        f"{freq.round(2).tolist()}. "
        "np.argmax always returns the first maximum: when several actions share "
        "the largest value, the choice among all of them must be random.",
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


@exercise("Exercise 3: ε-greedy", reference=epsilon_greedy, returns="action")
def check_epsilon_greedy(fn: Callable) -> None:
    _epsilon_greedy_cases(fn)
    _uses_the_given_rng(fn)


def _q_table() -> np.ndarray:
    return np.array([[0.0, 0.0], [0.5, 0.2], [1.0, 2.0]])


@exercise("Exercise 4: the Q-learning update",
          reference=q_learning_update, mutates=("q_table",))  # fmt: skip
def check_q_learning_update(fn: Callable) -> None:
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
    q_table = _q_table()
    fn(q_table, 2, 1, 1.0, 2, False, alpha=0.5, gamma=0.9)
    expected = _q_table()
    expected[2, 1] = 2.0 + 0.5 * (1.0 + 0.9 * 2.0 - 2.0)  # 2.4
    expect_close(
        q_table,
        expected,
        what="a step that stays in place (next_state == state = 2, a = 1, r = 1, "
        "α = 0.5, γ = 0.9: Q[2, 1] should become 2.4)",
        hint="Compute the whole target from the table as it was before you change "
        "anything: when next_state == state, an entry changed first also changes "
        "max_a' Q[next_state, a'].",
    )


class _Walk(gym.Env):
    """The check's world for Exercise 5: cells 0..4 in a row, the start drawn by
    ``reset`` among 0..2, +1 and the end at cell 4, -0.1 a step, a wall on the left
    (stepping left from cell 0 stays there), and a time limit of ``limit`` steps.

    The observation is ``np.array([cell])``: a table row only through ``to_index``.
    Stepping after the episode ended is an error the student can read.
    """

    def __init__(self, limit: int, *, truncation_ends: bool = False) -> None:
        self.observation_space = gym.spaces.Box(0, 4, shape=(1,), dtype=np.int64)
        self.action_space = gym.spaces.Discrete(2)
        self.limit = limit
        self.cell, self.t, self.over = 0, 0, True
        self.resets = 0
        self.seeded_resets = 0  # resets given a seed
        self.truncation_ends = truncation_ends  # report a truncation as terminated

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.cell = int(self.np_random.integers(3))
        self.t, self.over = 0, False
        self.resets += 1
        self.seeded_resets += seed is not None
        return np.array([self.cell]), {}

    def step(self, action):
        expect_true(
            not self.over,
            "env.step was called after the episode had ended: stop an episode as "
            "soon as terminated or truncated is True, then call env.reset().",
        )
        action = int(action)
        self.cell = max(0, self.cell - 1) if action == 0 else self.cell + 1
        self.t += 1
        terminated = self.cell == 4
        truncated = not terminated and self.t >= self.limit
        self.over = terminated or truncated
        reward = 1.0 if terminated else -0.1
        if self.truncation_ends:
            terminated, truncated = self.over, False
        return (
            np.array([self.cell]),
            reward,
            terminated,
            truncated,
            {},
        )


def _walk_index(obs: np.ndarray) -> int:
    return int(obs[0])


def _run_loop(
    fn: Callable, settings: dict, seed: int, *, truncation_ends: bool = False
) -> tuple[Any, np.ndarray, _Walk]:
    env = _Walk(settings.pop("limit"), truncation_ends=truncation_ends)
    env.reset(seed=seed)
    q_table = np.zeros((5, 2))
    out = fn(env, q_table, _walk_index, rng=np.random.default_rng(seed), **settings)
    return out, q_table, env


@exercise(
    "Exercise 5: the training loop",
    reference=train_q_learning,
    rng_args=(),  # a whole training run: called once, its cases check the rng
    mutates=("q_table",),
    returns="array",
)
def check_train_q_learning(fn: Callable) -> None:
    cases = [
        dict(n_episodes=6, alpha=0.5, gamma=0.9, epsilon=0.3, limit=4),
        dict(n_episodes=9, alpha=0.25, gamma=0.5, epsilon=1.0, limit=3),
        dict(n_episodes=5, alpha=1.0, gamma=1.0, epsilon=0.0, limit=6),
    ]
    for seed, settings in enumerate(cases, start=7):
        shown = ", ".join(f"{k}={v}" for k, v in settings.items())
        what = f"a 5-cell walk with a wall on the left ({shown})"
        got, q_got, env = _run_loop(fn, dict(settings), seed)
        want, q_want, _ = _run_loop(train_q_learning, dict(settings), seed)
        expect_true(
            isinstance(got, np.ndarray) and got.shape == want.shape,
            f"{what}: return a NumPy array with one return per episode, shape "
            f"({settings['n_episodes']},), got {type(got).__name__} "
            f"{getattr(got, 'shape', '')}.",
        )
        expect_true(
            env.resets == settings["n_episodes"] + 1,
            f"{what}: env.reset() was called {env.resets - 1} times for "
            f"{settings['n_episodes']} episodes: once at the start of each episode.",
        )
        expect_true(
            env.seeded_resets == 1,
            f"{what}: env.reset was given a seed inside your loop. Reseeding every "
            "episode starts each one from the same state; call env.reset() without "
            "a seed, so that the environment's own generator carries on.",
        )
        if not np.allclose(q_got, q_want):
            _, q_merged, _ = _run_loop(
                train_q_learning, dict(settings), seed, truncation_ends=True
            )
            hint = (
                "the Q-table ends up different from the course's. Go through the "
                "exercise's contract one clause at a time: what may draw from rng, "
                "and does each step start from the state the last one reached?"
            )
            if np.allclose(q_got, q_merged):
                hint = (
                    "your table is what you get when a time-limit truncation is "
                    "treated as the end of the world. When the episode is cut "
                    "short, the state still has a future: which of terminated "
                    "and truncated should the update be told about?"
                )
            elif not np.any(q_got != 0):
                hint = (
                    "the Q-table was never changed: update the table you were "
                    "given, in place."
                )
            raise AssertionError(f"{what}: {hint}")
        if not np.allclose(got, want):
            raise AssertionError(
                f"{what}: the table is right but the returns are not. Each episode's "
                "return is the plain (undiscounted) sum of its rewards, counted on "
                "every step, the last one included."
            )


MC_LOW = np.array([-1.2, -0.07])  # MountainCar-v0's observation bounds
MC_HIGH = np.array([0.6, 0.07])
GRID_EPISODES = 800  # training episodes per table in Exercise 6's check
GRID_SEEDS = (0, 1, 2)  # its training runs, side by side
GRID_STARTS = 20  # greedy test episodes per table, from evenly spaced starts
GRID_PASS = 0.5  # share of those episodes that must reach the flag, over the seeds
GRID_MAX_ROWS = 100_000


def make_mountaincar_grid(low: np.ndarray, high: np.ndarray) -> GridDiscretizer:
    """Reference for Exercise 6: a coarse grid, (position, velocity) cut 10 × 10."""
    return GridDiscretizer(low, high, bins=(10, 10))


def mountaincar_flag_rate(
    grid: Callable[[np.ndarray], int],
    n_states: int,
    *,
    n_episodes: int = GRID_EPISODES,
    seeds: Sequence[int] = GRID_SEEDS,
    n_starts: int = GRID_STARTS,
    alpha: float = 0.5,
    gamma: float = 0.99,
) -> np.ndarray:
    """Train one zero-initialised table per seed with greedy Q-learning (random ties,
    ε = 0, as the notebook does) on MountainCar's physics, side by side; return, per
    seed, the share of greedy episodes from ``n_starts`` evenly spaced starts that
    reach the flag within 200 steps."""
    k = len(seeds)
    rng = np.random.default_rng(list(seeds))
    runs = np.arange(k)

    batch = getattr(grid, "rows", None)  # a GridDiscretizer's batch form, if it agrees
    probe = np.random.default_rng(1).uniform(MC_LOW, MC_HIGH, size=(50, 2))
    try:
        agrees = np.array_equal(np.asarray(batch(probe)), [grid(obs) for obs in probe])
    except Exception:  # no batch form, or one that does not take (n, 2) arrays
        agrees = False
    batch = batch if agrees else None

    def rows(position: np.ndarray, velocity: np.ndarray) -> np.ndarray:
        if batch is not None:
            return np.asarray(batch(np.stack([position, velocity], axis=1)))
        pairs = zip(position, velocity, strict=True)
        return np.array([grid(np.array([p, v])) for p, v in pairs])

    def greedy(q_rows: np.ndarray, draw: np.random.Generator) -> np.ndarray:
        best = q_rows == q_rows.max(axis=1, keepdims=True)
        return (best * draw.random(q_rows.shape)).argmax(axis=1)  # uniform among ties

    q = np.zeros((k, n_states, 3))
    position, velocity = rng.uniform(-0.6, -0.4, k), np.zeros(k)
    t, episodes = np.zeros(k, dtype=int), np.zeros(k, dtype=int)
    state = rows(position, velocity)
    while np.any(episodes < n_episodes):
        action = greedy(q[runs, state], rng)
        position, velocity, done = mountaincar_step(position, velocity, action)
        t += 1
        next_state = rows(position, velocity)
        target = -1.0 + gamma * q[runs, next_state].max(axis=1) * ~done
        learning = episodes < n_episodes
        q[runs, state, action] += alpha * (target - q[runs, state, action]) * learning
        over = done | (t >= 200)
        episodes += over
        position[over], velocity[over], t[over] = (
            rng.uniform(-0.6, -0.4, over.sum()),
            0.0,
            0,
        )
        state = rows(position, velocity)
    draw = np.random.default_rng(2)
    reached = np.zeros(k)
    for start in np.linspace(-0.6, -0.4, n_starts):
        position, velocity = np.full(k, start), np.zeros(k)
        arrived = np.zeros(k, dtype=bool)
        for _ in range(200):
            action = greedy(q[runs, rows(position, velocity)], draw)
            position, velocity, done = mountaincar_step(position, velocity, action)
            arrived |= done
            if arrived.all():
                break
        reached += arrived
    return reached / n_starts


@exercise("Exercise 6: design a grid for MountainCar", reference=make_mountaincar_grid)
def check_mountaincar_grid(fn: Callable) -> None:
    grid = fn(MC_LOW.copy(), MC_HIGH.copy())
    expect_true(
        isinstance(grid, GridDiscretizer),
        f"return a GridDiscretizer(low, high, bins=(n_position, n_velocity)), got "
        f"{type(grid).__name__}: the cells after the check count its reachable cells "
        "and draw its maps from its bounds and bins. Choose the bins, and the bounds "
        "if you like.",
    )
    n_states = grid.n_states
    expect_true(
        grid.low.shape == (2,) and 1 <= n_states <= GRID_MAX_ROWS,
        f"a grid over (position, velocity) with 1 to {GRID_MAX_ROWS:,} rows is "
        f"expected; got bounds of shape {grid.low.shape} and {n_states:,} rows.",
    )
    probe = np.random.default_rng(0).uniform(MC_LOW, MC_HIGH, size=(200, 2))
    corners = np.array(
        [MC_LOW, MC_HIGH, [MC_LOW[0], MC_HIGH[1]], [MC_HIGH[0], MC_LOW[1]]]
    )
    for obs in np.concatenate([corners, probe]):
        row = grid(obs.copy())
        expect_true(
            isinstance(row, (int, np.integer)) and 0 <= row < n_states,
            f"grid({obs.tolist()}) returned {row!r}: every observation in the box, the "
            f"corners included, must get a row, an int from 0 to n_states - 1.",
        )
    rate = mountaincar_flag_rate(grid, int(n_states))
    expect_true(
        rate.mean() >= GRID_PASS,
        f"with your grid ({n_states:,} rows), tables trained for {GRID_EPISODES} "
        f"episodes reached the flag from {rate.mean():.0%} of the test starts, on "
        f"average over {len(GRID_SEEDS)} training runs "
        f"({', '.join(f'{r:.0%}' for r in rate)}); at least {GRID_PASS:.0%} is needed. "
        "Each cell learns only from its own visits: how many rows can "
        f"{GRID_EPISODES} episodes fill? And does your grid keep apart the states "
        "that need different pushes?",
    )
    print(
        f"  Your grid ({n_states:,} rows): the greedy tables reached the flag from "
        f"{rate.mean():.0%} of the test starts ({', '.join(f'{r:.0%}' for r in rate)} "
        f"on the {len(GRID_SEEDS)} training runs; {GRID_PASS:.0%} needed)."
    )
