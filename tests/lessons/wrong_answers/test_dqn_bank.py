"""The wrong-answer bank of 03_dqn_mountaincar (``wrong_answer_helpers`` says how
a bank works).

| 03: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 sample_indices | 8 | 1 | 0 |
| 2 choose_action | 10 | 1 | 0 |
| 3 td_target | 8 | 0 | 0 |
| 4 terminal_to_store | 4 | 1 | 0 |
| 5 compute_loss | 6 | 0 | 0 |
| 6 gradient_step | 7 | 0 | 0 |
| 7 soft_update | 7 | 0 | 0 |
| 8 should_sync | 6 | 0 | 0 |
| 9 n_step_push | 7 | 0 | 0 |
| 10 the loop | 9 | 1 | 0 |
| 11 Double DQN target | 6 | 0 | 0 |

Passed before: a list from sample_indices, an int from terminal_to_store, a greedy
choice computed with gradients on. The check of
Exercise 8 also refused the correct ``step % interval == 0`` (step 0, which the loop
never asks about); that was fixed meanwhile, and then an int from should_sync passed.
Exercise 10's wrong loops were all refused before, but six of them with a misleading
message (an action chosen otherwise, the rng blamed, many steps after the real
departure; a stale observation called a seeding problem; a bare IndexError): its bank
tests the message, not just the refusal. The loop that passed stored the right flag
without calling terminal_to_store: Exercise 4 did not feed the run.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from wrong_answer_helpers import bank_tests, fails, passes

from course_utils.agents import dqn
from course_utils.common import greedy_action
from course_utils.common.buffers import Batch, ReplayBuffer
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.networks import QNetwork
from course_utils.common.policies import QPolicy
from course_utils.common.progress import RunProgress
from course_utils.common.schedules import linear_schedule
from course_utils.common.seeding import set_seed
from course_utils.lessons.checks import dqn as checks
from course_utils.lessons.checks import same_as_course

# ------------------------------------------------------ Exercise 1: sample_indices


def si_no_replacement(size, batch_size, rng):  # without replacement
    return rng.choice(size, batch_size, replace=False)


def si_global(size, batch_size, rng):  # np.random instead of rng
    return np.random.randint(0, size, batch_size)


def si_off_by_one(size, batch_size, rng):  # never the last row
    return rng.integers(0, size - 1, size=batch_size)


def si_from_one(size, batch_size, rng):  # rows 1..size
    return rng.integers(1, size + 1, size=batch_size)


def si_list(size, batch_size, rng):  # a list
    return [int(rng.integers(size)) for _ in range(batch_size)]


def si_floats(size, batch_size, rng):  # floats from rng.random
    return np.floor(rng.random(batch_size) * size)


def si_permutation(size, batch_size, rng):  # a permutation's head: no repeats
    return rng.permutation(size)[:batch_size]


def si_ok_keywords(size, batch_size, rng):  # correct: keywords, a tuple shape
    return rng.integers(low=0, high=size, size=(batch_size,))


def si_ok_short(size, batch_size, rng):  # correct: high only
    return rng.integers(size, size=batch_size).astype(np.int64)


SI_WRONG = [
    si_no_replacement,
    si_global,
    si_off_by_one,
    si_from_one,
    si_list,
    si_floats,
    si_permutation,
]


# ------------------------------------------------------- Exercise 2: choose_action


def _q(q_net, obs):
    with torch.no_grad():
        return q_net(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0]


def ca_argmax(q_net, obs, epsilon, rng, *, n_actions, warmup=False):  # ties to index 0
    if warmup or rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return int(_q(q_net, obs).argmax())


def ca_tensor(q_net, obs, epsilon, rng, *, n_actions, warmup=False):  # a 0-d tensor
    if warmup or rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return _q(q_net, obs).argmax()


def ca_three(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # MountainCar's 3 hard-coded
    if warmup or rng.random() < epsilon:
        return int(rng.integers(3))
    return greedy_action(_q(q_net, obs), rng)


def ca_no_warmup(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # ignores warmup
    if rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return greedy_action(_q(q_net, obs), rng)


def ca_global(q_net, obs, epsilon, rng, *, n_actions, warmup=False):  # np.random
    if warmup or np.random.random() < epsilon:
        return int(np.random.randint(n_actions))
    return greedy_action(_q(q_net, obs), rng)


def ca_inverted(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # explores with 1 - ε
    if warmup or rng.random() > epsilon:
        return int(rng.integers(n_actions))
    return greedy_action(_q(q_net, obs), rng)


def ca_numpy_int(q_net, obs, epsilon, rng, *, n_actions, warmup=False):  # np.int64
    if warmup or rng.random() < epsilon:
        return rng.integers(n_actions)
    return np.int64(greedy_action(_q(q_net, obs), rng))


def ca_argmin(q_net, obs, epsilon, rng, *, n_actions, warmup=False):  # smallest Q
    if warmup or rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return greedy_action(-_q(q_net, obs), rng)


def ca_ok_numpy(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # correct: via NumPy
    explore = warmup or rng.random() < epsilon
    if explore:
        return int(rng.integers(0, n_actions))
    with torch.no_grad():
        values = q_net(
            torch.from_numpy(np.asarray(obs, dtype=np.float32)[None])
        ).numpy()[0]
    return greedy_action(values, rng)


CA_WRONG = [
    ca_argmax,
    ca_tensor,
    ca_three,
    ca_no_warmup,
    ca_global,
    ca_inverted,
    ca_numpy_int,
    ca_argmin,
]


def test_choose_action_right():
    passes(checks.check_choose_action, ca_ok_numpy)


# ---------------------------------------------------------- Exercise 3: td_target


def td_no_terminal(reward, next_q, terminated, gamma):  # always bootstraps
    return reward + gamma * next_q.max(dim=1).values


def td_in_place(reward, next_q, terminated, gamma):  # += on the reward
    reward += gamma * (1 - terminated) * next_q.max(dim=1).values
    return reward


def td_mean(reward, next_q, terminated, gamma):  # mean over actions
    return reward + gamma * (1 - terminated) * next_q.mean(dim=1)


def td_max_tuple_axis0(reward, next_q, terminated, gamma):  # max over the batch
    return reward + gamma * (1 - terminated) * next_q.max(dim=0).values[: len(reward)]


def td_gamma_sq(reward, next_q, terminated, gamma):  # discount squared
    return reward + gamma**2 * (1 - terminated) * next_q.max(dim=1).values


def td_inverted(reward, next_q, terminated, gamma):  # bootstraps only at the end
    return reward + gamma * terminated * next_q.max(dim=1).values


def td_argmax(reward, next_q, terminated, gamma):  # the index of the max, not its value
    return reward + gamma * (1 - terminated) * next_q.argmax(dim=1).float()


def td_numpy(reward, next_q, terminated, gamma):  # returns a NumPy array
    return (reward + gamma * (1 - terminated) * next_q.max(dim=1).values).numpy()


def td_ok_where(reward, next_q, terminated, gamma):  # correct: torch.where
    best = torch.amax(next_q, dim=-1)
    return torch.where(terminated.bool(), reward, reward + gamma * best)


def td_ok_clone(reward, next_q, terminated, gamma):  # correct: clone, then add in place
    y = reward.clone()
    y += gamma * (1.0 - terminated.float()) * next_q.max(1)[0]
    return y


TD_WRONG = [
    td_no_terminal,
    td_in_place,
    td_mean,
    td_max_tuple_axis0,
    td_gamma_sq,
    td_inverted,
    td_argmax,
    td_numpy,
]


# --------------------------------------------------- Exercise 4: terminal_to_store


def ts_or(terminated, truncated):  # the seed's bug
    return terminated or truncated


def ts_truncated(terminated, truncated):  # the wrong flag
    return bool(truncated)


def ts_and(terminated, truncated):
    return terminated and not truncated


def ts_int(terminated, truncated):  # an int where a bool is the contract
    return int(terminated)


def ts_ok_numpy(terminated, truncated):
    # correct: NumPy's bool_ is a bool to the buffer
    return np.bool_(terminated) & np.bool_(True)


def ts_ok(terminated, truncated):  # correct
    return bool(terminated)


# ------------------------------------------------------- Exercise 5: compute_loss


def _taken(q_net, batch):
    return q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)


def cl_no_detach(
    q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss
):
    # trusts target_fn to hold no gradient; the check's leaky target lets it through
    q = q_net(batch.obs)[torch.arange(len(batch.action)), batch.action]
    return loss_fn(q, target_fn(q_net, target_net, batch, gamma))


def cl_max(q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss):
    # the largest Q, not the action taken's
    y = target_fn(q_net, target_net, batch, gamma).detach()
    return loss_fn(q_net(batch.obs).max(dim=1).values, y)


def cl_broadcast(
    q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss
):
    # gather without squeeze: (B, 1) against (B,) broadcasts to (B, B)
    y = target_fn(q_net, target_net, batch, gamma).detach()
    return loss_fn(q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)), y)


def cl_mse(q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss):
    # ignores loss_fn
    y = target_fn(q_net, target_net, batch, gamma).detach()
    return F.mse_loss(_taken(q_net, batch), y)


def cl_swapped(q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss):
    # the target network's Q-values of the state regressed onto the target
    y = target_fn(q_net, target_net, batch, gamma).detach()
    return loss_fn(_taken(target_net, batch), y)


def cl_float(q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss):
    # a float: no gradient left to step on
    y = target_fn(q_net, target_net, batch, gamma).detach()
    return loss_fn(_taken(q_net, batch), y).item()


def cl_ok_nograd(
    q_net, target_net, batch, gamma, *, target_fn, loss_fn=F.smooth_l1_loss
):
    # correct: the target under no_grad, argument order as the loss expects
    with torch.no_grad():
        y = target_fn(q_net, target_net, batch, gamma)
    q = q_net(batch.obs)[torch.arange(batch.action.shape[0]), batch.action.long()]
    return loss_fn(q, y)


CL_WRONG = [cl_no_detach, cl_max, cl_broadcast, cl_mse, cl_swapped, cl_float]


def test_compute_loss_right():
    passes(checks.check_td_loss, cl_ok_nograd)


# ------------------------------------------------------ Exercise 6: gradient_step


def gs_no_zero(q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm):
    loss = td_loss(q_net, target_net, batch, gamma)  # stale gradients kept
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()


def gs_clip_after(
    q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm
):
    optimizer.zero_grad()  # clips after the step: no effect
    loss = td_loss(q_net, target_net, batch, gamma)
    loss.backward()
    optimizer.step()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    return loss.item()


def gs_no_clip(q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm):
    optimizer.zero_grad()
    loss = td_loss(q_net, target_net, batch, gamma)
    loss.backward()
    optimizer.step()
    return loss.item()


def gs_tensor(q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm):
    optimizer.zero_grad()  # returns the loss tensor
    loss = td_loss(q_net, target_net, batch, gamma)
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    return loss


def gs_clip_value(
    q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm
):
    optimizer.zero_grad()  # clips each value, not the total norm
    loss = td_loss(q_net, target_net, batch, gamma)
    loss.backward()
    nn.utils.clip_grad_value_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    return loss.item()


def gs_manual_sgd(
    q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm
):
    q_net.zero_grad()  # a hand-written step; the optimiser ignored
    loss = td_loss(q_net, target_net, batch, gamma)
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    with torch.no_grad():
        for p in q_net.parameters():
            p -= 1e-3 * p.grad
    return loss.item()


def gs_loss_after(
    q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm
):
    optimizer.zero_grad()  # the loss after the step
    td_loss(q_net, target_net, batch, gamma).backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    with torch.no_grad():
        return td_loss(q_net, target_net, batch, gamma).item()


def gs_ok(q_net, target_net, optimizer, batch, *, gamma, td_loss, max_grad_norm):
    # correct: zero the gradients through the model, float() of a detached loss
    loss = td_loss(q_net, target_net, batch, gamma)
    q_net.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(q_net.parameters()), max_norm=max_grad_norm)
    optimizer.step()
    return float(loss.detach())


GS_WRONG = [
    gs_no_zero,
    gs_clip_after,
    gs_no_clip,
    gs_tensor,
    gs_clip_value,
    gs_manual_sgd,
    gs_loss_after,
]


def test_gradient_step_right():
    passes(checks.check_gradient_step, gs_ok)


# -------------------------------------------------------- Exercise 7: soft_update


def su_rebind(target_net, q_net, tau):  # rebinds a local name: nothing changes
    target_net = q_net
    return target_net


def su_swapped(target_net, q_net, tau):  # τ on the target's side
    with torch.no_grad():
        for t, q in zip(target_net.parameters(), q_net.parameters(), strict=True):
            t.copy_(tau * t + (1 - tau) * q)


def su_changes_online(target_net, q_net, tau):  # updates the online net
    with torch.no_grad():
        for t, q in zip(target_net.parameters(), q_net.parameters(), strict=True):
            q.copy_(tau * q + (1 - tau) * t)


def su_weights_only(target_net, q_net, tau):  # forgets the biases
    with torch.no_grad():
        for (name, t), q in zip(
            target_net.named_parameters(), q_net.parameters(), strict=True
        ):
            if "weight" in name:
                t.copy_(tau * q + (1 - tau) * t)


def su_hard(target_net, q_net, tau):  # always a hard copy
    target_net.load_state_dict(q_net.state_dict())


def su_data_assign(target_net, q_net, tau):  # t.data = ... with a sum, forgets (1 - τ)
    for t, q in zip(target_net.parameters(), q_net.parameters(), strict=True):
        t.data = tau * q.data + t.data


def su_ok_lerp(target_net, q_net, tau):  # correct: lerp_
    with torch.no_grad():
        for t, q in zip(target_net.parameters(), q_net.parameters(), strict=True):
            t.lerp_(q, tau)


def su_ok_state_dict(target_net, q_net, tau):  # correct: through state dicts
    online = q_net.state_dict()
    new = {
        k: tau * online[k] + (1 - tau) * v for k, v in target_net.state_dict().items()
    }
    target_net.load_state_dict(new)


SU_WRONG = [
    su_rebind,
    su_swapped,
    su_changes_online,
    su_weights_only,
    su_hard,
    su_data_assign,
]


# -------------------------------------------------------- Exercise 8: should_sync


def ss_seed_bug(step, interval):  # the seed's precedence bug, with tau = 1 / interval
    return step % 1 / (1 / interval) == 0


def ss_zero(step, interval):
    # syncs at step 0 as well... and every step before the first
    return step % interval == 0 or step < interval


def ss_off_by_one(step, interval):  # counts from zero
    return (step + 1) % interval == 0


def ss_500(step, interval):  # a hard-coded interval
    return step % 500 == 0


def ss_int(step, interval):  # returns the remainder's truth as an int
    return int(step % interval == 0)


def ss_floordiv(step, interval):  # step // interval == 0: only the first steps
    return step // interval == 0


def ss_ok(step, interval):  # correct
    return step % interval == 0


def ss_ok_positive(
    step, interval
):  # correct: step 0 excluded, though the loop never asks
    return step > 0 and step % interval == 0


def ss_ok_divmod(step, interval):  # correct: divmod
    return divmod(step, interval)[1] == 0


SS_WRONG = [ss_seed_bug, ss_zero, ss_off_by_one, ss_500, ss_int, ss_floordiv]


# ------------------------------------------------------- Exercise 9: n_step_push


def _push(
    pending,
    obs,
    action,
    reward,
    next_obs,
    terminated,
    truncated,
    *,
    n,
    gamma,
    slip=None,
):
    pending.append(
        (obs if slip == "no_copy" else np.array(obs, copy=True), action, reward)
    )
    out = []

    def ret(steps):
        if slip == "backward":
            g = 0.0
            for _, _, r in reversed(steps):
                g = r + gamma * g
            return g
        power = (
            (lambda k: gamma ** (k + 1)) if slip == "power" else (lambda k: gamma**k)
        )
        return sum(power(k) * r for k, (_, _, r) in enumerate(steps))

    if len(pending) == (n + 1 if slip == "window_too_long" else n):
        o, a, _ = pending[0]
        out.append((o, a, ret(list(pending)), next_obs, bool(terminated)))
        pending.popleft()
    if terminated:
        while pending and slip != "keep_pending":
            o, a, _ = pending[0]
            out.append(
                (o, a, ret(list(pending)), next_obs, slip != "flush_not_terminal")
            )
            pending.popleft()
    elif truncated:
        if slip in ("flush_truncated", "truncated_terminal"):
            while pending:
                o, a, _ = pending[0]
                done = slip == "truncated_terminal"
                out.append((o, a, ret(list(pending)), next_obs, done))
                pending.popleft()
        elif slip != "keep_pending":
            pending.clear()
    return out


def _n_step(slip):
    def n_step_push(
        pending, obs, action, reward, next_obs, terminated, truncated, *, n, gamma
    ):
        return _push(
            pending,
            obs,
            action,
            reward,
            next_obs,
            terminated,
            truncated,
            n=n,
            gamma=gamma,
            slip=slip,
        )

    n_step_push.__name__ = f"n_step_{slip}"
    return n_step_push


NS_WRONG = {
    "no_copy": "stores the caller's array, which the environment reuses",
    "power": "discounts the first reward too",
    "keep_pending": "leaves steps waiting after the episode ended",
    "flush_truncated": "stores short windows at the time limit, bootstrapping with γ^n",
    "truncated_terminal": "stores the time limit's short windows as terminal",
    "flush_not_terminal": "stores the flag's short windows as not terminal",
    "window_too_long": "waits for n + 1 rewards",
}


@pytest.mark.parametrize("slip", list(NS_WRONG))
def test_n_step_push_wrong(slip):
    fails(checks.check_n_step_push, _n_step(slip))


def ns_ok_backward(
    pending, obs, action, reward, next_obs, terminated, truncated, *, n, gamma
):
    return _push(
        pending,
        obs,
        action,
        reward,
        next_obs,
        terminated,
        truncated,
        n=n,
        gamma=gamma,
        slip="backward",
    )


def ns_ok_forward(
    pending, obs, action, reward, next_obs, terminated, truncated, *, n, gamma
):
    return _push(
        pending, obs, action, reward, next_obs, terminated, truncated, n=n, gamma=gamma
    )


@pytest.mark.parametrize("right", [ns_ok_backward, ns_ok_forward])
def test_n_step_push_right_in_the_same_as_course_cell(right):
    """Notebook 03's comparison with the course's n_step_push, on random episodes."""
    check_rng = np.random.default_rng(0)
    for episode in range(20):
        length = int(check_rng.integers(1, 12))
        terminated_at_end = bool(check_rng.random() < 0.5)
        pending, course = deque(), deque()
        for t in range(length):
            last = t == length - 1
            step = (
                check_rng.normal(size=2),
                int(check_rng.integers(3)),
                float(check_rng.normal()),
                check_rng.normal(size=2),
                last and terminated_at_end,
                last and not terminated_at_end,
            )
            a = right(pending, *step, n=3, gamma=0.99)
            b = dqn.n_step_push(course, *step, n=3, gamma=0.99)
            same_as_course(
                [list(x) for x in a],
                [list(x) for x in b],
                exercise="Exercise 9 (n-step transitions)",
                what=f"the transitions of episode {episode}, step {t}",
            )


# -------------------------------------------------- Exercise 11: the Double DQN target


def dd_target_picks(q_net, target_net, batch, gamma):  # plain DQN: the target net picks
    with torch.no_grad():
        next_q = target_net(batch.next_obs)
        return batch.reward + gamma * (1 - batch.terminated) * next_q.max(dim=1).values


def dd_online_scores(q_net, target_net, batch, gamma):
    # the online net scores its own pick
    with torch.no_grad():
        next_q = q_net(batch.next_obs)
        return batch.reward + gamma * (1 - batch.terminated) * next_q.max(dim=1).values


def dd_swapped(q_net, target_net, batch, gamma):  # the target picks, the online scores
    with torch.no_grad():
        pick = target_net(batch.next_obs).argmax(dim=1, keepdim=True)
        score = q_net(batch.next_obs).gather(1, pick).squeeze(1)
        return batch.reward + gamma * (1 - batch.terminated) * score


def dd_with_grad(q_net, target_net, batch, gamma):
    # no no_grad: the target carries a graph
    pick = q_net(batch.next_obs).argmax(dim=1, keepdim=True)
    score = target_net(batch.next_obs).gather(1, pick).squeeze(1)
    return batch.reward + gamma * (1 - batch.terminated) * score


def dd_no_terminal(q_net, target_net, batch, gamma):  # always bootstraps
    with torch.no_grad():
        pick = q_net(batch.next_obs).argmax(dim=1, keepdim=True)
        return batch.reward + gamma * target_net(batch.next_obs).gather(
            1, pick
        ).squeeze(1)


def dd_obs(q_net, target_net, batch, gamma):  # picks on the current observation
    with torch.no_grad():
        pick = q_net(batch.obs).argmax(dim=1, keepdim=True)
        score = target_net(batch.next_obs).gather(1, pick).squeeze(1)
        return batch.reward + gamma * (1 - batch.terminated) * score


def dd_ok_index(q_net, target_net, batch, gamma):
    # correct: advanced indexing, torch.where
    with torch.no_grad():
        pick = torch.argmax(q_net(batch.next_obs), dim=1)
        rows = torch.arange(pick.shape[0])
        score = target_net(batch.next_obs)[rows, pick]
        return torch.where(
            batch.terminated.bool(), batch.reward, batch.reward + gamma * score
        )


DD_WRONG = [
    dd_target_picks,
    dd_online_scores,
    dd_swapped,
    dd_with_grad,
    dd_no_terminal,
    dd_obs,
]


def test_double_target_right():
    passes(checks.check_double_target, dd_ok_index)


WRONG = [
    (checks.check_sample_indices, SI_WRONG),
    (checks.check_choose_action, CA_WRONG),
    (checks.check_td_target, TD_WRONG),
    (checks.check_terminal_to_store, [ts_or, ts_truncated, ts_and, ts_int]),
    (checks.check_td_loss, CL_WRONG),
    (checks.check_gradient_step, GS_WRONG),
    (checks.check_soft_update, SU_WRONG),
    (checks.check_should_sync, SS_WRONG),
    (checks.check_double_target, DD_WRONG),
]
RIGHT = [
    (checks.check_sample_indices, [si_ok_keywords, si_ok_short]),
    (checks.check_td_target, [td_ok_where, td_ok_clone]),
    (checks.check_terminal_to_store, [ts_ok, ts_ok_numpy]),
    (checks.check_soft_update, [su_ok_lerp, su_ok_state_dict]),
    (checks.check_should_sync, [ss_ok, ss_ok_positive, ss_ok_divmod]),
    (checks.check_n_step_push, [ns_ok_backward, ns_ok_forward]),
]


(
    test_the_check_refuses_the_wrong_answer,
    test_the_check_accepts_the_right_answer,
) = bank_tests(WRONG, RIGHT)


# ------------------------------------------------------ Exercise 10: the loop
# The notebook's skeleton, with the student's part written as a student did (the
# third walkthrough of the student copy) and wrong in one place each. The loop calls
# its pieces by the notebook's names, which the check records.

choose_action = checks.choose_action
sample_indices = dqn.sample_indices
terminal_to_store = dqn.terminal_to_store
n_step_push = dqn.n_step_push
gradient_step = dqn.gradient_step
should_sync = dqn.should_sync
soft_update = dqn.soft_update


def batch_at(buffer, idx):
    return Batch(
        buffer.obs[idx],
        buffer.action[idx],
        buffer.reward[idx],
        buffer.next_obs[idx],
        buffer.terminated[idx],
    )


@dataclass
class LoopConfig:
    """The notebook's Config, shrunk so that one loop check runs in seconds."""

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


def student_loop(wrong=None):
    """The skeleton with a student's body; ``wrong`` names the one mistake."""

    def train(cfg, *, total_steps=None, seed=None, progress=True, live=False):
        total_steps = total_steps or cfg.total_steps
        seed = cfg.seed if seed is None else seed
        rng = set_seed(seed)
        env, eval_env = make_env(cfg.env_id), make_env(cfg.env_id)
        space, n_actions = env.observation_space, int(env.action_space.n)
        q_net = QNetwork(
            2, n_actions, hidden=cfg.hidden, obs_low=space.low, obs_high=space.high
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

        def td_loss(q_net, target_net, batch, gamma):
            return dqn.compute_loss(
                q_net,
                target_net,
                batch,
                gamma,
                target_fn=dqn.compute_target,
                loss_fn=F.smooth_l1_loss,
            )

        watch = RunProgress(steps=total_steps, progress=progress, desc="DQN")
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
            # --- the student's part ---
            action = choose_action(
                q_net,
                obs,
                epsilon,
                rng,
                n_actions=n_actions,
                warmup=step < cfg.learning_starts + 1,
            )
            next_obs, reward, terminated, truncated, _ = env.step(action)
            episode_return += reward
            if wrong == "time_limit":
                flag = terminated or truncated
            elif wrong == "inline_flag":  # right, but not with Exercise 4's answer
                flag = terminated
            else:
                flag = terminal_to_store(terminated, truncated)
            for t in n_step_push(
                pending,
                obs,
                action,
                reward,
                next_obs,
                flag,
                truncated,
                n=cfg.n_step,
                gamma=cfg.gamma,
            ):
                buffer.add(*t)
            obs = next_obs
            if terminated or truncated:
                if wrong != "no_returns":
                    run["returns"].append(episode_return)
                run["episode_end_steps"].append(step)
                if wrong == "stale_obs":
                    env.reset()  # the new episode's first observation is dropped
                else:
                    obs, _ = env.reset()
                episode_return = 0.0
            if wrong == "sync_first" and should_sync(step, cfg.target_update_interval):
                soft_update(target_net, q_net, cfg.tau)
            if step > cfg.learning_starts and step % cfg.train_freq == 0:
                for _ in range(cfg.gradient_steps):
                    size = cfg.buffer_size if wrong == "capacity" else len(buffer)
                    idx = sample_indices(size, cfg.batch_size, rng)
                    batch = batch_at(buffer, idx).to_torch("cpu")
                    gamma = cfg.gamma if wrong == "gamma" else cfg.gamma**cfg.n_step
                    loss = gradient_step(
                        q_net,
                        target_net,
                        optimizer,
                        batch,
                        gamma=gamma,
                        td_loss=td_loss,
                        max_grad_norm=cfg.max_grad_norm,
                    )
                    run["losses"].append(loss)
            if wrong == "every_step":
                soft_update(target_net, q_net, cfg.tau)
            elif wrong != "sync_first" and should_sync(
                step, cfg.target_update_interval
            ):
                soft_update(target_net, q_net, 1.0 if wrong == "tau_one" else cfg.tau)
            # --- the skeleton again ---
            if run["episode_end_steps"] and run["episode_end_steps"][-1] == step:
                watch.episode(step, run["returns"][-1])
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
            watch.update(steps=step)
        watch.close()
        run["last_net"] = q_net
        run["best_net"] = run["best"][1] or q_net
        return run

    train.__name__ = f"loop_{wrong or 'ok'}"
    return train


# Each wrong loop and what its message must say: the first thing that differs,
# where it differs, and its likely cause.
LOOP_WRONG = {
    "gamma": ["gradient step 0 (step 104, the first)", "gamma = 0.98", "γ^n"],
    "time_limit": ["at step 200", "time limit (truncated)", "terminal_to_store"],
    "tau_one": ["tau = 1.0", "tau = 0.25", "cfg.tau"],
    "capacity": ["size = 500", "from 102", "len(buffer)"],
    "sync_first": ["step 120", "syncs before that step's learning"],
    "every_step": ["at step 1", "only when should_sync"],
    "stale_obs": ["at step 201", "stale observation", "ended at step 200"],
    "no_returns": ["no return in run['returns']", "step 200", "IndexError"],
    "inline_flag": ["never calls your terminal_to_store", "Exercise 4"],
}


@pytest.mark.parametrize("wrong", LOOP_WRONG)
def test_loop_check_names_the_first_departure(wrong):
    message = fails(
        checks.check_training_loop, student_loop(wrong), LoopConfig(), steps=600
    )
    for words in LOOP_WRONG[wrong]:
        assert words in message, f"{words!r} not in: {message}"
    # never the old misdiagnoses: an rng used for something else, a seeded reset
    assert "rng was used for something else" not in message
    assert "the reset differs" not in message


def test_loop_check_accepts_the_students_right_loop():
    # written its own way: warmup as ``step < learning_starts + 1``, the reset's
    # observation taken in the ``if``, each loss appended through a name
    passes(checks.check_training_loop, student_loop(), LoopConfig(), steps=600)


# ------------------------------------- messages that name the fix (third walkthrough)


def si_uniform_floats(size, batch_size, rng):  # uniform, but another draw
    return (rng.random(batch_size) * size).astype(np.int64)


def ca_with_grad(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # no torch.no_grad(): a graph is built on every step
    if warmup or rng.random() < epsilon:
        return int(rng.integers(n_actions))
    return greedy_action(q_net(torch.as_tensor(obs).unsqueeze(0))[0], rng)


def ca_coin_in_warmup(q_net, obs, epsilon, rng, *, n_actions, warmup=False):
    # draws the coin in warmup too
    if rng.random() < epsilon or warmup:
        return int(rng.integers(n_actions))
    return greedy_action(_q(q_net, obs), rng)


def su_rebind_each(target_net, q_net, tau):  # rebinds t: nothing changes in place
    with torch.no_grad():
        for t, p in zip(target_net.parameters(), q_net.parameters(), strict=True):
            t = tau * p + (1 - tau) * t  # noqa: PLW2901


@pytest.mark.parametrize(
    ("check", "answer", "words"),
    [
        (checks.check_sample_indices, si_uniform_floats, "rng.integers(size, size="),
        (checks.check_choose_action, ca_with_grad, "torch.no_grad()"),
        (checks.check_choose_action, ca_coin_in_warmup, "warmup=True"),
        (checks.check_soft_update, su_rebind_each, "nothing changed in place"),
    ],
    ids=lambda x: getattr(x, "__name__", "")[:20],
)
def test_the_message_names_the_fix(check, answer, words):
    message = fails(check, answer)
    assert words in message, message
