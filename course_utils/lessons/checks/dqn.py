"""Checks for the exercises of 03_dqn_mountaincar.ipynb.

Besides the checks, the references a stub falls back to where the notebook's contract
is not the package's: :func:`choose_action` (plain ε-greedy, the package's
``choose_action`` without a hold) and :func:`train` (the notebook's loop, as
``dqn.train_dqn`` with the core recipe's pieces).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import traceback
from collections import deque
from collections.abc import Callable

from course_utils.agents import dqn
from course_utils.common import buffers
from course_utils.common.buffers import Batch
from course_utils.common.envs import make_env
from course_utils.lessons.checks import (
    exercise,
    expect_close,
    expect_ties_broken_at_random,
    expect_true,
    run_check,
    under_global_seeds,
)
from course_utils.lessons.checks.pinned import F, nn, np, torch


class _TableQ(nn.Module):
    """A fake Q-network: row ``int(obs[0])`` of a fixed table, times a weight 1.0
    that requires grad (so a target that keeps its graph shows), counting calls."""

    def __init__(self, table: list[list[float]]) -> None:
        super().__init__()
        self.table = torch.tensor(table)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.calls = 0

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        rows = torch.as_tensor(obs).reshape(-1, 1)[:, 0].long()
        return self.table[rows] * self.scale


class _GradWatch(_TableQ):
    """A fake Q-network that notes whether gradients were on when it was called."""

    grad_on: bool | None = None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        self.grad_on = torch.is_grad_enabled()
        return super().forward(obs)


@exercise("Exercise 3: the TD target", reference=dqn.td_target)
def check_td_target(f: Callable) -> None:
    """Exercise 3: ``td_target(reward, next_q, terminated, gamma) -> (batch,)``."""
    reward = torch.tensor([-1.0, -1.0, 0.5])
    next_q = torch.tensor([[-10.0, -8.0, -9.0], [-3.0, -4.0, -5.0], [2.0, 1.0, 0.0]])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    out = f(reward, next_q, terminated, 0.9)
    expect_true(
        isinstance(out, torch.Tensor), f"return a torch tensor, got {type(out)}"
    )
    expect_close(
        out.detach(),
        [-1 + 0.9 * -8.0, -1.0, 0.5 + 0.9 * 2.0],
        what="td_target on 3 transitions",
        hint="Use the max over next actions, and multiply the bootstrap term "
        "by (1 - terminated): a terminal transition keeps only its reward.",
    )
    reward_before = reward.clone()
    f(reward, next_q, terminated, 0.5)
    expect_true(
        torch.equal(reward, reward_before),
        "td_target changed its `reward` argument (an in-place `+=`?): build a "
        "new tensor, the batch is used again.",
    )
    expect_close(
        f(reward, next_q, terminated, 0.5).detach(),
        [-1 + 0.5 * -8.0, -1.0, 0.5 + 0.5 * 2.0],
        what="the same transitions with gamma = 0.5",
        hint="Use the gamma you are given.",
    )
    # A time-limit truncation is stored with terminated = 0: it bootstraps.
    expect_close(
        f(
            torch.tensor([-1.0]),
            torch.tensor([[-20.0, -30.0, -40.0]]),
            torch.tensor([0.0]),
            0.98,
        ).detach(),
        [-1 + 0.98 * -20.0],
        what="a transition cut by the 200-step time limit",
        hint="Truncation is not termination: the car could have gone on.",
    )


_POLYAK = "θ_target ← τ·θ + (1 − τ)·θ_target, for every parameter."
_ALL_PARAMETERS = "Update the bias too: loop over all parameters()."
_ONLY_TARGET = "Only the target network changes."


@exercise("Exercise 7: the soft update", reference=dqn.soft_update)
def check_soft_update(f: Callable) -> None:
    source, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        source.weight.fill_(1.0)
        source.bias.fill_(1.0)
        target.weight.fill_(0.0)
        target.bias.fill_(-1.0)
    f(target, source, 0.25)
    expect_true(
        bool((target.weight != 0.0).any() or (target.bias != -1.0).any()),
        "after soft_update(target_net, q_net, 0.25) nothing changed in place: the "
        "target's parameters are as they were. `t = tau * p + (1 - tau) * t` makes a "
        "new tensor and rebinds the name t to it; write into the parameter itself "
        "(t.copy_(...), or t.mul_(...).add_(...)), under torch.no_grad().",
    )
    for param, value, what, hint in [
        (target.weight, [[0.25, 0.25]], "weights after tau=0.25", _POLYAK),
        (target.bias, [-0.5], "bias after tau=0.25", _ALL_PARAMETERS),
        (source.weight, [[1.0, 1.0]], "the online network", _ONLY_TARGET),
    ]:
        expect_close(param.detach(), value, what=what, hint=hint)
    f(target, source, 1.0)
    expect_close(
        target.weight.detach(),
        [[1.0, 1.0]],
        what="weights after tau=1",
        hint="tau = 1 must be a hard copy.",
    )


@exercise("Exercise 8: bug hunt — when does the target sync?",
          reference=dqn.should_sync, returns="bool")  # fmt: skip
def check_should_sync(f: Callable) -> None:
    """Exercise 8 (bug hunt): ``should_sync(step, interval) -> bool``."""
    # The loop asks on steps 1, 2, ..., total_steps (never step 0): the course's
    # interval over a whole full-mode run, then others, around every multiple.
    for interval, last in ((600, 150_000), (500, 3_001), (7, 200), (1, 20)):
        fired = [s for s in range(1, last + 1) if f(s, interval)]
        expected = list(range(interval, last + 1, interval))
        if fired == expected:
            continue
        wrong = sorted(set(fired) ^ set(expected))[0]
        expect_true(
            False,
            f"with interval {interval}, the loop's steps 1 to {last:,} must sync "
            f"exactly at {expected[:3]}...; yours "
            + (f"syncs at step {wrong}" if wrong in fired else f"skips step {wrong}")
            + f" (it fires at {fired[:4]}{'...' if len(fired) > 4 else ''}). "
            "What does Python compute first in `t % 1/tau`, and which remainder "
            "do the multiples of the interval leave?",
        )


@exercise("Exercise 4: bug hunt — the time limit",
          reference=dqn.terminal_to_store, returns="bool")  # fmt: skip
def check_terminal_to_store(f: Callable) -> None:
    """Exercise 4 (bug hunt): ``terminal_to_store(terminated, truncated) -> bool``."""
    table = {
        (False, False): False,
        (True, False): True,
        (False, True): False,
        (True, True): True,
    }
    for (terminated, truncated), expected in table.items():
        got = f(terminated, truncated)
        expect_true(
            got == expected,
            f"terminated={terminated}, truncated={truncated}: store {expected}, "
            f"got {got}. A time-limit truncation is not a terminal state.",
        )


@exercise("Exercise 1: sampling the replay buffer",
          reference=dqn.sample_indices, returns="array")  # fmt: skip
def check_sample_indices(f: Callable) -> None:
    """Exercise 1: ``sample_indices(size, batch_size, rng) -> (batch_size,) int``."""
    try:
        many = np.asarray(f(5, 2000, np.random.default_rng(0)))
        more_than_stored = np.asarray(f(3, 10, np.random.default_rng(0)))
    except ValueError as error:
        raise AssertionError(
            f"sampling 10 indices from 3 stored transitions raised {error!r}. "
            "Sample *with* replacement: a batch may repeat a transition."
        ) from None
    expect_true(
        many.shape == (2000,) and many.dtype.kind in "iu",
        f"sample_indices(5, 2000, rng) must return 2000 integers, got shape "
        f"{many.shape}, dtype {many.dtype}. Is the order (size, batch_size)?",
    )
    expect_true(
        more_than_stored.shape == (10,),
        "sample_indices(3, 10, rng) must return 10 indices.",
    )
    seen = sorted(set(many.tolist()))
    expect_true(
        seen == [0, 1, 2, 3, 4],
        f"from a buffer holding 5 transitions, 2000 draws gave the indices {seen}; "
        "expected every index 0..4 and nothing else (rows 0 to size - 1: "
        "rng.integers' upper bound is excluded).",
    )
    first, again = under_global_seeds(
        lambda: np.asarray(f(10, 50, np.random.default_rng(3)))
    )
    other = np.asarray(f(10, 50, np.random.default_rng(4)))
    expect_true(
        np.array_equal(first, again) and not np.array_equal(first, other),
        "the indices must come from the rng you are given (the same rng seed "
        "gives the same sample), not from np.random's global generator.",
    )
    # The course's draws, a batch larger and smaller than the buffer (a draw
    # without replacement where possible passes the first and fails the second).
    for size, batch_size in ((10, 50), (100, 8), (10_000, 128)):
        mine = np.asarray(f(size, batch_size, np.random.default_rng(3)))
        theirs = dqn.sample_indices(size, batch_size, np.random.default_rng(3))
        if np.array_equal(mine, theirs):
            continue
        repeats = len(set(mine.tolist())) < len(mine)
        raise AssertionError(
            f"sample_indices({size}, {batch_size}, rng) departs from the course's "
            f"draw at position {int(np.argmax(mine != theirs))} (same rng seed)"
            + (
                "; yours never repeats a row: the contract is *with* "
                "replacement, whatever the batch size."
                if not repeats and batch_size <= size
                else ": uniform over the rows, but not the draw the course's "
                "buffer makes, so your loop could not repeat the course's run. "
                "ReplayBuffer.sample draws rng.integers(size, size=batch_size): "
                "one call, nothing else."
            )
        )


def choose_action(q_net, obs, epsilon, rng, *, n_actions, warmup=False) -> int:
    """Exercise 2's reference, with the notebook's signature: plain ε-greedy,
    ``dqn.choose_action`` with no hold (the coin, then a random action or the greedy
    one; always random in warmup)."""
    hold = {"hold_left": 0, "held_action": 0}  # no random action is being held
    return dqn.choose_action(
        q_net, obs, epsilon, rng, n_actions=n_actions, warmup=warmup, **hold
    )[0]


def _first_departing_draw(f, call, epsilon: float, warmup: bool, steps=500) -> None:
    """Exercise 2's draws against the course's, call by call from one seed: at the
    first call where the action or the generator's state departs, say what the
    course drew there (the coin, then the random action), so that the student finds
    the draw that differs rather than reading it in the prompt."""
    q_net = _TableQ([[0.0, 2.0, 1.5, 1.0]])  # no tie: the greedy action draws nothing
    n = q_net.table.shape[1]
    mine, theirs = np.random.default_rng(5), np.random.default_rng(5)
    for i in range(steps):
        before = copy.deepcopy(theirs)
        got = call(f, q_net, epsilon, mine, warmup)
        want = choose_action(
            q_net, np.zeros(1, np.float32), epsilon, theirs, n_actions=n, warmup=warmup
        )
        same_state = mine.bit_generator.state == theirs.bit_generator.state
        if got == want and same_state:
            continue
        draws = []
        coin = None if warmup else float(before.random())
        if coin is not None:
            heads = coin < epsilon
            draws.append(
                f"one coin rng.random() = {coin:.3f} ({'<' if heads else '≥'} ε: "
                + ("random" if heads else "greedy")
                + ")"
            )
        if coin is None or coin < epsilon:
            draws.append(f"one rng.integers({n}) = {int(before.integers(n))}")
        elif not draws:
            draws.append("nothing")
        raise AssertionError(
            f"ε = {epsilon}, warmup={warmup}, the same rng seed: your choices and "
            f"draws depart from the course's at call {i + 1}, where the course drew "
            + ", then ".join(draws)
            + (
                ", and nothing else"
                if coin is None or coin < epsilon
                else "; the greedy action drew nothing (no tie)"
            )
            + f", and chose action {want}; yours chose {got}"
            + (
                ""
                if same_state
                else " and left the rng elsewhere (other draws, or more, or fewer)"
            )
            + ". Your loop could not repeat the course's run."
        )


@exercise("Exercise 2: ε-greedy", reference=choose_action, returns="action")
def check_choose_action(f: Callable) -> None:
    """Exercise 2: ``choose_action(q_net, obs, epsilon, rng, *, n_actions,
    warmup=False) -> int``."""

    def call(f, q_net, epsilon, rng, warmup=False, n_actions=None):
        obs = np.zeros(1, dtype=np.float32)
        n = q_net.table.shape[1] if n_actions is None else n_actions
        action = f(q_net, obs, epsilon, rng, n_actions=n, warmup=warmup)
        expect_true(
            isinstance(action, int | np.integer) and not isinstance(action, bool),
            f"return the action as a Python int, got {type(action).__name__} "
            f"{action!r}: env.step and the replay buffer take an int (a tensor's "
            "`.item()`, or `int(...)`).",
        )
        expect_true(not obs.any(), "choose_action changed `obs`: it must only read it.")
        return int(action)

    def sequence(f, epsilon, warmup, steps=500):
        # No tie: a network's float Q-values practically never tie, so when the
        # greedy action is computed (before or after the coin) draws nothing.
        q_net, rng = _TableQ([[0.0, 2.0, 1.5, 1.0]]), np.random.default_rng(5)
        return [call(f, q_net, epsilon, rng, warmup) for _ in range(steps)]

    for table, best in (([[1.0, 3.0, 2.0]], 1), ([[0.5, -1.0, 2.5, 0.0]], 2)):
        got = call(f, _TableQ(table), 0.0, np.random.default_rng(0))
        expect_true(
            got == best,
            f"with ε = 0 and Q = {table[0]} the greedy action is {best}, got "
            f"{got}. "
            "The action is the *index* of the largest Q-value.",
        )
    for n in (3, 4):
        rng, q_net = np.random.default_rng(1), _TableQ([[0.0] * (n - 1) + [9.0]])
        counts = np.bincount(
            [call(f, q_net, 1.0, rng) for _ in range(3000)], minlength=n
        )
        expect_true(
            len(counts) == n and counts.min() > 3000 / n * 0.85,
            f"with ε = 1 and {n} actions, 3000 choices gave the actions "
            f"{counts.tolist()} times; expected about {3000 // n} each: a random "
            "action is uniform over all n_actions, whatever the Q-values.",
        )
    seq1, seq2 = under_global_seeds(lambda: sequence(f, 0.5, False, 100))
    expect_true(
        seq1 == seq2,
        "the same rng seed must give the same choices: draw every random number "
        "from the rng you are given, not from np.random or the random module.",
    )
    watch = _GradWatch([[0.0, 1.0, 0.5]])
    call(f, watch, 0.0, np.random.default_rng(0))
    expect_true(
        watch.grad_on is not True,
        "your greedy branch called the network with gradients on: acting needs no "
        "gradients, so compute the Q-values under torch.no_grad() (no graph is "
        "built: less memory and time on every step).",
    )
    rng, tied = np.random.default_rng(6), _TableQ([[2.0, 2.0, 1.0]])
    expect_ties_broken_at_random(lambda: call(f, tied, 0.0, rng), [2.0, 2.0, 1.0])
    rng, q_net = np.random.default_rng(4), _TableQ([[0.0, 0.0, 5.0]])
    warm = {call(f, q_net, 0.0, rng, warmup=True) for _ in range(300)}
    expect_true(
        warm == {0, 1, 2},
        f"warmup=True means random actions whatever ε (here 0); got only "
        f"{sorted(warm)}.",
    )
    for epsilon, warmup in ((0.3, False), (0.9, False), (0.3, True)):
        _first_departing_draw(f, call, epsilon, warmup)


def _double_case() -> tuple[_TableQ, _TableQ, Batch]:
    online = _TableQ([[1.0, 5.0, 2.0], [4.0, 0.0, 3.0], [0.0, 1.0, 9.0]])
    target = _TableQ([[10.0, -2.0, 7.0], [-1.0, 6.0, 2.0], [3.0, 8.0, -4.0]])
    batch = Batch(
        obs=torch.tensor([[2.0], [0.0], [1.0]]),
        action=torch.tensor([0, 1, 2]),
        reward=torch.tensor([1.0, -1.0, 0.5]),
        next_obs=torch.tensor([[0.0], [1.0], [2.0]]),
        terminated=torch.tensor([0.0, 0.0, 1.0]),
    )
    return online, target, batch


@exercise("Exercise 11: the Double DQN target", reference=dqn.compute_target_double)
def check_double_target(f: Callable) -> None:
    """Exercise 11 (deep dive): ``compute_target_double(q_net, target_net, batch,
    gamma)``."""
    online, target, batch = _double_case()
    out = f(online, target, batch, 0.5)
    expect_true(
        isinstance(out, torch.Tensor), f"return a torch tensor, got {type(out)}"
    )
    expect_close(
        out.detach(),
        [1.0 + 0.5 * -2.0, -1.0 + 0.5 * -1.0, 0.5],
        what="Double DQN targets of 3 transitions (the last one terminated)",
        hint="The online q_net picks a* = argmax over next_obs (indices, dim 1), "
        "the target_net scores it (gather along dim 1); multiply by "
        "(1 - terminated); next_obs, not obs.",
    )
    expect_true(
        not out.requires_grad,
        "the target still carries a computation graph (requires_grad=True): "
        "compute it inside `with torch.no_grad():` so no gradient flows into it.",
    )


def _leaky_target(q_net, target_net, batch, gamma):
    """A target function *without* its own no_grad, using both networks."""
    next_value = target_net(batch.next_obs).max(dim=1).values
    next_value = next_value + 0.1 * q_net(batch.next_obs).mean(dim=1)
    return batch.reward + gamma * (1.0 - batch.terminated) * next_value


def _update_case() -> tuple[nn.Module, nn.Module, Batch]:
    """Fixed fake networks (with stale gradients) and a batch of 4 transitions."""
    q_net, target_net = nn.Linear(2, 3), nn.Linear(2, 3)
    with torch.no_grad():
        q_net.weight.copy_(torch.tensor([[0.5, -1.0], [1.0, 0.0], [-0.5, 2.0]]))
        q_net.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
        target_net.weight.copy_(torch.tensor([[1.0, 1.0], [0.0, -2.0], [2.0, 0.5]]))
        target_net.bias.copy_(torch.tensor([-1.0, 0.5, 0.0]))
    for p in q_net.parameters():  # stale gradients from an earlier step
        p.grad = torch.full_like(p, 5.0)
    batch = Batch(
        obs=torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]),
        action=torch.tensor([0, 2, 1, 2]),
        reward=torch.tensor([-1.0, -1.0, 0.0, 2.0]),
        next_obs=torch.tensor([[0.5, 0.5], [1.0, -1.0], [0.0, 0.0], [2.0, 1.0]]),
        terminated=torch.tensor([0.0, 0.0, 1.0, 0.0]),
    )
    return q_net, target_net, batch


def _loss_cause(got: float, gamma: float) -> str:
    """The likely cause of a wrong TD loss, from the value it has: the batch summed
    instead of averaged, Q(s, a) scored by the target network, or (when neither
    fits) the wrong column picked from Q(s, ·)."""
    q_net, target_net, batch = _update_case()
    with torch.no_grad():
        target = _leaky_target(q_net, target_net, batch, gamma)
        index = batch.action.unsqueeze(1)
        q = q_net(batch.obs).gather(1, index).squeeze(1)
        by_target = target_net(batch.obs).gather(1, index).squeeze(1)
        summed = float(F.smooth_l1_loss(q, target, reduction="sum"))
        wrong_net = float(F.smooth_l1_loss(by_target, target))
    if np.isclose(got, summed, rtol=1e-4):
        return (
            "Your loss is the sum over the batch: the course's is the batch's mean "
            "(loss_fn's default reduction), so its size does not scale the step."
        )
    if np.isclose(got, wrong_net, rtol=1e-4):
        return (
            "Your loss scores Q(s, a) with the target network: the online q_net "
            "is the one that learns, so its Q(s, a) goes into the loss."
        )
    return (
        "Neither a sum over the batch nor the wrong network: the Q-values compared "
        "are not Q(s, a) of the actions taken (q_net(batch.obs) is (B, n_actions); "
        "torch.gather picks along dim 1 with an int64 index shaped like its result)."
    )


@exercise("Exercise 5: the TD loss", reference=dqn.compute_loss)
def check_td_loss(f: Callable) -> None:
    """Exercise 5: ``compute_loss(q_net, target_net, batch, gamma, *, target_fn,
    loss_fn) -> scalar tensor``."""
    gamma = 0.9**3  # the bootstrap discount of a 3-step transition

    def run(f, loss_fn=F.smooth_l1_loss):
        q_net, target_net, batch = _update_case()
        loss = f(
            q_net, target_net, batch, gamma, target_fn=_leaky_target, loss_fn=loss_fn
        )
        return loss, q_net, target_net

    def expected_loss(loss_fn=F.smooth_l1_loss) -> float:
        q_net, target_net, batch = _update_case()
        with torch.no_grad():
            q = q_net(batch.obs).gather(1, batch.action.unsqueeze(1)).squeeze(1)
            return float(loss_fn(q, _leaky_target(q_net, target_net, batch, gamma)))

    loss, q_net, target_net = run(f)
    expect_true(
        isinstance(loss, torch.Tensor) and loss.dim() == 0,
        f"return the loss as a scalar tensor (not loss.item(): the update "
        f"backpropagates through it), got {type(loss).__name__}.",
    )
    expect_close(
        float(loss.detach()),
        expected_loss(),
        what="the loss of a 4-transition batch",
        hint=_loss_cause(float(loss.detach()), gamma),
    )
    expect_true(
        loss.requires_grad,
        "the loss carries no gradient: only the target goes under "
        "torch.no_grad(); Q(s, a) must keep its graph so the network can learn.",
    )
    loss.backward()
    expect_true(
        all(p.grad is None for p in target_net.parameters()),
        "gradient reached the target network: compute the target inside "
        "`with torch.no_grad():` (a target that keeps its graph is a moving "
        "goal post, and here it also changes the online network's step).",
    )
    ref_loss, ref_q, _ = run(dqn.compute_loss)
    ref_loss.backward()
    for (name, mine), theirs in zip(
        q_net.named_parameters(), ref_q.parameters(), strict=True
    ):
        expect_close(
            mine.grad,
            theirs.grad,
            what=f"the gradient of q_net.{name}",
            hint="The gradient must flow through Q(s, a) only: compute the "
            "target under torch.no_grad().",
        )
    expect_close(
        float(run(f, F.mse_loss)[0].detach()),
        expected_loss(F.mse_loss),
        what="the loss with loss_fn=F.mse_loss",
        hint="Use the loss_fn you are given (Huber by default), not a fixed one.",
    )


def _adam_case(seed: int) -> tuple[nn.Module, nn.Module, torch.optim.Optimizer]:
    """A small Q-network with stale gradients, its target copy, and Adam on it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        q_net = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    target_net = copy.deepcopy(q_net)
    with torch.no_grad():
        for p in target_net.parameters():
            p.add_(0.3)
    for p in q_net.parameters():  # stale gradients from an earlier step
        p.grad = torch.full_like(p, 5.0)
    return q_net, target_net, torch.optim.Adam(q_net.parameters(), lr=0.01)


def _batches() -> list[Batch]:
    gen = torch.Generator().manual_seed(0)
    return [
        Batch(
            obs=torch.randn(6, 2, generator=gen),
            action=torch.randint(0, 3, (6,), generator=gen),
            reward=torch.randn(6, generator=gen),
            next_obs=torch.randn(6, 2, generator=gen),
            terminated=torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        )
        for _ in range(3)
    ]


class _SeenGradients(torch.optim.SGD):
    """Plain SGD that records, at each ``step()``, the gradients it is about to use."""

    def __init__(self, params) -> None:
        super().__init__(params, lr=0.01)
        self.seen: list[list[torch.Tensor]] = []

    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"]]
        self.seen.append(
            [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in params]
        )
        return super().step(closure)


def _gradients_seen(f, *, stale: bool, max_grad_norm: float = 1e6, calls: int = 2):
    """The gradients ``f``'s optimizer steps with, call by call, from a network with
    (``stale``) or without gradients left over from elsewhere."""
    q_net, target_net, _ = _adam_case(0)
    if not stale:
        q_net.zero_grad(set_to_none=True)
    optimizer = _SeenGradients(q_net.parameters())
    for batch in _batches()[:calls]:
        f(
            q_net,
            target_net,
            optimizer,
            batch,
            gamma=0.9**3,
            td_loss=dqn.DQNLoss(),
            max_grad_norm=max_grad_norm,
        )
    return optimizer.seen


def _check_fresh_gradients(f: Callable) -> None:
    """Each step must use this batch's gradients alone: PyTorch adds new gradients to
    stored ones, so gradients not cleared pile up from call to call."""
    for stale, calls in ((False, 2), (True, 1)):
        seen = _gradients_seen(f, stale=stale, calls=calls)
        ref = _gradients_seen(dqn.gradient_step, stale=stale, calls=calls)
        expect_true(
            len(seen) == len(ref),
            f"{calls} call(s) of gradient_step made {len(seen)} optimizer step(s): "
            "take exactly one optimizer step per call.",
        )
        for k, (mine, theirs) in enumerate(zip(seen, ref, strict=True)):
            if all(
                torch.allclose(a, b, atol=1e-6)
                for a, b in zip(mine, theirs, strict=True)
            ):
                continue
            earlier = [torch.full_like(g, 5.0) for g in theirs] if stale else seen[0]
            piled_up = k > 0 or stale
            piled_up = piled_up and all(
                torch.allclose(a, b + c, atol=1e-5)
                for a, b, c in zip(mine, theirs, earlier, strict=True)
            )
            raise AssertionError(
                (
                    "the gradients at the optimizer's step were this batch's plus "
                    + (
                        "the stale ones the network came with"
                        if stale
                        else "the previous call's"
                    )
                    + ": PyTorch adds new gradients to stored ones. Clear them "
                    "before backpropagating"
                    + (", not only after the step." if stale else ".")
                )
                if piled_up
                else f"at call {k + 1} the gradients the optimizer stepped with are "
                "not the gradients of td_loss on this batch (with the gamma you are "
                "given): backpropagate the loss you return, once, before the step."
            )
    seen = _gradients_seen(f, stale=False, max_grad_norm=0.05, calls=1)
    norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in seen[0]])))
    if norm <= 0.05 * (1 + 1e-4):
        return
    largest = max(float(g.abs().max()) for g in seen[0])
    unclipped = _gradients_seen(dqn.gradient_step, stale=False, calls=1)[0]
    raw = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in unclipped])))
    raise AssertionError(
        f"with max_grad_norm=0.05 the gradients reaching optimizer.step() had a "
        f"total norm of {norm:.3g}"
        + (
            ", and no component above 0.05: that is value clipping (each component "
            "capped), the contract is norm clipping (the whole gradient rescaled "
            "so that its total norm is at most max_grad_norm)."
            if largest <= 0.05 * (1 + 1e-4)
            else f", the unclipped gradient's ({raw:.3g}): nothing was clipped "
            "before the step used them."
            if np.isclose(norm, raw, rtol=1e-4)
            else ": clipped, but not to a total norm of max_grad_norm."
        )
    )


@exercise("Exercise 6: one gradient step", reference=dqn.gradient_step, returns="float")
def check_gradient_step(f: Callable) -> None:
    """Exercise 6: ``gradient_step(q_net, target_net, optimizer, batch, *, gamma,
    td_loss, max_grad_norm) -> float``: the TD loss, then one clipped step."""
    td_loss = dqn.DQNLoss()

    def steps(f, max_grad_norm, gamma=0.9**3):
        q_net, target_net, optimizer = _adam_case(0)
        target_before = [p.detach().clone() for p in target_net.parameters()]
        losses = [
            f(
                q_net,
                target_net,
                optimizer,
                batch,
                gamma=gamma,
                td_loss=td_loss,
                max_grad_norm=max_grad_norm,
            )
            for batch in _batches()
        ]
        for before, after in zip(target_before, target_net.parameters(), strict=True):
            expect_true(
                torch.equal(before, after),
                "gradient_step changed the target network: only the optimizer's "
                "network (q_net) takes the step.",
            )
        return losses, q_net

    _check_fresh_gradients(f)
    losses, q_net = steps(f, 10.0)
    expect_true(
        all(type(loss) is float for loss in losses),
        f"return the loss as a Python float (loss.item()), got "
        f"{type(losses[0]).__name__}: a tensor keeps the whole graph alive, and "
        "the plots after training need plain numbers.",
    )
    for max_grad_norm, gamma in ((10.0, 0.9**3), (0.05, 0.9**3), (10.0, 0.5)):
        losses, q_net = steps(f, max_grad_norm, gamma)
        ref_losses, ref_net = steps(dqn.gradient_step, max_grad_norm, gamma)
        expect_close(
            losses,
            ref_losses,
            what=f"the losses of 3 steps (max_grad_norm={max_grad_norm}, "
            f"gamma={gamma:g})",
            hint="Return the loss td_loss(q_net, target_net, batch, gamma) gave "
            "*before* the step, with the gamma you are given.",
        )
        for (name, mine), theirs in zip(
            q_net.named_parameters(), ref_net.parameters(), strict=True
        ):
            expect_close(
                mine.detach(),
                theirs.detach(),
                what=f"q_net.{name} after 3 steps with Adam "
                f"(max_grad_norm={max_grad_norm})",
                hint="The gradients were right when the step came, so the "
                "step itself differs: let the optimizer you are given take it "
                "(its own rule, Adam here), once.",
                atol=1e-6,
            )


def _push_episode(f, rewards, *, n=3, gamma=0.5, end=None, pending=None):
    pending = deque() if pending is None else pending
    out = []
    for t, reward in enumerate(rewards):
        last = t == len(rewards) - 1
        got = f(
            pending,
            np.array([float(t)]),
            t,
            reward,
            np.array([float(t + 1)]),
            last and end == "terminated",
            last and end == "truncated",
            n=n,
            gamma=gamma,
        )
        expect_true(
            isinstance(got, list),
            f"return a list of transitions (maybe empty), got {type(got).__name__}.",
        )
        out += [
            (int(o[0]), int(a), round(float(r), 6), int(s[0]), bool(d))
            for o, a, r, s, d in got
        ]
    return out, pending


@exercise("Exercise 9: n-step transitions", reference=dqn.n_step_push)
def check_n_step_push(f: Callable) -> None:
    """Exercise 9: ``n_step_push(pending, obs, action, reward, next_obs, terminated,
    truncated, *, n, gamma) -> list of (obs, action, R, next_obs, terminated)``."""
    rewards = [1.0, 2.0, 4.0, 8.0]
    got, _ = _push_episode(f, rewards)
    expect_true(
        got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)],
        "n = 3, γ = 0.5, rewards 1, 2, 4, 8 and no ending yet: expected "
        "[(s0, a0, R=1+0.5·2+0.25·4=3, s3, False), (s1, a1, R=6, s4, False)], "
        f"got {got}. A step comes out once n rewards are known, R = r_t + γ "
        "r_(t+1) + γ² r_(t+2) (the first reward is not discounted), and next_obs "
        "is the state after the n-th reward.",
    )
    got, pending = _push_episode(f, rewards, end="terminated")
    expect_true(
        not pending,
        f"after the episode terminated {len(pending)} steps are still waiting in "
        "`pending`: empty it, or they would be stored with the next episode.",
    )
    expected = [
        (0, 0, 3.0, 3, False),
        (1, 1, 6.0, 4, True),
        (2, 2, 8.0, 4, True),
        (3, 3, 8.0, 4, True),
    ]
    expect_true(
        got == expected,
        f"the same steps ending at the flag (terminated): expected {expected}, "
        f"got {got}. At termination every waiting step comes out with the rewards "
        "that are left and terminated=True (no future to bootstrap from).",
    )
    got, pending = _push_episode(f, rewards, end="truncated")
    expect_true(
        got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)] and not pending,
        f"the same steps cut by the time limit (truncated): expected the 2 full "
        f"n-step transitions and an empty `pending`, got {got} and "
        f"{len(pending)} waiting. Truncation is not termination: drop the steps "
        "with fewer than n rewards ahead (clear pending), store nothing as "
        "terminal.",
    )
    got, _ = _push_episode(f, [1.0, -2.0, 3.0], n=2, gamma=0.9)
    expect_true(
        got == [(0, 0, -0.8, 2, False), (1, 1, 0.7, 3, False)],
        f"n = 2, γ = 0.9, rewards 1, -2, 3 and no ending yet: expected "
        f"[(s0, a0, R=1+0.9·(-2), s2, False), (s1, a1, R=-2+0.9·3, s3, False)], "
        f"got {got}. Use the n and gamma you are given.",
    )
    got, _ = _push_episode(f, [1.0, 2.0], n=1, gamma=0.9, end="terminated")
    expect_true(
        got == [(0, 0, 1.0, 1, False), (1, 1, 2.0, 2, True)],
        f"n = 1 must pass one-step transitions through; got {got}.",
    )
    pending, obs = deque(), np.array([7.0])
    f(pending, obs, 0, -1.0, np.array([8.0]), False, False, n=2, gamma=0.9)
    obs[0] = 99.0  # an environment that reuses its observation array
    out = f(pending, obs, 1, -1.0, np.array([9.0]), False, False, n=2, gamma=0.9)
    expect_true(
        len(out) == 1 and float(out[0][0][0]) == 7.0,
        "store a copy of obs (np.array(obs)): an environment may reuse its "
        "array, and the waiting step's observation changed under you.",
    )


# --- Exercise 10: the training loop --------------------------------------------------

# The core recipe's pieces, as dqn.train_dqn receives them: the DQN target, Huber,
# plain ε-greedy (benchmarks/mountaincar_seeds.py's CORE).
CORE_PIECES = {"td_loss": dqn.DQNLoss(), "hold": dqn.no_hold}
RUN_KEYS = ("returns", "episode_end_steps", "losses", "evals", "best_net", "last_net")


def dqn_config(cfg, **changes) -> dqn.DQNConfig:
    """The notebook's ``Config`` as a ``DQNConfig`` (the fields both have)."""
    fields = {f.name for f in dataclasses.fields(dqn.DQNConfig)}
    values = {k: getattr(cfg, k) for k in fields if hasattr(cfg, k)}
    return dqn.DQNConfig(**{**values, "hidden": tuple(values["hidden"]), **changes})


def train(cfg, *, total_steps=None, seed=None, progress=True, live=False) -> dict:
    """Exercise 10's reference: the notebook's ``train``, as ``dqn.train_dqn`` with
    the core recipe's pieces; returns the notebook's ``run`` dict."""
    total_steps = total_steps or cfg.total_steps
    seed = cfg.seed if seed is None else seed
    result = dqn.train_dqn(
        make_env(cfg.env_id),
        dqn_config(cfg, total_steps=total_steps),
        rng=np.random.default_rng(seed),
        seed=seed,
        eval_env=make_env(cfg.env_id),
        progress=progress,
        live=live,
        **CORE_PIECES,
    )
    return {
        "returns": result.episode_returns,
        "episode_end_steps": result.episode_end_steps,
        "losses": result.losses,
        "evals": [(step, mean) for step, mean, _ in result.evals],
        "best_net": result.q_net,
        "last_net": result.last_q_net,
    }


# The states on which the two runs' networks are compared ((position, velocity) of
# MountainCar): equal Q-values there stand for equal weights.
_PROBE = torch.tensor(
    [
        [-1.1, -0.06],
        [-0.9, 0.03],
        [-0.5, 0.0],
        [-0.3, -0.04],
        [0.0, 0.05],
        [0.3, 0.01],
        [0.45, 0.06],
        [-1.2, 0.07],
    ]
)
# The pieces the loop calls, by the names the notebook gives them; the reference's
# are the package's (``dqn.core``, and ``buffers`` for the draw ReplayBuffer.sample
# makes).
_PIECES = (
    "choose_action",
    "terminal_to_store",
    "n_step_push",
    "sample_indices",
    "gradient_step",
    "should_sync",
    "soft_update",
)


def _q_values(net, obs=None) -> np.ndarray | None:
    """``net``'s Q-values of ``obs`` (one observation), else of the probe states."""
    try:
        with torch.no_grad():
            x = _PROBE if obs is None else torch.as_tensor(np.asarray(obs, np.float32))
            return net(x.reshape(-1, _PROBE.shape[1])).double().numpy().copy()
    except Exception:  # not a network of (position, velocity): nothing to compare
        return None


def _same(a, b, rtol=1e-4, atol=1e-5) -> bool:
    if a is None or b is None:
        return True
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.allclose(a, b, rtol=rtol, atol=atol)


class _Trace:
    """One run's events (act, store, draw, grad, sync), each stamped with its
    environment step (the actions chosen so far) and its rank in the run."""

    def __init__(self) -> None:
        self.step = self.seq = 0
        self.events: dict[str, list] = {
            k: [] for k in ("act", "store", "draw", "grad", "sync")
        }
        self.calls: dict[str, int] = dict.fromkeys(_PIECES, 0)
        self.present: set[str] = set()  # the pieces recorded in this run

    def add(self, kind: str, **data) -> None:
        self.seq += 1
        data.update(step=self.step, seq=self.seq, index=len(self.events[kind]))
        self.events[kind].append(data)

    def at(self, kind: str, step: int) -> list:
        if not hasattr(self, "_by_step"):
            self._by_step = {k: {} for k in self.events}
            for k, events in self.events.items():
                for e in events:
                    self._by_step[k].setdefault(e["step"], []).append(e)
        return self._by_step[kind].get(step, [])


def _recorder(trace: _Trace, name: str, original: Callable) -> Callable:
    """``original`` wrapped so that each call is recorded in ``trace``."""
    signature = inspect.signature(
        dqn.sample_indices if name == "sample_indices" else getattr(dqn.core, name)
    )

    def wrapper(*args, **kwargs):
        try:
            named = dict(signature.bind_partial(*args, **kwargs).arguments)
        except TypeError:
            named = {}
        trace.calls[name] += 1
        before = {}
        if name == "choose_action":
            rng = named.get("rng")
            before = {
                "rng": copy.deepcopy(rng.bit_generator.state)
                if isinstance(rng, np.random.Generator)
                else None,
                "q": _q_values(named.get("q_net"), named.get("obs")),
            }
        elif name == "gradient_step":
            try:
                fields = [
                    torch.as_tensor(x).detach().cpu().numpy().astype(np.float64)
                    for x in named.get("batch")
                ]
            except Exception:
                fields = None
            before = {
                "batch": fields,
                "q": _q_values(named.get("q_net")),
                "target": _q_values(named.get("target_net")),
            }
        out = original(*args, **kwargs)
        if name == "choose_action":
            trace.step += 1
            trace.add(
                "act",
                obs=np.asarray(named.get("obs"), dtype=np.float64),
                epsilon=float(named.get("epsilon", np.nan)),
                warmup=bool(named.get("warmup", False)),
                action=int(out[0] if isinstance(out, tuple) else out),
                **before,
            )
        elif name == "sample_indices":
            trace.add(
                "draw",
                size=named.get("size"),
                batch_size=named.get("batch_size"),
                rows=np.array(out, copy=True),
            )
        elif name == "gradient_step":
            trace.add(
                "grad",
                gamma=named.get("gamma"),
                max_grad_norm=named.get("max_grad_norm"),
                loss=float(out) if isinstance(out, int | float) else np.nan,
                **before,
            )
        elif name == "soft_update":
            trace.add(
                "sync",
                tau=named.get("tau"),
                target=_q_values(named.get("target_net")),
            )
        return out

    return wrapper


@contextlib.contextmanager
def _recording(trace: _Trace, namespace: dict, *, reference: bool):
    """Record the loop's pieces into ``trace`` while it runs: the student's through
    the names of the loop's namespace, the reference's in the package; and every row
    stored, through ``ReplayBuffer.add``."""
    places = (
        [(vars(dqn.core), n) for n in _PIECES if n != "sample_indices"]
        + [(vars(buffers), "sample_indices")]
        if reference
        else [(namespace, n) for n in _PIECES]
    )
    saved = []
    add = buffers.ReplayBuffer.add

    def recorded_add(self, obs, action, reward, next_obs, terminated, *args, **kw):
        row = (
            np.array(obs, dtype=np.float64),
            float(np.asarray(action)),
            float(reward),
            np.array(next_obs, dtype=np.float64),
            bool(terminated),
        )
        trace.add("store", row=row)
        return add(self, obs, action, reward, next_obs, terminated, *args, **kw)

    try:
        for space, name in places:
            original = space.get(name)
            if callable(original):
                saved.append((space, name, original))
                space[name] = _recorder(trace, name, original)
                trace.present.add(name)
        buffers.ReplayBuffer.add = recorded_add
        yield trace
    finally:
        buffers.ReplayBuffer.add = add
        for space, name, original in saved:
            space[name] = original


def _explain_crash(error: Exception, what: str) -> None:
    """A loop that crashed because the run's record is inconsistent gets told so
    (the skeleton's progress line reads ``run["returns"][-1]`` when an episode's end
    is recorded)."""
    for frame, _ in traceback.walk_tb(error.__traceback__):
        run = frame.f_locals.get("run")
        if not isinstance(run, dict):
            continue
        ends, returns = run.get("episode_end_steps"), run.get("returns")
        if isinstance(ends, list) and isinstance(returns, list):
            if len(returns) < len(ends):
                raise AssertionError(
                    f"{what}: your loop recorded the end of an episode (step "
                    f"{ends[len(returns)]}) in run['episode_end_steps'] but no return "
                    "in run['returns'], and the skeleton's progress line after your "
                    f"code crashed reading it ({type(error).__name__}: {error}). When "
                    "an episode ends, record both: its return (the sum of its "
                    "rewards) and its last step."
                ) from None


def _traced_run(f, namespace, cfg, steps, *, reference: bool, what: str):
    trace = _Trace()
    with _recording(trace, namespace, reference=reference):
        try:
            run = f(cfg, total_steps=steps, seed=cfg.seed, progress=False)
        except Exception as error:
            if not reference:
                _explain_crash(error, what)
            raise
    return run, trace


class _Departure(AssertionError):
    pass


def _compare_act(s: int, mine: _Trace, course: _Trace, ref_ends: set, fail) -> None:
    m, c = mine.at("act", s), course.at("act", s)
    if not m or not c:
        fail(
            f"your loop chose {mine.step} actions, the course's {course.step}: one per "
            "environment step."
        )
    m, c = m[0], c[0]
    if m["obs"].shape != c["obs"].shape or not np.allclose(
        m["obs"], c["obs"], atol=1e-6
    ):
        where = f"at step {s} your loop acted from {np.round(m['obs'], 4).tolist()}, "
        where += f"the course's from {np.round(c['obs'], 4).tolist()}"
        previous = course.at("act", s - 1)
        if previous and np.allclose(m["obs"], previous[0]["obs"], atol=1e-6):
            fail(
                where + f": yours is the state step {s - 1} acted from again. After "
                "each step the loop acts from the state it led to (obs = next_obs), "
                "or, when the episode ended, from the observation the reset returns."
            )
        if s - 1 not in ref_ends:
            fail(
                where + f" (same action before): the observation you act from at step "
                f"{s} is not the state step {s - 1} led to (obs = next_obs)."
            )
        last = course.at("store", s - 1)
        final = last[-1]["row"][3] if last else None
        if final is not None and np.allclose(m["obs"], final, atol=1e-6):
            fail(
                where + f", the first state of a new episode. Yours is the last state "
                f"of the episode that ended at step {s - 1} (a stale observation): "
                "after the reset, act from the observation the reset returns."
            )
        first = course.events["act"][0]["obs"]
        if np.allclose(m["obs"], first, atol=1e-6):
            fail(
                where + ", the first state of a new episode. Yours is the run's very "
                "first state again: the environment is seeded once, at the run's "
                "first reset; later resets take no seed, so each episode starts "
                "somewhere new."
            )
        fail(
            where + f", the first state of the episode after the one that ended at "
            f"step {s - 1}: the reset differs (the course resets without a seed, "
            "once the episode has ended, terminated or truncated)."
        )
    if m["warmup"] != c["warmup"]:
        fail(
            f"at step {s} your loop acted with warmup={m['warmup']}, the course's "
            f"with warmup={c['warmup']}: the warmup is steps 1 to learning_starts, "
            "counted from one."
        )
    if not c["warmup"] and not np.isclose(m["epsilon"], c["epsilon"], atol=1e-12):
        fail(
            f"at step {s}, after the warmup, your loop acted with ε = "
            f"{m['epsilon']:.4f}, the course's with ε = {c['epsilon']:.4f}: the ε "
            "this step passes is not the schedule's value at this step (here the "
            "schedule still falls after the warmup ends)."
        )
    if m["rng"] != c["rng"]:
        fail(
            f"at step {s} your choose_action drew from a generator in another state "
            "than the course's"
            + (
                ": the first action draws from the run's rng (the skeleton's "
                "set_seed(seed)), with nothing drawn from it before."
                if s == 1
                else ", though every earlier action and batch drew the same numbers: "
                f"between step {s - 1}'s action and this one your loop drew from the "
                "run's rng something the course does not (or acted with another "
                "generator). Every random number comes from the run's rng, in the "
                "course's order: the action's draws, then the batches'."
            )
        )
    if not _same(m["q"], c["q"]):
        fail(
            f"at step {s} your network's Q-values of the observation you act from "
            "differ from the course's"
            + (
                ": the network's first weights differ (build the networks as the "
                "skeleton does, after set_seed)."
                if not mine.events["grad"] or mine.events["grad"][0]["step"] >= s
                else ", though every gradient step so far agreed: act with the "
                "network that learns (q_net)."
            )
        )
    if m["action"] != c["action"]:
        fail(
            f"at step {s}, same observation, ε, network and random generator, your "
            f"loop chose action {m['action']}, the course's {c['action']}: act with "
            "your choose_action (Exercise 2), passing warmup and n_actions."
        )


def _compare_store(s: int, mine: _Trace, course: _Trace, ref_ends: set, fail) -> None:
    m = [e["row"] for e in mine.at("store", s)]
    c = [e["row"] for e in course.at("store", s)]
    same = len(m) == len(c) and all(
        a[1] == b[1]
        and np.isclose(a[2], b[2], rtol=1e-6, atol=1e-6)
        and a[4] == b[4]
        and _same(a[0], b[0], atol=1e-6)
        and _same(a[3], b[3], atol=1e-6)
        for a, b in zip(m, c, strict=False)
    )
    if same:
        return
    said = (
        f"at step {s} your loop stored {len(m)} transition(s), the course's {len(c)}"
        if len(m) != len(c)
        else f"at step {s} your loop stored other transitions than the course's"
    )
    said += (
        f" (terminated: yours {[r[4] for r in m]}, the course's {[r[4] for r in c]}; "
        f"returns R: yours {[round(r[2], 3) for r in m]}, the course's "
        f"{[round(r[2], 3) for r in c]})"
    )
    if s in ref_ends and not any(r[4] for r in c):
        why = (
            "This step ended the episode at the time limit (truncated), which is not "
            "a terminal state: the terminal flag to store is your terminal_to_store's "
            "answer (Exercise 4), and n_step_push, told of the truncation, drops the "
            "steps that lack n rewards."
        )
    elif s in ref_ends:
        why = (
            "This step reached the flag (terminated): every waiting step is stored, "
            "terminal (n_step_push)."
        )
    elif [r[4] for r in m] != [r[4] for r in c]:
        why = "Only a termination is terminal (terminal_to_store, Exercise 4)."
    else:
        why = (
            "Store every transition your n_step_push returns, as it returns it "
            "(n = cfg.n_step, gamma = cfg.gamma), with buffer.add(*transition)."
        )
    fail(f"{said}. {why}")


def _sync_cause(mine: _Trace, course: _Trace, gm: dict, gc: dict, interval) -> str:
    """Why the target networks differ at the gradient steps ``gm`` and ``gc``: the
    syncs since the previous gradient step, in each run."""

    def since(trace, g):
        prev = trace.events["grad"][g["index"] - 1]["seq"] if g["index"] else 0
        return [e for e in trace.events["sync"] if prev < e["seq"] < g["seq"]]

    sm, sc = since(mine, gm), since(course, gc)
    steps_m, steps_c = [e["step"] for e in sm], [e["step"] for e in sc]
    if steps_m != steps_c:
        all_m = {e["step"] for e in mine.events["sync"]}
        all_c = {e["step"] for e in course.events["sync"]}
        moved = sorted((set(steps_m) ^ set(steps_c)) & all_m & all_c)
        if moved:
            return (
                f"both loops sync at step {moved[0]}, but yours syncs before that "
                "step's learning, the course's after it (act, step, store, learn, "
                "then sync): the order decides which network the target copies."
            )
        return (
            f"since the previous gradient step your loop synced at steps "
            f"{steps_m or 'none'}, the course's at {steps_c or 'none'}: the course "
            f"syncs every target_update_interval = {interval} steps, counted from "
            "one (your should_sync, Exercise 8)."
        )
    taus_m, taus_c = [e["tau"] for e in sm], [e["tau"] for e in sc]
    if taus_m != taus_c:
        return (
            f"both synced at steps {steps_c}, but your soft_update moved the target "
            f"with tau = {taus_m[0]}, the course's with tau = {taus_c[0]} (cfg.tau)."
        )
    return (
        "the syncs agree, so your target network changed otherwise: only "
        "soft_update(target_net, q_net, cfg.tau) changes it."
    )


def _compare_learn(s: int, mine: _Trace, course: _Trace, short, fail) -> None:
    gm, gc = mine.at("grad", s), course.at("grad", s)
    dm, dc = mine.at("draw", s), course.at("draw", s)
    schedule = (
        f"the course learns from step {short.learning_starts + 1} on (after the "
        f"warmup), every train_freq = {short.train_freq} steps, gradient_steps = "
        f"{short.gradient_steps} gradient steps each time"
    )
    if "gradient_step" in mine.present and len(gm) != len(gc):
        if not mine.events["grad"]:
            fail(
                f"your loop never called your gradient_step (Exercise 6); at step {s} "
                f"the course takes {len(gc)} gradient steps with it: learn with it, so "
                "that the run uses your update."
            )
        fail(
            f"at step {s} your loop took {len(gm)} gradient steps, the course's "
            f"{len(gc)}: {schedule}."
        )
    if "sample_indices" in mine.present and (len(dm) != len(dc) or len(dm) != len(gm)):
        if not mine.events["draw"]:
            fail(
                "your loop took its batches without your sample_indices (Exercise 1): "
                "draw each batch's rows with it (and batch_at), so that the run uses "
                "your sampler."
            )
        fail(
            f"at step {s} your loop drew {len(dm)} batches (sample_indices) for "
            f"{len(gm)} gradient steps, the course's {len(dc)} for {len(gc)}: each "
            "gradient step learns from a fresh batch."
        )
    drawn = zip(dm, dc, strict=True) if "sample_indices" in mine.present else ()
    for m, c in drawn:
        where = f"for gradient step {c['index']} (at step {s})"
        if m["size"] != c["size"]:
            fail(
                f"{where} your loop drew from size = {m['size']:,} rows, the "
                f"course's from {c['size']:,}: "
                + (
                    "cfg.buffer_size is the buffer's capacity, but only len(buffer) "
                    "rows hold transitions so far (the rest are zeros): draw from "
                    "len(buffer)."
                    if m["size"] == short.buffer_size
                    else "the course draws from len(buffer), the rows stored so far."
                )
            )
        if m["batch_size"] != c["batch_size"]:
            fail(
                f"{where} your loop drew {m['batch_size']} rows, the course's "
                f"{c['batch_size']} (cfg.batch_size)."
            )
        if not np.array_equal(np.asarray(m["rows"]), np.asarray(c["rows"])):
            fail(
                f"{where} your loop drew other rows than the course's, from the same "
                f"{c['size']:,} stored rows: draw them with your sample_indices from "
                "the run's rng, with nothing else drawn in between."
            )
    for i, c in enumerate(gc if "gradient_step" in mine.present else []):
        m, k = gm[i], c["index"]
        where = f"at gradient step {k} (step {s}"
        where += ", the first)" if k == 0 else ")"
        if not np.isclose(m["gamma"] or 0.0, c["gamma"], rtol=1e-9):
            fail(
                f"{where} your loop passed gamma = {m['gamma']} to gradient_step, the "
                f"course's {c['gamma']:.6g} = γ^n (cfg.gamma ** cfg.n_step): an "
                "n-step transition already holds n discounted rewards, so its "
                "bootstrap term is discounted n steps."
            )
        if not np.isclose(m["max_grad_norm"] or 0.0, c["max_grad_norm"]):
            fail(
                f"{where} your loop passed max_grad_norm = {m['max_grad_norm']}, the "
                f"course's {c['max_grad_norm']} (cfg.max_grad_norm)."
            )
        if m["batch"] is not None and c["batch"] is not None:
            if not all(
                _same(a, b, atol=1e-6)
                for a, b in zip(m["batch"], c["batch"], strict=False)
            ):
                fail(
                    f"{where} your batch differs from the course's, from the same "
                    "rows: build it as batch_at(buffer, idx).to_torch(device)."
                )
        if not _same(m["q"], c["q"]):
            fail(
                f"{where} your online network differs from the course's, though every "
                "earlier loss agreed: learn on the network you act with, with the "
                "skeleton's optimizer."
            )
        if not _same(m["target"], c["target"]):
            fail(
                f"{where} same batch, same online network, but your target network "
                "differs from the course's: "
                + _sync_cause(mine, course, m, c, short.target_update_interval)
            )
        if not np.isclose(m["loss"], c["loss"], rtol=1e-4, atol=1e-6):
            fail(
                f"{where} same batch, networks and γ^n, but your loss is "
                f"{m['loss']:.6g}, the course's {c['loss']:.6g}: learn with the "
                "skeleton's td_loss (your compute_loss with DQN's target)."
            )


def _compare_sync(s: int, mine: _Trace, course: _Trace, short, fail) -> None:
    if "soft_update" not in mine.present:
        return
    m, c = mine.at("sync", s), course.at("sync", s)
    interval = short.target_update_interval
    if len(m) != len(c):
        if not c:
            fail(
                f"your loop synced the target network at step {s}, the course's does "
                f"not: it syncs only when should_sync(step, {interval}) says "
                "(Exercise 8), once per step, after learning."
            )
        fail(
            f"at step {s} the course syncs the target network (every "
            f"target_update_interval = {interval} steps, counted from one), your "
            "loop "
            + (
                "never calls your soft_update (Exercise 7)."
                if not mine.events["sync"]
                else f"syncs {len(m)} times: once, when should_sync says (Exercise 8)."
            )
        )
    for e_m, e_c in zip(m, c, strict=True):
        if not np.isclose(e_m["tau"] or 0.0, e_c["tau"]):
            fail(
                f"at step {s} your loop's soft_update moved the target with tau = "
                f"{e_m['tau']}, the course's with tau = {e_c['tau']}: pass cfg.tau "
                "(the check's second run uses tau < 1)."
            )
        if not _same(e_m["target"], e_c["target"]):
            grads = mine.at("grad", s)
            early = grads and e_m["seq"] < grads[0]["seq"]
            fail(
                f"after the sync at step {s} your target network differs from the "
                "course's: "
                + (
                    "your loop syncs before that step's learning, the course's after "
                    "it (act, step, store, learn, then sync)."
                    if early
                    else "soft_update(target_net, q_net, tau) takes the target "
                    "first and changes it in place."
                )
            )


def _compare_traces(mine: _Trace, course: _Trace, ref: dict, short, what) -> None:
    """The first step (act, store, learn, sync, in that order) where the student's
    run departs from the course's; the message says what differs there."""

    def fail(message: str) -> None:
        raise _Departure(f"{what}: {message}")

    if "choose_action" in mine.present and not mine.events["act"]:
        fail(
            "your loop never called your choose_action (Exercise 2): act with it, so "
            "that the run is yours."
        )
    ref_ends = set(ref["episode_end_steps"])
    acts = "choose_action" in mine.present
    for s in range(1, max(mine.step, course.step) + 1):
        if acts:
            _compare_act(s, mine, course, ref_ends, fail)
        _compare_store(s, mine, course, ref_ends, fail)
        _compare_learn(s, mine, course, short, fail)
        _compare_sync(s, mine, course, short, fail)
    for name, which in (
        ("terminal_to_store", "Exercise 4: the flag to store"),
        ("n_step_push", "Exercise 9: the transitions to store"),
        ("should_sync", "Exercise 8: when to sync"),
    ):
        if name in mine.present and not mine.calls[name] and course.calls[name]:
            fail(
                f"your run matches the course's, but your loop never calls your "
                f"{name} ({which}): use it, so that the run is built from your pieces."
            )


def check_training_loop(fn: Callable, cfg, *, steps: int = 3_000) -> Callable:
    """Exercise 10: the student's ``train(cfg, *, total_steps, seed, progress) ->
    run`` must end where ``dqn.train_dqn`` with the core recipe's pieces ends, on two
    short runs where the pieces of the loop show: an ε schedule that still falls
    after the warmup, and a soft update every step (τ < 1). Both runs are recorded
    step by step (each action with the generator's state and the network's
    Q-values, the rows stored, the rows drawn, each gradient step's batch, γ and
    networks, each sync), through the loop's names for its pieces and the package's;
    the message names the first step where the student's run departs, and what
    departs there."""
    namespace = getattr(fn, "__globals__", {})
    warmup = max(1, min(cfg.learning_starts, steps // 5))
    runs = (
        (
            dataclasses.replace(
                cfg,
                eval_every=1_000,
                eval_episodes=1,
                learning_starts=warmup,
                exploration_fraction=0.5,
            ),
            steps,
            f"a run of {steps} steps, warmup {warmup}, ε falling over "
            f"{steps // 2} steps",
        ),
        (
            dataclasses.replace(
                cfg,
                eval_every=1_000,
                eval_episodes=1,
                learning_starts=warmup,
                target_update_interval=1,
                tau=0.25,
            ),
            warmup + 10 * cfg.train_freq,
            "a run with a soft update (tau = 0.25) every step",
        ),
    )

    def one_run(f: Callable, short, n_steps: int, what: str) -> None:
        bypass = fn is train  # the reference itself: nothing to compare
        run, mine = _traced_run(
            f, namespace, short, n_steps, reference=bypass, what=what
        )
        missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
        expect_true(
            not missing,
            f"train must return the run dict the skeleton builds; missing {missing}.",
        )
        if bypass:
            return
        ref, course = _traced_run(
            train, namespace, short, n_steps, reference=True, what=what
        )
        try:
            _compare_traces(mine, course, ref, short, what)
        except _Departure as departure:
            raise AssertionError(str(departure)) from None
        episodes, ref_episodes = (
            list(run["episode_end_steps"]),
            ref["episode_end_steps"],
        )
        expect_true(
            episodes == ref_episodes and np.allclose(run["returns"], ref["returns"]),
            f"{what}: same actions, but your loop recorded episodes ending at steps "
            f"{episodes[:5]}... with returns {list(run['returns'])[:5]}..., the "
            f"course's at {ref_episodes[:5]}... with {ref['returns'][:5]}...: record "
            "each episode's full return and its last step when it ends (terminated "
            "or truncated).",
        )
        n, n_ref = len(run["losses"]), len(ref["losses"])
        same_losses = n == n_ref and np.allclose(
            run["losses"], ref["losses"], rtol=1e-4, atol=1e-6
        )
        expect_true(
            same_losses,
            f"{what}: every gradient step agrees with the course's, but your "
            f"run['losses'] holds {n} values, the course's {n_ref}: record each "
            "loss your gradient_step returns, once.",
        )
        for mine_p, theirs in zip(
            run["last_net"].parameters(), ref["last_net"].parameters(), strict=True
        ):
            expect_close(
                mine_p.detach(),
                theirs.detach(),
                what=f"{what}: the weights at the end",
                hint="Same losses but other weights: the run's last_net must be the "
                "network that learned.",
                atol=1e-4,
                rtol=1e-3,
            )

    def cases(f: Callable) -> None:
        for short, n_steps, what in runs:
            one_run(f, short, n_steps, what)

    return run_check("Exercise 10: the loop", fn, cases, reference=train)
