"""The check-cell machinery: run_check and its helpers."""

import os
import subprocess
import sys
import warnings

import numpy
import pytest

from course_utils.common.modes import GRADING_ENV_VAR, NBGRADER_ENV_VAR
from course_utils.lessons.checks import (
    ExerciseFailed,
    expect_close,
    expect_true,
    run_check,
)

EXERCISE = "Exercise 1: double a number"


@pytest.fixture(autouse=True)
def self_study(monkeypatch):
    """Every test starts in self-study mode; grading tests switch it on."""
    monkeypatch.delenv(GRADING_ENV_VAR, raising=False)
    monkeypatch.delenv(NBGRADER_ENV_VAR, raising=False)


def reference_double(x):
    return 2 * x


def _cases(fn):
    expect_close(fn(3), 6, what="double(3)", hint="Multiply by 2.")
    expect_close(fn(-1.5), -3.0, what="double(-1.5)")


def test_right_answer_returns_the_students_function(capsys):
    def student(x):
        return x + x

    assert run_check(EXERCISE, student, _cases, reference=reference_double) is student
    assert capsys.readouterr().out == f"✓ {EXERCISE}: correct.\n"


def test_wrong_answer_raises_with_the_exercise_name_and_hint(capsys):
    def student(x):
        return x + 1

    with pytest.raises(AssertionError) as info:
        run_check(EXERCISE, student, _cases, reference=reference_double)
    message = str(info.value)
    assert message.startswith(f"✗ {EXERCISE}: double(3)")
    assert "expected 6.0, got 4.0" in message and "Multiply by 2." in message
    assert "correct" not in capsys.readouterr().out


def test_not_done_yet_returns_the_reference(capsys):
    def stub(x):
        raise NotImplementedError(EXERCISE)

    result = run_check(EXERCISE, stub, _cases, reference=reference_double)
    assert result is reference_double
    out = capsys.readouterr().out
    assert f"{EXERCISE}: not done yet" in out
    assert f"{__name__}.reference_double" in out  # says where the reference lives


def test_a_check_that_is_not_given_a_function():
    with pytest.raises(TypeError, match="expected a function, got int"):
        run_check(EXERCISE, 42, _cases, reference=reference_double)


def test_expect_close_passes_within_tolerance():
    expect_close(1.0 + 1e-9, 1.0, what="x")
    expect_close([1.0, 2.0], (1.0, 2.0 + 1e-8), what="xs")


def test_expect_close_shape_message():
    with pytest.raises(AssertionError) as info:
        expect_close([1.0, 2.0], [1.0, 2.0, 3.0], what="returns", hint="One per step.")
    assert str(info.value) == "returns: expected shape (3,), got (2,). One per step."


def test_expect_close_values_message():
    with pytest.raises(AssertionError) as info:
        expect_close([1.0, 2.5], [1.0, 2.0], what="targets", hint="Check gamma.")
    assert (
        str(info.value) == "targets: expected [1.0, 2.0], got [1.0, 2.5]. Check gamma."
    )


def test_expect_close_refuses_non_numbers():
    with pytest.raises(AssertionError, match="q: expected numbers, got 'abc'"):
        expect_close("abc", 1.0, what="q")
    missing_return = r"q: expected numbers, got None \(a missing return\?\)"
    with pytest.raises(AssertionError, match=missing_return):
        expect_close(None, 1.0, what="q")


def test_expect_true():
    expect_true(True, "never shown")
    with pytest.raises(AssertionError, match="^the hint$"):
        expect_true(False, "the hint")


def test_self_study_lets_an_error_in_the_students_function_through():
    def broken(x):
        return x.double()

    with pytest.raises(AttributeError):
        run_check(EXERCISE, broken, _cases, reference=reference_double)


# Grading mode: a check cell runs in a notebook's namespace, as `name = check(name)`.
CELL = "double = run_check(EXERCISE, double, _cases, reference=reference_double)"


def _run_cell(double, cell=CELL):
    """Execute ``cell`` the way a notebook does: at module level of a namespace."""
    namespace = {
        "__name__": "__main__",
        "double": double,
        "run_check": run_check,
        "EXERCISE": EXERCISE,
        "_cases": _cases,
        "reference_double": reference_double,
    }
    try:
        exec(compile(cell, "<cell>", "exec"), namespace)
    except ExerciseFailed as error:
        return namespace, error
    return namespace, None


@pytest.fixture
def grading(monkeypatch):
    monkeypatch.setenv(GRADING_ENV_VAR, "1")


def _stub(x):
    raise NotImplementedError(EXERCISE)


def _wrong(x):
    return x + 1


def _raises(x):
    return [1, 2][x]  # IndexError for 3


@pytest.mark.parametrize(
    "student, reason",
    [
        (_stub, "not done yet"),
        (_wrong, "expected 6.0, got 4.0"),
        (_raises, "your function raised IndexError"),
    ],
    ids=["unsolved", "wrong", "raises"],
)
def test_grading_fails_the_cell_and_the_reference_carries_on(grading, student, reason):
    namespace, error = _run_cell(student)
    assert isinstance(error, AssertionError)  # ExerciseFailed is an AssertionError
    message = str(error)
    assert message.startswith(f"✗ {EXERCISE}: ") and reason in message
    assert "this check earns no points" in message
    assert f"double now holds the course's reference ({__name__}." in message
    assert namespace["double"] is reference_double  # later cells use the reference


def test_grading_keeps_the_students_exception_as_the_cause(grading):
    _, error = _run_cell(_raises)
    assert isinstance(error.__cause__, IndexError)


def test_grading_passes_a_right_answer(grading, capsys):
    def student(x):
        return x * 2

    namespace, error = _run_cell(student)
    assert error is None and namespace["double"] is student
    assert capsys.readouterr().out == f"✓ {EXERCISE}: correct.\n"


def test_grading_binds_the_reference_name_when_the_answer_is_not_a_function(grading):
    from course_utils.agents import selective_memory
    from course_utils.lessons.checks.selective_memory import check_return_to_go

    namespace = {"__name__": "__main__", "return_to_go": None}
    namespace["check_return_to_go"] = check_return_to_go
    with pytest.raises(ExerciseFailed, match="expected a function, got NoneType"):
        exec("return_to_go = check_return_to_go(return_to_go)", namespace)
    assert namespace["return_to_go"] is selective_memory.return_to_go


def test_grading_binds_nothing_outside_a_cells_top_level(grading):
    cell = "def wrapper(f):\n    return " + CELL.split(" = ", 1)[1].replace(
        "double,", "f,"
    )
    cell += "\ndouble = wrapper(double)"
    namespace, error = _run_cell(_stub, cell)
    assert "could not stand in for it" in str(error)
    assert namespace["double"] is _stub


def test_grading_through_a_course_check(grading):
    from course_utils.agents import selective_memory
    from course_utils.lessons.checks.selective_memory import check_return_to_go

    def return_to_go(rewards, gamma):
        raise NotImplementedError

    namespace = {"__name__": "__main__", "return_to_go": return_to_go}
    namespace["check_return_to_go"] = check_return_to_go
    with pytest.raises(ExerciseFailed, match="Exercise 1: the return-to-go"):
        exec("return_to_go = check_return_to_go(return_to_go)", namespace)
    assert namespace["return_to_go"] is selective_memory.return_to_go


def test_grading_shows_warnings_on_stdout_not_stderr(grading, capsys):
    def noisy(x):
        warnings.warn("deprecated argument", FutureWarning, stacklevel=2)
        return 2 * x

    namespace, error = _run_cell(noisy)
    assert error is None
    captured = capsys.readouterr()
    assert captured.err == ""  # nbgrader gives 0 to a cell with anything on stderr
    assert "(a warning, not a failure) FutureWarning: deprecated argument" in (
        captured.out
    )


def test_nbgrader_autograde_switches_grading_on(monkeypatch):
    monkeypatch.setenv(NBGRADER_ENV_VAR, "autograde")
    assert isinstance(_run_cell(_stub)[1], ExerciseFailed)
    monkeypatch.setenv(GRADING_ENV_VAR, "0")  # cannot switch nbgrader's grading off
    assert isinstance(_run_cell(_stub)[1], ExerciseFailed)


def test_grading_mode_is_decided_when_the_checks_are_imported():
    """Once the import cell ran in grading mode, neither the environment nor a
    replaced grading_mode can switch it off."""
    code = """
import os
import course_utils.common.modes as modes
import course_utils.lessons.checks as checks
os.environ["COURSE_GRADING"] = "0"
modes.grading_mode = checks.grading_mode = lambda: False
def stub(x):
    raise NotImplementedError
try:
    checks.run_check("Exercise 1", stub, lambda fn: fn(1), reference=abs)
except checks.ExerciseFailed:
    print("graded")
"""
    env = {**os.environ, GRADING_ENV_VAR: "1"}
    env.pop(NBGRADER_ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("graded"), done.stdout


def test_numpy_rebound_by_a_cell_does_not_reach_the_checks(monkeypatch):
    from course_utils.lessons.checks.rl_basics import check_discounted_return

    for name in ("allclose", "isclose", "array_equal"):
        monkeypatch.setattr(numpy, name, lambda *a, **k: True)

    def wrong(rewards, gamma):
        return float(sum(rewards))  # forgets the discount

    with pytest.raises(AssertionError, match="expected"):
        expect_close(4.0, 6.0, what="four")
    with pytest.raises(AssertionError, match="Exercise 1"):
        check_discounted_return(wrong)
