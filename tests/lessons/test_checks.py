"""The check-cell machinery: run_check and its helpers."""

import os
import random
import subprocess
import sys
import warnings

import numpy
import numpy as np
import pytest
import torch

from course_utils.common.modes import GRADING_ENV_VAR, NBGRADER_ENV_VAR
from course_utils.lessons.checks import (
    CheckFailed,
    ExerciseFailed,
    NotSameAsCourse,
    exercise,
    expect_close,
    expect_true,
    run_check,
    same_as_course,
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


def test_exercise_passes_the_checks_own_arguments_on_to_the_cases(capsys):
    seen = []

    @exercise(EXERCISE, reference=reference_double)
    def check_double(fn, *, start=3):
        seen.append(start)
        expect_close(fn(start), 2 * start, what=f"double({start})")

    def student(x):
        return x + x

    assert check_double(student) is student
    assert check_double(student, start=5) is student
    assert seen == [3, 5]
    assert check_double.__name__ == "check_double"
    with pytest.raises(TypeError, match="check_double: .*'stat'"):
        check_double(student, stat=5)  # a misspelt argument: never a failed exercise
    assert seen == [3, 5]


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
    # it does not say where the reference lives: that would be the answer, one file away
    assert "reference_double" not in out


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


def test_expect_close_keeps_a_hand_worked_answer_secret():
    with pytest.raises(AssertionError) as info:
        expect_close(5.0, 2.5, what="V*(1)", hint="Count the steps.", reveal=False)
    assert str(info.value) == "V*(1): 5.0 is not right. Count the steps."
    assert "2.5" not in str(info.value)


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


# --- The guard: what run_check refuses whatever the exercise ----------------------


def reference_shift(q_values: np.ndarray) -> np.ndarray:
    return q_values - q_values.max()


def _shift_cases(fn):
    table = np.array([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]])
    out = fn(table[1])  # a view of the table's row, as a notebook passes it
    expect_close(out.max(), 0.0, what="max of the shifted row")  # crashes on None


def _check_shift(fn, **contract):
    return run_check(
        "Exercise 2: shift", fn, _shift_cases, reference=reference_shift, **contract
    )


def test_a_function_that_writes_into_a_view_of_its_argument_fails():
    def shift_in_place(q_values):
        q_values -= q_values.max()
        return q_values

    with pytest.raises(AssertionError) as info:
        _check_shift(shift_in_place)
    message = str(info.value)
    assert "shift_in_place changed its argument q_values in place" in message
    assert "at [0]: was 0, now -4" in message  # where, and the values
    assert "the whole array it belongs to" in message  # a view corrupts its array


def test_the_right_answer_passes_and_the_student_function_comes_back():
    def shift(q_values):
        return q_values - np.max(q_values)

    assert _check_shift(shift) is shift  # the function itself, never the guard


def test_inplace_hint_replaces_the_generic_fix():
    def shift_in_place(q_values):
        q_values[:] = q_values - q_values.max()
        return q_values

    with pytest.raises(AssertionError, match="in place.*Subtract into a new array"):
        _check_shift(shift_in_place, inplace_hint="Subtract into a new array.")
    with pytest.raises(AssertionError, match="in place.*per name"):
        _check_shift(shift_in_place, inplace_hint={"q_values": "per name"})


def _kinds_cases(fn):
    fn([3.0, 1.0], {"gamma": 0.5}, torch.tensor([1.0, 2.0]), (np.zeros(2), [1, 2]))


def reference_kinds(rewards, config, reward, batch) -> float:
    return 0.0


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda rewards, config, reward, batch: rewards.reverse(), "rewards"),
        (lambda rewards, config, reward, batch: rewards.append(0.0), "rewards"),
        (lambda rewards, config, reward, batch: config.pop("gamma"), "config"),
        (lambda rewards, config, reward, batch: config.update(gamma=0.9), "config"),
        (lambda rewards, config, reward, batch: reward.add_(1.0), "reward"),
        (lambda rewards, config, reward, batch: reward.mul_(0.5), "reward"),
        (lambda rewards, config, reward, batch: batch[0].fill(1.0), "batch"),
        (lambda rewards, config, reward, batch: batch[1].append(3), "batch"),
    ],
    ids=[
        "list reversed",
        "list appended",
        "dict popped",
        "dict updated",
        "tensor add_",
        "tensor mul_",
        "array in a tuple",
        "list in a tuple",
    ],
)
def test_every_kind_of_argument_is_watched(change, where):
    def changes(rewards, config, reward, batch):
        change(rewards, config, reward, batch)
        return 0.0

    with pytest.raises(AssertionError, match=f"changed its argument {where} in place"):
        run_check(EXERCISE, changes, _kinds_cases, reference=reference_kinds)


def test_a_tensor_that_requires_grad_can_be_watched():
    def reference(x: torch.Tensor) -> float:
        return float(x.detach().sum())

    def grows(x):
        with torch.no_grad():
            x += 1.0
        return float(x.detach().sum())

    def cases(fn):
        fn(torch.ones(3, requires_grad=True))

    assert run_check(EXERCISE, reference, cases, reference=reference) is reference
    with pytest.raises(AssertionError, match="changed its argument x in place"):
        run_check(EXERCISE, grows, cases, reference=reference)


def reference_update(q_table: np.ndarray, state: int, reward: float) -> None:
    q_table[state] += reward


def _update_cases(fn):
    q = np.zeros((2, 2))
    fn(q, 1, 1.0)
    expect_close(q, [[0, 0], [1, 1]], what="the table")


def test_a_function_that_returns_nothing_may_change_its_arguments():
    assert (
        run_check(EXERCISE, reference_update, _update_cases, reference=reference_update)
        is reference_update
    )


def test_mutates_names_the_arguments_that_may_change():
    def reference(pending: list, table: np.ndarray) -> list:
        pending.append(1)
        return list(pending)

    def also_writes_the_table(pending, table):
        pending.append(1)
        table[0] = 9
        return list(pending)

    def cases(fn):
        fn([], np.zeros(2))

    contract = {"reference": reference, "mutates": ("pending",)}
    assert run_check(EXERCISE, reference, cases, **contract) is reference
    with pytest.raises(AssertionError, match="changed its argument table in place"):
        run_check(EXERCISE, also_writes_the_table, cases, **contract)
    with pytest.raises(AssertionError, match="changed its argument pending in place"):
        run_check(EXERCISE, reference, cases, reference=reference)


def test_none_is_refused_before_the_cases_hint_code_meets_it():
    def forgets_return(q_values):
        q_values - q_values.max()

    with pytest.raises(AssertionError) as info:  # not the case's AttributeError
        _check_shift(forgets_return)
    assert str(info.value) == (
        "✗ Exercise 2: shift: forgets_return returned None (did you forget `return`?)"
    )


def test_none_is_refused_in_grading_mode_with_the_same_words(grading):
    namespace, error = _run_cell(lambda x: None)
    assert "returned None (did you forget `return`?)" in str(error)
    assert namespace["double"] is reference_double


# returns=: the kind of result
def _one_case(value):
    def cases(fn):
        fn(value)

    return cases


def _identity(x):
    return x


@pytest.mark.parametrize(
    ("returns", "value", "message"),
    [
        ("float", torch.tensor(1.5), "0-d tensor, where the contract is one number"),
        ("float", torch.tensor(1.5, requires_grad=True) * 2, r"\.item\(\)"),
        ("float", np.array([1.5]), "Reduce to one number"),
        ("float", np.array(1.5), "shape \\(\\)"),
        ("float", True, "a bool"),
        ("float", "1.5", "a str"),
        ("int", torch.tensor(2), "0-d tensor, where the contract is an integer"),
        ("int", 2.0, "a float, where the contract is an integer"),
        ("action", torch.tensor(2), "0-d tensor, where the contract is an action"),
        ("action", np.int64(2), "NumPy scalar \\(int64\\).*an action"),
        ("action", np.array(2), "an action"),
        ("action", 2.0, "an action.*int\\(q.argmax\\(\\)\\)"),
        ("bool", 1, "True or False"),
        ("bool", torch.tensor(True), "True or False"),
        ("array", torch.zeros(3), "NumPy array.*\\.detach\\(\\)\\.numpy\\(\\)"),
        ("array", [1.0, 2.0], "a list, where the contract is a NumPy array"),
        ("tensor", np.zeros(3), "torch tensor"),
        ("dict", [("a", 1)], "not a dict"),
        (("float", "action"), 3.0, "a tuple of 2 values"),
        (("float", "action"), (3.0, np.int64(1)), "as value 2.*an action"),
        (("float", "action"), (None, 1), "None as value 1"),
    ],
)
def test_returns_refuses_a_result_of_the_wrong_kind(returns, value, message):
    with pytest.raises(AssertionError, match=message):
        run_check(
            EXERCISE, _identity, _one_case(value), reference=_identity, returns=returns
        )


@pytest.mark.parametrize(
    ("returns", "value"),
    [
        ("float", 1.5),
        ("float", 2),
        ("float", np.float32(1.5)),
        ("float", np.float64(1.5)),
        ("float", np.int64(3)),
        ("int", 2),
        ("int", np.int64(2)),
        ("action", 2),
        ("bool", False),
        ("bool", np.bool_(True)),
        ("array", np.zeros(2)),
        ("tensor", torch.zeros(2)),
        ("dict", {}),
        (("float", "action"), (1.0, 2)),
        (("float", "action"), [1.0, 2]),
    ],
)
def test_returns_accepts_what_the_contract_allows(returns, value):
    assert (
        run_check(
            EXERCISE, _identity, _one_case(value), reference=_identity, returns=returns
        )
        is _identity
    )


def test_returns_can_be_a_callable_that_names_the_problem():
    def positive(value):
        return None if value > 0 else "returned a value <= 0."

    with pytest.raises(AssertionError, match="_identity returned a value <= 0"):
        run_check(
            EXERCISE, _identity, _one_case(-1), reference=_identity, returns=positive
        )


def test_a_wrong_declaration_is_the_check_authors_mistake():
    with pytest.raises(ValueError, match="expected one of"):
        run_check(
            EXERCISE, _identity, _one_case(1), reference=_identity, returns="number"
        )
    with pytest.raises(ValueError, match=r"\['rng'\]: not parameters"):
        run_check(
            EXERCISE, _identity, _one_case(1), reference=_identity, rng_args=("rng",)
        )
    with pytest.raises(ValueError, match="not a str"):
        run_check(EXERCISE, _identity, _one_case(1), reference=_identity, rng_args="x")
    with pytest.raises(ValueError, match="not parameters"):
        exercise(EXERCISE, reference=_identity, mutates=("y",))(_one_case(1))


# rng_args=: the function draws from the generator it is given, and from it only
def reference_pick(q_values: np.ndarray, epsilon: float, rng) -> int:
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return int(np.argmax(q_values))


def _pick_cases(fn):
    rng = np.random.default_rng(0)
    for _ in range(30):
        action = fn(np.array([1.0, 3.0, 2.0]), 0.5, rng)
        expect_true(0 <= action < 3, "an action in range")


def _check_pick(fn, rng_args=("rng",)):
    return run_check(
        "Exercise 3: pick",
        fn,
        _pick_cases,
        reference=reference_pick,
        returns="action",
        rng_args=rng_args,
    )


def picks_with_np_random(q_values, epsilon, rng):
    if np.random.random() < epsilon:
        return int(np.random.randint(len(q_values)))
    return int(np.argmax(q_values))


def picks_with_random_module(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return random.randrange(len(q_values))
    return int(np.argmax(q_values))


def picks_with_torch(q_values, epsilon, rng):
    if rng.random() < epsilon:
        return int(torch.randint(len(q_values), ()))
    return int(np.argmax(q_values))


def picks_with_a_fresh_generator(q_values, epsilon, rng):
    own = np.random.default_rng()
    if own.random() < epsilon:
        return int(own.integers(len(q_values)))
    return int(np.argmax(q_values))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (picks_with_np_random, "drew from NumPy's global generator"),
        (picks_with_random_module, "drew from Python's random module"),
        (picks_with_torch, "drew from PyTorch's global generator"),
        (picks_with_a_fresh_generator, "different results from two generators"),
    ],
)
def test_rng_args_refuse_random_numbers_from_elsewhere(wrong, message):
    with pytest.raises(AssertionError, match=message):
        _check_pick(wrong)


def test_rng_args_call_twice_but_the_callers_generator_advances_once():
    seen = []

    def picks(q_values, epsilon, rng):
        seen.append(rng)
        return reference_pick(q_values, epsilon, rng)

    def cases(fn):
        rng = np.random.default_rng(7)
        twin = np.random.default_rng(7)
        for _ in range(5):
            expect_true(
                fn(np.zeros(3), 0.5, rng) == reference_pick(np.zeros(3), 0.5, twin),
                "same",
            )
        expect_true(rng.random() == twin.random(), "the rng advanced as once")

    assert (
        run_check(EXERCISE, picks, cases, reference=reference_pick, rng_args=("rng",))
        is picks
    )
    assert len(seen) == 10 and len({id(r) for r in seen[1::2]}) == 1


def test_rng_args_take_every_kind_of_generator():
    def reference(n: int, rng) -> float:
        if isinstance(rng, torch.Generator):
            return float(torch.rand((), generator=rng))
        return float(rng.random())

    def cases(fn):
        for rng in (
            np.random.default_rng(1),
            np.random.RandomState(1),
            random.Random(1),
            torch.Generator().manual_seed(1),
        ):
            fn(3, rng)

    assert (
        run_check(EXERCISE, reference, cases, reference=reference, rng_args=("rng",))
        is reference
    )


def test_rng_args_probe_on_copies_of_arguments_the_function_may_change():
    def reference(memory: list, rng) -> int:
        memory.append(int(rng.integers(10)))
        return len(memory)

    def cases(fn):
        memory = []
        expect_true(fn(memory, np.random.default_rng(0)) == 1, "one item")
        expect_true(len(memory) == 1, "appended once, not twice")

    assert (
        run_check(
            EXERCISE,
            reference,
            cases,
            reference=reference,
            rng_args=("rng",),
            mutates=("memory",),
        )
        is reference
    )


# --- same_as_course: the "same as the course" cells -------------------------------


def test_same_as_course_accepts_a_sum_taken_in_another_order():
    rewards = np.random.default_rng(0).normal(size=200)
    forward = sum(r * 0.99**t for t, r in enumerate(rewards))
    backward = 0.0
    for r in rewards[::-1]:
        backward = r + 0.99 * backward
    assert forward != backward  # the last bits differ...
    same_as_course(backward, forward, exercise="Exercise 1", what="the return")
    same_as_course(  # ...and float32 against float64 keeps about 7 digits
        np.float32(1 / 3) * np.ones(3, np.float32),
        np.full(3, 1 / 3),
        exercise="Exercise 1",
        what="a third",
    )


def test_same_as_course_says_what_differs_and_which_exercise_to_revisit():
    course = np.array([[0.1, 0.2], [0.3, 0.4]])
    yours = course.copy()
    yours[1, 0] = 0.31
    with pytest.raises(NotSameAsCourse) as info:
        same_as_course(
            yours,
            course,
            exercise="Exercise 3 (the forward pass)",
            what="the probabilities",
        )
    message = str(info.value)
    assert isinstance(info.value, AssertionError)
    assert message.startswith("✗ Not the same as the course: the probabilities: ")
    assert "1 of 4 values differ" in message
    assert "largest difference is 0.01 at index (1, 0)" in message
    assert "yours 0.31, the course's 0.3" in message
    assert "Revisit Exercise 3 (the forward pass)" in message


@pytest.mark.parametrize(
    ("yours", "course", "message"),
    [
        (np.zeros(3), np.zeros(4), r"your shape \(3,\), the course's \(4,\)"),
        ([(np.zeros(2), 1, 0.5)], [(np.zeros(2), 2, 0.5)], r"at \[0\]\[1\]: 1 of 1"),
        ([1, 2], [1, 2, 3], "you have 2 items, the course 3"),
        ({"W1": np.ones(2)}, {"W1": np.ones(2), "b1": 0.0}, "your keys"),
        ({"W1": np.ones(2)}, {"W1": np.zeros(2)}, r"at \['W1'\]: 2 of 2"),
        (None, 1.0, "yours is None"),
        (torch.tensor([1.0, 2.0]), np.array([1.0, 2.5]), "yours 2, the course's 2.5"),
        (np.array([1.0, np.nan]), np.array([1.0, 1.0]), "yours nan"),
        (1.0 + 1e-6, 1.0, "differ by more than 1e-12"),
        ("left", "right", "yours 'left', the course's 'right'"),
    ],
)
def test_same_as_course_finds_every_kind_of_difference(yours, course, message):
    with pytest.raises(NotSameAsCourse, match=message):
        same_as_course(yours, course, exercise="Exercise 9", what="x")


def test_same_as_course_passes_equal_structures_and_takes_a_tolerance():
    value = {"W": torch.ones(2, requires_grad=True), "steps": [1, 2], "nan": np.nan}
    same_as_course(
        value,
        {"W": np.ones(2), "steps": [1, 2], "nan": np.nan},
        exercise="Exercise 4",
        what="the weights",
    )
    same_as_course(1.001, 1.0, exercise="Exercise 4", what="x", rtol=1e-2)
    with pytest.raises(NotSameAsCourse):
        same_as_course(1.001, 1.0, exercise="Exercise 4", what="x")


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


# --- How a failed check looks in IPython ------------------------------------------


def test_a_failed_check_renders_as_its_message_alone():
    with pytest.raises(CheckFailed) as info:
        run_check(EXERCISE, lambda x: 3 * x, _cases, reference=reference_double)
    lines = info.value._render_traceback_()
    assert lines == [f"CheckFailed: {info.value}"]
    assert str(info.value).startswith(f"✗ {EXERCISE}:")


def test_in_ipython_a_failed_check_is_a_short_error_output():
    """The cell still fails (nbgrader and Run All see an error), without the ~25 lines
    of the checks' source above the message."""
    code = """
from IPython.core.interactiveshell import InteractiveShell
from course_utils.lessons.checks import run_check
shell = InteractiveShell.instance()
shell.user_ns["run_check"] = run_check
result = shell.run_cell(
    "def reference(x): return 2 * x\\n"
    "def wrong(x): return 3 * x\\n"
    "def cases(fn):\\n"
    "    assert fn(2) == 4, 'double(2) should be 4'\\n"
    "wrong = run_check('Exercise 9: double', wrong, cases, reference=reference)\\n"
)
print("ERROR", type(result.error_in_exec).__name__)
"""
    env = {**os.environ}
    env.pop(GRADING_ENV_VAR, None)
    env.pop(NBGRADER_ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    shown = done.stdout + done.stderr
    assert "ERROR CheckFailed" in shown, shown
    assert "✗ Exercise 9: double: double(2) should be 4" in shown
    assert len(shown.strip().splitlines()) <= 3, shown


def test_a_notebook_passing_off_the_courses_function_fails_its_check():
    """``td_target = dqn.td_target`` in a notebook proves nothing: the check says so
    (a check cell runs in ``__main__``); the course's tests may still pass it."""
    from course_utils.agents.tabular import discounted_return
    from course_utils.lessons.checks.rl_basics import check_discounted_return

    assert check_discounted_return(discounted_return) is discounted_return
    cell = "check_discounted_return(discounted_return)"
    namespace = {
        "__name__": "__main__",
        "check_discounted_return": check_discounted_return,
        "discounted_return": discounted_return,
    }
    with pytest.raises(AssertionError, match="the course's own discounted_return"):
        exec(cell, namespace)

    def mine(rewards, gamma):
        return discounted_return(rewards, gamma)

    namespace["discounted_return"] = mine
    exec(cell, namespace)  # a function of the student's own passes
