"""Checks for the exercises of 04_dqn_space_invaders_ram.ipynb.

Each ``check_*`` takes the student's function, tests it on cases small enough to work
out by hand, and returns it (or the course's reference while the exercise still
raises ``NotImplementedError``): ``fn = check_fn(fn)``.
"""

from __future__ import annotations

from collections.abc import Callable

from course_utils.common.policies import epsilon_greedy_action
from course_utils.games.space_invaders import atari_transition, preprocess_ram
from course_utils.lessons.checks import exercise_check, expect_close, expect_true
from course_utils.lessons.checks.pinned import nn, np, torch
from course_utils.lessons.ram_lab import find_tracking_byte


def _find_byte_cases(fn: Callable) -> None:
    t = np.arange(20)
    lives = 3 - t // 7  # 3, 3, ..., 2, ..., 1
    ram = np.zeros((20, 4), dtype=np.uint8)
    ram[:, 0] = 7  # constant: its correlation is undefined
    ram[:, 1] = (t * 37) % 11  # noise
    ram[:, 2] = lives  # the lives byte
    ram[:, 3] = t  # a timer: related, but not the same
    got = fn(ram, lives)
    expect_true(
        got is not None and np.ndim(got) == 0,
        f"return one byte index (an int), got {got!r}.",
    )
    if int(got) == 0:
        raise AssertionError(
            "you picked byte 0, which never changes. Its correlation is NaN (0 / 0) "
            "and np.argmax treats NaN as the largest value: count constant bytes as 0."
        )
    expect_close(
        int(got),
        2,
        what="lives 3,3,...,1 hidden in byte 2 of 4",
        hint="Pick the byte with the largest |correlation| with the signal.",
    )
    ram[:, 2] = 200 - 40 * lives  # same information, counted downwards
    got = fn(ram, lives)
    expect_close(
        int(got),
        2,
        what="a byte that falls exactly when the signal rises",
        hint="A correlation of -1 tracks the signal as well as +1: use |r|.",
    )
    wide = np.random.default_rng(0).integers(0, 256, size=(50, 128), dtype=np.uint8)
    signal = np.arange(50) % 9
    wide[:, 77] = 3 * signal + 10
    expect_close(
        int(fn(wide, signal)),
        77,
        what="128 random bytes, one is 3·s + 10",
        hint="Look at every byte; return its index (not its correlation).",
    )


check_find_tracking_byte = exercise_check(
    "Exercise 1: RAM-byte detective", _find_byte_cases, reference=find_tracking_byte
)


def _preprocess_cases(fn: Callable) -> None:
    obs = np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)
    got = fn(obs.copy())
    expect_true(
        isinstance(got, np.ndarray),
        f"return a NumPy array, got {type(got).__name__}.",
    )
    expect_true(
        got.dtype == np.float32,
        f"return float32 (what torch layers expect), got {got.dtype}. "
        "Hint: np.asarray(obs, dtype=np.float32) first.",
    )
    expected = obs * (2.0 / 255.0) - 1.0
    if np.allclose(got, obs / 255.0, atol=1e-5):
        raise AssertionError(
            "that is [0, 1] (obs / 255); this exercise asks for [-1, 1], what the "
            "course's Normalize layer gives: 0 -> -1, 255 -> 1."
        )
    if np.allclose(got, obs, atol=1e-5) or np.abs(got).max() > 1.0 + 1e-6:
        raise AssertionError(
            f"bytes [0, 1, 127, 128, 254, 255] became {np.round(got, 3).tolist()}: "
            "every value must lie in [-1, 1]. Check the scale and the order of "
            "operations (a - b / c divides only b)."
        )
    if np.allclose(got, obs / 128.0 - 1.0, atol=1e-5):
        raise AssertionError(
            "255 must map to exactly 1.0: scale by 2 / 255, not 1 / 128."
        )
    expect_close(
        got,
        expected,
        what="bytes [0, 1, 127, 128, 254, 255]",
        hint="Each byte b becomes b * 2 / 255 - 1 (compute in float32: uint8 "
        "arithmetic wraps around at 256, so np.uint8(200) * 2 == 144).",
        atol=1e-6,
    )
    batch = np.random.default_rng(1).integers(0, 256, size=(5, 128), dtype=np.uint8)
    keep = batch.copy()
    got = fn(batch)
    expect_true(
        np.shape(got) == (5, 128),
        f"a (5, 128) batch must keep its shape, got {np.shape(got)}.",
    )
    expect_true(np.array_equal(batch, keep), "do not modify the input array in place.")
    expect_close(
        got,
        batch * (2.0 / 255.0) - 1.0,
        what="a (5, 128) batch of random bytes",
        hint="The training run feeds batches of 64 snapshots: work elementwise.",
    )


check_preprocess_ram = exercise_check(
    "Exercise 2: RAM preprocessing", _preprocess_cases, reference=preprocess_ram
)


# (reward, terminated, info after the step, info before it) -> (reward, terminal),
# with what the case is about.
_TRANSITIONS = [
    ((0.0, False, 3, 3), (0.0, False), "nothing happens"),
    ((5.0, False, 3, 3), (1.0, False), "an invader hit, worth 5 points"),
    ((200.0, False, 3, 3), (1.0, False), "the command ship, worth 200 points"),
    (
        (-3.0, False, 3, 3),
        (-1.0, False),
        "a reward of -3 (other Atari games have them)",
    ),
    ((0.0, False, 2, 3), (0.0, True), "a life lost: lives 3 before the step, 2 after"),
    ((10.0, False, 1, 2), (1.0, True), "a hit and a life lost in the same step"),
    ((0.0, False, 2, 2), (0.0, False), "a step with 2 lives left, none lost"),
    ((0.0, True, 0, 1), (0.0, True), "the last life lost: the game is over"),
    ((0.0, True, 2, 2), (0.0, True), "game over with lives left (invaders landed)"),
    ((0.0, False, 5, 5), (0.0, False), "a game with 5 lives, none lost"),
    ((0.0, False, 3, 5), (0.0, True), "two lives lost in one step (5 -> 3)"),
]


def _transition_cases(fn: Callable) -> None:
    for (reward, terminated, lives, lives_before), want, what in _TRANSITIONS:
        info, prev_info = {"lives": lives}, {"lives": lives_before}
        got = fn(reward, terminated, info, prev_info)
        expect_true(
            isinstance(got, tuple) and len(got) == 2,
            f"return a pair (reward to store, terminal flag), got {got!r}.",
        )
        expect_true(
            info == {"lives": lives} and prev_info == {"lives": lives_before},
            "do not change the info dictionaries.",
        )
        stored_reward, terminal = got
        expect_true(
            isinstance(terminal, (bool, np.bool_)),
            f"the terminal flag must be a bool, got {terminal!r} "
            f"({type(terminal).__name__}).",
        )
        case = (
            f"{what}: reward={reward}, terminated={terminated}, "
            f"info={info}, prev_info={prev_info}"
        )
        expect_close(
            stored_reward,
            want[0],
            what=f"{case}; the stored reward",
            hint="Clip the reward to [-1, 1] (np.clip(reward, -1, 1)): a gain "
            "stays positive, a loss negative, 0 stays 0.",
        )
        if bool(terminal) != want[1]:
            if want[1] and not terminated:
                hint = (
                    "a life was lost (info['lives'], after the step, is below "
                    "prev_info['lives'], before it): store it as terminal."
                )
            elif want[1]:
                hint = "terminated=True is the end of the game: always terminal."
            else:
                hint = (
                    "no life was lost in this step: compare the lives after the "
                    "step with the lives just before it (not with 3, the lives at the "
                    "start)."
                )
            raise AssertionError(
                f"{case}: expected terminal={want[1]}, got {terminal}. {hint}"
            )


check_atari_transition = exercise_check(
    "Exercise 4: the Atari transition", _transition_cases, reference=atari_transition
)


class FixedQ(nn.Module):
    """A fake Q-network that returns the same Q-values for every observation."""

    def __init__(self, q_values: list[float], obs_dim: int = 128) -> None:
        super().__init__()
        self.q = torch.tensor(q_values, dtype=torch.float32)
        self.obs_dim, self.n_actions = obs_dim, len(q_values)
        self.seen: list[torch.Tensor] = []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.seen.append(obs)
        return self.q.expand(obs.shape[0], -1)


def _epsilon_greedy_cases(fn: Callable) -> None:
    obs = np.arange(128, dtype=np.uint8)
    q_net = FixedQ([0.0, 1.0, 0.5, 3.0, 2.0, -1.0])
    rng = np.random.default_rng(0)
    got = fn(q_net, obs, 0.0, rng)
    expect_true(
        isinstance(got, (int, np.integer)),
        f"return a plain int action, got {type(got).__name__}. Hint: int(...).",
    )
    expect_close(
        int(got),
        3,
        what="ε = 0 with Q = [0, 1, 0.5, 3, 2, -1]",
        hint="With ε = 0 always take argmax_a Q(s, a).",
    )
    expect_true(
        q_net.seen and q_net.seen[-1].shape == (1, 128),
        "give the network a batch of one observation, shape (1, 128) "
        "(torch.as_tensor(obs).unsqueeze(0)).",
    )
    actions = np.array([fn(q_net, obs, 1.0, rng) for _ in range(1200)])
    counts = np.bincount(actions, minlength=6)
    if counts[2:].sum() == 0:
        raise AssertionError(
            f"with ε = 1 you only ever chose {sorted(set(actions.tolist()))}: that is "
            "the seed's bug (random.randint(0, 1) on a 6-action game), so the cannon "
            "never moves while exploring. Draw among all the network's actions."
        )
    expect_true(
        len(counts) == 6 and (counts > 120).all(),
        f"with ε = 1 each of the 6 actions should come up about 200 times "
        f"in 1200 draws, got counts {counts.tolist()}. Hint: rng.integers(n) "
        "draws from 0..n-1 (the upper bound is excluded).",
    )
    small = FixedQ([0.0, 5.0, 1.0])
    picks = {fn(small, obs, 1.0, rng) for _ in range(300)}
    expect_true(
        picks == {0, 1, 2},
        f"a 3-action network must get actions 0, 1, 2, got {sorted(picks)}. "
        "Take the number of actions from the network's output; don't "
        "hard-code 6.",
    )
    greedy = np.mean([fn(q_net, obs, 0.5, rng) == 3 for _ in range(2000)])
    expect_true(
        abs(greedy - (0.5 + 0.5 / 6)) < 0.05,
        f"with ε = 0.5 the greedy action should be chosen about 58% of the "
        f"time (0.5 + 0.5/6), got {greedy:.0%}.",
    )


check_epsilon_greedy_action = exercise_check(
    "Exercise 3: the action-count bug",
    _epsilon_greedy_cases,
    reference=epsilon_greedy_action,
)
