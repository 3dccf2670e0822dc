"""Checks for the exercises of 04_dqn_space_invaders_ram.ipynb: the RAM detective
work, preprocessing, the action-count bug, the Atari transition and target, and
Snake's reward shaping (what a check does: ``course_utils.lessons.checks``).
"""

from __future__ import annotations

from collections.abc import Callable

from course_utils.agents.dqn.core import compute_target_double
from course_utils.common.buffers import Batch
from course_utils.common.policies import epsilon_greedy_action
from course_utils.games.snake import toward_apple
from course_utils.games.space_invaders import atari_transition, preprocess_ram
from course_utils.lessons.checks import (
    exercise,
    expect_close,
    expect_ties_broken_at_random,
    expect_true,
)
from course_utils.lessons.checks.pinned import nn, np, torch
from course_utils.lessons.ram_lab import byte_correlations


def _pearson(ram: np.ndarray, signal: np.ndarray) -> np.ndarray:
    return byte_correlations(ram, signal)


@exercise("Exercise 1: RAM-byte detective", reference=byte_correlations)
def check_byte_correlations(fn: Callable) -> None:
    t = np.arange(20)
    lives = 3 - t // 7  # 3, 3, ..., 2, ..., 1
    ram = np.zeros((20, 5), dtype=np.uint8)
    ram[:, 0] = 7  # constant: its correlation is undefined
    ram[:, 1] = (t * 37) % 11  # noise
    ram[:, 2] = lives  # the lives byte
    ram[:, 3] = 200 - 40 * lives  # the same information, counted downwards
    ram[:, 4] = 250 - 3 * t  # large values: squares overflow uint8 arithmetic
    keep, keep_signal = ram.copy(), lives.copy()
    got = fn(ram, lives)
    expect_true(
        np.array_equal(ram, keep) and np.array_equal(lives, keep_signal),
        "do not modify ram or signal in place: work on float copies.",
    )
    expect_true(
        isinstance(got, np.ndarray) and got.shape == (5,),
        f"return one correlation per byte, an array of shape (5,) for a (20, 5) ram; "
        f"got {type(got).__name__} {np.shape(got)}. Hint: reduce over the time "
        "axis (axis=0), not over the bytes.",
    )
    expect_true(
        np.isfinite(got).all(),
        f"got {np.round(got, 3).tolist()}: a byte that never changes has no defined "
        "correlation (0 / 0); return 0 for it, not NaN, or np.argmax picks the NaN.",
    )
    want = _pearson(ram, lives)
    if got[3] > 0 and abs(got[3] - abs(want[3])) < 1e-6:
        raise AssertionError(
            "byte 3 falls exactly when the signal rises: its correlation is -1, keep "
            "the sign (the detective takes |r| afterwards)."
        )
    expect_close(
        got,
        want,
        what="lives 3, 3, ..., 1 against 5 bytes (constant, noise, lives, "
        "200 - 40 * lives, a large falling timer)",
        hint="Pearson's r compares how each byte and the signal move around their "
        "own means, scaled so that a straight-line relation gives ±1; work in "
        "float64 (uint8 arithmetic wraps around at 256).",
    )
    wide = np.random.default_rng(0).integers(0, 256, size=(50, 128), dtype=np.uint8)
    signal = np.arange(50) % 9
    wide[:, 77] = 3 * signal + 10
    got = fn(wide, signal)
    expect_close(
        got,
        _pearson(wide, signal),
        what="128 random bytes over 50 steps, byte 77 = 3 * signal + 10",
        hint="Every byte gets its own correlation with the same signal.",
    )
    flat = fn(wide, np.full(50, 2))
    expect_close(
        flat,
        np.zeros(128),
        what="a signal that never changes",
        hint="A constant signal has no defined correlation with anything: 0.",
    )


@exercise("Exercise 2: RAM preprocessing", reference=preprocess_ram)
def check_preprocess_ram(fn: Callable) -> None:
    obs = np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)
    got = fn(obs.copy())
    expect_true(
        isinstance(got, np.ndarray),
        f"return a NumPy array, got {type(got).__name__}.",
    )
    expect_true(
        got.dtype == np.float32,
        f"return float32 (what torch layers expect), got {got.dtype}. The contract "
        "fixes the dtype of the result, whatever NumPy's arithmetic would pick.",
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
    ((0.0, False, 4, 3), (0.0, False), "a life gained (3 -> 4): nothing lost"),
    ((30.0, False, 3, 2), (1.0, False), "a hit and a bonus life (2 -> 3)"),
    ((0.5, False, 3, 3), (0.5, False), "a reward of 0.5 (other games have them)"),
    ((-0.25, False, 3, 3), (-0.25, False), "a reward of -0.25"),
]


@exercise("Exercise 4: the Atari transition",
          reference=atari_transition, returns=("float", "bool"))  # fmt: skip
def check_atari_transition(fn: Callable) -> None:
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
            hint="The stored reward is the game's reward clipped to [-1, 1]: "
            "outside that range it becomes the nearest bound, inside it stays as it "
            "is.",
        )
        if bool(terminal) != want[1]:
            if want[1] and not terminated:
                hint = (
                    "a life was lost (info['lives'], after the step, is below "
                    "prev_info['lives'], before it): store it as terminal."
                )
            elif want[1]:
                hint = "terminated=True is the end of the game: always terminal."
            elif lives > lives_before:
                hint = (
                    "a life was gained (Space Invaders gives bonus lives), not "
                    "lost: only a fall in info['lives'] counts."
                )
            else:
                hint = (
                    "no life was lost in this step: compare the lives after the "
                    "step with the lives just before it (not with 3, the lives at the "
                    "start)."
                )
            raise AssertionError(
                f"{case}: expected terminal={want[1]}, got {terminal}. {hint}"
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


class _RescalingQ(nn.Module):
    """A fake Q-network that rescales raw bytes itself, as the course's networks do:
    its greedy action is 0 for bright raw bytes, and 1 if they were rescaled before."""

    n_actions = 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float() * (2.0 / 255.0) - 1.0
        mean = x.mean(dim=1, keepdim=True)
        return torch.cat([mean, -mean], dim=1)


@exercise("Exercise 3: the action-count bug",
          reference=epsilon_greedy_action, returns="action")  # fmt: skip
def check_epsilon_greedy_action(fn: Callable) -> None:
    obs = np.arange(128, dtype=np.uint8)
    q_net = FixedQ([0.0, 1.0, 0.5, 2.5, 2.0, -1.0])
    rng = np.random.default_rng(0)
    got = fn(q_net, obs, 0.0, rng)
    expect_true(
        isinstance(got, (int, np.integer)),
        f"return a plain int action, got {type(got).__name__}. Hint: int(...).",
    )
    expect_close(
        int(got),
        3,
        what="ε = 0 with Q = [0, 1, 0.5, 2.5, 2, -1]",
        hint="With ε = 0 always take the action of the largest Q-value (its index, "
        "not its value).",
    )
    expect_true(
        q_net.seen and q_net.seen[-1].shape == (1, 128),
        "give the network a batch of one observation, shape (1, 128) "
        "(torch.as_tensor(obs).unsqueeze(0)).",
    )
    bright = np.full(128, 200, dtype=np.uint8)
    picks = {fn(_RescalingQ(), bright.copy(), 0.0, rng) for _ in range(5)}
    expect_true(
        picks == {0},
        f"a network whose greedy action is 0 for this raw snapshot (every byte 200) "
        f"got {sorted(picks)} from you. The contract: obs is handed to the network "
        "as the environment gave it, raw bytes; the network rescales them itself "
        "(its first step is the preprocessing), so rescaling it before changes what "
        "the network sees.",
    )
    tie = [1.0, 3.0, 3.0, 0.0, 0.0, 0.0]
    tied = FixedQ(tie)
    expect_ties_broken_at_random(lambda: fn(tied, obs, 0.0, rng), tie)
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
    runs = []
    for _ in range(2):  # two generators in the same state must give the same actions
        same = np.random.default_rng(7)  # ties included: they are broken with rng too
        runs.append([int(fn(net, obs, 0.5, same)) for net in (q_net, tied) * 50])
    expect_true(
        runs[0] == runs[1],
        "two generators in the same state gave different actions: draw every random "
        "number (the coin, the random action, the tie-break) from the rng argument, "
        "never from "
        "random, np.random or a new generator, so that a seeded run replays exactly.",
    )


class _LinearQ(nn.Module):
    """A fake Q-network: Q(s) = raw bytes (as floats) @ weights, with gradients,
    so that a target computed without ``torch.no_grad`` carries one."""

    def __init__(self, weights: list[list[float]]) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.tensor(weights, dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float() @ self.weights


def _target_batch() -> Batch:
    gen = np.random.default_rng(3)
    obs = gen.integers(0, 256, size=(6, 4), dtype=np.uint8)
    next_obs = gen.integers(0, 256, size=(6, 4), dtype=np.uint8)
    return Batch(
        obs=torch.as_tensor(obs),
        action=torch.as_tensor(gen.integers(0, 3, size=6)),
        reward=torch.tensor([1.0, 0.0, 1.9, -1.0, 0.81, 0.0]),  # 3-step returns
        next_obs=torch.as_tensor(next_obs),
        terminated=torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0]),  # lives lost too
    )


def _target_nets() -> tuple[nn.Module, nn.Module]:
    online = _LinearQ(
        [
            [0.01, -0.02, 0.0],
            [0.0, 0.01, -0.01],
            [-0.01, 0.0, 0.02],
            [0.005, 0.005, 0.0],
        ]
    )
    target = _LinearQ(
        [
            [0.0, 0.01, 0.02],
            [-0.01, 0.0, 0.01],
            [0.02, -0.01, 0.0],
            [0.0, 0.005, -0.005],
        ]
    )
    return online, target


_PLAIN_DQN = (
    "the target network picked a' (that is plain DQN): in Double DQN the online "
    "network q_net picks argmax_a' Q(s', a') and target_net scores it."
)
_ONLINE_SCORES = (
    "the online network both picked and scored a': let target_net score the action "
    "q_net picked."
)
_NO_MASK = (
    "transitions marked terminated (the game ended, or a life was lost inside the "
    "3-step window) must not bootstrap: multiply the bootstrap by (1 - terminated)."
)
_GAMMA_TWICE = (
    "gamma is already the bootstrap discount of an n-step transition (the loop "
    "passes γ^n): use it as it is."
)
_RESCALED = (
    "the networks rescale the raw bytes themselves (your preprocess_ram is their "
    "first step): give them batch.next_obs as stored, uint8."
)
_OBS_NOT_NEXT = (
    "the bootstrap reads the state after the transition, batch.next_obs, not batch.obs."
)


@exercise("Exercise 5: the Atari target", reference=compute_target_double)
def check_atari_target(fn: Callable) -> None:
    q_net, target_net = _target_nets()
    batch = _target_batch()
    kept = Batch(*(x.clone() for x in batch))
    gamma = 0.99**3  # what the loop passes for 3-step transitions
    got = fn(q_net, target_net, batch, gamma)
    expect_true(
        all(torch.equal(a, b) for a, b in zip(batch, kept, strict=True)),
        "do not change the batch in place (the buffer's rows are shared): build new "
        "tensors.",
    )
    expect_true(
        isinstance(got, torch.Tensor),
        f"return a torch tensor of shape (batch,), got {type(got).__name__}.",
    )
    expect_true(
        not got.requires_grad,
        "the target carries a gradient: compute it under torch.no_grad() (or "
        ".detach() it), so that the loss moves Q(s, a) towards the target and never "
        "the target towards Q(s, a).",
    )
    expect_true(
        tuple(got.shape) == (6,),
        f"return one target per transition, shape (6,) for a batch of 6; got "
        f"{tuple(got.shape)}. Hint: .squeeze(1) after gather.",
    )
    want = compute_target_double(q_net, target_net, batch, gamma)
    with torch.no_grad():
        online_next = q_net(batch.next_obs)
        target_next = target_net(batch.next_obs)

        def double(online: torch.Tensor, scorer: torch.Tensor) -> torch.Tensor:
            return scorer.gather(1, online.argmax(dim=1, keepdim=True)).squeeze(1)

        alive = 1.0 - batch.terminated
        value = double(online_next, target_next)
        scaled = batch.next_obs.float() / 255
        wrongs = {
            _PLAIN_DQN: batch.reward + gamma * alive * target_next.max(dim=1).values,
            _ONLINE_SCORES: batch.reward
            + gamma * alive * online_next.max(dim=1).values,
            _NO_MASK: batch.reward + gamma * value,
            _GAMMA_TWICE: batch.reward + gamma**3 * alive * value,
            _RESCALED: batch.reward
            + gamma * alive * double(q_net(scaled), target_net(scaled)),
            _OBS_NOT_NEXT: batch.reward
            + gamma * alive * double(q_net(batch.obs), target_net(batch.obs)),
        }
    for hint, value in wrongs.items():
        if torch.allclose(got.float(), value, atol=1e-5) and not torch.allclose(
            value, want, atol=1e-5
        ):
            raise AssertionError(hint)
    expect_close(
        got.detach().numpy(),
        want.numpy(),
        what="6 transitions of 4 bytes, 3-step returns, 2 of them terminal, γ^3",
        hint="target = reward + gamma * (1 - terminated) * Q_target(s', a*), with "
        "a* = argmax_a' Q_online(s', a').",
        atol=1e-5,
    )
    second = Batch(
        batch.obs, batch.action, batch.reward * 0.5, batch.next_obs, torch.zeros(6)
    )
    expect_close(
        fn(q_net, target_net, second, 0.5).detach().numpy(),
        compute_target_double(q_net, target_net, second, 0.5).numpy(),
        what="the same batch with halved rewards, nothing terminal, gamma = 0.5",
        hint="Use the gamma you are given and every row's own reward.",
        atol=1e-5,
    )


def _snake_info(head: tuple[int, int], apple: tuple[int, int], score: int = 0) -> dict:
    return {"score": score, "head": head, "apple": apple}


@exercise("Exercise 6: a reward shaping for Snake", reference=toward_apple)
def check_snake_shaping(fn: Callable) -> None:
    start = _snake_info((5, 5), (2, 5))
    towards, away = _snake_info((4, 5), (2, 5)), _snake_info((6, 5), (2, 5))
    kept = [dict(d) for d in (start, towards, away)]
    results = {}
    for name, info in (("towards", towards), ("away", away)):
        got = fn(0.0, False, info, start)
        expect_true(
            isinstance(got, tuple) and len(got) == 2,
            f"return a pair (reward to learn from, terminal flag), got {got!r}.",
        )
        stored, terminal = got
        expect_true(
            isinstance(stored, (float, np.floating)) and np.isfinite(stored),
            f"the reward must be a finite float, got {stored!r}. Hint: float(...).",
        )
        expect_true(
            isinstance(terminal, (bool, np.bool_)) and not terminal,
            f"a step that does not end the game must stay non-terminal, got "
            f"{terminal!r}: return the terminated flag you were given, as a bool.",
        )
        results[name] = float(stored)
    expect_true(
        [start, towards, away] == kept,
        "do not change info or prev_info: the loop hands the same dicts on.",
    )
    expect_true(
        results["towards"] > results["away"],
        f"a step towards the apple (head (5, 5) -> (4, 5), apple (2, 5)) got "
        f"{results['towards']:.3g}, a step away (-> (6, 5)) {results['away']:.3g}: "
        "the shaping should reward getting closer more than moving away. Compare "
        "the head-to-apple distance before the step (prev_info) and after (info).",
    )
    for reward, info, prev, what in (
        (-1, _snake_info((5, 5), (2, 5)), start, "the snake hit a wall"),
        (1, _snake_info((2, 5), (7, 1), 1), _snake_info((3, 5), (2, 5)), "an apple"),
        (1, _snake_info((2, 5), (-1, -1), 1), _snake_info((3, 5), (2, 5)), "full"),
    ):
        terminated = what != "an apple"
        got = fn(reward, terminated, info, prev)
        expect_true(
            isinstance(got, tuple)
            and len(got) == 2
            and np.isfinite(float(got[0]))
            and bool(got[1]) == terminated
            and isinstance(got[1], (bool, np.bool_)),
            f"{what} (reward {reward}, terminated={terminated}, info={info}, "
            f"prev_info={prev}): got {got!r}; the terminal flag must come back "
            "unchanged, as a bool, with a finite reward (the apple (-1, -1) means the "
            "board is full: no apple left).",
        )
        expect_true(
            isinstance(got[0], (float, np.floating)),
            f"{what}: the reward must be a float, got {got[0]!r} "
            f"({type(got[0]).__name__}): the contract returns a float, whatever "
            "type the game's reward had.",
        )
    # The apple must stay the goal: eating it earns clearly more than any step
    # towards it, dying stays a loss.
    eaten = float(
        fn(1, False, _snake_info((2, 5), (2, 7), 1), _snake_info((3, 5), (2, 5)))[0]
    )
    died = float(fn(-1, True, _snake_info((4, 5), (2, 5)), start)[0])
    expect_true(
        eaten >= 0.5,
        f"the step that eats an apple (game reward 1, a new apple 2 cells away) "
        f"earned {eaten:.3g}: shaping adds to the game's reward, it must not drop "
        "or reverse it. Eating stays clearly positive (at least 0.5).",
    )
    expect_true(
        died < 0,
        f"the step that kills the snake (game reward -1) earned {died:.3g}: dying "
        "must stay a loss after shaping.",
    )
    expect_true(
        results["towards"] <= 0.25 * eaten,
        f"one step towards the apple earned {results['towards']:.3g}, eating it "
        f"{eaten:.3g}: a bonus that large swamps the game's reward (a few steps of "
        "approach pay as much as the apple). Keep one step's bonus at most a quarter "
        "of what eating earns.",
    )
