"""Experience replay: a preallocated ring buffer in the style of Stable-Baselines3.

``ReplayBuffer`` keeps the observation dtype (Space Invaders' RAM stays ``uint8``),
``pos``/``full`` ring indices and returns a named-tuple ``Batch``. ``add`` has a fast
path for what ``env.step`` returns; anything else goes through the checks at the
bottom of this file, each a ``ValueError`` that says what was expected and the fix.

Taught in: 03_dqn_mountaincar.ipynb
"""

from __future__ import annotations

import math
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch

from course_utils.common.validate import (
    generator,
    is_whole,
    number,
    whole_number,
    whole_numbers,
)


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


def sample_indices(size: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a uniform sample *with replacement* of a buffer's ``size`` rows:
    ``(batch_size,)`` int64 in ``[0, size)``, the draw :meth:`ReplayBuffer.sample`
    makes.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return rng.integers(0, size, size=batch_size)


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions; the newest overwrite the oldest.

    Observations keep their dtype (Space Invaders RAM stays ``uint8``: 8x less memory
    than float64). ``truncated`` is not stored: a time-limit cut is not a terminal
    state, so the TD target must still bootstrap from ``next_obs``.

    Nothing is stored that would be garbage: a float observation that is no byte
    (0.5, 300, -1) in a ``uint8`` buffer, an action outside the action space (when
    the buffer knows it), a fractional discrete action, a NaN or infinite reward are
    a ``ValueError``, and a rejected ``add`` changes nothing. The checks cost little
    when the transition is what ``env.step`` returned (the training loop adds one per
    step).

    Args:
        capacity: maximum number of transitions held.
        obs_shape: shape of one observation, e.g. ``(2,)`` for MountainCar.
        obs_dtype: observation dtype, e.g. ``np.float32`` or ``np.uint8``.
        action_shape: ``()`` for discrete actions, ``(act_dim,)`` for continuous.
        action_dtype: ``np.int64`` (discrete) or ``np.float32`` (continuous).
        n_actions: if given, discrete actions must be ``0 <= action < n_actions``.
        action_low, action_high: if given, continuous actions must lie in the box.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...] | int,
        obs_dtype: np.dtype | type = np.float32,
        *,
        action_shape: tuple[int, ...] = (),
        action_dtype: np.dtype | type = np.int64,
        n_actions: int | None = None,
        action_low: np.ndarray | None = None,
        action_high: np.ndarray | None = None,
    ) -> None:
        self.capacity = whole_number("capacity", capacity, whole_floats=True)
        self.obs_shape = check_shape("obs_shape", obs_shape)
        self.action_shape = check_shape("action_shape", action_shape)
        obs_dtype = check_dtype("obs_dtype", obs_dtype)
        action_dtype = check_dtype("action_dtype", action_dtype)
        self.n_actions = (
            None if n_actions is None else whole_number("n_actions", n_actions)
        )
        self.action_low = None if action_low is None else np.asarray(action_low)
        self.action_high = None if action_high is None else np.asarray(action_high)
        try:
            self.obs = np.zeros((self.capacity, *self.obs_shape), dtype=obs_dtype)
            self.next_obs = np.zeros_like(self.obs)
            shape = (self.capacity, *self.action_shape)
            self.action = np.zeros(shape, dtype=action_dtype)
        except (MemoryError, ValueError):  # ValueError: "maximum dimension exceeded"
            size = math.prod(self.obs_shape) * obs_dtype.itemsize * 2 * self.capacity
            raise ValueError(
                f"A buffer of capacity {self.capacity:,} needs about {size / 1e9:,.1f} "
                "GB for its observations, more than this machine can give. Fix: a "
                "smaller capacity (the course uses 50,000 to 200,000)."
            ) from None
        self.reward = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.pos = 0  # where the next transition goes
        self.full = False  # True once pos has wrapped around
        # Fast path of add(): a plain int action in [0, _action_end) needs no check.
        self._int_actions = action_dtype.kind in "iu" and self.action_shape == ()
        self._action_end = 0
        if self._int_actions:
            self._action_end = self.n_actions or int(np.iinfo(action_dtype).max) + 1

    @classmethod
    def for_env(cls, env: gym.Env, capacity: int) -> ReplayBuffer:
        """Build a buffer shaped for ``env``'s observation and action spaces; it
        refuses actions outside ``env.action_space``."""
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(obs_space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise ValueError(
                f"ReplayBuffer stores Box or Discrete observations; this observation "
                f"space is {obs_space}. Fix: flatten it with a wrapper such as "
                "gymnasium.wrappers.FlattenObservation."
            )
        kwargs: dict = {}
        if isinstance(act_space, gym.spaces.Discrete):
            if int(act_space.start) != 0:
                raise ValueError(
                    f"ReplayBuffer's discrete actions are 0..n-1; {act_space} has "
                    f"start={act_space.start}. Fix: subtract the start before storing."
                )
            kwargs = {"action_dtype": np.int64, "n_actions": int(act_space.n)}
        elif isinstance(act_space, gym.spaces.Box):
            kwargs = {
                "action_shape": act_space.shape,
                "action_dtype": np.float32,
                "action_low": act_space.low,
                "action_high": act_space.high,
            }
        else:
            raise ValueError(
                f"ReplayBuffer stores Discrete or Box actions; this action space is "
                f"{act_space}."
            )
        return cls(capacity, obs_space.shape, obs_space.dtype, **kwargs)

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(
        self,
        obs: np.ndarray,
        action: int | np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
    ) -> None:
        """Store one transition, overwriting the oldest once the buffer is full.

        Raises:
            ValueError: on a wrong shape or a value the buffer cannot store as it is;
                nothing is written then.
        """
        # Every check comes before any write. Fast paths first: what env.step returns
        # (an array of the buffer's dtype, a plain int action, a float reward) skips
        # the slower checks, so add() stays cheap inside the training loop.
        dtype = self.obs.dtype
        if not (
            type(obs) is np.ndarray
            and obs.dtype is dtype
            and obs.shape == self.obs_shape
        ):
            obs = check_obs(self, "obs", obs)
        if not (
            type(next_obs) is np.ndarray
            and next_obs.dtype is dtype
            and next_obs.shape == self.obs_shape
        ):
            next_obs = check_obs(self, "next_obs", next_obs)
        if not (
            self._int_actions
            and (type(action) is int or isinstance(action, np.integer))
            and 0 <= action < self._action_end
        ):
            action = check_action(self, action)
        if not (isinstance(reward, float) and math.isfinite(reward)):  # np.float64 too
            reward = check_reward(reward)
        if terminated is not True and terminated is not False:
            terminated = check_terminated(terminated)
        i = self.pos
        self.obs[i] = obs
        self.next_obs[i] = next_obs
        self.action[i] = action
        self.reward[i] = reward
        self.terminated[i] = terminated
        self.pos = i + 1
        if self.pos == self.capacity:
            self.full, self.pos = True, 0

    def sample(self, batch_size: int, rng: np.random.Generator) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement).

        Args:
            batch_size: number of transitions, >= 1.
            rng: a ``np.random.Generator`` (``np.random.default_rng(seed)``).

        Raises:
            ValueError: if the buffer holds fewer than ``batch_size`` transitions, or
                ``rng`` is not a ``np.random.Generator``.
        """
        generator("rng", rng, needed_by="sample")
        whole_number("batch_size", batch_size)
        if batch_size > len(self):
            raise ValueError(
                f"Cannot sample {batch_size} transitions: the buffer holds only "
                f"{len(self)}. Fix: start learning after at least batch_size steps "
                "(learning_starts >= batch_size)."
            )
        idx = sample_indices(len(self), batch_size, rng)
        return Batch(
            self.obs[idx],
            self.action[idx],
            self.reward[idx],
            self.next_obs[idx],
            self.terminated[idx],
        )


def check_dtype(name: str, dtype: object) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a number type such as np.float32, np.int64 or np.uint8, "
            f"got {dtype!r}."
        )
    return dtype


def check_shape(name: str, shape: object) -> tuple[int, ...]:
    """A shape: a tuple of sizes >= 0 (an int ``n`` stands for ``(n,)``)."""
    if is_whole(shape):
        shape = (shape,)
    return whole_numbers(name, shape, minimum=0, why="a shape such as (2,)")  # type: ignore[arg-type]


def check_obs(buffer: ReplayBuffer, name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as ``buffer`` stores it; refused if the store would change it."""
    value = np.asarray(value)
    if value.shape != buffer.obs_shape:
        raise ValueError(
            f"{name} has shape {value.shape}, but this buffer stores observations "
            f"of shape {buffer.obs_shape}. Fix: pass one observation exactly as "
            "env.step "
            "returned it (no batch dimension), or build the buffer with "
            "ReplayBuffer.for_env(env, capacity)."
        )
    dtype = buffer.obs.dtype
    if value.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold numbers, got an array of {value.dtype} "
            f"({value.ravel()[:3]}...). Fix: pass the observation from env.step."
        )
    if dtype.kind in "iu" and value.dtype.kind in "iuf":
        # Cast, then compare: a value the cast changes (0.5, 300, -1, NaN) is bad.
        with np.errstate(invalid="ignore"):  # NaN or inf to int: no warning
            cast = value.astype(dtype)
            bad = cast != value
        if bad.any():
            info, example = np.iinfo(dtype), value[bad].ravel()[0]
            raise ValueError(
                f"{name} holds {example:g}, but this buffer stores {dtype} "
                f"observations: whole numbers {info.min}..{info.max}; storing it "
                f"would silently change it. Fix: pass the observation exactly as "
                f"env.step returned it, or, if you preprocess observations (e.g. "
                f"divide by 255), build the buffer with obs_dtype=np.float32."
            )
        return cast
    return value


def check_action(buffer: ReplayBuffer, action: object) -> np.ndarray:
    """``action`` as an array; refused outside ``buffer``'s action space."""
    value = np.asarray(action)
    if value.shape != buffer.action_shape:
        raise ValueError(
            f"action has shape {value.shape}, expected {buffer.action_shape} "
            "(a plain int for a discrete action space)."
        )
    huge = value.dtype.kind == "O" and type(action) is int  # beyond int64
    if value.dtype.kind not in "iuf" and not huge or isinstance(action, np.bool_):
        raise ValueError(f"action must be a number, got {action!r}.")
    if buffer.action.dtype.kind in "iu":
        n = buffer.n_actions
        end = buffer._action_end
        valid = "0, 1, ..., n_actions - 1" if n is None else f"0..{n - 1}"
        with np.errstate(invalid="ignore"):
            bad = ~((value >= 0) & (value < end) & (value % 1 == 0))
        if bad.any():
            raise ValueError(
                f"action {action!r} is not a valid discrete action: expected a "
                f"whole number {valid}. Fix: pass the action index given to "
                "env.step (int(q_values.argmax()) or env.action_space.sample())."
            )
        return value
    if not np.isfinite(value).all():
        raise ValueError(f"action must be finite, got {value}.")
    low, high = buffer.action_low, buffer.action_high
    if low is not None and high is not None:
        if ((value < low) | (value > high)).any():
            raise ValueError(
                f"action {value} lies outside the action space [{low.min():g}, "
                f"{high.max():g}]. Fix: clip it with np.clip(action, "
                "env.action_space.low, env.action_space.high) before env.step."
            )
    return value


def check_reward(reward: object) -> float:
    """One finite number (a 0-d array is one number too)."""
    if isinstance(reward, np.ndarray) and reward.ndim == 0:
        reward = reward.item()
    return number(
        "reward",
        reward,
        why="a NaN or infinite reward would poison every TD target it enters",
        fix="check how the reward was computed (an n-step sum, a shaping term...).",
    )


def check_terminated(terminated: object) -> float:
    if isinstance(terminated, (bool, np.bool_, int, float, np.number)):
        if terminated in (0, 1):  # True, False, 0, 1, 0.0, 1.0
            return float(terminated)
    raise ValueError(
        f"terminated must be True or False, got {terminated!r}. Fix: pass the "
        "terminated flag that env.step returned."
    )
