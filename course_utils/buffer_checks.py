"""The checks ``ReplayBuffer`` runs on its arguments and on every transition it
stores: each refusal is a ``ValueError`` that says what was expected and the fix.

The internals of ``course_utils.buffers``: ``ReplayBuffer.add`` calls these only off
its fast path (what ``env.step`` returned needs none of them).
"""

from __future__ import annotations

import math
import operator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from course_utils.buffers import ReplayBuffer


def check_count(name: str, value: object) -> int:
    """A whole number >= 1 (``1e5`` is fine, ``2.7``, ``"5"`` and ``True`` are not)."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value, ok = int(value), True
    if not ok or value < 1:
        raise ValueError(
            f"{name} must be at least 1 and a whole number, got {value!r}."
        )
    return int(value)


def check_dtype(name: str, dtype: object) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be a number type such as np.float32, np.int64 or np.uint8, "
            f"got {dtype!r}."
        )
    return dtype


def check_shape(name: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(operator.index(d) for d in shape)  # type: ignore[union-attr]
    except TypeError:
        dims = None
    if isinstance(shape, str) or dims is None or any(d < 0 for d in dims):
        raise ValueError(
            f"{name} must be a tuple of sizes >= 0 such as (2,), got {shape!r}."
        )
    return dims


def check_obs(buffer: ReplayBuffer, name: str, value: np.ndarray) -> np.ndarray:
    """``value`` as ``buffer`` stores it; refused if the store would change it."""
    value = np.asarray(value)
    if value.shape != buffer.obs_shape:
        raise ValueError(
            f"{name} has shape {value.shape}, but this buffer stores observations "
            f"of shape {buffer.obs_shape}. Fix: pass one observation exactly as "
            "env.step "
            "returned it (no batch dimension), or build the buffer with "
            "ReplayBuffer.for_env(env, capacity)."
        )
    dtype = buffer.obs.dtype
    if value.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must hold numbers, got an array of {value.dtype} "
            f"({value.ravel()[:3]}...). Fix: pass the observation from env.step."
        )
    if dtype.kind in "iu" and value.dtype.kind in "iuf":
        # Cast, then compare: a value the cast changes (0.5, 300, -1, NaN) is bad.
        with np.errstate(invalid="ignore"):  # NaN or inf to int: no warning
            cast = value.astype(dtype)
            bad = cast != value
        if bad.any():
            info, example = np.iinfo(dtype), value[bad].ravel()[0]
            raise ValueError(
                f"{name} holds {example:g}, but this buffer stores {dtype} "
                f"observations: whole numbers {info.min}..{info.max}; storing it "
                f"would silently change it. Fix: pass the observation exactly as "
                f"env.step returned it, or, if you preprocess observations (e.g. "
                f"divide by 255), build the buffer with obs_dtype=np.float32."
            )
        return cast
    return value


def check_action(buffer: ReplayBuffer, action: object) -> np.ndarray:
    """``action`` as an array; refused outside ``buffer``'s action space."""
    value = np.asarray(action)
    if value.shape != buffer.action_shape:
        raise ValueError(
            f"action has shape {value.shape}, expected {buffer.action_shape} "
            "(a plain int for a discrete action space)."
        )
    huge = value.dtype.kind == "O" and type(action) is int  # beyond int64
    if value.dtype.kind not in "iuf" and not huge or isinstance(action, np.bool_):
        raise ValueError(f"action must be a number, got {action!r}.")
    if buffer.action.dtype.kind in "iu":
        n = buffer.n_actions
        end = buffer._action_end
        valid = "0, 1, ..., n_actions - 1" if n is None else f"0..{n - 1}"
        with np.errstate(invalid="ignore"):
            bad = ~((value >= 0) & (value < end) & (value % 1 == 0))
        if bad.any():
            raise ValueError(
                f"action {action!r} is not a valid discrete action: expected a "
                f"whole number {valid}. Fix: pass the action index given to "
                "env.step (int(q_values.argmax()) or env.action_space.sample())."
            )
        return value
    if not np.isfinite(value).all():
        raise ValueError(f"action must be finite, got {value}.")
    low, high = buffer.action_low, buffer.action_high
    if low is not None and high is not None:
        if ((value < low) | (value > high)).any():
            raise ValueError(
                f"action {value} lies outside the action space [{low.min():g}, "
                f"{high.max():g}]. Fix: clip it with np.clip(action, "
                "env.action_space.low, env.action_space.high) before env.step."
            )
    return value


def check_reward(reward: object) -> float:
    if isinstance(reward, (str, bytes)) or np.ndim(reward) != 0:
        raise ValueError(f"reward must be one number, got {reward!r}.")
    try:
        value = float(reward)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"reward must be one number, got {reward!r}.") from None
    if not math.isfinite(value):
        raise ValueError(
            f"reward must be a finite number, got {value}. A NaN or infinite "
            "reward would poison every TD target it enters. Fix: check how the "
            "reward was computed (an n-step sum, a reward shaping term...)."
        )
    return value


def check_terminated(terminated: object) -> float:
    if isinstance(terminated, (bool, np.bool_, int, float, np.number)):
        if terminated in (0, 1):  # True, False, 0, 1, 0.0, 1.0
            return float(terminated)
    raise ValueError(
        f"terminated must be True or False, got {terminated!r}. Fix: pass the "
        "terminated flag that env.step returned."
    )
