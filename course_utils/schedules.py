"""Exploration schedules: ε as a function of the environment step."""

from __future__ import annotations

import math


def _check(start: float, end: float, duration: int) -> None:
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"epsilon {name} must lie in [0, 1], got {value}.")
    if duration <= 0:
        raise ValueError(
            f"duration must be a positive number of steps, got {duration}."
        )


def linear_schedule(step: int, *, start: float, end: float, duration: int) -> float:
    """ε falls in a straight line from ``start`` to ``end`` over ``duration`` steps,
    then stays at ``end``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    _check(start, end, duration)
    fraction = min(max(step, 0) / duration, 1.0)
    return start + fraction * (end - start)


def exponential_schedule(
    step: int, *, start: float, end: float, duration: int
) -> float:
    """ε decays geometrically from ``start`` towards ``end``; after ``duration`` steps
    it has covered 99% of the distance (time constant ``duration / ln 100``).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    _check(start, end, duration)
    tau = duration / math.log(100.0)
    return end + (start - end) * math.exp(-max(step, 0) / tau)
