"""Space Invaders RAM helpers, notebook 04's checks, life-loss terminals, and a saved
policy that takes raw uint8 RAM."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_utils.agents.dqn import DQNConfig, make_q_network, no_shaping, train_dqn
from course_utils.agents.dqn.core import compute_target_double
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.checkpoints import load_policy, save_checkpoint
from course_utils.common.envs import make_env
from course_utils.common.policies import epsilon_greedy_action, greedy_action
from course_utils.games.snake import toward_apple
from course_utils.games.space_invaders import (
    INVADER_MASKS,
    INVADERS_LEFT,
    SPACE_INVADERS_ACTIONS,
    SPACE_INVADERS_BYTES,
    atari_transition,
    bcd_to_int,
    preprocess_ram,
    score_from_ram,
)
from course_utils.lessons.checks.atari import (
    FixedQ,
    check_atari_target,
    check_atari_transition,
    check_byte_correlations,
    check_epsilon_greedy_action,
    check_preprocess_ram,
    check_snake_shaping,
)
from course_utils.lessons.ram_lab import (
    byte_correlations,
    find_tracking_byte,
    gradient_importance,
    joystick_direction,
    player_x_from_frame,
    ram_q_network,
    read_peers,
    record_ram_episode,
)
from course_utils.presets import get_preset

SI = "ALE/SpaceInvaders-v5"


@pytest.fixture(scope="module")
def trace():
    env = make_env(SI, obs_type="ram", render_mode="rgb_array")
    rng = np.random.default_rng(0)
    return record_ram_episode(env, lambda obs: int(rng.integers(6)), seed=1)


# --- preprocessing ---------------------------------------------------------------


def test_preprocess_ram_maps_bytes_to_minus_one_one():
    obs = np.array([0, 51, 255], dtype=np.uint8)
    out = preprocess_ram(obs)
    assert out.dtype == np.float32 and out.shape == (3,)
    np.testing.assert_allclose(out, [-1.0, -0.6, 1.0], atol=1e-6)


def test_preprocess_ram_keeps_batch_shape_and_input():
    batch = np.full((4, 128), 255, dtype=np.uint8)
    out = preprocess_ram(batch)
    assert out.shape == (4, 128) and out.max() == 1.0
    assert batch.dtype == np.uint8 and batch.max() == 255


def test_network_normalize_is_the_preprocessing_bit_for_bit():
    env = make_env(SI, obs_type="ram")
    q_net = make_q_network(env, (8,), normalize_obs=True)
    every_byte = np.tile(np.arange(256, dtype=np.uint8), (128, 1)).T.copy()
    inside = q_net.normalize(torch.as_tensor(every_byte)).numpy()
    assert np.array_equal(inside, preprocess_ram(every_byte))


def test_uint8_buffer_is_eight_times_smaller_than_float64():
    small = ReplayBuffer(1000, (128,), np.uint8)
    big = ReplayBuffer(1000, (128,), np.float64)
    assert big.obs.nbytes == 8 * small.obs.nbytes == 8 * 128_000


# --- the bytes -------------------------------------------------------------------


def test_action_meanings_match_ale():
    env = make_env(SI, obs_type="ram")
    assert tuple(env.unwrapped.get_action_meanings()) == SPACE_INVADERS_ACTIONS


def test_bcd_and_score():
    assert bcd_to_int(0x35) == 35
    np.testing.assert_array_equal(bcd_to_int(np.array([0x00, 0x10, 0x99])), [0, 10, 99])
    ram = np.zeros(128, dtype=np.uint8)
    ram[102], ram[104] = 0x12, 0x05
    assert score_from_ram(ram) == 1205


def test_recorded_episode_bytes(trace):
    assert trace.ram.dtype == np.uint8
    assert trace.ram.shape == (len(trace.actions) + 1, 128)
    assert len(trace.frames) == len(trace.ram)
    lives_byte = SPACE_INVADERS_BYTES["lives"]
    np.testing.assert_array_equal(trace.ram[:, lives_byte], trace.lives)
    np.testing.assert_array_equal(score_from_ram(trace.ram), trace.score)
    assert find_tracking_byte(trace.ram, trace.lives) == SPACE_INVADERS_BYTES["lives"]
    moves = np.sign(np.diff(trace.ram.astype(np.int64), axis=0))
    x_byte = find_tracking_byte(moves, joystick_direction(trace.actions))
    assert x_byte == SPACE_INVADERS_BYTES["player_x"]
    xs = np.array([player_x_from_frame(f) for f in trace.frames])
    seen = ~np.isnan(xs)
    assert seen.mean() > 0.5
    assert np.corrcoef(xs[seen], trace.ram[seen, x_byte])[0, 1] > 0.99


def test_byte_correlations_constant_bytes_are_zero_and_shapes_checked():
    ram = np.zeros((5, 3))
    ram[:, 1] = np.arange(5)
    np.testing.assert_allclose(byte_correlations(ram, np.arange(5)), [0, 1, 0])
    with pytest.raises(ValueError, match="Expected ram"):
        byte_correlations(ram, np.arange(4))


def test_joystick_direction():
    np.testing.assert_array_equal(
        joystick_direction([0, 1, 2, 3, 4, 5]), [0, 0, 1, -1, 1, -1]
    )


# --- the saved policy takes raw uint8 RAM -----------------------------------------


def test_saved_policy_plays_from_raw_uint8(tmp_path, make_metadata):
    env = make_env(SI, obs_type="ram")
    q_net = make_q_network(env, (16, 16), normalize_obs=True)
    path = save_checkpoint(
        tmp_path / "si.pt",
        q_net,
        metadata=make_metadata(SI, env_kwargs={"obs_type": "ram"}, eval_epsilon=0.05),
    )
    policy, meta = load_policy(path)
    assert meta["policy"]["eval_epsilon"] == 0.05
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.uint8
    action = policy(obs)
    assert isinstance(action, int) and 0 <= action < 6
    raw = torch.as_tensor(np.stack([obs, obs]))
    with torch.no_grad():
        np.testing.assert_allclose(
            policy.q_net(raw).numpy(), q_net.eval()(raw.float()).numpy(), atol=1e-6
        )


# --- life loss as a terminal for learning ------------------------------------------


class _LivesEnv(gym.Env):
    """Loses a life at steps 3 and 5, ends at step 6."""

    observation_space = gym.spaces.Box(0, 255, (4,), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(4, np.uint8), {"lives": 3}

    def step(self, action):
        self.t += 1
        lives = 3 - (self.t >= 3) - (self.t >= 5)
        return np.full(4, self.t, np.uint8), 1.0, self.t == 6, False, {"lives": lives}


@pytest.mark.parametrize(
    "shaping, expected",
    [
        (no_shaping, [0, 0, 0, 0, 0, 1]),
        (atari_transition, [0, 0, 1, 0, 1, 1]),
    ],
)
def test_terminal_on_life_loss(monkeypatch, shaping, expected):
    stored = []
    original = ReplayBuffer.add

    def spy(self, obs, action, reward, next_obs, terminated):
        stored.append(bool(terminated))
        original(self, obs, action, reward, next_obs, terminated)

    monkeypatch.setattr(ReplayBuffer, "add", spy)
    cfg = DQNConfig(total_steps=12, learning_starts=100, eval_every=0, hidden=(4,))
    result = train_dqn(
        _LivesEnv(),
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        shaping=shaping,
    )
    assert stored == expected * 2
    assert result.episode_returns == [6.0, 6.0]  # the game itself goes on


def test_atari_transition_clips_rewards_and_ends_lives():
    assert atari_transition(200.0, False, {"lives": 3}, {"lives": 3}) == (1.0, False)
    assert atari_transition(-7.0, False, {"lives": 2}, {"lives": 3}) == (-1.0, True)
    assert atari_transition(0.5, True, {"lives": 0}, {"lives": 0}) == (0.5, True)


def test_the_default_shaping_stores_what_the_env_gave():
    import inspect

    default = inspect.signature(train_dqn).parameters["shaping"].default
    assert default is no_shaping


# --- the checks --------------------------------------------------------------------


def _corrcoef(ram, signal):  # right, written another way
    x = np.asarray(ram, float)
    with np.errstate(all="ignore"):
        c = [np.corrcoef(x[:, i], signal)[0, 1] for i in range(x.shape[1])]
    return np.nan_to_num(np.array(c))


BYTE_CORRELATION_WRONGS = {
    # NaN from constant bytes: np.argmax would pick it
    "NaN kept": lambda ram, s: (
        _corrcoef(ram, s) * np.where(np.ptp(ram, axis=0) > 0, 1.0, np.nan)
    ),
    "absolute values": lambda ram, s: np.abs(byte_correlations(ram, s)),
    "covariance, not correlation": lambda ram, s: (
        (ram - ram.mean(0)) * (s - s.mean())[:, None]
    ).mean(0),
    "over the wrong axis": lambda ram, s: byte_correlations(ram.T[: len(s)].T, s),
    "squares in uint8": lambda ram, s: np.nan_to_num(
        ((ram - ram.mean(0)) * (s - s.mean())[:, None]).sum(0)
        / np.sqrt((ram**2).sum(0, dtype=np.uint8) * ((s - s.mean()) ** 2).sum())
    ),
    "the index, not the correlations": lambda ram, s: int(
        np.argmax(np.abs(byte_correlations(ram, s)))
    ),
}


def _centres_in_place(ram, signal):
    signal -= signal.mean().astype(signal.dtype)
    return byte_correlations(ram, signal)


BYTE_CORRELATION_WRONGS["centres the signal in place"] = _centres_in_place


@pytest.mark.parametrize("name", sorted(BYTE_CORRELATION_WRONGS))
def test_check_byte_correlations_fails_wrong_answers(name):
    with (
        pytest.raises(AssertionError, match="Exercise 1"),
        np.errstate(all="ignore"),
    ):
        check_byte_correlations(BYTE_CORRELATION_WRONGS[name])


def test_check_byte_correlations_passes_right_answers(capsys):
    assert check_byte_correlations(byte_correlations) is byte_correlations
    assert check_byte_correlations(_corrcoef) is _corrcoef

    def stub(ram, signal):
        raise NotImplementedError("Exercise 1")

    assert check_byte_correlations(stub) is byte_correlations
    assert "not done yet" in capsys.readouterr().out


def test_check_preprocess_ram():
    assert check_preprocess_ram(preprocess_ram) is preprocess_ram
    wrongs = {
        "[0, 1]": lambda obs: np.asarray(obs, np.float32) / 255,
        "float64": lambda obs: obs / 127.5 - 1.0,
        "1/128": lambda obs: np.asarray(obs, np.float32) / 128 - 1,
        "no scale": lambda obs: np.asarray(obs, np.float32),
        "precedence": lambda obs: np.asarray(obs, np.float32) - 127.5 / 127.5,
        "uint8 wrap": lambda obs: (obs * 2).astype(np.float32) / 255 - 1,
        "a tensor": lambda obs: torch.as_tensor(obs).float() / 127.5 - 1,
        "flattened": lambda obs: preprocess_ram(obs).ravel(),
    }

    def in_place(obs):
        obs[...] = 0
        return preprocess_ram(obs)

    wrongs["in place"] = in_place
    for name, wrong in wrongs.items():
        with pytest.raises(AssertionError, match="Exercise 2"):
            check_preprocess_ram(wrong)
            pytest.fail(f"the check passed a wrong answer: {name}")

    def stub(obs):
        raise NotImplementedError

    assert check_preprocess_ram(stub) is preprocess_ram


def _lives_lost(info, prev_info):
    return info["lives"] < prev_info["lives"]


ATARI_TRANSITION_WRONGS = {
    "no clipping": lambda r, t, i, p: (float(r), bool(t or _lives_lost(i, p))),
    "wrong sign": lambda r, t, i, p: (
        -float(np.clip(r, -1, 1)),
        bool(t or _lives_lost(i, p)),
    ),
    "clipped to {0, 1}": lambda r, t, i, p: (
        float(r > 0),
        bool(t or _lives_lost(i, p)),
    ),
    "only clipped above": lambda r, t, i, p: (
        min(float(r), 1.0),
        bool(t or _lives_lost(i, p)),
    ),
    "no life loss is terminal": lambda r, t, i, p: (float(np.clip(r, -1, 1)), bool(t)),
    "life loss, but ignores terminated": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(_lives_lost(i, p)),
    ),
    "infos swapped (lives before vs after)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or p["lives"] < i["lives"]),
    ),
    "lives compared with the start (3)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or i["lives"] < 3),
    ),
    "off by one (<=)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or i["lives"] <= p["lives"]),
    ),
    "off by one (< lives - 1)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or i["lives"] < p["lives"] - 1),
    ),
    "one life exactly (== lives - 1)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or i["lives"] == p["lives"] - 1),
    ),
    "any change of lives (!=)": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        bool(t or i["lives"] != p["lives"]),
    ),
    "terminal as an int": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        int(t or _lives_lost(i, p)),
    ),
    "np.sign, not clipping (wrong on fractional rewards)": lambda r, t, i, p: (
        float(np.sign(r)),
        bool(t or _lives_lost(i, p)),
    ),
    "truncation-style list": lambda r, t, i, p: [
        float(np.clip(r, -1, 1)),
        bool(t or _lives_lost(i, p)),
    ],
}


@pytest.mark.parametrize("name", sorted(ATARI_TRANSITION_WRONGS))
def test_check_atari_transition_fails_wrong_answers(name):
    with pytest.raises(AssertionError, match="Exercise 4"):
        check_atari_transition(ATARI_TRANSITION_WRONGS[name])


def test_check_atari_transition_passes_the_reference(capsys):
    assert check_atari_transition(atari_transition) is atari_transition

    def stub(reward, terminated, info, prev_info):
        raise NotImplementedError

    assert check_atari_transition(stub) is atari_transition
    assert "not done yet" in capsys.readouterr().out


def test_check_atari_transition_refuses_changed_infos():
    def pops(reward, terminated, info, prev_info):
        lives = info.pop("lives")
        return float(np.clip(reward, -1, 1)), bool(terminated or lives < 3)

    with pytest.raises(AssertionError, match="info dictionaries|info in place"):
        check_atari_transition(pops)


def _q(q_net, obs):
    return q_net(torch.as_tensor(obs).unsqueeze(0))[0]


EPSILON_GREEDY_WRONGS = {
    "the seed's randint(0, 1)": lambda q, o, e, rng: (
        int(rng.integers(0, 2)) if rng.random() < e else greedy_action(_q(q, o), rng)
    ),
    "6 hard-coded": lambda q, o, e, rng: (
        int(rng.integers(6)) if rng.random() < e else greedy_action(_q(q, o), rng)
    ),
    "off by one": lambda q, o, e, rng: (
        int(rng.integers(0, 5)) if rng.random() < e else greedy_action(_q(q, o), rng)
    ),
    "argmax without random ties": lambda q, o, e, rng: (
        int(rng.integers(len(_q(q, o)))) if rng.random() < e else int(_q(q, o).argmax())
    ),
    "the maximum value, not its index": lambda q, o, e, rng: (
        int(rng.integers(len(_q(q, o)))) if rng.random() < e else int(_q(q, o).max())
    ),
    "np.random, not rng": lambda q, o, e, rng: (
        int(np.random.randint(len(_q(q, o))))
        if np.random.random() < e
        else greedy_action(_q(q, o), rng)
    ),
    "a new generator each call": lambda q, o, e, rng: (
        int(np.random.default_rng().integers(len(_q(q, o))))
        if rng.random() < e
        else greedy_action(_q(q, o), rng)
    ),
    "ε inverted": lambda q, o, e, rng: (
        int(rng.integers(len(_q(q, o))))
        if rng.random() > e
        else greedy_action(_q(q, o), rng)
    ),
    "rescales obs before the network (which rescales it again)": lambda q, o, e, rng: (
        int(rng.integers(len(_q(q, o))))
        if rng.random() < e
        else greedy_action(_q(q, preprocess_ram(o)), rng)
    ),
    "divides obs by 255 before the network": lambda q, o, e, rng: (
        int(rng.integers(len(_q(q, o))))
        if rng.random() < e
        else greedy_action(_q(q, np.asarray(o, dtype=np.float32) / 255), rng)
    ),
    "a 0-d tensor": lambda q, o, e, rng: (
        torch.tensor(rng.integers(len(_q(q, o))))
        if rng.random() < e
        else _q(q, o).argmax()
    ),
}


@pytest.mark.parametrize("name", sorted(EPSILON_GREEDY_WRONGS))
def test_check_epsilon_greedy_action_fails_wrong_answers(name):
    with pytest.raises(AssertionError, match="Exercise 3"):
        check_epsilon_greedy_action(EPSILON_GREEDY_WRONGS[name])


def test_check_epsilon_greedy_action_passes_right_answers():
    assert check_epsilon_greedy_action(epsilon_greedy_action) is epsilon_greedy_action

    def coin_after(q_net, obs, epsilon, rng):  # the draws in another order: right too
        q_values = _q(q_net, obs)
        explore = rng.random() < epsilon
        return (
            int(rng.integers(len(q_values)))
            if explore
            else greedy_action(q_values, rng)
        )

    assert check_epsilon_greedy_action(coin_after) is coin_after

    def stub(q_net, obs, epsilon, rng):
        raise NotImplementedError

    assert check_epsilon_greedy_action(stub) is epsilon_greedy_action


def _double(q_net, target_net, batch, gamma):
    with torch.no_grad():
        best = q_net(batch.next_obs).argmax(dim=1, keepdim=True)
        value = target_net(batch.next_obs).gather(1, best).squeeze(1)
        return batch.reward + gamma * (1 - batch.terminated) * value


def _plain(q_net, target_net, batch, gamma):
    with torch.no_grad():
        value = target_net(batch.next_obs).max(dim=1).values
        return batch.reward + gamma * (1 - batch.terminated) * value


def _in_place(q_net, target_net, batch, gamma):
    target = batch.reward
    target += _double(q_net, target_net, batch, gamma) - batch.reward.clone()
    return target


ATARI_TARGET_WRONGS = {
    "plain DQN": _plain,
    "online net scores": lambda q, t, b, g: _plain(t, q, b, g),
    "no terminal mask": lambda q, t, b, g: _double(
        q, t, b._replace(terminated=torch.zeros_like(b.terminated)), g
    ),
    "γ^n applied again": lambda q, t, b, g: _double(q, t, b, g**3),
    "bytes rescaled again": lambda q, t, b, g: _double(
        q, t, b._replace(next_obs=b.next_obs.float() / 255), g
    ),
    "obs, not next_obs": lambda q, t, b, g: _double(
        q, t, b._replace(next_obs=b.obs), g
    ),
    "with gradient": lambda q, t, b, g: (
        b.reward
        + g
        * (1 - b.terminated)
        * t(b.next_obs).gather(1, q(b.next_obs).argmax(1, keepdim=True)).squeeze(1)
    ),
    "shape (batch, 1)": lambda q, t, b, g: _double(q, t, b, g).unsqueeze(1),
    "a NumPy array": lambda q, t, b, g: _double(q, t, b, g).numpy(),
    "terminal rows get gamma * reward": lambda q, t, b, g: torch.where(
        b.terminated.bool(), g * b.reward, _double(q, t, b, g)
    ),
    "reward in place": _in_place,
}


@pytest.mark.parametrize("name", sorted(ATARI_TARGET_WRONGS))
def test_check_atari_target_fails_wrong_answers(name):
    with pytest.raises(AssertionError, match="Exercise 5"):
        check_atari_target(ATARI_TARGET_WRONGS[name])


def test_check_atari_target_passes_right_answers(capsys):
    assert check_atari_target(compute_target_double) is compute_target_double
    assert check_atari_target(_double) is _double

    def where(q_net, target_net, batch, gamma):  # the mask as a torch.where
        with torch.no_grad():
            best = q_net(batch.next_obs).argmax(dim=1, keepdim=True)
            value = target_net(batch.next_obs).gather(1, best).squeeze(1)
        return torch.where(
            batch.terminated > 0, batch.reward, batch.reward + gamma * value
        )

    assert check_atari_target(where) is where

    def stub(q_net, target_net, batch, gamma):
        raise NotImplementedError

    assert check_atari_target(stub) is compute_target_double
    assert "not done yet" in capsys.readouterr().out


def test_fixed_q_returns_its_values():
    q = FixedQ([1.0, 2.0])
    assert q(torch.zeros(3, 128)).shape == (3, 2)


# --- the trainer's preset ----------------------------------------------------------


def test_spaceinvaders_preset():
    preset = get_preset("spaceinvaders")
    assert (preset.env_id, dict(preset.env_kwargs), preset.eval_epsilon) == (
        SI,
        {"obs_type": "ram"},
        0.05,
    )
    assert preset.pieces["shaping"] is atari_transition
    assert preset.config.normalize_obs
    assert preset.checkpoint == "spaceinvaders_ram_dqn.pt"


def test_invaders_left_is_the_bit_count_of_the_masks(trace):
    bits = np.unpackbits(trace.ram[:, list(INVADER_MASKS)], axis=1).sum(axis=1)
    assert np.array_equal(bits, trace.ram[:, INVADERS_LEFT])
    assert bits[0] == 36 and bits.min() < 36  # the random episode hits some invaders


def test_read_peers_gives_sources_and_the_dopamine_curve():
    peers = read_peers("spaceinvaders")
    dqn = peers["dopamine_dqn"]
    values = np.array(dqn["values"])
    assert values.shape == (5, 20) and dqn["source"].startswith("https://github.com/")
    assert (
        round(values[:, 15].mean()) == 735
    )  # the figure at 16M frames, checked by hand
    assert peers["hugging_face_pass"]["bar"] == 200
    with pytest.raises(ValueError, match="known"):
        read_peers("pong")


def test_gradient_importance_is_nan_for_a_numpy_preprocessing():
    net = ram_q_network(preprocess_ram)(128, 6, hidden=(8,))
    states = np.random.default_rng(0).integers(0, 256, (5, 128), dtype=np.uint8)
    assert np.isnan(gradient_importance(net, states)).all()
    course = make_q_network(make_env(SI, obs_type="ram"), (8,))
    assert np.isfinite(gradient_importance(course, states)).all()


def _shaping(bonus):
    def shaping(reward, terminated, info, prev_info):
        (r, c), (ar, ac) = info["head"], info["apple"]
        (pr, pc) = prev_info["head"]
        closer = (abs(pr - ar) + abs(pc - ac)) - (abs(r - ar) + abs(c - ac))
        return bonus(reward, closer, terminated)

    return shaping


SNAKE_SHAPING_WRONGS = {
    "no shaping at all": lambda r, t, i, p: (float(r), bool(t)),
    "rewards moving away": _shaping(
        lambda r, closer, t: (float(r) - 0.1 * closer, bool(t))
    ),
    "ends the game on a bonus": _shaping(
        lambda r, closer, t: (r + 0.1 * closer, closer < 0)
    ),
    "the flag as an int": _shaping(
        lambda r, closer, t: (float(r + 0.1 * closer), int(t))
    ),
    "a tensor reward": _shaping(
        lambda r, closer, t: (torch.tensor(r + 0.1 * closer), bool(t))
    ),
    "only a pair of one": lambda r, t, i, p: float(r),
    "the game reward dropped (bonus only)": _shaping(
        lambda r, closer, t: (0.1 * closer, bool(t))
    ),
    "the game reward negated": _shaping(
        lambda r, closer, t: (float(-r + 0.1 * closer), bool(t))
    ),
    "a bonus that swamps the apple (10x)": lambda r, t, i, p: (
        float(r + 10 * (toward_apple(r, t, i, p)[0] - r)),
        bool(t),
    ),
    "the game's int reward passed on": lambda r, t, i, p: (
        r if t or i["apple"] != p["apple"] else toward_apple(r, t, i, p)[0],
        bool(t),
    ),
}


def _rewrites_info(reward, terminated, info, prev_info):
    info["head"] = prev_info["head"]
    return toward_apple(reward, terminated, info, prev_info)


SNAKE_SHAPING_WRONGS["rewrites info"] = _rewrites_info


@pytest.mark.parametrize("name", sorted(SNAKE_SHAPING_WRONGS))
def test_check_snake_shaping_fails_wrong_answers(name):
    with pytest.raises(AssertionError, match="Exercise 6"):
        check_snake_shaping(SNAKE_SHAPING_WRONGS[name])


def test_check_snake_shaping_passes_designs(capsys):
    assert check_snake_shaping(toward_apple) is toward_apple

    def potential(reward, terminated, info, prev_info):  # γΦ(s') − Φ(s), Φ = −distance
        def phi(i):
            (r, c), (ar, ac) = i["head"], i["apple"]
            return 0.0 if ar < 0 else -(abs(r - ar) + abs(c - ac)) / 10

        after = 0.0 if terminated else phi(info)
        return float(reward + 0.99 * after - phi(prev_info)), bool(terminated)

    assert check_snake_shaping(potential) is potential

    def stub(reward, terminated, info, prev_info):
        raise NotImplementedError

    assert check_snake_shaping(stub) is toward_apple
    assert "not done yet" in capsys.readouterr().out
