"""The check-cell machinery: run_check and its helpers."""

import pytest

from course_utils.checks import expect_close, expect_true, run_check

EXERCISE = "Exercise 1: double a number"


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
