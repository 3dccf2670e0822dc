"""Fast mode: one switch that shrinks every run budget in the course.

CI and the tests set ``COURSE_FAST=1``. The notebooks then run the *same* code with
small budgets, so their numbers mean nothing; each notebook says so on screen.
"""

from __future__ import annotations

import os
from typing import TypeVar

FAST_ENV_VAR = "COURSE_FAST"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


def fast_mode() -> bool:
    """Return True when the environment variable ``COURSE_FAST`` turns fast mode on.

    Raises:
        ValueError: if the variable holds something other than 1/0/true/false/yes/no.
    """
    raw = os.environ.get(FAST_ENV_VAR, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"{FAST_ENV_VAR}={os.environ[FAST_ENV_VAR]!r} is not understood: "
        f"expected 1 (fast mode on) or 0 (off). "
        f"Fix: export {FAST_ENV_VAR}=1 or unset it."
    )


def budget(*, full: T, fast: T) -> T:
    """Pick a run budget: ``full`` for students, ``fast`` when fast mode is on.

    Example: ``total_steps = budget(full=60_000, fast=600)``.
    """
    return fast if fast_mode() else full


def fast_mode_banner() -> str:
    """A one-line message for notebooks to print under their Config."""
    if fast_mode():
        return (
            "FAST MODE is on (COURSE_FAST=1): budgets are tiny so the notebook runs in "
            "seconds. Scores and curves below mean nothing; unset COURSE_FAST to train "
            "for real."
        )
    return "Full mode: budgets are the real ones (COURSE_FAST is not set)."


def use_one_thread() -> None:
    """Run PyTorch and NumPy's maths libraries on one thread.

    Small networks and scikit-learn fits run faster, and far more steadily, on one
    thread of a 2-core laptop than on two that compete with everything else. Call
    it once near the top of a notebook or script.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(limits=1)
