"""The wrong-answer bank of 05_selective_memory_bipedalwalker
(``wrong_answer_helpers`` says how a bank works).

| 05: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 return_to_go | 8 | 0 | 0 |
| 2 keep_probability | 7 | 0 | 0 |
| 3 keep rule | 7 | 0 | 0 |
| 4 select_action | 6 | 0 | 0 |
| 5 fit_step | 7 | 0 | 0 |
| 6 advantage keep rule | 9 | 0 | 0 |
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wrong_answer_helpers import bank_tests, fails, passes

from course_utils.lessons.checks import selective_memory as checks

# ------------------------------------------------------- Exercise 1: return_to_go


def rg_in_place(rewards, gamma):  # accumulates into the caller's array
    out = rewards.astype(np.float64)
    for t in range(len(out) - 2, -1, -1):
        out[t] += gamma * out[t + 1]
    rewards[:] = out
    return out


def rg_int(rewards, gamma):  # keeps the input's integer dtype
    out = np.zeros_like(rewards)
    g = 0
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


def rg_forward(rewards, gamma):  # accumulates forwards: a return-so-far
    out, g = np.zeros(len(rewards)), 0.0
    for t, r in enumerate(rewards):
        g = r + gamma * g
        out[t] = g
    return out


def rg_shift(rewards, gamma):  # R_t = γ R_{t+1} without r_t's own reward at the end
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        out[t] = g
        g = rewards[t] + gamma * g
    return out


def rg_total(rewards, gamma):  # the episode's return for every step
    g = sum(gamma**k * r for k, r in enumerate(rewards))
    return np.full(len(rewards), float(g))


def rg_last_discounted(rewards, gamma):  # R_T = γ r_T
    out, g = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        g = (rewards[t] * (gamma if t == len(rewards) - 1 else 1)) + gamma * g
        out[t] = g
    return out


def rg_float32(rewards, gamma):  # float32
    out, g = np.zeros(len(rewards), dtype=np.float32), 0.0
    for t in reversed(range(len(rewards))):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


def rg_list(rewards, gamma):  # a list
    out, g = [], 0.0
    for r in reversed(list(rewards)):
        g = r + gamma * g
        out.insert(0, g)
    return out


def rg_ok_matrix(rewards, gamma):  # correct: a discount matrix (upper triangle)
    r = np.asarray(rewards, dtype=np.float64)
    t = np.arange(len(r))
    powers = np.triu(gamma ** np.clip(t[None, :] - t[:, None], 0, None))
    return powers @ r


def rg_ok_cumsum(rewards, gamma):
    # correct: cumulative sums of scaled rewards, reversed
    r = np.asarray(rewards, dtype=np.float64)
    out = np.empty_like(r)
    g = 0.0
    for i in range(len(r) - 1, -1, -1):
        g = g * gamma + r[i]
        out[i] = g
    return out


RG_WRONG = [
    rg_in_place,
    rg_int,
    rg_forward,
    rg_shift,
    rg_total,
    rg_last_discounted,
    rg_float32,
    rg_list,
]


# --------------------------------------------------- Exercise 2: keep_probability


def kp_same_slope(returns, avg):  # 0.9 on both sides: can go negative
    return 0.1 + 0.9 * np.tanh(returns - avg)


def kp_clipped(returns, avg):  # one slope, clipped to [0, 1]
    return np.clip(0.1 + 0.9 * np.tanh(returns - avg), 0, 1)


def kp_swapped(returns, avg):  # the gentle slope above, the steep below
    d = returns - avg
    return np.where(d >= 0, 0.1 + 0.1 * np.tanh(d), 0.1 + 0.9 * np.tanh(d))


def kp_sigmoid(returns, avg):  # a sigmoid instead of tanh
    d = returns - avg
    s = 1 / (1 + np.exp(-d))
    return np.where(d >= 0, 0.1 + 0.9 * s, 0.1 + 0.1 * s)


def kp_in_place(returns, avg):  # subtracts avg in place
    returns -= avg
    return np.where(
        returns >= 0, 0.1 + 0.9 * np.tanh(returns), 0.1 + 0.1 * np.tanh(returns)
    )


def kp_reversed_diff(returns, avg):  # avg - R
    d = avg - returns
    return np.where(d >= 0, 0.1 + 0.9 * np.tanh(d), 0.1 + 0.1 * np.tanh(d))


def kp_scalar_if(returns, avg):  # an if on the whole array's mean
    d = returns - avg
    return 0.1 + (0.9 if d.mean() >= 0 else 0.1) * np.tanh(d)


def kp_ok_loop(returns, avg):  # correct: a loop with math.tanh
    import math

    out = np.empty(len(returns))
    for i, r in enumerate(returns):
        d = r - avg
        out[i] = 0.1 + (0.9 if d > 0 else 0.1) * math.tanh(d)
    return out


def kp_ok_split(returns, avg):  # correct: positive and negative parts
    t = np.tanh(np.asarray(returns, dtype=float) - avg)
    return 0.1 + 0.9 * np.maximum(t, 0) + 0.1 * np.minimum(t, 0)


KP_WRONG = [
    kp_same_slope,
    kp_clipped,
    kp_swapped,
    kp_sigmoid,
    kp_in_place,
    kp_reversed_diff,
    kp_scalar_if,
]


# ---------------------------------------------------------- Exercise 3: keep rule


def _p(d):
    return np.where(d > 0, 0.1 + 0.9 * np.tanh(d), 0.1 + 0.1 * np.tanh(d))


def kr_median(returns, stored, rng, baseline=None):  # the median, not the mean
    avg = float(np.median(stored)) if len(stored) else 0.0
    return rng.random(len(returns)) < _p(returns - avg)


def kr_empty_nan(returns, stored, rng, baseline=None):
    # np.mean of an empty memory: NaN
    return rng.random(len(returns)) < _p(returns - np.mean(stored))


def kr_greater(returns, stored, rng, baseline=None):  # keeps when the number is above p
    avg = float(np.mean(stored)) if len(stored) else 0.0
    return rng.random(len(returns)) > _p(returns - avg)


def kr_one_draw(returns, stored, rng, baseline=None):  # one number for the whole game
    avg = float(np.mean(stored)) if len(stored) else 0.0
    return rng.random() < _p(returns - avg)


def kr_game_mean(returns, stored, rng, baseline=None):
    # this game's mean, not the memory's
    return rng.random(len(returns)) < _p(returns - returns.mean())


def kr_global(returns, stored, rng, baseline=None):  # np.random
    avg = float(np.mean(stored)) if len(stored) else 0.0
    return np.random.random(len(returns)) < _p(returns - avg)


def kr_floats(returns, stored, rng, baseline=None):  # returns the probabilities
    avg = float(np.mean(stored)) if len(stored) else 0.0
    return _p(returns - avg)


def kr_ok_loop(returns, stored, rng, baseline=None):
    # correct: draws first, then a loop
    u = rng.random(len(returns))
    avg = sum(stored) / len(stored) if len(stored) else 0.0
    return np.array(
        [u[t] < _p(np.array(returns[t] - avg)) for t in range(len(returns))], dtype=bool
    )


KR_WRONG = [
    kr_median,
    kr_empty_nan,
    kr_greater,
    kr_one_draw,
    kr_game_mean,
    kr_global,
    kr_floats,
]


def test_keep_rule_right():
    passes(checks.check_keep_rule, kr_ok_loop)


# ------------------------------------------------------- Exercise 4: select_action


def sa_best_always(actor_action, candidates, q_values):
    # the best candidate even if worse
    return candidates[int(np.argmax(q_values[1:]))]


def sa_off_by_one(actor_action, candidates, q_values):
    # argmax of all, index into candidates
    best = int(np.argmax(q_values))
    return candidates[best] if best < len(candidates) else actor_action


def sa_ge(actor_action, candidates, q_values):  # a tie goes to the candidate
    best = int(np.argmax(q_values[1:]))
    return candidates[best] if q_values[1 + best] >= q_values[0] else actor_action


def sa_argmin(actor_action, candidates, q_values):  # the lowest rated
    best = int(np.argmin(q_values[1:]))
    return candidates[best] if q_values[1 + best] > q_values[0] else actor_action


def sa_first_candidate(actor_action, candidates, q_values):
    # compares the first candidate
    return candidates[0] if q_values[1] > q_values[0] else actor_action


def sa_index(actor_action, candidates, q_values):  # returns the index, not the action
    best = int(np.argmax(q_values[1:]))
    return best + 1 if q_values[1 + best] > q_values[0] else 0


def sa_ok_stack(actor_action, candidates, q_values):
    # correct: stack and argmax (first wins)
    everything = np.vstack([actor_action[None], candidates])
    return everything[int(np.argmax(q_values))]


def sa_ok_nanargmax(actor_action, candidates, q_values):
    # correct: nanargmax on candidates
    j = int(np.nanargmax(q_values[1:]))
    if q_values[j + 1] > q_values[0]:
        return candidates[j]
    return actor_action


SA_WRONG = [
    sa_best_always,
    sa_off_by_one,
    sa_ge,
    sa_argmin,
    sa_first_candidate,
    sa_index,
]


# ----------------------------------------------------------- Exercise 5: fit_step


def fs_tensor(net, optimizer, inputs, targets):  # returns the loss tensor
    optimizer.zero_grad()
    loss = F.mse_loss(net(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss


def fs_no_zero(net, optimizer, inputs, targets):  # gradients pile up
    loss = F.mse_loss(net(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def fs_manual_sgd(net, optimizer, inputs, targets):  # a hand-written SGD step
    net.zero_grad()
    loss = F.mse_loss(net(inputs), targets)
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.01 * p.grad
    return loss.item()


def fs_swapped(net, optimizer, inputs, targets):  # the targets through the network
    optimizer.zero_grad()
    loss = (
        F.mse_loss(inputs, net(targets))
        if inputs.shape == targets.shape
        else F.mse_loss(net(inputs).sum(), targets.sum())
    )
    loss.backward()
    optimizer.step()
    return loss.item()


def fs_l1(net, optimizer, inputs, targets):  # the absolute error
    optimizer.zero_grad()
    loss = F.l1_loss(net(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


def fs_sum(net, optimizer, inputs, targets):  # summed squared error
    optimizer.zero_grad()
    loss = ((net(inputs) - targets) ** 2).sum()
    loss.backward()
    optimizer.step()
    return loss.item()


def fs_after(net, optimizer, inputs, targets):  # the loss after the step
    optimizer.zero_grad()
    F.mse_loss(net(inputs), targets).backward()
    optimizer.step()
    with torch.no_grad():
        return F.mse_loss(net(inputs), targets).item()


def fs_ok(net, optimizer, inputs, targets):  # correct: the mean by hand, zero after
    loss = ((net(inputs) - targets) ** 2).mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return float(loss.detach())


def fs_ok_module(net, optimizer, inputs, targets):  # correct: nn.MSELoss
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.MSELoss()(net(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()


FS_WRONG = [fs_tensor, fs_no_zero, fs_manual_sgd, fs_swapped, fs_l1, fs_sum, fs_after]


# -------------------------------------------------- Exercise 6: the advantage keep rule


def _scale(advantage, stored, *, ddof=0, memory_min=2):
    if len(stored) >= memory_min:
        return np.std(stored, ddof=ddof) + 1e-6
    if len(advantage) > 1:
        return np.std(advantage, ddof=ddof) + 1e-6
    return 1.0


def ka_ddof1(returns, stored, rng, baseline):  # the sample standard deviation
    a = returns - baseline
    return rng.random(len(a)) < _p(a / _scale(a, stored, ddof=1))


def ka_no_scale(returns, stored, rng, baseline):  # never divides
    a = returns - baseline
    return rng.random(len(a)) < _p(a)


def ka_game_scale(returns, stored, rng, baseline):  # always this game's spread
    a = returns - baseline
    return rng.random(len(a)) < _p(a / (np.std(a) + 1e-6))


def ka_one_row(returns, stored, rng, baseline):
    # a memory of one row counts: std 0 -> 1e-6
    a = returns - baseline
    return rng.random(len(a)) < _p(a / _scale(a, stored, memory_min=1))


def ka_reversed(returns, stored, rng, baseline):  # V - R
    a = baseline - returns
    return rng.random(len(a)) < _p(a / _scale(a, stored))


def ka_in_place(returns, stored, rng, baseline):  # subtracts the baseline in place
    returns -= baseline
    return rng.random(len(returns)) < _p(returns / _scale(returns, stored))


def ka_game_z(returns, stored, rng, baseline):
    # the advantages z-scored with this game's own mean and spread
    a = returns - baseline
    return rng.random(len(a)) < _p((a - a.mean()) / (np.std(a) + 1e-6))


def ka_return_z(returns, stored, rng, baseline):
    # the returns z-scored with this game's mean and spread: no V(s)
    return rng.random(len(returns)) < _p(
        (returns - returns.mean()) / (np.std(returns) + 1e-6)
    )


def ka_memory_z(returns, stored, rng, baseline):
    # the returns z-scored with the memory's mean and spread: no V(s)
    if len(stored) >= 2:
        z = (returns - np.mean(stored)) / (np.std(stored) + 1e-6)
    else:
        z = (returns - returns.mean()) / (np.std(returns) + 1e-6)
    return rng.random(len(returns)) < _p(z)


def ka_ok(returns, stored, rng, baseline):  # correct: written out with if/elif
    advantage = np.asarray(returns, dtype=float) - np.asarray(baseline, dtype=float)
    if np.size(stored) >= 2:
        scale = float(np.std(stored)) + 1e-6
    elif advantage.size >= 2:
        scale = float(np.std(advantage)) + 1e-6
    else:
        scale = 1.0
    return rng.random(advantage.size) < _p(advantage / scale)


KA_WRONG = [
    ka_ddof1,
    ka_no_scale,
    ka_game_scale,
    ka_one_row,
    ka_reversed,
    ka_in_place,
    ka_game_z,
    ka_return_z,
    ka_memory_z,
]


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (ka_game_scale, "spread of this game's advantages"),
        (ka_game_z, "z-scored the advantages with this game's own mean"),
        (ka_return_z, "z-scored the returns with this game's mean"),
        (ka_memory_z, "z-scored the returns with the memory's mean"),
        (ka_ddof1, "ddof=1"),
    ],
)
def test_keep_advantage_check_names_the_slip(answer, named):
    """A scale or centring taken from the wrong place gets a hint naming it, not
    the generic one."""
    assert named in fails(checks.check_keep_advantage, answer)


def test_keep_probability_check_does_not_hand_out_the_formula():
    """The rule is defined in the exercise's text: the message points there."""
    message = fails(checks.check_keep_probability, kp_same_slope)
    assert "tanh" not in message and "0.1 +" not in message
    assert "definition" in message


def test_the_in_place_message_of_exercise_1_is_its_own():
    message = fails(checks.check_return_to_go, rg_in_place)
    assert "Q-table" not in message and "rewards" in message


def test_keep_advantage_right():
    passes(checks.check_keep_advantage, ka_ok)


@pytest.mark.parametrize("right", [rg_ok_matrix, rg_ok_cumsum])
def test_return_to_go_right_in_the_same_as_course_cell(right):
    """Notebook 05's comparison with the course's bootstrapped return-to-go."""
    from course_utils.agents.selective_memory import improvements as smi
    from course_utils.lessons.checks import same_as_course

    steady = np.full(1_600, 0.1)
    fell = smi.return_to_go_bootstrapped(
        steady, 0.99, truncated=False, final_value=10.0
    )
    same_as_course(
        right(steady, 0.99),
        fell,
        exercise="Exercise 1 (the return-to-go)",
        what="your return-to-go of a game ending at its last step,",
    )


def test_the_same_as_course_cell_names_the_exercise():
    from course_utils.agents.selective_memory import improvements as smi
    from course_utils.lessons.checks import same_as_course

    steady = np.full(50, 0.1)
    fell = smi.return_to_go_bootstrapped(
        steady, 0.99, truncated=False, final_value=10.0
    )
    with pytest.raises(AssertionError, match="Revisit Exercise 1"):
        same_as_course(
            rg_forward(steady, 0.99),
            fell,
            exercise="Exercise 1 (the return-to-go)",
            what="your return-to-go of a game ending at its last step,",
        )


WRONG = [
    (checks.check_return_to_go, RG_WRONG),
    (checks.check_keep_probability, KP_WRONG),
    (checks.check_keep_rule, KR_WRONG),
    (checks.check_select_action, SA_WRONG),
    (checks.check_fit_step, FS_WRONG),
    (checks.check_keep_advantage, KA_WRONG),
]
RIGHT = [
    (checks.check_return_to_go, [rg_ok_matrix, rg_ok_cumsum]),
    (checks.check_keep_probability, [kp_ok_loop, kp_ok_split]),
    (checks.check_select_action, [sa_ok_stack, sa_ok_nanargmax]),
    (checks.check_fit_step, [fs_ok, fs_ok_module]),
]


(
    test_the_check_refuses_the_wrong_answer,
    test_the_check_accepts_the_right_answer,
) = bank_tests(WRONG, RIGHT)
