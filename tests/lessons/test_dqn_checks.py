"""The checks of notebook 03's exercises: each passes the course's answer and other
correct ways to write it, and fails the plausible wrong answers listed beside it."""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.agents import dqn
from course_utils.common.buffers import Batch, ReplayBuffer
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.networks import QNetwork
from course_utils.common.policies import QPolicy, epsilon_greedy, greedy_action
from course_utils.common.schedules import linear_schedule
from course_utils.common.seeding import set_seed
from course_utils.lessons.checks import dqn as checks


class FixedQ(nn.Module):
    """A fake network that returns fixed Q-values for every observation."""

    def __init__(self, q_values: list[float]) -> None:
        super().__init__()
        self.q = torch.tensor(q_values)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q.expand(obs.shape[0], -1)


@dataclass
class TinyConfig:
    """The notebook's Config, shrunk so that a loop check runs in seconds."""

    seed: int = 0
    env_id: str = "MountainCar-v0"
    total_steps: int = 600
    eval_every: int = 300
    eval_episodes: int = 1
    lr: float = 4e-3
    batch_size: int = 16
    buffer_size: int = 500
    learning_starts: int = 100
    gamma: float = 0.98
    n_step: int = 3
    train_freq: int = 4
    gradient_steps: int = 2
    target_update_interval: int = 60
    tau: float = 1.0
    epsilon_start: float = 0.2
    epsilon_end: float = 0.07
    exploration_fraction: float = 0.2
    hidden: tuple = (16, 16)
    max_grad_norm: float = 10.0
    normalize_obs: bool = True
    eval_seed: int = 10_000
    solved_at: float = -110.0


# --- exercise checks: pass the reference, fail plausible wrong answers ---------------


def test_check_td_target():
    assert checks.check_td_target(dqn.td_target) is dqn.td_target
    wrong = {
        "forgets (1 - terminated)": lambda r, q, t, g: r + g * q.max(dim=1).values,
        "mean instead of max": lambda r, q, t, g: r + g * (1 - t) * q.mean(dim=1),
        "max(1)[1]: indices for values": lambda r, q, t, g: (
            r + g * (1 - t) * q.max(1)[1]
        ),
        "max over the batch (dim 0)": lambda r, q, t, g: (
            r + g * (1 - t) * q.max(dim=0).values
        ),
        "terminated and gamma swapped": lambda r, q, t, g: (
            r + t * (1 - g) * q.max(dim=1).values
        ),
    }
    for name, fn in wrong.items():
        with pytest.raises(AssertionError, match="Exercise 3"):
            checks.check_td_target(fn)
            pytest.fail(f"passed a wrong answer: {name}")


def test_check_terminal_to_store():
    assert checks.check_terminal_to_store(dqn.terminal_to_store)
    with pytest.raises(AssertionError, match="truncation"):
        checks.check_terminal_to_store(
            lambda terminated, truncated: terminated or truncated
        )
    for not_a_bool in (lambda te, tr: int(te), lambda te, tr: te if te else 0):
        with pytest.raises(AssertionError, match="True or False"):
            checks.check_terminal_to_store(not_a_bool)


def test_check_soft_update():
    assert checks.check_soft_update(dqn.soft_update) is dqn.soft_update

    def reversed_tau(target, source, tau):
        with torch.no_grad():
            for t, s in zip(target.parameters(), source.parameters(), strict=True):
                t.mul_(tau).add_(s, alpha=1 - tau)

    def swapped_arguments(target, source, tau):  # copies the target into the source
        dqn.soft_update(source, target, tau)

    def returns_a_new_network(target, source, tau):  # not in place
        target = copy.deepcopy(target)
        dqn.soft_update(target, source, tau)
        return target

    for wrong in (reversed_tau, swapped_arguments, returns_a_new_network):
        with pytest.raises(AssertionError, match="Exercise 7"):
            checks.check_soft_update(wrong)


WRONG_SHOULD_SYNC = {
    "the precedence bug": lambda step, interval: step % 1 / (1 / interval) == 0,
    "a fixed interval of 500 (the course uses 600)": lambda step, interval: (
        step > 0 and step % 500 == 0
    ),
    "one step late": lambda step, interval: step > 1 and (step - 1) % interval == 0,
    "one step early": lambda step, interval: (step + 1) % interval == 0,
    "the first sync only": lambda step, interval: step == interval,
    "stops at 100,000 steps": lambda step, interval: (
        step % interval == 0 and step < 100_000
    ),
}


@pytest.mark.parametrize("name", WRONG_SHOULD_SYNC)
def test_check_should_sync_fails_wrong_answers(name):
    assert checks.check_should_sync(dqn.should_sync)
    assert checks.check_should_sync(lambda step, interval: step and not step % interval)
    # the loop never asks about step 0, so an answer true there is right too
    assert checks.check_should_sync(lambda step, interval: step % interval == 0)
    with pytest.raises(AssertionError, match="Exercise 8"):
        checks.check_should_sync(WRONG_SHOULD_SYNC[name])


def test_check_should_sync_names_the_first_wrong_step():
    with pytest.raises(AssertionError, match="skips step 600"):
        checks.check_should_sync(WRONG_SHOULD_SYNC["one step late"])
    with pytest.raises(AssertionError, match="syncs at step 1 "):
        checks.check_should_sync(WRONG_SHOULD_SYNC["the precedence bug"])


def test_checks_fall_back_to_the_reference_when_not_done(capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: not done")

    assert checks.check_td_target(stub) is dqn.td_target
    assert checks.check_soft_update(stub) is dqn.soft_update
    assert checks.check_sample_indices(stub) is dqn.sample_indices
    assert checks.check_choose_action(stub) is checks.choose_action
    assert checks.check_gradient_step(stub) is dqn.gradient_step
    assert checks.check_training_loop(stub, TinyConfig()) is checks.train
    assert checks.check_double_target(stub) is dqn.compute_target_double
    assert checks.check_td_loss(stub) is dqn.compute_loss
    assert checks.check_terminal_to_store(stub) is dqn.terminal_to_store
    assert checks.check_n_step_push(stub) is dqn.n_step_push
    assert "not done yet" in capsys.readouterr().out


# --- the exercises that notebook 03's own training run uses ---------------------------
# Each list holds the plausible wrong answers its check must fail.

WRONG_SAMPLE_INDICES = {
    "off by one (never the last row)": lambda n, b, rng: rng.integers(0, n - 1, size=b),
    "off by one (rows 1..n)": lambda n, b, rng: rng.integers(1, n + 1, size=b),
    "without replacement": lambda n, b, rng: rng.choice(n, size=b, replace=False),
    "swapped arguments": lambda n, b, rng: rng.integers(0, b, size=n),
    "ignores the rng (global numpy)": lambda n, b, rng: np.random.randint(0, n, b),
    "floats instead of indices": lambda n, b, rng: rng.random(b) * n,
    "without replacement when it can": lambda n, b, rng: rng.choice(
        n, b, replace=b > n
    ),
    "a Python list": lambda n, b, rng: rng.integers(0, n, size=b).tolist(),
    "another uniform draw (not the buffer's)": lambda n, b, rng: (
        rng.random(b) * n
    ).astype(np.int64),
}


@pytest.mark.parametrize("name", WRONG_SAMPLE_INDICES)
def test_check_sample_indices_fails_wrong_answers(name):
    assert checks.check_sample_indices(dqn.sample_indices) is dqn.sample_indices
    with pytest.raises(AssertionError, match="Exercise 1"):
        checks.check_sample_indices(WRONG_SAMPLE_INDICES[name])


def _greedy(q_net, obs, rng):
    with torch.no_grad():
        return greedy_action(q_net(torch.as_tensor(obs).unsqueeze(0))[0], rng)


def _choose(
    global_rng=False,
    action_first=False,
    values=False,
    ignore_warmup=False,
    argmin=False,
    first_of_ties=False,
    tensor=False,
    fixed_three=False,
    coin_in_warmup=False,
    greedy_first=False,
    choice=False,
):
    """A family of plain ε-greedy answers (defaults: the right one)."""

    def choose(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
        gen = np.random if global_rng else rng
        n = 3 if fixed_three else n_actions
        if greedy_first:  # right too: the greedy action first, then the coin
            with torch.no_grad():
                greedy = greedy_action(q_net(torch.as_tensor(obs)[None])[0], rng)
            if warmup or rng.uniform() < epsilon:
                return int(rng.choice(n_actions))
            return greedy
        if choice:  # right too: rng.choice(n) draws what rng.integers(n) draws
            if warmup or rng.random() < epsilon:
                return int(rng.choice(n_actions))
            return _greedy(q_net, obs, rng)
        if action_first:
            action = int(rng.integers(n))
            if (warmup and not ignore_warmup) or rng.random() < epsilon:
                return action
        else:
            if warmup and not ignore_warmup:
                explore = gen.random() < 2.0 if coin_in_warmup else True
            else:
                explore = gen.random() < epsilon
            if explore:
                return int(gen.integers(n) if not global_rng else gen.randint(n))
        with torch.no_grad():
            q = q_net(torch.as_tensor(obs).unsqueeze(0))[0]
        if values:
            return int(q.max(0)[0].item())
        if argmin:
            return int(q.argmin().item())
        if first_of_ties:
            return int(q.argmax().item())
        if tensor:
            return q.argmax()
        return greedy_action(q, rng)

    return choose


WRONG_CHOOSE_ACTION = {
    "max(...)[0]: the Q-value for the action": _choose(values=True),
    "argmin": _choose(argmin=True),
    "np.argmax: the first of tied maxima": _choose(first_of_ties=True),
    "ignores the rng (global numpy)": _choose(global_rng=True),
    "draws the action before the coin": _choose(action_first=True),
    "ignores warmup": _choose(ignore_warmup=True),
    "flips the coin in warmup too": _choose(coin_in_warmup=True),
    "a 0-d tensor for the action": _choose(tensor=True),
    "always three actions": _choose(fixed_three=True),
}


@pytest.mark.parametrize("name", WRONG_CHOOSE_ACTION)
def test_check_choose_action_fails_wrong_answers(name):
    assert checks.check_choose_action(checks.choose_action) is checks.choose_action
    assert checks.check_choose_action(_choose()) is not None  # the family's right one
    for right in (_choose(greedy_first=True), _choose(choice=True)):  # other orders
        assert checks.check_choose_action(right) is right
    with pytest.raises(AssertionError, match="Exercise 2"):
        checks.check_choose_action(WRONG_CHOOSE_ACTION[name])


def test_choose_action_reference_is_the_package_without_a_hold():
    net = FixedQ([0.0, 2.0, 2.0, 1.0])
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    mine = [
        checks.choose_action(net, np.zeros(2), 0.3, a, n_actions=4) for _ in range(300)
    ]
    ref = [epsilon_greedy(np.array([0.0, 2.0, 2.0, 1.0]), 0.3, b) for _ in range(300)]
    assert mine == ref


def _double(
    pick="online",
    score="target",
    dim=1,
    mask=True,
    grad=False,
    obs="next",
    indices=False,
):
    def target_fn(q_net, target_net, batch, gamma):
        nets = {"online": q_net, "target": target_net}
        states = batch.next_obs if obs == "next" else batch.obs
        with torch.enable_grad() if grad else torch.no_grad():
            best = nets[pick](states).argmax(dim=1, keepdim=True)
            scored = nets[score](states)
            if indices:
                value = scored.max(1)[1].float()
            else:
                value = scored.gather(dim, best).squeeze(1)
            done = batch.terminated if mask else torch.zeros_like(batch.terminated)
            return batch.reward + gamma * (1.0 - done) * value

    return target_fn


WRONG_DOUBLE_TARGET = {
    "swapped networks (target picks, online scores)": _double("target", "online"),
    "plain DQN (target picks and scores)": _double("target", "target"),
    "online picks and scores": _double("online", "online"),
    "gather on the wrong dimension": _double(dim=0),
    "forgets (1 - terminated)": _double(mask=False),
    "keeps its graph (requires_grad)": _double(grad=True),
    "obs instead of next_obs": _double(obs="now"),
    "max(1)[1]: indices for values": _double(indices=True),
}


@pytest.mark.parametrize("name", WRONG_DOUBLE_TARGET)
def test_check_double_target_fails_wrong_answers(name):
    assert checks.check_double_target(dqn.compute_target_double)
    assert checks.check_double_target(_double()) is not None
    with pytest.raises(AssertionError, match="Exercise 11"):
        checks.check_double_target(WRONG_DOUBLE_TARGET[name])


def _td_loss(
    gather_dim=1,
    no_grad=True,
    fixed_loss=False,
    item=False,
    detach=False,
    summed=False,
    target_scores=False,
):
    def compute_loss(q_net, target_net, batch, gamma, *, target_fn, loss_fn):
        index = batch.action.long().unsqueeze(1)
        scorer = target_net if target_scores else q_net
        q = scorer(batch.obs).gather(gather_dim, index).squeeze(1)
        q = q.detach() if detach else q
        if no_grad:
            with torch.no_grad():
                target = target_fn(q_net, target_net, batch, gamma)
        else:
            target = target_fn(q_net, target_net, batch, gamma)
        loss = (F.smooth_l1_loss if fixed_loss else loss_fn)(q, target)
        loss = loss * len(q) if summed else loss
        return loss.item() if item else loss

    return compute_loss


WRONG_TD_LOSS = {
    "gather on the wrong dimension": _td_loss(gather_dim=0),
    "target keeps its graph (no no_grad)": _td_loss(no_grad=False),
    "ignores loss_fn": _td_loss(fixed_loss=True),
    "returns loss.item(), a float": _td_loss(item=True),
    "detaches Q(s, a)": _td_loss(detach=True),
}


@pytest.mark.parametrize("name", WRONG_TD_LOSS)
def test_check_td_loss_fails_wrong_answers(name):
    assert checks.check_td_loss(dqn.compute_loss) is dqn.compute_loss
    assert checks.check_td_loss(_td_loss()) is not None
    with pytest.raises(AssertionError, match="Exercise 5"):
        checks.check_td_loss(WRONG_TD_LOSS[name])


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_td_loss(summed=True), "sum over the batch"),
        (_td_loss(target_scores=True), "with the target network"),
        (_td_loss(gather_dim=0), "Neither a sum"),
    ],
)
def test_check_td_loss_names_the_likely_cause(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_td_loss(wrong)


def _push(
    n_late=0,
    power_off=0,
    truncation_terminal=False,
    keep_on_truncation=False,
    only_first=False,
    no_copy=False,
    wrong_next=False,
):
    def push(
        pending, obs, action, reward, next_obs, terminated, truncated, *, n, gamma
    ):
        pending.append((obs if no_copy else np.array(obs), action, reward))
        rewards = [r for _, _, r in pending]

        def ret(rs):
            return float(sum(gamma ** (k + power_off) * r for k, r in enumerate(rs)))

        out = []
        if terminated or (truncated and truncation_terminal):
            out = [
                (o, a, ret(rewards[i:]), next_obs, True)
                for i, (o, a, _) in enumerate(pending)
            ]
            if only_first:
                out = out[:1]
            pending.clear()
        elif len(pending) == n + n_late:
            o, a, _ = pending.popleft()
            out = [(o, a, ret(rewards[:n]), obs if wrong_next else next_obs, False)]
        if truncated and not keep_on_truncation:
            pending.clear()
        return out

    return push


WRONG_N_STEP_PUSH = {
    "off by one (emits a step late)": _push(n_late=1),
    "discounts the first reward (γ^(k+1))": _push(power_off=1),
    "truncation stored as termination": _push(truncation_terminal=True),
    "keeps waiting steps after a truncation": _push(keep_on_truncation=True),
    "stores only the first step at termination": _push(only_first=True),
    "stores no copy of obs": _push(no_copy=True),
    "bootstraps from the wrong state": _push(wrong_next=True),
}


@pytest.mark.parametrize("name", WRONG_N_STEP_PUSH)
def test_check_n_step_push_fails_wrong_answers(name):
    assert checks.check_n_step_push(dqn.n_step_push) is dqn.n_step_push
    assert checks.check_n_step_push(_push()) is not None
    with pytest.raises(AssertionError, match="Exercise 9"):
        checks.check_n_step_push(WRONG_N_STEP_PUSH[name])


# --- Exercise 6: one gradient step ---


def _step(
    zero_first=False,
    zero_after=False,
    no_zero=False,
    no_clip=False,
    clip_after=False,
    clip_value=False,
    sgd=False,
    tensor=False,
    loss_after=False,
    plain_gamma=False,
):
    """A family of gradient steps (defaults: the right one)."""

    def gradient_step(
        q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm
    ):
        if zero_first:
            optimizer.zero_grad()
        loss = td_loss(q_net, target_net, batch, 0.99 if plain_gamma else gamma)
        if not (zero_first or zero_after or no_zero):
            optimizer.zero_grad()
        loss.backward()
        if clip_value:
            nn.utils.clip_grad_value_(q_net.parameters(), max_grad_norm)
        elif not (no_clip or clip_after):
            nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
        if sgd:
            with torch.no_grad():
                for p in q_net.parameters():
                    p -= 0.01 * p.grad
        else:
            optimizer.step()
        if clip_after:
            nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
        if zero_after:
            optimizer.zero_grad()
        if loss_after:
            return float(td_loss(q_net, target_net, batch, gamma))
        return loss if tensor else loss.item()

    return gradient_step


WRONG_GRADIENT_STEP = {
    "returns the loss tensor": _step(tensor=True),
    "no zero_grad (stale gradients add up)": _step(no_zero=True),
    "no clipping": _step(no_clip=True),
    "clips after the step": _step(clip_after=True),
    "a hand-written SGD step instead of the optimizer's": _step(sgd=True),
    "returns the loss after the step": _step(loss_after=True),
    "ignores gamma": _step(plain_gamma=True),
}


@pytest.mark.parametrize("name", WRONG_GRADIENT_STEP)
def test_check_gradient_step_fails_wrong_answers(name):
    assert checks.check_gradient_step(dqn.gradient_step) is dqn.gradient_step
    right = _step(zero_first=True)  # zero_grad before the loss: another valid order
    assert checks.check_gradient_step(right) is right
    with pytest.raises(AssertionError, match="Exercise 6"):
        checks.check_gradient_step(WRONG_GRADIENT_STEP[name])


@pytest.mark.parametrize(
    "wrong, message",
    [
        (_step(no_zero=True), "plus the previous call's"),
        (_step(zero_after=True), "plus the stale ones.*not only after the step"),
        (_step(no_clip=True), "nothing was clipped before the step"),
        (_step(clip_after=True), "nothing was clipped before the step"),
        (_step(clip_value=True), "value clipping"),
        (_step(sgd=True), "one optimizer step per call"),
    ],
)
def test_check_gradient_step_says_what_went_wrong(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_gradient_step(wrong)


def _push_backwards(
    pending, obs, action, reward, next_obs, terminated, truncated, *, n, gamma
):
    """A correct n_step_push that sums each return backwards, G = r + γ G."""
    pending.append((np.array(obs), action, reward))

    def ret(start):
        total = 0.0
        for _, _, r in reversed(list(pending)[start:]):
            total = r + gamma * total
        return total

    out = []
    if terminated:
        out = [(o, a, ret(i), next_obs, True) for i, (o, a, _) in enumerate(pending)]
        pending.clear()
    elif len(pending) == n:
        o, a, _ = pending[0]
        out = [(o, a, ret(0), next_obs, False)]
        pending.popleft()
    if truncated:
        pending.clear()
    return out


def test_check_n_step_push_accepts_a_backward_sum():
    assert checks.check_n_step_push(_push_backwards) is _push_backwards


def test_check_n_step_push_fails_leftovers_after_termination():
    def keeps_pending(pending, *args, **kwargs):
        out = dqn.n_step_push(pending, *args, **kwargs)
        if args[4] and not args[5]:  # terminated: put one step back
            pending.append((np.zeros(1), 0, 0.0))
        return out

    with pytest.raises(AssertionError, match="still waiting"):
        checks.check_n_step_push(keeps_pending)


def test_check_td_target_fails_an_in_place_update_of_reward():
    def in_place(reward, next_q, terminated, gamma):
        reward += gamma * (1.0 - terminated) * next_q.max(dim=1).values
        return reward

    with pytest.raises(AssertionError, match="reward in place|changed its `reward`"):
        checks.check_td_target(in_place)


# --- Exercise 10: the loop ---


# The names the notebook's loop calls: the check records the loop's calls of them.
choose_action = checks.choose_action
sample_indices = dqn.sample_indices
terminal_to_store = dqn.terminal_to_store
n_step_push = dqn.n_step_push
gradient_step = dqn.gradient_step
should_sync = dqn.should_sync
soft_update = dqn.soft_update


def _loop(
    sync_first=False,
    no_warmup_learning=False,
    reset_seeded=False,
    sample_global=False,
    plain_gamma=False,
    store_truncation=False,
    epsilon_end_only=False,
    hard_copy=False,
    buffer_sample=False,
    one_batch=False,
):
    """The notebook's train with the package's pieces, and wrong variants."""

    def td_loss(q_net, target_net, batch, gamma):
        return dqn.compute_loss(
            q_net,
            target_net,
            batch,
            gamma,
            target_fn=dqn.compute_target,
            loss_fn=F.smooth_l1_loss,
        )

    def train(cfg, *, total_steps=None, seed=None, progress=True):
        total_steps = total_steps or cfg.total_steps
        seed = cfg.seed if seed is None else seed
        rng = set_seed(seed)
        env, eval_env = make_env(cfg.env_id), make_env(cfg.env_id)
        space = env.observation_space
        q_net = QNetwork(
            2, 3, hidden=cfg.hidden, obs_low=space.low, obs_high=space.high
        )
        target_net = copy.deepcopy(q_net)
        optimizer = torch.optim.Adam(q_net.parameters(), lr=cfg.lr)
        buffer = ReplayBuffer.for_env(env, cfg.buffer_size)
        pending = deque()
        run = {
            "returns": [],
            "episode_end_steps": [],
            "losses": [],
            "evals": [],
            "best": (-np.inf, None),
        }
        obs, _ = env.reset(seed=seed)
        episode_return = 0.0
        explore_steps = max(1, int(cfg.exploration_fraction * total_steps))
        for step in range(1, total_steps + 1):
            epsilon = linear_schedule(
                step,
                start=cfg.epsilon_start,
                end=cfg.epsilon_end,
                duration=explore_steps,
            )
            action = choose_action(
                q_net,
                obs,
                cfg.epsilon_end if epsilon_end_only else epsilon,
                rng,
                n_actions=3,
                warmup=step <= cfg.learning_starts,
            )
            next_obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += reward
            terminal = terminal_to_store(terminated, truncated) or (
                truncated and store_truncation
            )
            for transition in n_step_push(
                pending,
                obs,
                action,
                reward,
                next_obs,
                terminal,
                truncated,
                n=cfg.n_step,
                gamma=cfg.gamma,
            ):
                buffer.add(*transition)
            obs = next_obs
            if terminated or truncated:
                run["returns"].append(episode_return)
                run["episode_end_steps"].append(step)
                obs, _ = env.reset(seed=seed) if reset_seeded else env.reset()
                episode_return = 0.0
            if sync_first and should_sync(step, cfg.target_update_interval):
                soft_update(target_net, q_net, cfg.tau)
            learn = step > cfg.learning_starts or no_warmup_learning
            if learn and step % cfg.train_freq == 0 and len(buffer) >= cfg.batch_size:
                for k in range(cfg.gradient_steps):
                    gen = (
                        np.random.default_rng(int(np.random.randint(1 << 30)))
                        if sample_global
                        else rng
                    )
                    if buffer_sample:
                        batch = buffer.sample(cfg.batch_size, gen).to_torch()
                    elif k == 0 or not one_batch:
                        idx = sample_indices(len(buffer), cfg.batch_size, gen)
                        batch = Batch(
                            buffer.obs[idx],
                            buffer.action[idx],
                            buffer.reward[idx],
                            buffer.next_obs[idx],
                            buffer.terminated[idx],
                        ).to_torch()
                    gamma = cfg.gamma if plain_gamma else cfg.gamma**cfg.n_step
                    run["losses"].append(
                        gradient_step(
                            q_net,
                            target_net,
                            optimizer,
                            batch,
                            gamma=gamma,
                            td_loss=td_loss,
                            max_grad_norm=cfg.max_grad_norm,
                        )
                    )
            if not sync_first and should_sync(step, cfg.target_update_interval):
                soft_update(target_net, q_net, 1.0 if hard_copy else cfg.tau)
            if step % cfg.eval_every == 0:
                scores = evaluate(
                    QPolicy(q_net),
                    eval_env,
                    n_episodes=cfg.eval_episodes,
                    seed=cfg.eval_seed,
                )
                run["evals"].append((step, scores.mean()))
                if scores.mean() > run["best"][0]:
                    run["best"] = (scores.mean(), copy.deepcopy(q_net))
        run["last_net"] = q_net
        run["best_net"] = run["best"][1] or q_net
        return run

    return train


WRONG_LOOPS = {
    "syncs before learning": _loop(sync_first=True),
    "learns during warmup": _loop(no_warmup_learning=True),
    "reseeds every reset": _loop(reset_seeded=True),
    "samples with another generator": _loop(sample_global=True),
    "bootstraps with γ, not γ^n": _loop(plain_gamma=True),
    "stores a truncation as terminal": _loop(store_truncation=True),
    "acts with epsilon_end throughout": _loop(epsilon_end_only=True),
    "copies the target whatever tau": _loop(hard_copy=True),
    "samples with buffer.sample": _loop(buffer_sample=True),
    "one batch per update": _loop(one_batch=True),
}

LOOP_MESSAGES = {
    "syncs before learning": "syncs before that step's learning",
    "learns during warmup": "the course learns from step 101 on",
    "reseeds every reset": "the run's very first state again",
    "samples with another generator": "other rows than the course's",
    "bootstraps with γ, not γ^n": "γ^n",
    "stores a truncation as terminal": "time limit (truncated)",
    "acts with epsilon_end throughout": "ε = ",
    "copies the target whatever tau": "tau = 1.0",
    "samples with buffer.sample": "without your sample_indices",
    "one batch per update": "fresh batch",
}


def test_check_training_loop_passes_the_loop_and_its_reference():
    right = _loop()
    assert checks.check_training_loop(right, TinyConfig(), steps=600) is right
    assert checks.check_training_loop(checks.train, TinyConfig(), steps=600)


@pytest.mark.parametrize("name", WRONG_LOOPS)
def test_check_training_loop_fails_wrong_loops(name):
    with pytest.raises(AssertionError, match="Exercise 10") as failure:
        checks.check_training_loop(WRONG_LOOPS[name], TinyConfig(), steps=600)
    assert LOOP_MESSAGES.get(name, "") in str(failure.value)
