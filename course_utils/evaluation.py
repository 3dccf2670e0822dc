"""Evaluate a policy: episode returns over seeded episodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np


def evaluate(
    policy: Callable[[Any], Any],
    env: gym.Env,
    *,
    n_episodes: int,
    seed: int,
) -> np.ndarray:
    """Run ``n_episodes`` episodes and return their undiscounted returns.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``, so the same seed always
    gives the same starting states. Use seeds the agent was not trained on.

    Returns:
        ``(n_episodes,) float64`` array of returns.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be at least 1, got {n_episodes}.")
    returns = np.zeros(n_episodes, dtype=np.float64)
    for i in range(n_episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            returns[i] += float(reward)
            done = terminated or truncated
    return returns


def summarize(returns: np.ndarray) -> str:
    """``'mean ± std over N episodes'`` for printing."""
    returns = np.asarray(returns, dtype=np.float64)
    return f"{returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} episodes"
