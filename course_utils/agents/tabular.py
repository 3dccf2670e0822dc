"""Tabular reinforcement learning: returns, the Q-learning update, and a grid that
turns a continuous observation into a table row.

These are the course's reference answers to the exercises of 02_rl_concepts.ipynb:
the check cells fall back to them while an exercise is not done yet. The notebook's
ε-greedy exercise is ``course_utils.common.policies.epsilon_greedy``, the one every
agent uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from course_utils.common.policies import epsilon_greedy
from course_utils.common.validate import index, number, probability, whole_number


def discounted_return(rewards: Sequence[float], gamma: float) -> float:
    """The discounted return ``G = r_1 + γ r_2 + γ² r_3 + ...`` of one reward list.

    Args:
        rewards: rewards ``r_1, r_2, ..., r_T`` in the order they were received.
        gamma: discount factor in ``[0, 1]``.

    Returns:
        ``G`` as a float (0.0 for an empty list).

    Taught in: 02_rl_concepts.ipynb
    """
    gamma = probability("gamma", gamma)
    ret = 0.0
    for reward in reversed(rewards):  # G_t = r_{t+1} + γ G_{t+1}, from the end
        ret = float(reward) + gamma * ret
    if not math.isfinite(ret):
        raise ValueError(f"The rewards must be finite numbers, got {list(rewards)!r}.")
    return ret


def q_learning_update(
    q_table: np.ndarray,
    state: int,
    action: int,
    reward: float,
    next_state: int,
    terminated: bool,
    *,
    alpha: float,
    gamma: float,
) -> None:
    """One Q-learning step, in place: ``Q[s, a] += α (target - Q[s, a])``.

    ``target = r + γ max_a' Q[s', a']``, or just ``r`` when the transition
    ``terminated`` (no future after a terminal state). A time-limit truncation is
    not a termination: pass ``terminated=False`` and the target bootstraps.

    Args:
        q_table: ``(n_states, n_actions)`` float array, updated in place.
        state, action: the row and column to update.
        reward: the reward received for ``action`` in ``state``.
        next_state: the row of the state reached.
        terminated: True if ``next_state`` is terminal.
        alpha: learning rate in ``(0, 1]``.
        gamma: discount factor in ``[0, 1]``.

    Taught in: 02_rl_concepts.ipynb
    """
    n_states, n_actions = np.shape(q_table)
    state = index("state", state, n_states)
    next_state = index("next_state", next_state, n_states)
    action = index("action", action, n_actions)
    reward = number("reward", reward)
    alpha = probability("alpha", alpha, zero=False)
    gamma = probability("gamma", gamma)
    target = reward
    if not terminated:
        target += gamma * np.max(q_table[next_state])
    q_table[state, action] += alpha * (target - q_table[state, action])


def train_q_learning(
    env: gym.Env,
    q_table: np.ndarray,
    to_index: Callable[[Any], int],
    *,
    n_episodes: int,
    alpha: float,
    gamma: float,
    epsilon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Tabular Q-learning for ``n_episodes`` episodes; ``q_table`` is updated in place.

    Each episode starts with ``env.reset()`` (no seed: the env's own generator carries
    on) and runs until ``terminated or truncated``; every action is
    ``epsilon_greedy(q_table[state], epsilon, rng)`` and every step one
    :func:`q_learning_update` that is told ``terminated`` only (a truncated episode
    still bootstraps). ``to_index(obs)`` is the table row of an observation.

    Returns:
        ``(n_episodes,)`` float array of the undiscounted episode returns.

    Taught in: 02_rl_concepts.ipynb
    """
    n_episodes = whole_number("n_episodes", n_episodes)
    returns = np.zeros(n_episodes)
    for episode in range(n_episodes):
        obs, _ = env.reset()
        state, done = to_index(obs), False
        while not done:
            action = epsilon_greedy(q_table[state], epsilon, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            next_state = to_index(obs)
            q_learning_update(
                q_table,
                state,
                action,
                reward,
                next_state,
                terminated,
                alpha=alpha,
                gamma=gamma,
            )
            returns[episode] += reward
            state, done = next_state, terminated or truncated
    return returns


class GridDiscretizer:
    """Cut a box ``[low, high]`` into ``bins`` equal cells per dimension, numbered.

    ``GridDiscretizer(low, high, bins=20)(obs)`` is the table row of ``obs``: the cell
    index along each dimension (values outside the box go to the edge cells),
    combined row-major into one integer ``0 <= index < n_states``.

    Args:
        low, high: ``(obs_dim,)`` bounds of the box, e.g. ``env.observation_space``'s.
        bins: cells per dimension (an int, or one int per dimension).

    Taught in: 02_rl_concepts.ipynb
    """

    def __init__(self, low: np.ndarray, high: np.ndarray, *, bins: int | Sequence[int]):
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if self.low.shape != self.high.shape or self.low.ndim != 1:
            raise ValueError(
                f"low and high must be 1-D arrays of the same shape, got "
                f"{self.low.shape} and {self.high.shape}."
            )
        width = self.high - self.low
        if not np.all(np.isfinite(width)) or np.any(width <= 0):
            raise ValueError("Every dimension needs finite bounds with low < high.")
        bins_arr = np.asarray(bins)
        if (
            bins_arr.dtype.kind not in "iu"
            or bins_arr.shape not in ((), self.low.shape)
            or np.any(bins_arr < 1)
        ):
            raise ValueError(
                f"bins must be a positive int, or one per dimension "
                f"({self.low.shape[0]} of them), got {bins!r}."
            )
        self.bins = np.broadcast_to(bins_arr.astype(np.int64), self.low.shape).copy()
        self.n_states = int(np.prod(self.bins))
        self._scale = self.bins / width  # cells per unit of each dimension
        # row-major strides: index = sum(cell * stride), like np.ravel_multi_index
        self._strides = np.cumprod(np.r_[self.bins[1:], 1][::-1])[::-1]

    def __call__(self, obs: np.ndarray) -> int:
        """Table row of one observation ``(obs_dim,)``.

        Values outside the box, ±inf included, go to the edge cells; NaN is an error.
        """
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != self.low.shape:
            raise ValueError(
                f"obs has shape {obs.shape}, expected shape {self.low.shape} (one "
                "observation)."
            )
        # Clip before the cast to int: casting inf (or 1e300) to int64 is undefined
        # and can send +inf to the lowest cell.
        position = np.clip((obs - self.low) * self._scale, 0, self.bins - 1)
        if np.isnan(position).any():
            raise ValueError(
                f"obs contains NaN: {obs}. It lies in no cell. Fix: check what "
                "produced this observation."
            )
        return int(position.astype(np.int64) @ self._strides)

    def rows(self, observations: np.ndarray) -> np.ndarray:
        """Table rows of a batch of observations ``(n, obs_dim)``: ``(n,)`` ints."""
        observations = np.asarray(observations, dtype=np.float64)
        if observations.ndim != 2 or observations.shape[1:] != self.low.shape:
            raise ValueError(
                f"observations has shape {observations.shape}, expected (n, "
                f"{self.low.shape[0]})."
            )
        position = np.clip((observations - self.low) * self._scale, 0, self.bins - 1)
        if np.isnan(position).any():
            raise ValueError("observations contain NaN: they lie in no cell.")
        return position.astype(np.int64) @ self._strides


def mountaincar_step(
    position: np.ndarray, velocity: np.ndarray, action: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MountainCar-v0's physics on arrays of cars: ``(position, velocity, terminated)``.

    The same arithmetic as Gymnasium's ``MountainCarEnv.step`` (force 0.001, gravity
    0.0025, speed ±0.07, position [-1.2, 0.6], a stop at the left wall, the flag at
    0.5), for many cars at once: enough to ask which states can be reached, or to
    train many small tables side by side (:func:`reachable_cells`, and the check of
    notebook 02's grid exercise).
    """
    velocity = (
        velocity + (np.asarray(action) - 1) * 0.001 + np.cos(3 * position) * -0.0025
    )
    velocity = np.clip(velocity, -0.07, 0.07)
    position = np.clip(position + velocity, -1.2, 0.6)
    velocity = np.where((position == -1.2) & (velocity < 0), 0.0, velocity)
    return position, velocity, (position >= 0.5) & (velocity >= 0)


def reachable_cells(
    grid: GridDiscretizer,
    *,
    n_steps: int = 200,
    n_starts: int = 101,
    resolution: int = 300,
) -> np.ndarray:
    """Which of ``grid``'s MountainCar cells some sequence of pushes reaches.

    Every start (position evenly spaced over [-0.6, -0.4], velocity 0, as ``reset``
    draws them) is pushed with all three actions for ``n_steps`` steps; to keep the
    cloud of cars finite, only one car is kept per cell of a fine ``resolution`` ×
    ``resolution`` grid. Returns a ``(grid.n_states,)`` boolean array.

    Taught in: 02_rl_concepts.ipynb
    """
    fine = GridDiscretizer(grid.low, grid.high, bins=resolution)
    position = np.linspace(-0.6, -0.4, n_starts)
    velocity = np.zeros(n_starts)
    reached = np.zeros(grid.n_states, dtype=bool)
    for _ in range(n_steps):
        reached[grid.rows(np.stack([position, velocity], axis=1))] = True
        moved = [
            mountaincar_step(position, velocity, np.full(len(position), a))
            for a in range(3)
        ]
        position = np.concatenate([m[0][~m[2]] for m in moved])  # cars at the flag stop
        velocity = np.concatenate([m[1][~m[2]] for m in moved])
        _, keep = np.unique(
            fine.rows(np.stack([position, velocity], axis=1)), return_index=True
        )
        position, velocity = position[keep], velocity[keep]
    reached[grid.rows(np.stack([position, velocity], axis=1))] = True
    return reached
