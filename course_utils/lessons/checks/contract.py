"""What every exercise check refuses whatever the exercise: the guard around the
student's function.

:func:`course_utils.lessons.checks.run_check` hands its cases a :class:`Guarded`
function instead of the student's. Every call goes through the guard, which

1. snapshots the arguments (NumPy arrays, views included, tensors, lists, dicts and
   tuples of them), calls the function, and refuses an argument that changed in place
   (a function that shifts ``q_values`` corrupts the caller's Q-table when it is
   given a row of it);
2. refuses ``None`` (a missing ``return``) before the case's own code meets it, and a
   result of the wrong kind (a tensor where the contract is a number, a 0-d tensor or
   a NumPy scalar where it is an action): such answers pass a numerical comparison,
   then break the notebook cells far after the exercise;
3. where the contract has random generators, calls the function first on copies of
   them: the two results must agree, and neither call may draw from NumPy's,
   Python's or PyTorch's global generator (a run must be reproducible from its seed).

A check declares its contract once, by keywords of ``run_check``: ``returns``,
``rng_args``, ``mutates``, ``inplace_hint`` (see :class:`Contract`).
"""

from __future__ import annotations

import collections
import copy
import functools
import inspect
import numbers
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from course_utils.lessons.checks.compare import short

Returns = str | tuple[Any, ...] | Callable[[Any], "str | None"] | None

_MISSING_RETURN = "returned None (did you forget `return`?)"
RETURN_KINDS = ("float", "int", "action", "bool", "array", "tensor", "dict")
_GENERATORS = (np.random.Generator, np.random.RandomState, random.Random)


@dataclass(frozen=True)
class Contract:
    """What a check declares about the function it checks.

    Attributes:
        signature: the reference's signature, to name a call's arguments.
        returns: the kind of result (see ``run_check``).
        may_return_none: the reference is annotated ``-> None``.
        rng_args: names of the random-generator arguments (by default the
            reference's argument named ``rng``).
        mutates: names of the arguments the function may change; ``None`` for all.
        inplace_hint: the fix suggested when an argument changed, per name ("" for
            any other).
    """

    signature: inspect.Signature | None
    returns: Returns
    may_return_none: bool
    rng_args: tuple[str, ...]
    mutates: frozenset[str] | None
    inplace_hint: dict[str, str]

    @classmethod
    def declare(
        cls,
        reference: Callable[..., Any],
        *,
        returns: Returns = None,
        rng_args: Sequence[str] | None = None,
        mutates: Sequence[str] | None = None,
        inplace_hint: str | dict[str, str] = "",
    ) -> Contract:
        """The contract of ``reference``'s exercise; a wrong declaration raises
        ``ValueError`` (a mistake of the check's author, never of the student)."""
        try:
            signature: inspect.Signature | None = inspect.signature(reference)
        except (TypeError, ValueError):
            signature = None
        names = set(signature.parameters) if signature is not None else set()
        may_return_none = signature is not None and signature.return_annotation in (
            None,
            "None",
        )
        if rng_args is None:  # the course names a generator argument rng
            rng_args = ("rng",) if "rng" in names else ()
        if isinstance(rng_args, str) or isinstance(mutates, str):
            raise ValueError("rng_args and mutates are sequences of names, not a str")
        declared = {*rng_args, *(mutates or ())}
        if isinstance(inplace_hint, dict):
            declared |= set(inplace_hint)
        unknown = sorted(declared - names) if signature is not None else []
        if unknown:
            raise ValueError(
                f"{unknown}: not parameters of {reference.__qualname__}{signature}"
            )
        _validate_returns(returns)
        if mutates is None and may_return_none:
            allowed: frozenset[str] | None = None  # it exists to change its arguments
        else:
            allowed = frozenset(mutates or ())
        hints = (
            dict(inplace_hint)
            if isinstance(inplace_hint, dict)
            else {"": inplace_hint}
            if inplace_hint
            else {}
        )
        return cls(signature, returns, may_return_none, tuple(rng_args), allowed, hints)

    @functools.cached_property
    def positional(self) -> tuple[str, ...]:
        """The names a call's positional arguments bind to, in order."""
        if self.signature is None:
            return ()
        kinds = (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
        return tuple(
            name for name, p in self.signature.parameters.items() if p.kind in kinds
        )

    def name_arguments(self, args: tuple, kwargs: dict) -> list[tuple[str, Any]]:
        """``(name, value)`` of a call's arguments, named by the reference."""
        if self.signature is not None:
            if not kwargs and len(args) <= len(self.positional):  # the usual call
                return list(zip(self.positional, args, strict=False))
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError:
                pass
            else:
                return list(bound.arguments.items())
        named = [(f"argument {i + 1}", value) for i, value in enumerate(args)]
        return named + list(kwargs.items())


def _validate_returns(returns: Returns) -> None:
    if returns is None or callable(returns):
        return
    if isinstance(returns, tuple):
        for kind in returns:
            _validate_returns(kind)
        return
    if returns not in RETURN_KINDS:
        raise ValueError(f"returns={returns!r}: expected one of {RETURN_KINDS}")


class Guarded:
    """The student's function behind the contract's guard (see the module docstring).

    Calls it exactly as the case calls the guard, and returns its result; raises
    ``AssertionError`` with a hint when a call breaks the contract.
    """

    def __init__(self, fn: Callable[..., Any], contract: Contract) -> None:
        self.fn = fn
        self.contract = contract
        self.calls = 0
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<{getattr(self.fn, '__name__', 'function')}, checked>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        contract = self.contract
        named = contract.name_arguments(args, kwargs)
        watched = [
            (name, value, snapshot(value))
            for name, value in named
            if contract.mutates is not None and name not in contract.mutates
        ]
        rngs = [value for name, value in named if name in contract.rng_args]
        rngs = [value for value in rngs if _is_generator(value)]
        probe = None
        self.calls += 1
        if rngs and _probed(self.calls):
            probe = self._probe(args, kwargs, named)
            with _global_generators_watched(self._name):
                result = self.fn(*args, **kwargs)
            if not same(probe, result, exact=True):
                probe = _DIFFERENT
        else:
            result = self.fn(*args, **kwargs)
        for name, value, before in watched:
            if before is not _UNWATCHED and not same(before, value, exact=True):
                self._changed(name, value, before)
        if probe is _DIFFERENT:
            raise AssertionError(
                f"{self._name} gave different results from two generators in the "
                "same state (yours, then a copy): draw every random number from "
                f"the {_names(contract.rng_args)} argument, never from a generator "
                "made inside the function (np.random.default_rng() without a "
                "seed), so a run can be reproduced from its seed."
            )
        self._check_result(result)
        return result

    @property
    def _name(self) -> str:
        return getattr(self.fn, "__name__", "your function")

    def _probe(self, args: tuple, kwargs: dict, named: list) -> Any:
        """Call the function on copies of the generators (and of the arguments it
        may change), so the real call still sees the case's own objects."""
        copied = {
            name
            for name, _ in named
            if name in self.contract.rng_args
            or self.contract.mutates is None
            or name in self.contract.mutates
        }
        values = {
            name: _copy_argument(value) if name in copied else value
            for name, value in named
        }
        if self.contract.signature is not None:
            try:
                bound = self.contract.signature.bind(*args, **kwargs)
            except TypeError:
                bound = None
            if bound is not None:
                for name in bound.arguments:
                    bound.arguments[name] = values[name]
                with _global_generators_watched(self._name):
                    return self.fn(*bound.args, **bound.kwargs)
        positional = [values[f"argument {i + 1}"] for i in range(len(args))]
        with _global_generators_watched(self._name):
            return self.fn(*positional, **{k: values[k] for k in kwargs})

    def _changed(self, name: str, value: Any, before: Any) -> None:
        hint = self.contract.inplace_hint.get(name) or self.contract.inplace_hint.get(
            "", ""
        )
        if not hint:
            hint = (
                "Work on new values (`x = x - m`, `x.copy()`, `sorted(x)`) rather than "
                "writing into the argument (`x -= m`, `x[i] = ...`, `x.sort()`, "
                "`x.append(...)`, `out=x`)."
            )
        raise AssertionError(
            f"{self._name} changed its argument {name} in place{where(before, value)}: "
            "the caller's data is corrupted (and when the caller passes a view, "
            f"the whole array it belongs to). {hint}"
        )

    def _check_result(self, result: Any) -> None:
        if result is None:
            if self.contract.may_return_none:
                return
            raise AssertionError(f"{self._name} {_MISSING_RETURN}")
        problem = result_problem(self.contract.returns, result)
        if problem:
            raise AssertionError(f"{self._name} {problem}")


_DIFFERENT = object()
PROBE_FIRST = 32  # the guard probes every call up to here...
PROBE_EVERY = 50  # ...then one call in this many (checks make thousands of calls)


def _probed(call: int) -> bool:
    """Whether the ``call``-th call (from 1) is made twice: copying generators and
    reading the global generators' states costs about 1 ms."""
    return call <= PROBE_FIRST or call % PROBE_EVERY == 0


# --- results ---------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        shape = tuple(value.shape)
        return f"a tensor of shape {shape}" if shape else "a 0-d tensor"
    if isinstance(value, np.ndarray):
        return f"a NumPy array of shape {value.shape}"
    if isinstance(value, np.generic):
        return f"a NumPy scalar ({type(value).__name__})"
    return f"a {type(value).__name__}"


def result_problem(returns: Returns, value: Any) -> str | None:
    """What is wrong with ``value`` as a result of kind ``returns``, or ``None``."""
    if returns is None:
        return None
    if callable(returns):
        return returns(value)
    if isinstance(returns, tuple):
        if not isinstance(value, tuple | list) or len(value) != len(returns):
            return (
                f"returned {_type_name(value)}: the contract is a tuple of "
                f"{len(returns)} values."
            )
        for i, (kind, item) in enumerate(zip(returns, value, strict=True)):
            if item is None:
                return f"returned None as value {i + 1} of its tuple."
            problem = result_problem(kind, item)
            if problem:
                return problem.replace("returned", f"returned, as value {i + 1},", 1)
        return None
    got = _type_name(value)
    is_bool = isinstance(value, bool | np.bool_)
    if returns == "float":
        if isinstance(value, numbers.Real) and not is_bool:
            return None
        fix = _number_fix(value)
        return f"returned {got}, where the contract is one number (a float). {fix}"
    if returns == "int":
        if isinstance(value, numbers.Integral) and not is_bool:
            return None
        return f"returned {got}, where the contract is an integer. {_number_fix(value)}"
    if returns == "action":
        if type(value) is int:
            return None
        return (
            f"returned {got}, where the contract is an action: a Python int. "
            "Environments and the cells after this exercise index, compare and "
            "store actions as plain integers: return int(...) "
            "(int(q.argmax()) for a tensor or an array)."
        )
    if returns == "bool":
        if is_bool:
            return None
        return f"returned {got}, where the contract is True or False."
    if returns == "array":
        if isinstance(value, np.ndarray):
            return None
        fix = (
            "Stay in NumPy, or convert at the end (.detach().numpy())."
            if isinstance(value, torch.Tensor)
            else "Return np.array(...)."
        )
        return (
            f"returned {got}, where the contract is a NumPy array: the cells after "
            f"this exercise do NumPy arithmetic on it. {fix}"
        )
    if returns == "tensor":
        if isinstance(value, torch.Tensor):
            return None
        return (
            f"returned {got}, where the contract is a torch tensor (the loss and "
            "the optimiser need one). Stay in PyTorch, or torch.as_tensor(...)."
        )
    if returns == "dict":
        return None if isinstance(value, dict) else f"returned {got}, not a dict."
    raise ValueError(f"returns={returns!r}: expected one of {RETURN_KINDS}")


def _number_fix(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return (
            "Return a Python number: .item() on the tensor. A tensor passes a "
            "comparison, then the cells after training break (\"Can't call numpy() "
            'on Tensor that requires grad", a graph kept alive).'
        )
    if isinstance(value, np.ndarray):
        return "Reduce to one number and return float(...) or int(...)."
    return "Return a plain number."


# --- snapshots and comparisons ---------------------------------------------------


class _Unwatched:
    def __repr__(self) -> str:
        return "<not watched>"


_UNWATCHED = _Unwatched()


def snapshot(value: Any) -> Any:
    """A deep copy of the parts of ``value`` a function could change in place and a
    caller would notice: arrays (views included), tensors, lists, dicts, tuples of
    them. Anything else (networks, environments, generators) is not watched."""
    if isinstance(value, np.ndarray):
        return np.array(value, copy=True)
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, list):
        return [snapshot(v) for v in value]
    if isinstance(value, tuple):
        items = [snapshot(v) for v in value]
        return value._make(items) if hasattr(value, "_make") else tuple(items)
    if isinstance(value, dict):
        return {k: snapshot(v) for k, v in value.items()}
    if isinstance(value, str | bytes | numbers.Number | bool | type(None)):
        return value
    return _UNWATCHED


def same(a: Any, b: Any, *, exact: bool = False) -> bool:
    """``a`` and ``b`` hold the same values (NaN equals NaN); with ``exact`` the same
    types and shapes too, else numbers compare by value whatever their type."""
    if a is _UNWATCHED or b is _UNWATCHED:
        return True
    if type(a) is np.ndarray and type(b) is np.ndarray:  # the common case, fast
        if a.shape != b.shape or a.dtype != b.dtype:
            return a.shape == b.shape and _arrays_equal(a, b)
        if a.dtype.kind in "biuf" and bool((a == b).all()):
            return True
        return a.dtype.kind not in "biu" and _arrays_equal(a, b)  # NaN equals NaN
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        if (
            exact
            and type(a) is not type(b)
            and not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor))
        ):
            return False
        a, b = _as_array(a), _as_array(b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if exact and not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        return a_arr.shape == b_arr.shape and _arrays_equal(a_arr, b_arr)
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same(a[k], b[k], exact=exact) for k in a)
        )
    if isinstance(a, list | tuple | collections.deque) or isinstance(
        b, list | tuple | collections.deque
    ):
        if exact and isinstance(a, tuple) != isinstance(b, tuple):
            return False
        return (
            isinstance(a, list | tuple | collections.deque)
            and isinstance(b, list | tuple | collections.deque)
            and len(a) == len(b)
            and all(same(x, y, exact=exact) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float | np.floating) and isinstance(b, float | np.floating):
        if np.isnan(a) and np.isnan(b):
            return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _arrays_equal(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:  # object or string arrays
        return bool(np.array_equal(a, b))


def _as_array(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def where(before: Any, after: Any) -> str:
    """`` (at [i]: was x, now y)`` for the first difference, or ``""``."""
    path, old, new = _first_difference(before, after, "")
    if path is None:
        return ""
    return f" ({'at ' + path + ': ' if path else ''}was {old}, now {new})"


def _first_difference(a: Any, b: Any, path: str) -> tuple[str | None, Any, Any]:
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return path, f"keys {sorted(map(str, a))}", f"keys {sorted(map(str, b))}"
        for k in a:
            found = _first_difference(a[k], b[k], f"{path}[{k!r}]")
            if found[0] is not None:
                return found
        return None, None, None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return path, f"{len(a)} items", f"{len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}[{i}]")
            if found[0] is not None:
                return found
        return None, None, None
    a_arr, b_arr = _as_array(a), _as_array(b)
    if isinstance(a_arr, np.ndarray) and isinstance(b_arr, np.ndarray):
        if a_arr.shape != b_arr.shape:
            return path, f"shape {a_arr.shape}", f"shape {b_arr.shape}"
        if a_arr.dtype.kind in "fc" or b_arr.dtype.kind in "fc":
            differ = ~((a_arr == b_arr) | (np.isnan(a_arr) & np.isnan(b_arr)))
        else:
            differ = a_arr != b_arr
        if not differ.any():
            return None, None, None
        index = tuple(int(i) for i in np.argwhere(differ)[0])
        where_in = path + ("[" + ", ".join(map(str, index)) + "]" if index else "")
        return where_in, short(a_arr[index], 6), short(b_arr[index], 6)
    if same(a, b):
        return None, None, None
    return path, short(a, 6), short(b, 6)


# --- random generators -----------------------------------------------------------


def _is_generator(value: Any) -> bool:
    return isinstance(value, _GENERATORS + (torch.Generator,))


def _copy_argument(value: Any) -> Any:
    """A copy in the same state: generators, and whatever the function may change."""
    if isinstance(value, torch.Generator):
        twin = torch.Generator(device=value.device)
        twin.set_state(value.get_state())
        return twin
    try:
        return copy.deepcopy(value)
    except (TypeError, RuntimeError, ValueError, AttributeError):
        return value


class _global_generators_watched:  # noqa: N801 - used as a context manager
    """Raise ``AssertionError`` if the body draws from NumPy's legacy global
    generator, Python's ``random`` or PyTorch's global generator."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        self.states = _global_states()

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is not None:
            return
        touched = [
            label
            for label, before, after in zip(
                _GLOBAL_LABELS, self.states, _global_states(), strict=True
            )
            if not _state_equal(before, after)
        ]
        if touched:
            raise AssertionError(
                f"{self.name} drew from {' and '.join(touched)}: a run could not be "
                "reproduced from its seed. Draw every random number from the rng "
                "the function is given (rng.random(), rng.integers(n), "
                "rng.choice(...))."
            )


_GLOBAL_LABELS = (
    "NumPy's global generator (np.random.…)",
    "Python's random module",
    "PyTorch's global generator (torch.rand…)",
)


def _global_states() -> tuple[Any, Any, Any]:
    return np.random.get_state(), random.getstate(), torch.random.get_rng_state()


def _state_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, tuple) and a and a[0] == "MT19937":  # NumPy's legacy state
        return bool(np.array_equal(a[1], b[1])) and a[2:] == b[2:]
    return a == b


def _names(names: Sequence[str]) -> str:
    return " / ".join(names) if names else "rng"
