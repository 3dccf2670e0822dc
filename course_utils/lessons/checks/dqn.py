"""Checks for the exercises of 03_dqn_mountaincar.ipynb.

Besides the checks, the references a stub falls back to where the notebook's contract
is not the package's: :func:`choose_action` (plain ε-greedy, the package's
``choose_action`` without a hold) and :func:`train` (the notebook's loop, as
``dqn.train_dqn`` with the core recipe's pieces).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import deque
from collections.abc import Callable

from course_utils.agents import dqn
from course_utils.common.buffers import Batch
from course_utils.common.envs import make_env
from course_utils.lessons.checks import (
    exercise,
    expect_close,
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


def check_td_target(fn: Callable) -> Callable:
    """Exercise 3: ``td_target(reward, next_q, terminated, gamma) -> (batch,)``."""

    def cases(f: Callable) -> None:
        reward = torch.tensor([-1.0, -1.0, 0.5])
        next_q = torch.tensor(
            [[-10.0, -8.0, -9.0], [-3.0, -4.0, -5.0], [2.0, 1.0, 0.0]]
        )
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

    return run_check("Exercise 3: the TD target", fn, cases, reference=dqn.td_target)


_POLYAK = "θ_target ← τ·θ + (1 − τ)·θ_target, for every parameter."
_ALL_PARAMETERS = "Update the bias too: loop over all parameters()."
_ONLY_TARGET = "Only the target network changes."


@exercise("Exercise 7: soft target update", reference=dqn.soft_update)
def check_soft_update(f: Callable) -> None:
    source, target = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        source.weight.fill_(1.0)
        source.bias.fill_(1.0)
        target.weight.fill_(0.0)
        target.bias.fill_(-1.0)
    f(target, source, 0.25)
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


def check_should_sync(fn: Callable) -> Callable:
    """Exercise 8 (bug hunt): ``should_sync(step, interval) -> bool``."""

    def cases(f: Callable) -> None:
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
                + (
                    f"syncs at step {wrong}"
                    if wrong in fired
                    else f"skips step {wrong}"
                )
                + f" (it fires at {fired[:4]}{'...' if len(fired) > 4 else ''}). "
                "What does Python compute first in `t % 1/tau`, and which remainder "
                "do the multiples of the interval leave?",
            )

    return run_check(
        "Exercise 8: the target-sync bug",
        fn,
        cases,
        reference=dqn.should_sync,
        returns="bool",
    )


def check_terminal_to_store(fn: Callable) -> Callable:
    """Exercise 4 (bug hunt): ``terminal_to_store(terminated, truncated) -> bool``."""

    def cases(f: Callable) -> None:
        table = {
            (False, False): False,
            (True, False): True,
            (False, True): False,
            (True, True): True,
        }
        for (terminated, truncated), expected in table.items():
            got = bool(f(terminated, truncated))
            expect_true(
                got == expected,
                f"terminated={terminated}, truncated={truncated}: store {expected}, "
                f"got {got}. A time-limit truncation is not a terminal state.",
            )

    return run_check(
        "Exercise 4: the truncation bug",
        fn,
        cases,
        reference=dqn.terminal_to_store,
        returns="bool",
    )


def check_sample_indices(fn: Callable) -> Callable:
    """Exercise 1: ``sample_indices(size, batch_size, rng) -> (batch_size,) int``."""

    def cases(f: Callable) -> None:
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
        expect_true(
            np.array_equal(first, np.random.default_rng(3).integers(0, 10, size=50)),
            "uniform with replacement, but not the draw ReplayBuffer.sample makes: "
            "use rng.integers(0, size, size=batch_size), so that the notebook's loop "
            "and course_utils.agents.dqn.train_dqn see the same random numbers.",
        )

    return run_check(
        "Exercise 1: sampling the replay buffer",
        fn,
        cases,
        reference=dqn.sample_indices,
        returns="array",
        rng_args=("rng",),
    )


def choose_action(
    q_net: nn.Module,
    obs: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    *,
    n_actions: int,
    warmup: bool = False,
) -> int:
    """Exercise 2's reference: plain ε-greedy, ``dqn.choose_action`` with no hold
    (the coin, then a random action or the greedy one; always random in warmup)."""
    return dqn.choose_action(
        q_net,
        obs,
        epsilon,
        rng,
        n_actions=n_actions,
        hold_left=0,
        held_action=0,
        warmup=warmup,
    )[0]


def check_choose_action(fn: Callable) -> Callable:
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

    def cases(f: Callable) -> None:
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
        rng, tied = np.random.default_rng(6), _TableQ([[2.0, 2.0, 1.0]])
        picks = {call(f, tied, 0.0, rng) for _ in range(200)}
        expect_true(
            picks == {0, 1},
            f"with ε = 0 and Q = [2, 2, 1] actions 0 and 1 tie; 200 greedy choices "
            f"gave {sorted(picks)}. The course breaks an exact tie at random: "
            "greedy_action(q_values, rng) (an argmax always takes the first).",
        )
        rng, q_net = np.random.default_rng(4), _TableQ([[0.0, 0.0, 5.0]])
        warm = {call(f, q_net, 0.0, rng, warmup=True) for _ in range(300)}
        expect_true(
            warm == {0, 1, 2},
            f"warmup=True means random actions whatever ε (here 0); got only "
            f"{sorted(warm)}.",
        )
        for epsilon, warmup in ((0.3, False), (0.9, False), (0.3, True)):
            mine = sequence(f, epsilon, warmup)
            ref = sequence(choose_action, epsilon, warmup)
            if mine != ref:
                step = next(
                    i for i, (a, b) in enumerate(zip(mine, ref, strict=True)) if a != b
                )
                raise AssertionError(
                    f"ε = {epsilon}, warmup={warmup}: your choices depart from the "
                    f"course's at step {step} of 500 with the same rng seed, so your "
                    "loop would not repeat train_dqn's run. Draw what the contract "
                    "says, and nothing else: one coin per call outside warmup, "
                    "rng.random() < epsilon, and on heads (or in warmup) one "
                    "rng.integers(n_actions)."
                )

    return run_check(
        "Exercise 2: ε-greedy",
        fn,
        cases,
        reference=choose_action,
        returns="action",
        rng_args=("rng",),
    )


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


def check_double_target(fn: Callable) -> Callable:
    """Exercise 11 (deep dive): ``compute_target_double(q_net, target_net, batch,
    gamma)``."""

    def cases(f: Callable) -> None:
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

    return run_check(
        "Exercise 11: the Double DQN target",
        fn,
        cases,
        reference=dqn.compute_target_double,
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


def check_td_loss(fn: Callable) -> Callable:
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

    def cases(f: Callable) -> None:
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
            hint="q_net(batch.obs) is (B, n_actions): from each row keep the "
            "column of the action taken, a (B,) tensor. torch.gather picks along "
            "dim 1 (the actions); its index is int64 and has the shape of what it "
            "returns, (B, 1) here, not batch.action's (B,). Then compare with "
            "target_fn's targets through loss_fn.",
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

    return run_check("Exercise 5: the TD loss", fn, cases, reference=dqn.compute_loss)


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
    expect_true(
        norm <= 0.05 * (1 + 1e-4),
        f"with max_grad_norm=0.05 the gradients reaching optimizer.step() had a total "
        f"norm of {norm:.3g}: clip them between backward and the step (clipping "
        "after the step changes nothing the step used).",
    )


def check_gradient_step(fn: Callable) -> Callable:
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

    def cases(f: Callable) -> None:
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

    return run_check(
        "Exercise 6: the gradient step",
        fn,
        cases,
        reference=dqn.gradient_step,
        returns="float",
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


def check_n_step_push(fn: Callable) -> Callable:
    """Exercise 9: ``n_step_push(pending, obs, action, reward, next_obs, terminated,
    truncated, *, n, gamma) -> list of (obs, action, R, next_obs, terminated)``."""

    def cases(f: Callable) -> None:
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

    return run_check("Exercise 9: n-step returns", fn, cases, reference=dqn.n_step_push)


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


def check_training_loop(fn: Callable, cfg, *, steps: int = 3_000) -> Callable:
    """Exercise 10: the student's ``train(cfg, *, total_steps, seed, progress) ->
    run`` runs ``steps`` steps from ``cfg.seed`` and must end where ``dqn.train_dqn``
    with the core recipe's pieces ends: same episodes, same losses, same weights."""
    short = dataclasses.replace(cfg, eval_every=1_000, eval_episodes=1)

    def cases(f: Callable) -> None:
        run = f(short, total_steps=steps, seed=cfg.seed, progress=False)
        missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
        expect_true(
            not missing,
            f"train must return the run dict the skeleton builds; missing {missing}.",
        )
        ref = train(short, total_steps=steps, seed=cfg.seed, progress=False)
        episodes, ref_episodes = (
            list(run["episode_end_steps"]),
            ref["episode_end_steps"],
        )
        expect_true(
            episodes == ref_episodes and np.allclose(run["returns"], ref["returns"]),
            f"in {steps} steps your loop ended episodes at steps {episodes[:5]}... "
            f"with returns {list(run['returns'])[:5]}..., the course's at "
            f"{ref_episodes[:5]}... with {ref['returns'][:5]}.... Act with "
            "choose_action (warmup while step <= learning_starts), add each reward to "
            "the episode's return, and at the end of an episode (terminated or "
            "truncated) record it and reset the environment (without a seed: the "
            "first reset alone is seeded).",
        )
        n, n_ref = len(run["losses"]), len(ref["losses"])
        expect_true(
            n == n_ref,
            f"your loop took {n} gradient steps in {steps} environment steps, the "
            f"course's {n_ref}: learn only after learning_starts steps, every "
            "train_freq steps, gradient_steps steps each time, and record each loss.",
        )
        first = next(
            (
                i
                for i, (a, b) in enumerate(
                    zip(run["losses"], ref["losses"], strict=True)
                )
                if not np.isclose(a, b, rtol=1e-4, atol=1e-6)
            ),
            None,
        )
        expect_true(
            first is None,
            f"your losses depart from the course's at gradient step {first}"
            + (
                " (the first): check what you store (n_step_push with "
                "terminal_to_store's flag, every transition it returns), how you "
                "sample (sample_indices(len(buffer), batch_size, rng), the run's rng) "
                "and the bootstrap's discount, γ^n for n-step transitions."
                if first == 0
                else ": the first ones agree, so look at what changes over time: "
                "the target network's sync (should_sync with "
                "target_update_interval, then soft_update with tau), after the "
                "learning of the same step, and ε's schedule."
            ),
        )
        for mine, theirs in zip(
            run["last_net"].parameters(), ref["last_net"].parameters(), strict=True
        ):
            expect_close(
                mine.detach(),
                theirs.detach(),
                what=f"the weights after {steps} steps",
                hint="Same losses but other weights: is the target synced after the "
                "learning step, as the loop's order says?",
                atol=1e-4,
                rtol=1e-3,
            )

    return run_check("Exercise 10: the training loop", fn, cases, reference=train)
