"""A return-to-go that knows the time limit (ours, not FitML's, not in the shipped
walker).

BipedalWalker truncates a game at 1 600 steps: the walker is still up, and the future
goes on. :func:`~course_utils.selective_memory.return_to_go` (FitML's) treats the last
step as the end; here a truncated game is bootstrapped with gamma * V(s_T), V being
the value network of ``sm_improvements.ValueBaseline``. A fall (terminated) still
ends the future. The loop receives :func:`returns_bootstrap_truncated` as
``compute_returns``.

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

import numpy as np

from course_utils.selective_memory import return_to_go


def return_to_go_bootstrapped(
    rewards: np.ndarray, gamma: float, *, truncated: bool, final_value: float
) -> np.ndarray:
    """Return-to-go that knows the time limit (ours): when the game was truncated,
    the future after the last step is ``final_value`` = V(s_T), not 0.

    ``R_{T-1} = r_{T-1} + gamma * V(s_T)`` if truncated, else ``r_{T-1}``; then
    ``R_t = r_t + gamma * R_{t+1}``. Returns ``(T,) float64``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if not truncated:
        return return_to_go(rewards, gamma)
    # V(s_T) stands as one more reward after the last step: FitML's recursion then
    # gives R_T = V(s_T) and R_{T-1} = r_{T-1} + gamma * V(s_T), the same operations.
    return return_to_go(np.append(rewards, float(final_value)), gamma)[:-1]


# Same signature as selective_memory.episode_returns on purpose: both are returns
# pieces the loop calls alike; the targets differ (FitML's end every game).
def returns_bootstrap_truncated(
    rewards: np.ndarray,
    gamma: float,
    *,
    truncated: bool,
    next_obs: np.ndarray,
    value: object | None,
) -> np.ndarray:
    """Returns piece (ours): :func:`return_to_go_bootstrapped` with V(s_T) from the
    loop's value network at a truncation; a fall (terminated) still ends the future.
    Needs ``baseline=ValueBaseline()``."""
    if value is None:
        raise ValueError(
            "returns_bootstrap_truncated needs V(s) to bootstrap a truncated game. "
            "Fix: pass baseline=ValueBaseline() to train_selective_memory."
        )
    final = 0.0
    if truncated:
        final = float(value.predict(np.asarray(next_obs, dtype=np.float32)[None])[0])
    return return_to_go_bootstrapped(
        rewards, gamma, truncated=truncated, final_value=final
    )
