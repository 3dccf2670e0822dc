"""ReplayBuffer: dtypes, ring indices, hand-computed wrap-around, sampling, errors."""

import numpy as np
import pytest
import torch

from course_utils.buffers import Batch, ReplayBuffer
from course_utils.envs import make_env


def _obs(t: int) -> np.ndarray:
    """Observation number t: easy to recognise in the buffer."""
    return np.array([t, 10 * t], dtype=np.float32)


def _add(buf: ReplayBuffer, t: int) -> None:
    """Transition number t: obs [t, 10t] -> next_obs [t+1, 10t+10], reward t."""
    buf.add(_obs(t), t % 3, float(t), _obs(t + 1), terminated=(t == 3))


def test_observation_dtype_is_kept():
    buf = ReplayBuffer(4, (2,), np.float32)
    buf.add(np.array([0.5, 1.5]), 1, 1.0, np.array([2.5, 3.5]), False)  # float64 in
    assert buf.obs.dtype == np.float32 and buf.next_obs.dtype == np.float32
    np.testing.assert_array_equal(buf.obs[0], [0.5, 1.5])
    assert buf.action.dtype == np.int64
    assert buf.reward.dtype == np.float32 and buf.terminated.dtype == np.float32


def test_uint8_observations_stay_uint8():
    buf = ReplayBuffer(8, (128,), np.uint8)
    ram = np.arange(128, dtype=np.uint8) + 100  # wraps past 255 as uint8 does
    for _ in range(3):
        buf.add(ram, 2, 1.0, ram, False)
    assert buf.obs.dtype == np.uint8 and buf.next_obs.dtype == np.uint8
    assert buf.obs.nbytes == 8 * 128  # one byte per number: 8x less than float64
    batch = buf.sample(2, np.random.default_rng(0))
    assert batch.obs.dtype == np.uint8 and batch.next_obs.dtype == np.uint8
    np.testing.assert_array_equal(batch.obs[0], ram)
    assert batch.to_torch().obs.dtype == torch.uint8


def test_pos_full_and_len_before_and_after_wrapping():
    buf = ReplayBuffer(3, (2,))
    assert (buf.pos, buf.full, len(buf)) == (0, False, 0)
    _add(buf, 0)
    _add(buf, 1)
    assert (buf.pos, buf.full, len(buf)) == (2, False, 2)
    _add(buf, 2)
    assert (buf.pos, buf.full, len(buf)) == (0, True, 3)
    _add(buf, 3)
    assert (buf.pos, buf.full, len(buf)) == (1, True, 3)


def test_wrap_around_keeps_the_newest_and_overwrites_the_oldest():
    # Capacity 3, transitions t = 0..4. By hand: t=0,1,2 fill slots 0,1,2; t=3
    # overwrites slot 0 (t=0 goes), t=4 overwrites slot 1 (t=1 goes); slot 2 still
    # holds t=2. So the slots hold t = [3, 4, 2] and the next write goes to slot 2.
    buf = ReplayBuffer(3, (2,))
    for t in range(5):
        _add(buf, t)
    np.testing.assert_array_equal(buf.reward, [3.0, 4.0, 2.0])
    np.testing.assert_array_equal(buf.obs, [[3, 30], [4, 40], [2, 20]])
    np.testing.assert_array_equal(buf.next_obs, [[4, 40], [5, 50], [3, 30]])
    np.testing.assert_array_equal(buf.action, [0, 1, 2])  # t % 3
    np.testing.assert_array_equal(buf.terminated, [1.0, 0.0, 0.0])  # only t == 3
    assert (buf.pos, buf.full, len(buf)) == (2, True, 3)
    # Sampling sees exactly the three newest transitions, never t = 0 or 1.
    rng = np.random.default_rng(0)
    seen = {r for _ in range(100) for r in buf.sample(3, rng).reward.tolist()}
    assert seen == {2.0, 3.0, 4.0}


def test_sample_shapes_dtypes_and_rows_stay_aligned():
    buf = ReplayBuffer(64, (2,))
    for t in range(40):
        _add(buf, t)
    batch = buf.sample(32, np.random.default_rng(1))
    assert isinstance(batch, Batch)
    assert batch.obs.shape == (32, 2) and batch.next_obs.shape == (32, 2)
    assert batch.action.shape == (32,) and batch.action.dtype == np.int64
    assert batch.reward.shape == (32,) and batch.reward.dtype == np.float32
    assert batch.terminated.shape == (32,) and batch.terminated.dtype == np.float32
    # Every field of a row comes from the same transition t.
    t = batch.obs[:, 0]
    np.testing.assert_array_equal(batch.obs[:, 1], 10 * t)
    np.testing.assert_array_equal(batch.next_obs[:, 0], t + 1)
    np.testing.assert_array_equal(batch.reward, t)
    np.testing.assert_array_equal(batch.action, t.astype(np.int64) % 3)
    np.testing.assert_array_equal(batch.terminated, (t == 3).astype(np.float32))


def test_sample_draws_only_filled_slots():
    buf = ReplayBuffer(100, (2,))
    for t in range(1, 6):
        _add(buf, t)
    rng = np.random.default_rng(2)
    seen = {r for _ in range(100) for r in buf.sample(5, rng).reward.tolist()}
    assert seen == {1.0, 2.0, 3.0, 4.0, 5.0}  # never an empty slot (reward 0.0)


def test_sample_is_reproducible_with_the_same_rng_seed():
    buf = ReplayBuffer(10, (2,))
    for t in range(10):
        _add(buf, t)
    a = buf.sample(8, np.random.default_rng(5))
    b = buf.sample(8, np.random.default_rng(5))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_batch_fields_are_named():
    assert Batch._fields == ("obs", "action", "reward", "next_obs", "terminated")


def test_to_torch_keeps_dtypes_and_uses_the_device():
    buf = ReplayBuffer(4, (3,), np.uint8, action_shape=(2,), action_dtype=np.float32)
    for t in range(4):
        buf.add(
            np.full(3, t, np.uint8),
            np.array([t, -t], np.float32),
            t,
            np.zeros(3),
            t == 1,
        )
    batch = buf.sample(4, np.random.default_rng(0)).to_torch("cpu")
    assert isinstance(batch, Batch)
    assert all(isinstance(x, torch.Tensor) for x in batch)
    assert [x.dtype for x in batch] == [
        torch.uint8,
        torch.float32,
        torch.float32,
        torch.uint8,
        torch.float32,
    ]
    assert [tuple(x.shape) for x in batch] == [(4, 3), (4, 2), (4,), (4, 3), (4,)]
    assert all(x.device == torch.device("cpu") for x in batch)
    # The device argument is really used (the meta device holds no data).
    meta = buf.sample(2, np.random.default_rng(0)).to_torch(torch.device("meta"))
    assert all(x.device.type == "meta" for x in meta)


def test_discrete_int64_actions_to_torch():
    buf = ReplayBuffer(2, (2,))
    _add(buf, 1)
    _add(buf, 2)
    batch = buf.sample(2, np.random.default_rng(0)).to_torch()
    assert batch.action.dtype == torch.int64  # ready for Tensor.gather
    assert batch.obs.dtype == torch.float32


@pytest.mark.parametrize(
    "bad", [np.zeros(3), np.zeros((1, 2)), np.zeros(()), np.zeros((2, 1))]
)
def test_wrong_obs_shape_is_a_clear_error(bad):
    buf = ReplayBuffer(4, (2,))
    with pytest.raises(ValueError) as info:
        buf.add(bad, 0, 0.0, np.zeros(2), False)
    message = str(info.value)
    assert f"obs has shape {bad.shape}" in message and "(2,)" in message
    assert len(buf) == 0 and buf.pos == 0


def test_wrong_next_obs_shape_is_a_clear_error():
    buf = ReplayBuffer(4, (2,))
    with pytest.raises(ValueError, match=r"next_obs has shape \(3,\)"):
        buf.add(np.zeros(2), 0, 0.0, np.zeros(3), False)
    assert len(buf) == 0


@pytest.mark.parametrize("bad", [np.array([1]), np.array([[1]]), [0, 1]])
def test_wrong_discrete_action_shape_is_a_clear_error(bad):
    buf = ReplayBuffer(4, (2,))
    with pytest.raises(ValueError, match=r"action has shape .* expected \(\)"):
        buf.add(np.zeros(2), bad, 0.0, np.zeros(2), False)
    assert len(buf) == 0 and buf.pos == 0


def test_wrong_continuous_action_shape_is_a_clear_error():
    buf = ReplayBuffer(4, (24,), action_shape=(4,), action_dtype=np.float32)
    with pytest.raises(ValueError, match=r"action has shape \(3,\), expected \(4,\)"):
        buf.add(np.zeros(24), np.zeros(3), 0.0, np.zeros(24), False)
    with pytest.raises(ValueError, match=r"action has shape \(\), expected \(4,\)"):
        buf.add(np.zeros(24), 1, 0.0, np.zeros(24), False)


def test_sampling_more_than_held_is_a_clear_error():
    buf = ReplayBuffer(10, (2,))
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="holds only 0"):
        buf.sample(1, rng)
    _add(buf, 0)
    _add(buf, 1)
    with pytest.raises(
        ValueError, match="Cannot sample 3 transitions: the buffer holds only 2"
    ):
        buf.sample(3, rng)
    assert buf.sample(2, rng).obs.shape == (2, 2)


@pytest.mark.parametrize("capacity", [0, -5])
def test_capacity_must_be_positive(capacity):
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        ReplayBuffer(capacity, (2,))


def test_for_env_discrete():
    env = make_env("MountainCar-v0")
    buf = ReplayBuffer.for_env(env, 50)
    env.close()
    assert buf.capacity == 50 and buf.obs_shape == (2,)
    assert buf.obs.shape == (50, 2) and buf.obs.dtype == np.float32
    assert buf.action.shape == (50,) and buf.action.dtype == np.int64


def test_for_env_uint8_ram():
    env = make_env("ALE/SpaceInvaders-v5", obs_type="ram")
    obs, _ = env.reset(seed=0)
    buf = ReplayBuffer.for_env(env, 16)
    next_obs, reward, terminated, _, _ = env.step(3)
    env.close()
    buf.add(obs, 3, reward, next_obs, terminated)  # exactly what env.step returned
    assert buf.obs.shape == (16, 128) and buf.obs.dtype == np.uint8
    np.testing.assert_array_equal(buf.obs[0], obs)


def test_for_env_continuous():
    env = make_env("BipedalWalker-v3")
    obs, _ = env.reset(seed=0)
    buf = ReplayBuffer.for_env(env, 20)
    action = env.action_space.sample()
    next_obs, reward, terminated, _, _ = env.step(action)
    env.close()
    assert buf.obs.shape == (20, 24) and buf.obs.dtype == np.float32
    assert buf.action_shape == (4,)
    assert buf.action.shape == (20, 4) and buf.action.dtype == np.float32
    buf.add(obs, action, reward, next_obs, terminated)
    np.testing.assert_array_equal(buf.action[0], action)
