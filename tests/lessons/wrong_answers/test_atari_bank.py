"""The wrong-answer bank of 04_dqn_space_invaders_ram (``wrong_answer_helpers`` says how
a bank works).

| 04: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 byte_correlations | 6 | 0 | 0 |
| 2 preprocess_ram | 8 | 0 | 0 |
| 3 epsilon_greedy_action | 8 | 1 | 0 |
| 4 atari_transition | 7 | 0 | 0 |
| 5 atari_target | 6 | 0 | 0 |
| 6 snake_shaping | 5 | 0 | 0 |

Passed before: ties broken with a fresh generator. Potential-based shaping, whose eating
step pays for the new apple's distance, is a correct design, not a wrong answer.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from wrong_answer_helpers import bank_tests, fails, passes

from course_utils.common import greedy_action
from course_utils.lessons.checks import atari as checks

# ---------------------------------------------------- Exercise 1: byte_correlations


def _pearson(ram, signal):
    x = ram.astype(np.float64)
    s = np.asarray(signal, dtype=np.float64)
    xc, sc = x - x.mean(axis=0), s - s.mean()
    den = np.sqrt((xc**2).sum(axis=0) * (sc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * sc[:, None]).sum(axis=0) / den
    return np.where(den > 0, r, 0.0)


def bc_uint8_overflow(ram, signal):  # centres uint8 bytes without a cast: wraps around
    xc = ram - ram.mean(axis=0).astype(ram.dtype)
    s = np.asarray(signal, dtype=float)
    sc = s - s.mean()
    den = np.sqrt((xc.astype(float) ** 2).sum(axis=0) * (sc**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * sc[:, None]).sum(axis=0) / den
    return np.nan_to_num(r)


def bc_abs(ram, signal):  # returns |r|: the sign is lost
    return np.abs(_pearson(ram, signal))


def bc_nan(ram, signal):  # leaves NaN for constant bytes
    x = ram.astype(float)
    s = np.asarray(signal, dtype=float)
    return np.array([np.corrcoef(x[:, j], s)[0, 1] for j in range(x.shape[1])])


def bc_covariance(ram, signal):  # covariance, not correlation
    x = ram.astype(float)
    s = np.asarray(signal, dtype=float)
    return ((x - x.mean(0)) * (s - s.mean())[:, None]).mean(axis=0)


def bc_no_centre(ram, signal):  # cosine similarity: forgets to subtract the means
    x = ram.astype(float)
    s = np.asarray(signal, dtype=float)
    den = np.linalg.norm(x, axis=0) * np.linalg.norm(s)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nan_to_num(x.T @ s / den)


def bc_in_place(ram, signal):  # centres the caller's signal in place
    signal -= signal.mean()
    return _pearson(ram, signal)


def bc_ok_loop(ram, signal):  # correct: np.corrcoef per byte, zero for constants
    s = np.asarray(signal, dtype=float)
    out = np.zeros(ram.shape[1])
    if s.std() == 0:
        return out
    for j in range(ram.shape[1]):
        column = ram[:, j].astype(float)
        if column.std() > 0:
            out[j] = np.corrcoef(column, s)[0, 1]
    return out


def bc_ok_zscores(ram, signal):  # correct: mean of products of z-scores
    x = ram.astype(np.float64)
    s = np.asarray(signal, dtype=np.float64)
    sx, ss = x.std(axis=0), s.std()
    if ss == 0:
        return np.zeros(x.shape[1])
    safe = np.where(sx > 0, sx, 1.0)
    r = (((x - x.mean(0)) / safe) * ((s - s.mean()) / ss)[:, None]).mean(axis=0)
    return np.where(sx > 0, r, 0.0)


BC_WRONG = [bc_uint8_overflow, bc_abs, bc_nan, bc_covariance, bc_no_centre, bc_in_place]


@pytest.mark.parametrize("wrong", BC_WRONG)
def test_byte_correlations_wrong(wrong):
    # centring an integer signal in place raises NumPy's casting error: shown as it is
    fails(checks.check_byte_correlations, wrong, crash=(TypeError,))


# ------------------------------------------------------- Exercise 2: preprocess_ram


def pr_float64(obs):  # float64
    return obs * 2 / 255 - 1


def pr_unit(obs):  # [0, 1], not [-1, 1]
    return (obs / 255).astype(np.float32)


def pr_uint8_math(obs):  # integer arithmetic on uint8 wraps
    return (obs * 2 // 255 - 1).astype(np.float32)


def pr_256(obs):  # divides by 256
    return (obs * 2 / 256 - 1).astype(np.float32)


def pr_flatten(obs):  # flattens a batch
    return (obs.reshape(-1) * (2 / 255) - 1).astype(np.float32)


def pr_tensor(obs):  # a torch tensor
    return torch.as_tensor(obs, dtype=torch.float32) * 2 / 255 - 1


def pr_in_place(obs):  # writes into the caller's array
    out = obs.astype(np.float32)
    obs //= 2
    return out * 2 / 255 - 1


def pr_127(obs):  # centres on 127 and divides by 128
    return ((obs.astype(np.float32) - 127) / 128).astype(np.float32)


def pr_ok(obs):  # correct: cast first, then scale
    x = np.asarray(obs, dtype=np.float32)
    return x * np.float32(2 / 255) - np.float32(1)


def pr_ok_divide(obs):  # correct: (b - 127.5) / 127.5
    return ((obs.astype(np.float64) - 127.5) / 127.5).astype(np.float32)


PR_WRONG = [
    pr_float64,
    pr_unit,
    pr_uint8_math,
    pr_256,
    pr_flatten,
    pr_tensor,
    pr_in_place,
    pr_127,
]


# ------------------------------------------------ Exercise 3: epsilon_greedy_action


def _values(q_net, obs):
    with torch.no_grad():
        return q_net(torch.as_tensor(obs).unsqueeze(0))[0]


def ea_two(q_net, obs, epsilon, rng):  # the seed's bug: two actions
    if rng.random() < epsilon:
        return int(rng.integers(0, 2))
    return greedy_action(_values(q_net, obs), rng)


def ea_six(q_net, obs, epsilon, rng):  # Space Invaders' 6 hard-coded
    if rng.random() < epsilon:
        return int(rng.integers(6))
    return greedy_action(_values(q_net, obs), rng)


def ea_global(q_net, obs, epsilon, rng):  # Python's random module
    import random

    if random.random() < epsilon:
        return random.randrange(len(_values(q_net, obs)))
    return greedy_action(_values(q_net, obs), rng)


def ea_argmax(q_net, obs, epsilon, rng):  # ties to index 0
    q = _values(q_net, obs)
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    return int(q.argmax())


def ea_tensor(q_net, obs, epsilon, rng):  # a 0-d tensor
    q = _values(q_net, obs)
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    return q.argmax()


def ea_scales(q_net, obs, epsilon, rng):
    # rescales the bytes itself: the network does too
    q_in = torch.as_tensor(obs, dtype=torch.float32) / 255
    with torch.no_grad():
        q = q_net(q_in.unsqueeze(0))[0]
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    return greedy_action(q, rng)


def ea_inverted(q_net, obs, epsilon, rng):  # explores with probability 1 - ε
    q = _values(q_net, obs)
    if rng.random() > epsilon:
        return int(rng.integers(len(q)))
    return greedy_action(q, rng)


def ea_no_greedy_rng(q_net, obs, epsilon, rng):  # breaks ties with a fresh generator
    q = _values(q_net, obs)
    if rng.random() < epsilon:
        return int(rng.integers(len(q)))
    return greedy_action(q, np.random.default_rng())


def ea_ok(q_net, obs, epsilon, rng):  # correct: count the actions from the output
    with torch.no_grad():
        q = q_net(torch.from_numpy(np.asarray(obs))[None]).squeeze(0).numpy()
    if rng.random() < epsilon:
        return int(rng.integers(q.shape[0]))
    return greedy_action(q, rng)


EA_WRONG = [
    ea_two,
    ea_six,
    ea_global,
    ea_argmax,
    ea_tensor,
    ea_scales,
    ea_inverted,
    ea_no_greedy_rng,
]


def test_epsilon_greedy_action_right():
    passes(checks.check_epsilon_greedy_action, ea_ok)


# ----------------------------------------------------- Exercise 4: atari_transition


def at_sign(reward, terminated, info, prev_info):
    # np.sign: fractional rewards become ±1
    return float(np.sign(reward)), bool(
        terminated or info["lives"] < prev_info["lives"]
    )


def at_no_clip(reward, terminated, info, prev_info):  # forgets to clip
    return float(reward), bool(terminated or info["lives"] < prev_info["lives"])


def at_changed(reward, terminated, info, prev_info):
    # any change of lives: a gained life too
    return float(np.clip(reward, -1, 1)), bool(
        terminated or info["lives"] != prev_info["lives"]
    )


def at_one_life(reward, terminated, info, prev_info):  # only a loss of exactly one life
    lost = prev_info["lives"] - info["lives"] == 1
    return float(np.clip(reward, -1, 1)), bool(terminated or lost)


def at_ignore_game_over(reward, terminated, info, prev_info):
    # terminal only on a life lost
    return float(np.clip(reward, -1, 1)), bool(info["lives"] < prev_info["lives"])


def at_ok_numpy(reward, terminated, info, prev_info):
    # correct: NumPy's float64 and bool_
    return np.clip(reward, -1, 1), np.bool_(
        terminated or info["lives"] < prev_info["lives"]
    )


def at_updates_prev(reward, terminated, info, prev_info):
    # updates prev_info for next time
    lost = info["lives"] < prev_info["lives"]
    prev_info["lives"] = info["lives"]
    return float(np.clip(reward, -1, 1)), bool(terminated or lost)


def at_clip_zero_one(reward, terminated, info, prev_info):  # clips to [0, 1]
    return float(np.clip(reward, 0, 1)), bool(
        terminated or info["lives"] < prev_info["lives"]
    )


def at_ok(reward, terminated, info, prev_info):  # correct: min and max
    life_lost = info.get("lives", 0) < prev_info.get("lives", 0)
    return float(max(-1.0, min(1.0, reward))), bool(terminated) or life_lost


AT_WRONG = [
    at_sign,
    at_no_clip,
    at_changed,
    at_one_life,
    at_ignore_game_over,
    at_updates_prev,
    at_clip_zero_one,
]


# --------------------------------------------------------- Exercise 5: atari_target


def ta_plain(q_net, target_net, batch, gamma):  # plain DQN
    with torch.no_grad():
        best = target_net(batch.next_obs).max(dim=1).values
        return batch.reward + gamma * (1 - batch.terminated.float()) * best


def ta_gamma_cubed(q_net, target_net, batch, gamma):  # cubes γ again
    with torch.no_grad():
        pick = q_net(batch.next_obs).argmax(1, keepdim=True)
        score = target_net(batch.next_obs).gather(1, pick).squeeze(1)
        return batch.reward + gamma**3 * (1 - batch.terminated.float()) * score


def ta_scales(q_net, target_net, batch, gamma):  # rescales bytes the networks rescale
    with torch.no_grad():
        nxt = batch.next_obs.float() / 255
        pick = q_net(nxt).argmax(1, keepdim=True)
        score = target_net(nxt).gather(1, pick).squeeze(1)
        return batch.reward + gamma * (1 - batch.terminated.float()) * score


def ta_grad(q_net, target_net, batch, gamma):  # no no_grad
    pick = q_net(batch.next_obs).argmax(1, keepdim=True)
    score = target_net(batch.next_obs).gather(1, pick).squeeze(1)
    return batch.reward + gamma * (1 - batch.terminated.float()) * score


def ta_swapped(q_net, target_net, batch, gamma):  # the target picks, the online scores
    with torch.no_grad():
        pick = target_net(batch.next_obs).argmax(1, keepdim=True)
        score = q_net(batch.next_obs).gather(1, pick).squeeze(1)
        return batch.reward + gamma * (1 - batch.terminated.float()) * score


def ta_in_place(q_net, target_net, batch, gamma):  # adds into the batch's reward
    with torch.no_grad():
        pick = q_net(batch.next_obs).argmax(1, keepdim=True)
        score = target_net(batch.next_obs).gather(1, pick).squeeze(1)
        out = batch.reward
        out += gamma * (1 - batch.terminated.float()) * score
        return out


def ta_ok(q_net, target_net, batch, gamma):  # correct: indexing and where
    with torch.no_grad():
        a_star = q_net(batch.next_obs).argmax(dim=-1)
        score = target_net(batch.next_obs)[torch.arange(len(a_star)), a_star]
        done = batch.terminated.bool()
        return torch.where(done, batch.reward, batch.reward + gamma * score).float()


TA_WRONG = [ta_plain, ta_gamma_cubed, ta_scales, ta_grad, ta_swapped, ta_in_place]


def test_atari_target_right():
    passes(checks.check_atari_target, ta_ok)


# --------------------------------------------------------- Exercise 6: snake_shaping


def _dist(info):
    (hr, hc), (ar, ac) = info["head"], info["apple"]
    return abs(hr - ar) + abs(hc - ac)


def sn_flag_changed(reward, terminated, info, prev_info):
    # ends the episode on an apple
    ate = info["score"] > prev_info["score"]
    return float(reward), bool(terminated or ate)


def sn_big_bonus(reward, terminated, info, prev_info):
    # a step towards pays more than eating
    bonus = 5.0 if _dist(info) < _dist(prev_info) else -5.0
    return float(reward + bonus), bool(terminated)


def sn_ok_potential(reward, terminated, info, prev_info):
    # correct: potential-based shaping (Ng et al.) with γ = 1; the eating step pays for
    # the new apple's distance, which leaves the optimal policy unchanged
    step = 0.1 * (_dist(prev_info) - _dist(info))
    return float(reward + step), bool(terminated)


def sn_backwards(reward, terminated, info, prev_info):  # rewards moving away
    step = 0.1 if _dist(info) > _dist(prev_info) else -0.1
    return float(reward + step), bool(terminated)


def sn_int_reward(reward, terminated, info, prev_info):
    # the game's int reward passed on when there is no bonus (eating, dying)
    if terminated or info["score"] != prev_info["score"]:
        return reward, bool(terminated)
    return reward + 0.1 * (_dist(prev_info) - _dist(info)), bool(terminated)


def sn_caches_distance(reward, terminated, info, prev_info):
    # stores the distance in info for the next step: changes the loop's dicts
    info["distance"] = _dist(info)
    before = prev_info.get("distance", _dist(prev_info))
    return float(reward + 0.1 * (before - info["distance"])), bool(terminated)


def sn_ok(reward, terminated, info, prev_info):
    # correct: a small bonus, none on eating or dying
    if terminated or info["score"] != prev_info["score"]:
        return float(reward), bool(terminated)
    closer = _dist(info) < _dist(prev_info)
    return float(reward + (0.05 if closer else -0.05)), bool(terminated)


SN_WRONG = [
    sn_flag_changed,
    sn_big_bonus,
    sn_backwards,
    sn_int_reward,
    sn_caches_distance,
]


@pytest.mark.parametrize("right", [pr_ok, pr_ok_divide])
def test_preprocess_right_in_the_same_as_course_cell(right):
    """Notebook 04's comparison of preprocess_ram with the Normalize layer, and of a
    network built on it with the course's."""
    import gymnasium as gym

    from course_utils.agents.dqn import make_q_network
    from course_utils.common import make_env
    from course_utils.lessons.checks import same_as_course
    from course_utils.lessons.ram_lab import ram_q_network

    env = make_env("ALE/SpaceInvaders-v5", obs_type="ram")
    assert isinstance(env.action_space, gym.spaces.Discrete)
    q_net = make_q_network(env, (16,), normalize_obs=True)
    obs, _ = env.reset(seed=0)
    inside = q_net.normalize(torch.as_tensor(obs).unsqueeze(0))[0].numpy()
    same_as_course(
        right(obs),
        inside,
        exercise="Exercise 2 (RAM preprocessing)",
        atol=1e-6,
        what="your preprocess_ram(obs), against the Normalize layer's,",
    )
    torch.manual_seed(0)
    course_net = make_q_network(env, (16,), normalize_obs=True)
    torch.manual_seed(0)
    your_net = ram_q_network(right)(128, env.action_space.n, hidden=(16,))
    some_obs = torch.as_tensor(
        np.random.default_rng(0).integers(0, 256, (4, 128), dtype=np.uint8)
    )
    with torch.no_grad():
        same_as_course(
            your_net(some_obs),
            course_net(some_obs),
            atol=1e-5,
            exercise="Exercise 2 (RAM preprocessing)",
            what="the Q-values of 4 random RAM states, your network's,",
        )


WRONG = [
    (checks.check_preprocess_ram, PR_WRONG),
    (checks.check_epsilon_greedy_action, EA_WRONG),
    (checks.check_atari_transition, AT_WRONG),
    (checks.check_atari_target, TA_WRONG),
    (checks.check_snake_shaping, SN_WRONG),
]
RIGHT = [
    (checks.check_byte_correlations, [bc_ok_loop, bc_ok_zscores]),
    (checks.check_preprocess_ram, [pr_ok, pr_ok_divide]),
    (checks.check_atari_transition, [at_ok, at_ok_numpy]),
    (checks.check_snake_shaping, [sn_ok, sn_ok_potential]),
]


(
    test_the_check_refuses_the_wrong_answer,
    test_the_check_accepts_the_right_answer,
) = bank_tests(WRONG, RIGHT)
