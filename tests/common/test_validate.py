"""course_utils.common.validate: the one set of argument validators."""

import math

import numpy as np
import pytest

from course_utils.common.validate import (
    device,
    generator,
    index,
    is_number,
    is_whole,
    number,
    probability,
    refuse,
    whole_number,
    whole_numbers,
)


def test_what_counts_as_whole_and_as_a_number():
    assert is_whole(3) and is_whole(np.int64(3)) and is_whole(np.uint8(3))
    assert not any(is_whole(v) for v in (True, np.bool_(True), 3.0, "3", None))
    assert is_number(2) and is_number(2.5) and is_number(np.float32(2.5))
    assert is_number(math.nan)  # a number, refused later as not finite
    assert not any(is_number(v) for v in (True, "2.5", None, np.zeros(1), [1.0]))


def test_whole_number_returns_a_python_int_in_range():
    assert whole_number("n", np.int64(4)) == 4
    assert type(whole_number("n", np.int64(4))) is int
    assert whole_number("n", 0, minimum=0) == 0
    assert whole_number("stack", 8, minimum=2, maximum=8) == 8


@pytest.mark.parametrize(
    "value, kwargs, message",
    [
        (0, {}, "n must be a whole number >= 1, got 0."),
        (2.5, {}, "n must be a whole number >= 1, got 2.5."),
        (2.0, {}, "n must be a whole number >= 1, got 2.0."),
        (True, {}, "n must be a whole number >= 1, got True."),
        ("3", {}, "n must be a whole number >= 1, got '3'."),
        (
            9,
            {"minimum": 2, "maximum": 8},
            "n must be a whole number from 2 to 8, got 9.",
        ),
        (np.zeros((1, 2)), {}, "n must be a whole number >= 1, got an array of shape"),
    ],
    ids=repr,
)
def test_whole_number_says_what_was_expected_and_given(value, kwargs, message):
    with pytest.raises(ValueError) as info:
        whole_number("n", value, **kwargs)
    assert str(info.value).startswith(message)


def test_whole_number_prints_why_and_fix():
    with pytest.raises(ValueError) as info:
        whole_number("size", 4, minimum=5, why="the snake's room", fix="size=10.")
    assert str(info.value) == (
        "size must be a whole number >= 5 (the snake's room), got 4. Fix: size=10."
    )


def test_whole_floats_only_when_asked():
    assert whole_number("capacity", 1e5, whole_floats=True) == 100_000
    with pytest.raises(ValueError, match="capacity"):
        whole_number("capacity", 1e5)
    for bad in (2.7, math.nan, math.inf):
        with pytest.raises(ValueError, match="capacity"):
            whole_number("capacity", bad, whole_floats=True)


def test_whole_numbers():
    assert whole_numbers("hidden", [np.int64(8), 4]) == (8, 4)
    assert whole_numbers("shape", (), minimum=0) == ()
    assert whole_numbers("shape", np.array([2, 0]), minimum=0) == (2, 0)
    for bad in ("64", 5, (64, 2.5), (0,), (2, True), [2, None]):
        with pytest.raises(ValueError, match=r"hidden must be whole numbers >= 1"):
            whole_numbers("hidden", bad)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({}, "a finite number"),
        ({"minimum": 0, "maximum": 1}, "a number in [0, 1]"),
        ({"above": 0, "maximum": 1}, "a number in (0, 1]"),
        ({"above": 0, "below": 1}, "a number in (0, 1)"),
        ({"above": 0}, "a number > 0"),
        ({"minimum": 2}, "a number >= 2"),
        ({"maximum": 2}, "a number <= 2"),
        ({"below": 2}, "a number < 2"),
    ],
)
def test_number_names_its_range(kwargs, expected):
    with pytest.raises(ValueError) as info:
        number("x", math.nan, **kwargs)
    assert str(info.value) == f"x must be {expected}, got nan."


def test_number_accepts_numbers_in_range_and_refuses_the_rest():
    assert number("lr", np.float32(0.5), above=0) == 0.5
    assert type(number("lr", 1, above=0)) is float
    assert number("x", 0.0, minimum=0.0) == 0.0
    for bad in (0.0, -1, math.inf, -math.inf, math.nan, "1e-3", True, None, 10**400):
        with pytest.raises(ValueError, match="lr must be a number > 0"):
            number("lr", bad, above=0)


def test_probability():
    assert probability("epsilon", 0) == 0.0 and probability("epsilon", 1) == 1.0
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\]"):
        probability("alpha", 0.0, zero=False)
    for bad in (-0.1, 1.5, math.nan, "0.5"):
        with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
            probability("epsilon", bad)


def test_index_refuses_negative_wrap_around():
    assert index("state", np.int64(2), 3) == 2
    for bad in (-1, 3, 1.0, True):
        with pytest.raises(ValueError) as info:
            index("state", bad, 3)
        assert "state must be a whole number from 0 to 2" in str(info.value)
        assert "from the end" in str(info.value)


def test_generator():
    rng = np.random.default_rng(0)
    assert generator("rng", rng) is rng
    for bad in (None, 0, np.random.RandomState(0)):
        with pytest.raises(
            ValueError, match=r"rng must be a np\.random\.Generator"
        ) as info:
            generator("rng", bad)
        assert "default_rng(seed)" in str(info.value)
    with pytest.raises(
        ValueError, match=r"^sample needs a np\.random\.Generator as rng"
    ):
        generator("rng", None, needed_by="sample")


def test_refuse_for_the_checks_no_validator_covers():
    with pytest.raises(ValueError) as info:
        refuse("obs", "one observation", np.zeros((2, 3)), fix="drop the batch.")
    assert str(info.value) == (
        "obs must be one observation, got an array of shape (2, 3). "
        "Fix: drop the batch."
    )


def test_device_is_one_this_machine_has():
    import torch

    assert device("device", "cpu") == torch.device("cpu")
    assert device("device", torch.device("cpu")) == torch.device("cpu")
    for bad in ("gpu", "cuda:abc", "", 3, None, "meta", "cpu:1"):
        with pytest.raises(ValueError, match=r"device must be .*Fix: use device='cpu'"):
            device("device", bad)
