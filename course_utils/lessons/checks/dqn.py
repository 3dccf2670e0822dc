"""Checks for the exercises of 03_dqn_mountaincar.ipynb."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from course_utils.agents import dqn
from course_utils.common.buffers import Batch
from course_utils.lessons.checks import (
    exercise_check,
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


def _soft_update_cases(f: Callable) -> None:
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


check_soft_update = exercise_check(
    "Exercise 7: soft target update", _soft_update_cases, reference=dqn.soft_update
)


def check_should_sync(fn: Callable) -> Callable:
    """Exercise 8 (bug hunt): ``should_sync(step, interval) -> bool``."""

    def cases(f: Callable) -> None:
        fired = [s for s in range(1, 2001) if f(s, 500)]
        expect_true(
            fired == [500, 1000, 1500, 2000],
            f"with interval 500, the sync must fire at steps 500, 1000, 1500, 2000; "
            f"yours fires at {fired[:8]}{'...' if len(fired) > 8 else ''}. "
            "Remember that % and / have the same precedence in Python.",
        )

    return run_check(
        "Exercise 8: the target-sync bug", fn, cases, reference=dqn.should_sync
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
        "Exercise 4: the truncation bug", fn, cases, reference=dqn.terminal_to_store
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
    )


def check_choose_action(fn: Callable) -> Callable:
    """Exercise 2: ``choose_action(q_net, obs, epsilon, rng, *, n_actions,
    hold_left, held_action, hold, warmup) -> (action, hold_left, held_action)``."""

    q_net, obs = _TableQ([[1.0, 3.0, 2.0]]), np.zeros(1, dtype=np.float32)

    def call(
        f, epsilon, rng, left=0, held=0, hold=dqn.no_hold, warmup=False, net=q_net
    ):
        out = f(
            net,
            obs,
            epsilon,
            rng,
            n_actions=3,
            hold_left=left,
            held_action=held,
            hold=hold,
            warmup=warmup,
        )
        expect_true(
            isinstance(out, tuple) and len(out) == 3,
            f"return (action, hold_left, held_action), got {out!r}.",
        )
        return tuple(int(x) for x in out)

    def cases(f: Callable) -> None:
        action, left, _ = call(f, 0.0, np.random.default_rng(0), held=2)
        expect_true(
            (action, left) == (1, 0),
            f"with ε = 0 and Q = [1, 3, 2] the greedy action is 1, with no hold; got "
            f"action {action}, hold_left {left}. Return the *index* of the largest "
            "Q-value (argmax), not the value itself.",
        )
        rng = np.random.default_rng(1)
        counts = np.bincount([call(f, 1.0, rng)[0] for _ in range(3000)], minlength=3)
        expect_true(
            len(counts) == 3 and counts.min() > 850,
            f"with ε = 1, 3000 choices gave the actions 0/1/2 {counts.tolist()} times; "
            "expected about 1000 each: rng.integers(n_actions), played at once (a hold "
            "of n steps includes this step).",
        )
        seq1, seq2 = under_global_seeds(
            lambda: _sequence(call, f, np.random.default_rng(7), 0.5, dqn.no_hold)
        )
        expect_true(
            seq1 == seq2,
            "the same rng seed must give the same choices: draw every random number "
            "from the rng you are given, not from np.random or the random module.",
        )
        rng, tied = np.random.default_rng(6), _TableQ([[2.0, 2.0, 1.0]])
        picks = {call(f, 0.0, rng, net=tied)[0] for _ in range(200)}
        expect_true(
            picks == {0, 1},
            f"with ε = 0 and Q = [2, 2, 1] actions 0 and 1 tie; 200 greedy choices "
            f"gave {sorted(picks)}. The course's tie rule breaks an exact tie at "
            "random: "
            "greedy_action(q_values, rng) (np.argmax always takes the first).",
        )
        rng = np.random.default_rng(2)
        action, left, held = call(f, 1.0, rng, hold=lambda r: 4)
        expect_true(
            (left, held) == (3, action),
            f"a random action held for 4 steps: this call plays it once, so 3 steps "
            f"are left; got action {action}, hold_left {left}, held_action {held}.",
        )
        played = [action]
        for _ in range(4):
            action, left, held = call(f, 0.0, rng, left, held)
            played.append(action)
        expect_true(
            played == [held] * 4 + [1],
            f"held for 4 steps, then greedy (1): expected {[held] * 4 + [1]}, got "
            f"{played}. Count down hold_left while the hold runs, and play the held "
            "action exactly hold(rng) times.",
        )
        rng, fresh = np.random.default_rng(3), np.random.default_rng(3)
        out = call(f, 1.0, rng, left=2, held=0)
        expect_true(
            out == (0, 1, 0) and rng.random() == fresh.random(),
            f"while a hold runs (hold_left=2, held_action=0) play it and draw nothing, "
            f"even with ε = 1: expected (0, 1, 0), got {out}, and the rng "
            f"{'was' if rng.random() != fresh.random() else 'was not'} used.",
        )
        rng = np.random.default_rng(4)
        warm = [call(f, 0.0, rng, warmup=True)[0] for _ in range(300)]
        expect_true(
            sorted(set(warm)) == [0, 1, 2],
            f"warmup=True means random actions whatever ε (here 0); got only "
            f"{sorted(set(warm))}.",
        )
        hold = dqn.ZipfHold(2.0)
        for warmup in (False, True):
            mine = _sequence(call, f, np.random.default_rng(5), 0.3, hold, warmup)
            ref = _sequence(
                call, dqn.choose_action, np.random.default_rng(5), 0.3, hold, warmup
            )
            if mine != ref:
                step = next(
                    i for i, (a, b) in enumerate(zip(mine, ref, strict=True)) if a != b
                )
                raise AssertionError(
                    f"εz-greedy over 500 steps (warmup={warmup}) departs from the "
                    f"course's at step {step}. Draw in this order, and only when no "
                    "hold runs: the coin rng.random() < epsilon (no coin while "
                    "warmup), then rng.integers(n_actions), then hold(rng); the "
                    "greedy choice, greedy_action(q_values, rng), draws only on a tie."
                )

    return run_check(
        "Exercise 2: ε-greedy with held random actions",
        fn,
        cases,
        reference=dqn.choose_action,
    )


def _sequence(call, f, rng, epsilon, hold, warmup=False, steps=500) -> list:
    left, held, out = 0, 0, []
    for _ in range(steps):
        action, left, held = call(f, epsilon, rng, left, held, hold, warmup)
        out.append((action, left))
    return out


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
    """Exercise 5: ``compute_target_double(q_net, target_net, batch, gamma)``."""

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
        "Exercise 5: the Double DQN target",
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
    """Exercise 6: ``compute_loss(q_net, target_net, batch, gamma, *, target_fn,
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
            hint="Q(s, a) = q_net(batch.obs).gather(1, batch.action.long()"
            ".unsqueeze(1)).squeeze(1): gather along dim 1 (the actions), one "
            "Q-value per row; target_fn(q_net, target_net, batch, gamma); "
            "loss_fn(q, target).",
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

    return run_check("Exercise 6: the TD loss", fn, cases, reference=dqn.compute_loss)


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
        got, _ = _push_episode(f, rewards, end="terminated")
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
