"""ε schedules: endpoints, monotonicity, errors."""

import math

import numpy as np
import pytest

from course_utils.common.schedules import linear_schedule


def test_linear_endpoints_and_midpoint():
    kw = {"start": 1.0, "end": 0.05, "duration": 1000}
    assert linear_schedule(0, **kw) == 1.0
    assert linear_schedule(500, **kw) == pytest.approx(0.525)
    assert linear_schedule(1000, **kw) == pytest.approx(0.05)
    assert linear_schedule(10**6, **kw) == pytest.approx(0.05)  # stays at end
    assert linear_schedule(-10, **kw) == 1.0  # before the start: start


def test_schedule_falls_monotonically_and_stays_in_range():
    values = np.array(
        [
            linear_schedule(s, start=1.0, end=0.05, duration=200)
            for s in range(0, 400, 7)
        ]
    )
    assert np.all(np.diff(values) <= 0)
    assert values[0] == 1.0 and values[1] < 1.0
    assert np.all((values >= 0.05 - 1e-12) & (values <= 1.0))


def test_rising_schedule_is_allowed():
    values = [
        linear_schedule(s, start=0.0, end=1.0, duration=10) for s in range(0, 30, 3)
    ]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[0] == 0.0 and math.isclose(values[-1], 1.0, abs_tol=1e-2)


def test_numpy_numbers_and_a_float_duration_are_fine():
    kw = {"start": np.float64(1.0), "end": np.float32(0.0), "duration": 100.0}
    assert linear_schedule(np.int64(50), **kw) == pytest.approx(0.5)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"start": 1.5, "end": 0.1, "duration": 10}, "start must be a number in"),
        ({"start": 1.0, "end": -0.1, "duration": 10}, "end must be a number in"),
        ({"start": 1.0, "end": 0.1, "duration": 0}, "duration must be a number >"),
        ({"start": 1.0, "end": 0.1, "duration": -5}, "duration must be a number >"),
        ({"start": math.nan, "end": 0.1, "duration": 10}, "start must be a number in"),
        ({"start": 1.0, "end": math.nan, "duration": 10}, "end must be a number in"),
        (
            {"start": 1.0, "end": 0.1, "duration": math.nan},
            "duration must be a number >",
        ),
        (
            {"start": 1.0, "end": 0.1, "duration": math.inf},
            "duration must be a number >",
        ),
        ({"start": 1.0, "end": 0.1, "duration": "10"}, "duration must be a number >"),
        ({"start": "1", "end": 0.1, "duration": 10}, "start must be a number in"),
        ({"start": 1.0, "end": None, "duration": 10}, "end must be a number in"),
        ({"start": 1.0, "end": 0.1, "duration": True}, "duration must be a number >"),
    ],
)
def test_schedule_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        linear_schedule(0, **kw)


@pytest.mark.parametrize("step", [math.nan, math.inf, -math.inf, "3", None], ids=repr)
def test_step_must_be_a_finite_number(step):
    with pytest.raises(ValueError, match="step must be a finite number"):
        linear_schedule(step, start=1.0, end=0.1, duration=10)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        linear_schedule(0, 1.0, 0.1, 10)


def test_exponential_schedule_is_gone():
    # No notebook used it: the course teaches the linear schedule only.
    import course_utils.common.schedules as schedules

    assert not hasattr(schedules, "exponential_schedule")
