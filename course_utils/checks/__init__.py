"""Machinery for exercise check cells.

A check cell looks like ``td_target = check_td_target(td_target)``.
The check runs hand-computable cases against the student's function and

- prints ``✓ Exercise N: ...`` and returns the student's function when it is right;
- raises ``AssertionError`` with a hint when it is wrong;
- prints that the exercise is not done yet, and returns the course's reference
  implementation, when the function still raises ``NotImplementedError`` — so an
  unsolved exercise never blocks "Run All" of the rest of the notebook.

Per-notebook checks live beside this file (``checks.mlp``, ``checks.rl_basics``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

F = TypeVar("F", bound=Callable[..., Any])


def run_check(exercise: str, fn: F, cases: Callable[[F], None], *, reference: F) -> F:
    """Run ``cases(fn)``; see the module docstring for what happens next.

    Args:
        exercise: e.g. ``"Exercise 1: discounted return"``.
        fn: the student's function.
        cases: calls ``fn`` on known inputs and raises ``AssertionError`` when wrong.
        reference: the course's implementation, used if ``fn`` is not written yet.
    """
    if not callable(fn):
        raise TypeError(f"{exercise}: expected a function, got {type(fn).__name__}.")
    try:
        cases(fn)
    except NotImplementedError:
        where = f"{reference.__module__}.{reference.__qualname__}"
        print(
            f"… {exercise}: not done yet. The cells below carry on with the course's "
            f"reference implementation ({where}). Come back to it!"
        )
        return reference
    except AssertionError as error:
        raise AssertionError(f"✗ {exercise}: {error}") from None
    print(f"✓ {exercise}: correct.")
    return fn


def expect_close(
    actual: Any,
    expected: Any,
    *,
    what: str,
    hint: str = "",
    atol: float = 1e-6,
    rtol: float = 1e-5,
) -> None:
    """Assert two numbers or arrays agree, with a message a student can act on."""
    if actual is None:  # NumPy would turn None into nan and report "got nan"
        raise AssertionError(
            f"{what}: expected numbers, got None (a missing return?). {hint}"
        )
    try:
        actual_arr = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{what}: expected numbers, got {actual!r}. {hint}"
        ) from None
    expected_arr = np.asarray(expected, dtype=np.float64)
    if actual_arr.shape != expected_arr.shape:
        raise AssertionError(
            f"{what}: expected shape {expected_arr.shape}, "
            f"got {actual_arr.shape}. {hint}"
        )
    if not np.allclose(actual_arr, expected_arr, atol=atol, rtol=rtol):
        raise AssertionError(
            f"{what}: expected {np.round(expected_arr, 6).tolist()}, "
            f"got {np.round(actual_arr, 6).tolist()}. {hint}"
        )


def expect_true(condition: bool, message: str) -> None:
    """Assert ``condition`` with ``message`` as the hint."""
    if not condition:
        raise AssertionError(message)
