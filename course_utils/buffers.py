"""Experience replay: a preallocated ring buffer in the style of Stable-Baselines3."""

from __future__ import annotations

from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch


class Batch(NamedTuple):
    """A minibatch of transitions; arrays have a leading ``batch`` dimension.

    Fields: ``obs`` (batch, *obs_shape) in the observation dtype, ``action`` (batch,)
    int64 or (batch, act_dim) float32, ``reward`` (batch,) float32, ``next_obs`` like
    ``obs``, ``terminated`` (batch,) float32 (1.0 where the episode truly ended).
    """

    obs: np.ndarray | torch.Tensor
    action: np.ndarray | torch.Tensor
    reward: np.ndarray | torch.Tensor
    next_obs: np.ndarray | torch.Tensor
    terminated: np.ndarray | torch.Tensor

    def to_torch(self, device: str | torch.device = "cpu") -> Batch:
        """Return the same batch as torch tensors on ``device`` (dtypes kept)."""
        return Batch(*(torch.as_tensor(x, device=device) for x in self))


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions; the newest overwrite the oldest.

    Observations keep their dtype (Space Invaders RAM stays ``uint8``: 8x less memory
    than float64). ``truncated`` is not stored: a time-limit cut is not a terminal
    state, so the TD target must still bootstrap from ``next_obs``.

    Args:
        capacity: maximum number of transitions held.
        obs_shape: shape of one observation, e.g. ``(2,)`` for MountainCar.
        obs_dtype: observation dtype, e.g. ``np.float32`` or ``np.uint8``.
        action_shape: ``()`` for discrete actions, ``(act_dim,)`` for continuous.
        action_dtype: ``np.int64`` (discrete) or ``np.float32`` (continuous).

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: np.dtype | type = np.float32,
        *,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
    ) -> None:
        if int(capacity) < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}.")
        self.capacity = int(capacity)
        self.obs_shape = tuple(obs_shape)
        self.action_shape = tuple(action_shape)
        self.obs = np.zeros((self.capacity, *self.obs_shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.action = np.zeros((self.capacity, *self.action_shape), dtype=action_dtype)
        self.reward = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0  # where the next transition goes
        self.full = False  # True once pos has wrapped around

    @classmethod
    def for_env(cls, env: gym.Env, capacity: int) -> ReplayBuffer:
        """Build a buffer shaped for ``env``'s observation and action spaces."""
        obs_space, act_space = env.observation_space, env.action_space
        if isinstance(act_space, gym.spaces.Discrete):
            action_shape, action_dtype = (), np.int64
        else:
            action_shape, action_dtype = act_space.shape, np.float32
        return cls(
            capacity,
            obs_space.shape,
            obs_space.dtype,
            action_shape=action_shape,
            action_dtype=action_dtype,
        )

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def _check_obs(self, name: str, value: np.ndarray) -> np.ndarray:
        value = np.asarray(value)
        if value.shape != self.obs_shape:
            raise ValueError(
                f"{name} has shape {value.shape}, but this buffer stores observations "
                f"of shape {self.obs_shape}. Fix: pass one observation exactly as "
                "env.step "
                "returned it (no batch dimension), or build the buffer with "
                "ReplayBuffer.for_env(env, capacity)."
            )
        return value

    def add(
        self,
        obs: np.ndarray,
        action: int | np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
    ) -> None:
        """Store one transition, overwriting the oldest once the buffer is full."""
        self.obs[self.pos] = self._check_obs("obs", obs)
        self.next_obs[self.pos] = self._check_obs("next_obs", next_obs)
        action = np.asarray(action)
        if action.shape != self.action_shape:
            raise ValueError(
                f"action has shape {action.shape}, expected {self.action_shape} "
                "(a plain int for a discrete action space)."
            )
        self.action[self.pos] = action
        self.reward[self.pos] = reward
        self.terminated[self.pos] = float(terminated)
        self.pos += 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement).

        Raises:
            ValueError: if the buffer holds fewer than ``batch_size`` transitions.
        """
        if batch_size > len(self):
            raise ValueError(
                f"Cannot sample {batch_size} transitions: the buffer holds only "
                f"{len(self)}. Fix: start learning after at least batch_size steps "
                "(learning_starts >= batch_size)."
            )
        idx = rng.integers(0, len(self), size=batch_size)
        return Batch(
            self.obs[idx],
            self.action[idx],
            self.reward[idx],
            self.next_obs[idx],
            self.terminated[idx],
        )
