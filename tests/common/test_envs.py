"""make_env: every course environment, headless, seeded, with helpful errors."""

import os

import gymnasium as gym
import numpy as np
import pytest

from course_utils.common.envs import make_env


@pytest.fixture
def headless(monkeypatch):
    """No display and no SDL settings: make_env must cope on its own."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER"):
        monkeypatch.delenv(name, raising=False)


def test_mountaincar():
    env = make_env("MountainCar-v0")
    try:
        assert env.observation_space.shape == (2,)
        assert env.observation_space.dtype == np.float32
        assert env.action_space == gym.spaces.Discrete(3)
        assert env.spec.max_episode_steps == 200
        obs, _ = env.reset(seed=0)
        assert obs.shape == (2,) and obs.dtype == np.float32
    finally:
        env.close()


def test_space_invaders_ram_is_uint8_128():
    env = make_env("ALE/SpaceInvaders-v5", obs_type="ram")
    try:
        assert env.observation_space == gym.spaces.Box(0, 255, (128,), np.uint8)
        assert env.action_space == gym.spaces.Discrete(6)
        obs, _ = env.reset(seed=0)
        assert obs.dtype == np.uint8 and obs.shape == (128,)
        next_obs, reward, terminated, truncated, _ = env.step(1)  # FIRE
        assert next_obs.dtype == np.uint8 and next_obs.shape == (128,)
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
    finally:
        env.close()


def test_bipedal_walker():
    env = make_env("BipedalWalker-v3")
    try:
        assert env.observation_space.shape == (24,)
        assert env.action_space.shape == (4,)
        np.testing.assert_array_equal(env.action_space.low, -1.0)
        np.testing.assert_array_equal(env.action_space.high, 1.0)
        assert env.spec.max_episode_steps == 1600
        env.reset(seed=0)
        obs, reward, *_ = env.step(np.zeros(4, dtype=np.float32))
        assert obs.shape == (24,) and np.isfinite(reward)
    finally:
        env.close()


def test_rgb_array_rendering_needs_no_display(headless):
    env = make_env("MountainCar-v0", render_mode="rgb_array", seed=0)
    try:
        frame = env.render()
        assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
        assert frame.min() < frame.max()  # a real picture, not a blank frame
        assert os.environ["SDL_VIDEODRIVER"] == "dummy"
        assert os.environ["SDL_AUDIODRIVER"] == "dummy"
    finally:
        env.close()


def test_atari_rgb_array_rendering(headless):
    env = make_env(
        "ALE/SpaceInvaders-v5", obs_type="ram", render_mode="rgb_array", seed=0
    )
    try:
        frame = env.render()
        assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8
    finally:
        env.close()


def _rollout(env_id, seed, steps=20, **kwargs):
    env = make_env(env_id, seed=seed, **kwargs)
    try:
        obs, _ = env.reset()  # no seed: continues from make_env's seeded reset
        trace = [obs.copy()]
        actions = []
        for _ in range(steps):
            action = env.action_space.sample()
            actions.append(np.asarray(action).tolist())
            obs, *_ = env.step(action)
            trace.append(obs.copy())
        return np.stack(trace), actions
    finally:
        env.close()


def test_seed_makes_env_and_action_space_reproducible():
    obs_a, act_a = _rollout("MountainCar-v0", seed=3)
    obs_b, act_b = _rollout("MountainCar-v0", seed=3)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert act_a == act_b
    obs_c, act_c = _rollout("MountainCar-v0", seed=4)
    assert not np.array_equal(obs_a, obs_c)
    assert act_a != act_c


def test_seed_reproducible_for_continuous_actions():
    obs_a, act_a = _rollout("BipedalWalker-v3", seed=5, steps=5)
    obs_b, act_b = _rollout("BipedalWalker-v3", seed=5, steps=5)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert act_a == act_b


@pytest.mark.parametrize(
    "typo, suggestion",
    [
        ("MountainCr-v0", "'MountainCar-v0'"),
        ("MountainCar-v9", "'MountainCar-v0'"),
        ("bipedalwalker-v3", "'BipedalWalker-v3'"),
        ("SpaceInvaders-v5", "'ALE/SpaceInvaders-v5'"),
    ],
)
def test_unknown_id_lists_close_matches(typo, suggestion):
    with pytest.raises(ValueError) as info:
        make_env(typo)
    message = str(info.value)
    assert f"Unknown environment id {typo!r}" in message
    assert "Did you mean" in message
    assert suggestion in message


def test_unknown_id_with_nothing_close_points_to_the_registry():
    with pytest.raises(ValueError, match="pprint_registry"):
        make_env("Zzqxw-v0")


@pytest.mark.parametrize(
    "old_id",
    ["SpaceInvaders-ram-v0", "SpaceInvaders-ram-v4", "SpaceInvaders-ramNoFrameskip-v4"],
)
def test_old_ram_id_points_to_v5_with_obs_type_ram(old_id):
    with pytest.raises(ValueError) as info:
        make_env(old_id)
    message = str(info.value)
    assert old_id in message
    assert 'make_env("ALE/SpaceInvaders-v5", obs_type="ram")' in message


def test_the_suggested_fix_for_the_old_ram_id_works():
    with pytest.raises(ValueError) as info:
        make_env("Breakout-ram-v0")
    assert 'make_env("ALE/Breakout-v5", obs_type="ram")' in str(info.value)
    env = make_env("ALE/Breakout-v5", obs_type="ram")
    try:
        assert env.observation_space.shape == (128,)
    finally:
        env.close()


def test_non_string_id_is_refused():
    with pytest.raises(ValueError, match="must be a string"):
        make_env(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "old_id, new_id",
    [
        ("BipedalWalker-v2", "BipedalWalker-v3"),
        ("LunarLander-v2", "LunarLander-v3"),
        ("ALE/SpaceInvaders-v4", "ALE/SpaceInvaders-v5"),
    ],
)
def test_deprecated_id_is_a_value_error_with_the_fix(old_id, new_id):
    # make_env promises ValueError; Gymnasium raises its own DeprecatedEnv.
    with pytest.raises(ValueError, match="old version") as info:
        make_env(old_id)
    assert not isinstance(info.value, gym.error.Error)
    assert f'make_env("{new_id}")' in str(info.value)
