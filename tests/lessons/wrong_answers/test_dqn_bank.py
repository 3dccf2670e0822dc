"""The wrong-answer bank of 03_dqn_mountaincar (``wrong_answer_helpers`` says how
a bank works).

| 03: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 sample_indices | 7 | 1 | 0 |
| 2 choose_action | 8 | 0 | 0 |
| 3 td_target | 8 | 0 | 0 |
| 4 terminal_to_store | 4 | 1 | 0 |
| 5 compute_loss | 6 | 0 | 0 |
| 6 gradient_step | 7 | 0 | 0 |
| 7 soft_update | 6 | 0 | 0 |
| 8 should_sync | 6 | 0 | 0 |
| 9 n_step_push | 7 | 0 | 0 |
| 11 Double DQN target | 6 | 0 | 0 |

Passed before: a list from sample_indices, an int from terminal_to_store. The check of
Exercise 8 also refused the correct ``step % interval == 0`` (step 0, which the loop
never asks about); that was fixed meanwhile, and then an int from should_sync passed.
Exercise 10 (the whole loop) is left to ``tests/lessons/test_dqn_checks.py``.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from wrong_answer_helpers import bank_tests, fails, passes

from course_utils.agents import dqn
from course_utils.common import greedy_action
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
