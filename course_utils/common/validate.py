"""Argument validators, shared by the whole course.

Validate where data enters (a public function, a config, a command line), once;
internal functions trust their callers. Each validator returns the value in the form
the caller uses (a Python ``int``, ``float`` or ``tuple``) or raises a ``ValueError``
that says what was expected, what was given and, where one helps, the fix::

    >>> whole_number("batch_size", 0)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be a whole number >= 1, got 0.

The rules are the same everywhere: a bool is never a number (``True`` is no batch
size), NaN and infinities are never valid numbers, a string is never converted, and a
fractional float is never silently truncated to an int.

Every validator takes ``name`` (how the message names the argument, e.g.
``"DQNConfig.lr"``), the ``value``, and optionally ``why`` (what the argument is,
printed in parentheses after the expectation) and ``fix`` (printed after ``Fix:``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, NoReturn

import numpy as np

if TYPE_CHECKING:
    import torch


def is_whole(value: object) -> bool:
    """True for a Python or NumPy integer; False for a bool, a float or others."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """True for a Python or NumPy int or float (NaN included); False for a bool, a
    string, None, an array or anything else."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )


def refuse(
    name: str, expected: str, value: object, *, why: str = "", fix: str = ""
) -> NoReturn:
    """Raise the course's ``ValueError``: ``{name} must be {expected} ({why}), got
    {value}. Fix: {fix}``. For checks no validator below covers."""
    shown = (
        f"an array of shape {value.shape}"
        if isinstance(value, np.ndarray) and value.ndim
        else repr(value)
    )
    why = f" ({why})" if why else ""
    fix = f" Fix: {fix}" if fix else ""
    raise ValueError(f"{name} must be {expected}{why}, got {shown}.{fix}")


def whole_number(
    name: str,
    value: object,
    *,
    minimum: int = 1,
    maximum: int | None = None,
    whole_floats: bool = False,
    why: str = "",
    fix: str = "",
) -> int:
    """``value`` as an ``int`` in ``[minimum, maximum]``.

    Args:
        whole_floats: also accept a float with no fractional part (``1e5`` for a
            buffer's capacity), as written in a notebook.

    Raises:
        ValueError: ``name must be a whole number >= 1, got 2.5.``
    """
    if whole_floats and isinstance(value, (float, np.floating)):
        if float(value).is_integer():
            value = int(value)
    ok = is_whole(value)
    ok = ok and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        span = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        refuse(name, f"a whole number {span}", value, why=why, fix=fix)
    return int(value)  # type: ignore[arg-type]


def whole_numbers(
    name: str,
    values: Iterable[object],
    *,
    minimum: int = 1,
    why: str = "",
    fix: str = "",
) -> tuple[int, ...]:
    """Every element of ``values`` (a tuple, list or array, never a string) as an
    ``int >= minimum``, e.g. a network's layer widths or a shape."""
    ok = not isinstance(values, (str, bytes)) and hasattr(values, "__iter__")
    items = list(values) if ok else []
    ok = ok and all(is_whole(v) and v >= minimum for v in items)  # type: ignore[operator]
    if not ok:
        refuse(name, f"whole numbers >= {minimum}", values, why=why, fix=fix)
    return tuple(int(v) for v in items)  # type: ignore[call-overload]


def number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    below: float | None = None,
    why: str = "",
    fix: str = "",
) -> float:
    """``value`` as a finite ``float`` within the bounds given: ``minimum`` and
    ``maximum`` included, ``above`` and ``below`` excluded.

    Raises:
        ValueError: ``name must be a number in (0, 1], got nan.``
    """
    try:
        x = float(value) if is_number(value) else math.nan  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float's range
        x = math.nan
    ok = math.isfinite(x)
    if ok:
        ok = (
            (minimum is None or x >= minimum)
            and (maximum is None or x <= maximum)
            and (above is None or x > above)
            and (below is None or x < below)
        )
    if not ok:
        refuse(name, _span(minimum, maximum, above, below), value, why=why, fix=fix)
    return x


def _span(
    minimum: float | None,
    maximum: float | None,
    above: float | None,
    below: float | None,
) -> str:
    """``a number in [0, 1]``, ``a number > 0``, ``a finite number``, ..."""
    low = "" if minimum is None else f"[{minimum:g}"
    low = low or ("" if above is None else f"({above:g}")
    high = "" if maximum is None else f"{maximum:g}]"
    high = high or ("" if below is None else f"{below:g})")
    if low and high:
        return f"a number in {low}, {high}"
    if low:
        return f"a number {'>=' if minimum is not None else '>'} {low[1:]}"
    if high:
        return f"a number {'<=' if maximum is not None else '<'} {high[:-1]}"
    return "a finite number"


def probability(name: str, value: object, *, zero: bool = True, fix: str = "") -> float:
    """``value`` as a float in ``[0, 1]`` (``(0, 1]`` with ``zero=False``, for a
    learning rate or a soft-update weight that must move something)."""
    if zero:
        return number(name, value, minimum=0.0, maximum=1.0, fix=fix)
    return number(name, value, above=0.0, maximum=1.0, fix=fix)


def index(name: str, value: object, size: int) -> int:
    """``value`` as a row or column index ``0 <= value < size``: no negative
    wrap-around, which would silently pick a row from the end."""
    return whole_number(
        name,
        value,
        minimum=0,
        maximum=size - 1,
        why="an index; a negative one would silently pick a row from the end",
    )


def generator(name: str, value: object, *, needed_by: str = "") -> np.random.Generator:
    """``value`` if it is a ``np.random.Generator``: the course draws every random
    number from a generator it is handed, never from a global state.

    Args:
        needed_by: who needs it, for the message (``"sample"``).
    """
    if not isinstance(value, np.random.Generator):
        lead = f"{name} must be a np.random.Generator"
        if needed_by:
            lead = f"{needed_by} needs a np.random.Generator as {name}"
        raise ValueError(
            f"{lead}, got {type(value).__name__}. Fix: pass "
            "np.random.default_rng(seed) or the rng that set_seed(seed) returns (not "
            "np.random.RandomState, not None)."
        )
    return value


def device(name: str, value: object) -> torch.device:
    """``value`` (a name such as ``"cpu"`` or ``"cuda:0"``, or a ``torch.device``) as
    a ``torch.device`` this machine has: a missing GPU is found here, not mid-run."""
    import torch  # here: the validators above serve modules that never import torch

    try:
        dev = torch.device(value) if isinstance(value, (str, torch.device)) else None
    except RuntimeError:
        dev = None
    cuda = torch.cuda.is_available()
    count = {"cpu": 1, "cuda": torch.cuda.device_count() if cuda else 0}
    count["mps"] = int(torch.backends.mps.is_available())
    if dev is None or (dev.index or 0) >= count.get(dev.type, 0):
        refuse(
            name,
            "a device this machine has",
            value,
            why=f"CUDA is {'' if cuda else 'not '}available, torch {torch.__version__}",
            fix="use device='cpu' (the course's agents are small and fast on a CPU).",
        )
    return dev
