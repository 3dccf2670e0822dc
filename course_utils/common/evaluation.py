"""Evaluate a policy: episode returns over seeded episodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from course_utils.common.progress import progress_bar
from course_utils.common.validate import whole_number


def evaluate(
    policy: Callable[[Any], Any],
    env: gym.Env,
    *,
    n_episodes: int,
    seed: int,
    progress: bool | tqdm = False,
) -> np.ndarray:
    """Run ``n_episodes`` episodes and return their undiscounted returns.

    Episode ``i`` starts from ``env.reset(seed=seed + i)``, so the same seed always
    gives the same starting states. Use seeds the agent was not trained on.
    ``progress``: a bar counting the episodes (True), none (False, the default), or a
    bar over several evaluations (``progress_bar``) this one sits under and vanishes
    from when it ends.

    Returns:
        ``(n_episodes,) float64`` array of returns.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return evaluate_with_info(
        policy, env, info_key=None, n_episodes=n_episodes, seed=seed, progress=progress
    )[0]


def evaluate_with_info(
    policy: Callable[[Any], Any],
    env: gym.Env,
    *,
    info_key: str | None,
    n_episodes: int,
    seed: int,
    progress: bool | tqdm = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`evaluate`, plus ``info[info_key]`` at the end of every episode (e.g.
    Snake's ``"score"``, the apples eaten, which the return does not show alone).

    Returns:
        ``(returns, final)``: two ``(n_episodes,) float64`` arrays (``final`` is None
        when ``info_key`` is None).
    """
    n_episodes = whole_number("n_episodes", n_episodes)
    returns = np.zeros(n_episodes, dtype=np.float64)
    final = None if info_key is None else np.zeros(n_episodes, dtype=np.float64)
    episodes = progress_bar(
        range(n_episodes),
        enabled=progress,
        desc="evaluation",
        unit="episode",
    )
    for i in episodes:
        obs, info = env.reset(seed=seed + i)
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            returns[i] += float(reward)
            done = terminated or truncated
        if final is not None:
            if info_key not in info:
                raise ValueError(
                    f"The environment's info has no {info_key!r} key (it has "
                    f"{sorted(info)}); pass info_key=None or a key it reports."
                )
            final[i] = float(info[info_key])
    return returns, final


def summarize(returns: np.ndarray) -> str:
    """``'mean ± std over N episodes'`` for printing."""
    returns = np.asarray(returns, dtype=np.float64)
    return f"{returns.mean():.1f} ± {returns.std():.1f} over {len(returns)} episodes"


def score_summary(returns: np.ndarray, *, seed: int) -> dict[str, Any]:
    """The record of a test, as the trainer's metadata and the evaluate command
    write it: mean, std, standard error, min, max, the sample and every return.

    Args:
        returns: ``(n,)`` episode returns, episode ``i`` played with ``seed + i``.
    """
    returns = np.asarray(returns, dtype=np.float64)
    n = len(returns)
    if n < 1 or not np.isfinite(returns).all():
        raise ValueError(f"score_summary needs >= 1 finite returns, got {returns}.")
    return {
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "stderr": float(returns.std(ddof=1) / np.sqrt(n)) if n > 1 else None,
        "min": float(returns.min()),
        "max": float(returns.max()),
        "episodes": n,
        "seeds": f"{seed}..{seed + n - 1}",
        "returns": [round(float(r), 2) for r in returns],
    }
