"""Space Invaders RAM helpers, notebook 04's checks, life-loss terminals, and a saved
policy that takes raw uint8 RAM."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_utils.agents.dqn import DQNConfig, make_q_network, no_shaping, train_dqn
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.checkpoints import load_policy, save_checkpoint
from course_utils.common.envs import make_env
from course_utils.common.policies import epsilon_greedy_action
from course_utils.games.space_invaders import (
    SPACE_INVADERS_ACTIONS,
    SPACE_INVADERS_BYTES,
    atari_transition,
    bcd_to_int,
    preprocess_ram,
    score_from_ram,
)
from course_utils.lessons.checks.atari import (
    FixedQ,
    check_atari_transition,
    check_epsilon_greedy_action,
    check_find_tracking_byte,
    check_preprocess_ram,
)
from course_utils.lessons.ram_lab import (
    byte_correlations,
    find_tracking_byte,
    joystick_direction,
    player_x_from_frame,
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


def test_check_find_tracking_byte(capsys):
    assert check_find_tracking_byte(find_tracking_byte) is find_tracking_byte

    def naive(ram, signal):  # NaN from constant bytes wins np.argmax
        x = np.asarray(ram, float)
        with np.errstate(all="ignore"):
            c = [np.corrcoef(x[:, i], signal)[0, 1] for i in range(x.shape[1])]
        return int(np.argmax(np.abs(c)))

    def signed(ram, signal):  # misses a byte that counts downwards
        return int(np.argmax(byte_correlations(ram, signal)))

    for wrong in (naive, signed):
        with pytest.raises(AssertionError, match="Exercise 1"):
            check_find_tracking_byte(wrong)

    def stub(ram, signal):
        raise NotImplementedError("Exercise 1")

    assert check_find_tracking_byte(stub) is find_tracking_byte
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
    "terminal as an int": lambda r, t, i, p: (
        float(np.clip(r, -1, 1)),
        int(t or _lives_lost(i, p)),
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


def test_check_atari_transition_passes_the_reference_and_a_sign_version(capsys):
    assert check_atari_transition(atari_transition) is atari_transition

    def with_sign(reward, terminated, info, prev_info):  # same on whole rewards
        life_lost = info["lives"] < prev_info["lives"]
        return float(np.sign(reward)), bool(terminated or life_lost)

    assert check_atari_transition(with_sign) is with_sign

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


def test_check_epsilon_greedy_action():
    assert check_epsilon_greedy_action(epsilon_greedy_action) is epsilon_greedy_action

    def seed_bug(q_net, obs, epsilon, rng):  # the seed: random.randint(0, 1)
        if rng.random() < epsilon:
            return int(rng.integers(0, 2))
        return int(q_net(torch.as_tensor(obs).unsqueeze(0)).argmax())

    def hard_coded(q_net, obs, epsilon, rng):
        if rng.random() < epsilon:
            return int(rng.integers(6))
        return int(q_net(torch.as_tensor(obs).unsqueeze(0)).argmax())

    def off_by_one(q_net, obs, epsilon, rng):
        if rng.random() < epsilon:
            return int(rng.integers(0, 5))
        return int(q_net(torch.as_tensor(obs).unsqueeze(0)).argmax())

    for wrong in (seed_bug, hard_coded, off_by_one):
        with pytest.raises(AssertionError, match="Exercise 3"):
            check_epsilon_greedy_action(wrong)

    def stub(q_net, obs, epsilon, rng):
        raise NotImplementedError

    assert check_epsilon_greedy_action(stub) is epsilon_greedy_action


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
