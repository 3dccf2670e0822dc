"""Machinery for exercise check cells.

A check cell looks like ``td_target = check_td_target(td_target)``.
The check runs hand-computable cases against the student's function and

- prints ``✓ Exercise N: ...`` and returns the student's function when it is right;
- raises ``AssertionError`` with a hint when it is wrong;
- prints that the exercise is not done yet, and returns the course's reference
  implementation, when the function still raises ``NotImplementedError`` — so an
  unsolved exercise never blocks "Run All" of the rest of the notebook.

In grading mode (``COURSE_GRADING=1``, or while nbgrader autogrades or validates: see
``course_utils.common.modes.grading_mode``) a check that meets an unsolved exercise, a
wrong answer or a function that raises **fails**: it raises ``ExerciseFailed``, so
nbgrader gives the cell no points. Because a raising call cannot complete ``name =
check_...(name)``, the check first binds the course's reference to ``name`` in the
cell's namespace itself: nbgrader runs the cells after an error, and they (and the later
exercises) use the reference, so each exercise is graded on its own. Warnings raised
during the check are printed on stdout there (nbgrader gives no points to a cell with
anything on stderr).

Whatever the exercise, the cases meet the student's function behind a guard
(``checks.contract``) that refuses an argument changed in place, ``None`` where a value
is due, a result of the wrong kind (a tensor for a number, a NumPy scalar for an
action) and random numbers drawn elsewhere than from the generator the function is
given; a check declares its contract with ``run_check``'s keywords. Notebooks' "same as
the course" cells compare with :func:`same_as_course` (``checks.compare``).

Per-notebook checks live beside this file (``checks.mlp``, ``checks.rl_basics``, ...).
"""

from __future__ import annotations

import contextlib
import inspect
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NoReturn, TypeVar

from course_utils.common.modes import grading_mode
from course_utils.lessons.checks.compare import NotSameAsCourse, same_as_course
from course_utils.lessons.checks.contract import Contract, Guarded, Returns
from course_utils.lessons.checks.pinned import np

__all__ = [
    "CheckFailed",
    "ExerciseFailed",
    "NotSameAsCourse",
    "exercise",
    "expect_close",
    "expect_ties_broken_at_random",
    "expect_true",
    "run_check",
    "same_as_course",
    "under_global_seeds",
]

# Grading mode as it was when the notebook's (locked) import cell imported the checks,
# before any answer cell ran: later cells can switch grading on, never off, whether
# they change the environment or replace grading_mode.
_GRADING_AT_IMPORT = grading_mode()

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class CheckFailed(AssertionError):
    """A check's verdict on a wrong answer: its message names the exercise and says
    what went wrong and how to fix it.

    IPython shows it as that message alone, without the traceback through the
    checks' own source, which would bury it. It is still an error: the cell stops,
    Run All stops there, and nbgrader sees an error output.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class ExerciseFailed(CheckFailed):
    """A check failed in grading mode; the reference now stands in for the answer."""


def run_check(
    exercise: str,
    fn: F,
    cases: Callable[[F], None],
    *,
    reference: F,
    returns: Returns = None,
    rng_args: Sequence[str] | None = None,
    mutates: Sequence[str] | None = None,
    inplace_hint: str | dict[str, str] = "",
) -> F:
    """Run ``cases(fn)``; see the module docstring for what happens next.

    ``cases`` receives ``fn`` behind a guard that checks every call against the
    contract the check declares (see :class:`_Guarded`): it refuses ``None`` where
    the contract returns something, a result of the wrong kind (``returns``), an
    argument changed in place (any argument not in ``mutates``), and a function that
    draws its random numbers elsewhere than from its ``rng_args``.

    Args:
        exercise: e.g. ``"Exercise 1: discounted return"``.
        fn: the student's function.
        cases: calls ``fn`` on known inputs and raises ``AssertionError`` when wrong.
        reference: the course's implementation, used if ``fn`` is not written yet
            (and, in grading mode, whenever the check fails). Its signature names
            the arguments in the guard's messages; its return annotation ``None``
            means the function may return nothing.
        returns: the kind of result, checked on every call: ``"float"`` (a number:
            Python or NumPy, never a tensor or an array), ``"int"`` (an integer,
            Python or NumPy), ``"action"`` (a Python ``int``: no NumPy scalar, no
            tensor), ``"bool"``, ``"array"`` (a NumPy array), ``"tensor"``,
            ``"dict"``, a tuple of these for a function returning a tuple, or a
            callable ``value -> problem | None``. ``None``: any value but ``None``
            (anything at all when the reference is annotated ``-> None``).
        rng_args: names of the arguments that are random generators (NumPy's
            ``Generator``/``RandomState``, ``random.Random``, ``torch.Generator``);
            ``None``: the reference's argument named ``rng``, if it has one (the
            course's name for a generator).
            The first 32 calls, then one in 50, are made twice, first on copies
            of the generators: the two results must be equal, and the function
            must not touch NumPy's, Python's or PyTorch's global generator.
        mutates: names of the arguments the contract lets the function change.
            By default none, or all of them when the reference is annotated
            ``-> None`` (a function that exists to update its arguments). NumPy
            arrays (views included), tensors, lists, dicts and tuples of them are
            compared before and after each call.
        inplace_hint: the fix to suggest when an argument changed in place; a dict
            gives one per argument name.

    Returns:
        ``fn`` itself (never the guard) if it passes; ``reference`` if it is a stub
        (self-study mode).

    Raises:
        AssertionError: ``fn`` gives a wrong answer (self-study mode).
        TypeError: ``fn`` is not a function (self-study mode).
        ExerciseFailed: in grading mode, for a stub, a wrong answer, a non-function
            or any exception ``fn`` raises, after binding ``reference``.
    """
    grading = _GRADING_AT_IMPORT or grading_mode()
    if not callable(fn):
        message = f"expected a function, got {type(fn).__name__}."
        if grading:
            _fail(exercise, fn, reference, message)
        raise TypeError(f"{exercise}: {message}")
    if _course_function(fn) and _called_from_a_notebook():
        message = (
            f"that is the course's own {fn.__qualname__}, not yours: the check cannot "
            "tell you anything about it. Write the function yourself in the cell above."
        )
        if grading:
            _fail(exercise, fn, reference, message)
        raise CheckFailed(f"✗ {exercise}: {message}")
    contract = Contract.declare(
        reference,
        returns=returns,
        rng_args=rng_args,
        mutates=mutates,
        inplace_hint=inplace_hint,
    )
    guarded = Guarded(fn, contract)
    try:
        with _warnings_on_stdout(grading):
            cases(guarded)  # type: ignore[arg-type]
    except NotImplementedError:
        if grading:
            _fail(exercise, fn, reference, "not done yet (NotImplementedError).")
        print(
            f"… {exercise}: not done yet. The cells below carry on with the course's "
            "reference implementation. Come back to it!"
        )
        return reference
    except AssertionError as error:
        if grading:
            _fail(exercise, fn, reference, str(error))
        raise CheckFailed(f"✗ {exercise}: {error}") from None
    except (Exception, KeyboardInterrupt) as error:
        if not grading:
            raise
        reason = f"your function raised {type(error).__name__}: {error}"
        _fail(exercise, fn, reference, reason, cause=error)
    print(f"✓ {exercise}: correct.")
    return fn


def _where(reference: Callable[..., Any]) -> str:
    return f"{reference.__module__}.{reference.__qualname__}"


@contextlib.contextmanager
def _warnings_on_stdout(active: bool) -> Iterator[None]:
    """In grading mode, show the check's warnings on stdout rather than stderr."""
    if not active:
        yield
        return
    with warnings.catch_warnings(record=True) as caught:
        try:
            yield
        finally:
            for warning in caught:
                category = warning.category.__name__
                print(f"  (a warning, not a failure) {category}: {warning.message}")


def _fail(
    exercise: str,
    fn: Any,
    reference: Callable[..., Any],
    reason: str,
    *,
    cause: BaseException | None = None,
) -> NoReturn:
    """Grading mode: bind ``reference`` in the check cell's namespace, then raise."""
    names = _bind_reference(fn, reference)
    carry_on = (
        f"{', '.join(names)} now holds the course's reference ({_where(reference)}), "
        "so the cells below run and later exercises are graded on their own."
        if names
        else "The reference could not stand in for it (call the check at the top "
        "level of a cell, as `name = check_...(name)`)."
    )
    raise ExerciseFailed(
        f"✗ {exercise}: {reason} [grading mode: this check earns no points] {carry_on}"
    ) from cause


def _course_function(fn: Any) -> bool:
    """Whether ``fn`` is one of the package's own functions (a reference passed off
    as the student's answer: ``td_target = dqn.td_target``)."""
    target = inspect.unwrap(fn) if callable(fn) else fn
    return str(getattr(target, "__module__", "") or "").startswith("course_utils.")


def _called_from_a_notebook() -> bool:
    """Whether the check was called from notebook code (``__main__``), as a check
    cell does; the course's own tests call checks with the references on purpose."""
    frame = inspect.currentframe()
    while frame is not None and _in_checks(frame):
        frame = frame.f_back
    return frame is not None and frame.f_globals.get("__name__") == "__main__"


def _in_checks(frame: Any) -> bool:
    module = str(frame.f_globals.get("__name__", ""))
    return module == __name__ or module.startswith(__name__ + ".")


def exercise(
    title: str, *, reference: F, **contract: Any
) -> Callable[[Callable[..., None]], Callable[..., F]]:
    """Decorate an exercise's cases to make its check::

        @exercise("Exercise 1: the return-to-go", reference=sm.return_to_go)
        def check_return_to_go(f):
            expect_close(f(np.array([1.0, 2.0]), 0.5), [2.0, 2.0], what="...")

    ``check_return_to_go(student_fn)`` then runs ``run_check(title, student_fn,
    cases, reference=reference, **contract)`` (``contract``: ``returns``,
    ``rng_args``, ``mutates``, ``inplace_hint``).

    Cases that need more than the student's function (the notebook's data, the
    seeds to score on) take it after ``f``, and the check passes it on:
    ``check_digits_hyperparameters(fn, train=(X_train, y_train))`` runs
    ``cases(f, train=(X_train, y_train))``. Those arguments are bound before the
    check runs, so a misspelt one is a ``TypeError`` naming it, never a failed
    exercise.
    """
    Contract.declare(reference, **contract)  # a misspelt declaration fails at import

    def make(cases: Callable[..., None]) -> Callable[..., F]:
        signature = inspect.signature(cases)

        def check(fn: F, *args: Any, **options: Any) -> F:
            try:
                signature.bind(fn, *args, **options)
            except TypeError as error:
                raise TypeError(f"{cases.__name__}: {error}") from None

            def run_cases(f: F) -> None:
                cases(f, *args, **options)

            return run_check(title, fn, run_cases, reference=reference, **contract)

        check.__name__ = check.__qualname__ = cases.__name__
        check.__doc__ = (
            cases.__doc__ or f"{title}: the student's ``{reference.__name__}``."
        )
        return check

    return make


def _bind_reference(fn: Any, reference: Callable[..., Any]) -> list[str]:
    """Bind ``reference`` where the check cell would have bound the check's result;
    return the names bound. The cell is the first frame outside this package; only a
    module-level frame (a notebook cell, a script) is touched, and only the public
    names that hold ``fn`` (``reference.__name__`` when none does).
    """
    frame = inspect.currentframe()
    try:
        while frame is not None and _in_checks(frame):
            frame = frame.f_back
        if frame is None or frame.f_code.co_name != "<module>":
            return []
        namespace = frame.f_globals
        names = [
            name
            for name, value in namespace.items()
            if callable(fn) and value is fn and not name.startswith("_")
        ] or [reference.__name__]
        for name in names:
            namespace[name] = reference
        return names
    finally:
        del frame  # frames hold references to their locals


def expect_close(
    actual: Any,
    expected: Any,
    *,
    what: str,
    hint: str = "",
    atol: float = 1e-6,
    rtol: float = 1e-5,
    reveal: bool = True,
) -> None:
    """Assert two numbers or arrays agree, with a message a student can act on.

    ``reveal=False`` for an exercise worked out by hand: the message says what was
    got and the hint, never the expected value.
    """
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
        if not reveal:
            raise AssertionError(
                f"{what}: {np.round(actual_arr, 6).tolist()} is not right. {hint}"
            )
        raise AssertionError(
            f"{what}: expected {np.round(expected_arr, 6).tolist()}, "
            f"got {np.round(actual_arr, 6).tolist()}. {hint}"
        )


def expect_true(condition: bool, message: str) -> None:
    """Assert ``condition`` with ``message`` as the hint."""
    if not condition:
        raise AssertionError(message)


def expect_ties_broken_at_random(
    choose: Callable[[], int], q_values: Sequence[float], calls: int = 200
) -> None:
    """``choose()`` is one greedy choice (ε = 0) among ``q_values``, whose largest
    value two or more actions share: over ``calls`` calls every tied action, and
    only those, must come up (the course's ``greedy_action`` breaks exact ties at
    random; an argmax always takes the first)."""
    tied = {i for i, q in enumerate(q_values) if q == max(q_values)}
    picks = {choose() for _ in range(calls)}
    expect_true(
        picks == tied,
        f"with ε = 0 and Q = {[float(q) for q in q_values]} actions "
        f"{sorted(tied)} tie; {calls} greedy choices gave {sorted(picks)}. The "
        "course breaks an exact tie at random: greedy_action(q_values, rng), as "
        "everywhere in the course (an argmax always takes the first).",
    )


def under_global_seeds(draw: Callable[[], T], seeds: Sequence[int] = (1, 2)) -> list[T]:
    """``draw()`` once under each of ``seeds`` given to NumPy's and Python's global
    generators (their states are restored after): a student's function that draws
    only from the rng it is handed returns the same every time."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        out = []
        for seed in seeds:
            np.random.seed(seed)
            random.seed(seed)
            out.append(draw())
        return out
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
