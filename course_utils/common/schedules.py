"""Exploration schedules: ε as a function of the environment step."""

from __future__ import annotations

import math


def _number(value: object) -> float:
    """``value`` as a float, or NaN when it is no number (a str, None, a bool)."""
    if isinstance(value, (str, bytes, bool)) or value is None:
        return math.nan
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _check(step: float, start: float, end: float, duration: float) -> None:
    for name, value in (("start", start), ("end", end)):
        if not 0.0 <= _number(value) <= 1.0:  # False for NaN too
            raise ValueError(f"epsilon {name} must lie in [0, 1], got {value!r}.")
    if not 0.0 < _number(duration) < math.inf:
        raise ValueError(
            f"duration must be a positive number of steps, got {duration!r}. Fix: "
            "e.g. duration=int(exploration_fraction * total_steps), at least 1."
        )
    if not math.isfinite(_number(step)):
        raise ValueError(
            f"step must be a finite number (the environment step), got {step!r}."
        )


def linear_schedule(step: int, *, start: float, end: float, duration: int) -> float:
    """ε falls in a straight line from ``start`` to ``end`` over ``duration`` steps,
    then stays at ``end``.

    Raises:
        ValueError: if ``start`` or ``end`` is not in [0, 1], ``duration`` is not a
            finite positive number, or ``step`` is not a finite number (NaN included).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    _check(step, start, end, duration)
    fraction = min(max(step, 0) / duration, 1.0)
    return start + fraction * (end - start)
