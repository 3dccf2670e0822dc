"""Fast mode and grading mode: the course's two switches.

CI and the tests set ``COURSE_FAST=1``. The notebooks then run the *same* code with
small budgets, so their numbers mean nothing; each notebook says so on screen.

Grading mode is on while nbgrader autogrades or validates (it turns it on by itself)
or when ``COURSE_GRADING=1``: an unsolved or wrong exercise then fails its check cell
instead of carrying on quietly with the reference (see ``course_utils.lessons.checks``),
and the budgets are the fast-mode ones. Nothing a notebook cell does can switch it off
while nbgrader grades: nbgrader's variable is read from the environment the kernel was
started with, which no cell can change.
"""

from __future__ import annotations

import os
import sys
from typing import TypeVar

FAST_ENV_VAR = "COURSE_FAST"
GRADING_ENV_VAR = "COURSE_GRADING"
# nbgrader sets NBGRADER_EXECUTION while it runs a notebook: "autograde" or "validate".
NBGRADER_ENV_VAR = "NBGRADER_EXECUTION"
_NBGRADER_GRADES = {"autograde", "validate"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


def _switch(name: str, what: str) -> bool | None:
    """The on/off value of environment variable ``name``; None when unset or empty."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(
        f"{name}={os.environ[name]!r} is not understood: "
        f"expected 1 ({what} on) or 0 (off). "
        f"Fix: export {name}=1 or unset it."
    )


def grading_mode() -> bool:
    """Return True when the course's checks grade rather than teach.

    On while nbgrader executes the notebook (``nbgrader autograde`` or ``nbgrader
    validate``, which set ``NBGRADER_EXECUTION``), whatever ``COURSE_GRADING`` says;
    otherwise on when ``COURSE_GRADING`` is 1/true/yes/on. ``COURSE_GRADING`` can
    switch grading on, never off.

    Raises:
        ValueError: if ``COURSE_GRADING`` holds something other than
            1/0/true/false/yes/no/on/off.
    """
    explicit = _switch(GRADING_ENV_VAR, "grading mode")  # a bad value: always an error
    return _nbgrader_executing() or bool(explicit)


def _nbgrader_executing() -> bool:
    """True while nbgrader autogrades or validates this process's notebook.

    nbgrader sets ``NBGRADER_EXECUTION`` before it starts the kernel. It is read both
    from ``os.environ`` and, on Linux, from the environment the process started with
    (``/proc/self/environ``), which a notebook cell cannot change: a cell that deletes
    the variable does not end grading.
    """
    values = (os.environ.get(NBGRADER_ENV_VAR, ""), _initial_environ(NBGRADER_ENV_VAR))
    return any(value.strip() in _NBGRADER_GRADES for value in values)


_ENVIRON_LIMIT = 8 * 2**20  # bytes: far above any real environment (Linux: ~2 MiB)


def _initial_environ(name: str) -> str:
    """The value of ``name`` in the environment this process started with ("" when
    unset, or where the system does not show it)."""
    if not sys.platform.startswith("linux"):
        return ""
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read(_ENVIRON_LIMIT)
    except OSError:
        return ""
    prefix = os.fsencode(name) + b"="
    for entry in raw.split(b"\0"):
        if entry.startswith(prefix):
            return os.fsdecode(entry[len(prefix) :])
    return ""


def fast_mode() -> bool:
    """Return True when fast mode is on: ``COURSE_FAST`` says so, or grading mode is on.

    Grading uses the fast budgets, so a notebook grades in seconds per cell.

    Raises:
        ValueError: if ``COURSE_FAST`` or ``COURSE_GRADING`` holds something other
            than 1/0/true/false/yes/no/on/off.
    """
    fast = bool(_switch(FAST_ENV_VAR, "fast mode"))
    return grading_mode() or fast  # both read, so a bad value is always an error


def budget(*, full: T, fast: T) -> T:
    """Pick a run budget: ``full`` for students, ``fast`` when fast mode is on.

    Example: ``total_steps = budget(full=60_000, fast=600)``.
    """
    return fast if fast_mode() else full


def fast_mode_banner() -> str:
    """A one-line message for notebooks to print under their Config."""
    if grading_mode():
        return (
            "GRADING MODE is on (nbgrader is grading, or COURSE_GRADING=1): budgets "
            "are the fast ones, and an exercise that is not done, wrong or raising "
            "fails its check cell (the cells below still run with the reference)."
        )
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
