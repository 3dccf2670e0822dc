"""Tabular reinforcement learning: returns, the Q-learning update, and a grid that
turns a continuous observation into a table row.

These are the course's reference answers to the exercises of 02_rl_concepts.ipynb:
the check cells fall back to them while an exercise is not done yet. The notebook's
ε-greedy exercise is ``course_utils.common.policies.epsilon_greedy``, the one every
agent uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from course_utils.common.validate import index, number, probability


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
