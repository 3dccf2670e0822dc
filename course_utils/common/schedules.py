"""Exploration schedules: ε as a function of the environment step."""

from __future__ import annotations

from course_utils.common.validate import number, probability


def linear_schedule(step: int, *, start: float, end: float, duration: int) -> float:
    """ε falls in a straight line from ``start`` to ``end`` over ``duration`` steps,
    then stays at ``end``.

    Raises:
        ValueError: if ``start`` or ``end`` is not in [0, 1], ``duration`` is not a
            finite positive number, or ``step`` is not a finite number (NaN included).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    probability("epsilon start", start)
    probability("epsilon end", end)
    number(
        "duration",
        duration,
        above=0,
        why="environment steps",
        fix="e.g. duration=int(exploration_fraction * total_steps), at least 1.",
    )
    number("step", step, why="the environment step")
    fraction = min(max(step, 0) / duration, 1.0)
    return start + fraction * (end - start)
