"""The "same as the course" comparison: a student's results against the course's.

A notebook cell that runs the student's exercise functions and the course's package
on the same data ends with ``same_as_course(yours, course's, exercise=..., what=...)``.
Two correct answers written in another order (a sum taken backwards, ``np.nanargmax``
for ``argmax``, ``np.sign`` to clip ±1 rewards) differ in the last bits of a float, so
floats agree within a tolerance fit for their precision; anything else must be equal.
When they differ, :class:`NotSameAsCourse` says where, by how much, and which exercise
to revisit: never a bare ``AssertionError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# (rtol, atol) by the coarser of the two float precisions compared: a few hundred
# roundings of float64 stay far below 1e-9 relative; float32 keeps about 7 digits.
TOLERANCE = {
    np.dtype(np.float64): (1e-9, 1e-12),
    np.dtype(np.float32): (1e-5, 1e-7),
    np.dtype(np.float16): (1e-2, 1e-4),
}


class NotSameAsCourse(AssertionError):
    """A student's results differ from the course's in a "same as the course" cell."""


def same_as_course(
    yours: Any,
    course: Any,
    *,
    exercise: str,
    what: str,
    rtol: float | None = None,
    atol: float | None = None,
) -> None:
    """Raise :class:`NotSameAsCourse` unless ``yours`` equals ``course``.

    Args:
        yours: what the student's functions produced: a number, an array, a tensor,
            or lists, tuples and dicts of them (nested).
        course: what the course's code produced from the same inputs.
        exercise: the exercise to revisit, e.g. ``"Exercise 3 (the TD target)"``.
        what: what is compared, e.g. ``"the targets of the first batch"``.
        rtol, atol: the float tolerance; by default fit for the coarser precision
            compared (float64: 1e-9 and 1e-12, float32: 1e-5 and 1e-7). Integers,
            booleans and strings must be equal.

    Raises:
        NotSameAsCourse: an ``AssertionError`` saying what differs, where, and which
            exercise to revisit.
    """
    problem = _difference(yours, course, "", rtol, atol)
    if problem is None:
        return
    raise NotSameAsCourse(
        f"✗ Not the same as the course: {what}{problem}. Revisit {exercise}: its "
        "check passed on small cases, but on these inputs your function and the "
        "course's disagree. Fix it, re-run its check cell, then this cell."
    )


def _float_tolerance(
    a: np.ndarray, b: np.ndarray, rtol: float | None, atol: float | None
) -> tuple[float, float]:
    kinds = [x.dtype for x in (a, b) if x.dtype.kind in "fc"]
    coarse = min(kinds, key=lambda d: np.finfo(d).precision, default=np.float64)
    default = TOLERANCE.get(np.dtype(coarse), TOLERANCE[np.dtype(np.float64)])
    if np.dtype(coarse).kind == "c":
        default = TOLERANCE[np.dtype(np.float64)]
    return (
        default[0] if rtol is None else rtol,
        default[1] if atol is None else atol,
    )


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    if isinstance(value, bool | int | float):
        return np.asarray(value)
    return None


def _difference(
    yours: Any, course: Any, path: str, rtol: float | None, atol: float | None
) -> str | None:
    at = f" at {path}" if path else ""
    if yours is None and course is not None:
        return f"{at}: yours is None (a function missing its `return`?)"
    if isinstance(course, dict):
        if not isinstance(yours, dict):
            return f"{at}: yours is a {type(yours).__name__}, the course's a dict"
        if yours.keys() != course.keys():
            return (
                f"{at}: your keys {sorted(map(str, yours))}, the course's "
                f"{sorted(map(str, course))}"
            )
        for key in course:
            found = _difference(yours[key], course[key], f"{path}[{key!r}]", rtol, atol)
            if found:
                return found
        return None
    if isinstance(course, list | tuple) and not isinstance(yours, np.ndarray):
        if not isinstance(yours, list | tuple):
            return f"{at}: yours is a {type(yours).__name__}, the course's a sequence"
        if len(yours) != len(course):
            return f"{at}: you have {len(yours)} items, the course {len(course)}"
        for i, (a, b) in enumerate(zip(yours, course, strict=True)):
            found = _difference(a, b, f"{path}[{i}]", rtol, atol)
            if found:
                return found
        return None
    a, b = _as_array(yours), _as_array(course)
    if a is None or b is None:
        if yours == course:
            return None
        return f"{at}: yours {short(yours)}, the course's {short(course)}"
    return _array_difference(a, b, at, rtol, atol)


def _array_difference(
    a: np.ndarray, b: np.ndarray, at: str, rtol: float | None, atol: float | None
) -> str | None:
    if a.shape != b.shape:
        return f"{at}: your shape {a.shape}, the course's {b.shape}"
    if a.size == 0:
        return None
    if a.dtype.kind in "fc" or b.dtype.kind in "fc":
        rt, at_ = _float_tolerance(a, b, rtol, atol)
        a64, b64 = (
            a.astype(np.complex128 if a.dtype.kind == "c" else np.float64),
            (b.astype(np.complex128 if b.dtype.kind == "c" else np.float64)),
        )
        both_nan = np.isnan(a64) & np.isnan(b64)
        with np.errstate(invalid="ignore"):
            gap = np.where(both_nan, 0.0, np.abs(a64 - b64))
        gap = np.where(np.isnan(gap), np.inf, gap)
        bad = gap > at_ + rt * np.abs(b64)
        if not bad.any():
            return None
        index = np.unravel_index(int(np.argmax(np.where(bad, gap, -1.0))), a.shape)
        where = _index(index)
        return (
            f"{at}: {int(bad.sum())} of {a.size} values differ by more than "
            f"{at_:.0e} + {rt:.0e} × |course's value|; the largest difference is "
            f"{float(gap[index]):.3g}{where} (yours {short(a[index])}, the "
            f"course's {short(b[index])})"
        )
    bad = a != b
    if not np.any(bad):
        return None
    index = tuple(int(i) for i in np.argwhere(np.atleast_1d(bad))[0])[: a.ndim]
    return (
        f"{at}: {int(np.sum(bad))} of {a.size} values differ; first{_index(index)}: "
        f"yours {short(a[index])}, the course's {short(b[index])}"
    )


def _index(index: tuple) -> str:
    return f" at index {tuple(int(i) for i in index)}" if index else ""


def short(value: Any, digits: int = 9) -> str:
    """A value as a failure message shows it: floats to ``digits`` significant
    digits, anything else as its repr cut to 40 characters."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
