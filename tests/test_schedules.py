"""ε schedules: endpoints, monotonicity, errors."""

import math

import numpy as np
import pytest

from course_utils.schedules import exponential_schedule, linear_schedule


def test_linear_endpoints_and_midpoint():
    kw = {"start": 1.0, "end": 0.05, "duration": 1000}
    assert linear_schedule(0, **kw) == 1.0
    assert linear_schedule(500, **kw) == pytest.approx(0.525)
    assert linear_schedule(1000, **kw) == pytest.approx(0.05)
    assert linear_schedule(10**6, **kw) == pytest.approx(0.05)  # stays at end
    assert linear_schedule(-10, **kw) == 1.0  # before the start: start


def test_exponential_endpoints():
    kw = {"start": 1.0, "end": 0.1, "duration": 1000}
    assert exponential_schedule(0, **kw) == 1.0
    # After `duration` steps 99% of the distance is covered: 0.1 + 0.9 * 0.01.
    assert exponential_schedule(1000, **kw) == pytest.approx(0.109)
    assert exponential_schedule(500, **kw) == pytest.approx(0.1 + 0.9 * 0.1)
    assert exponential_schedule(10**6, **kw) == pytest.approx(0.1)
    assert exponential_schedule(-5, **kw) == 1.0


@pytest.mark.parametrize("schedule", [linear_schedule, exponential_schedule])
def test_schedules_fall_monotonically_and_stay_in_range(schedule):
    values = np.array(
        [schedule(s, start=1.0, end=0.05, duration=200) for s in range(0, 400, 7)]
    )
    assert np.all(np.diff(values) <= 0)
    assert values[0] == 1.0 and values[1] < 1.0
    assert np.all((values >= 0.05 - 1e-12) & (values <= 1.0))


@pytest.mark.parametrize("schedule", [linear_schedule, exponential_schedule])
def test_rising_schedule_is_allowed(schedule):
    values = [schedule(s, start=0.0, end=1.0, duration=10) for s in range(0, 30, 3)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[0] == 0.0 and math.isclose(values[-1], 1.0, abs_tol=1e-2)


@pytest.mark.parametrize("schedule", [linear_schedule, exponential_schedule])
@pytest.mark.parametrize(
    "kw, match",
    [
        ({"start": 1.5, "end": 0.1, "duration": 10}, "epsilon start must lie in"),
        ({"start": 1.0, "end": -0.1, "duration": 10}, "epsilon end must lie in"),
        ({"start": 1.0, "end": 0.1, "duration": 0}, "duration must be a positive"),
        ({"start": 1.0, "end": 0.1, "duration": -5}, "duration must be a positive"),
    ],
)
def test_schedule_errors(schedule, kw, match):
    with pytest.raises(ValueError, match=match):
        schedule(0, **kw)


@pytest.mark.parametrize("schedule", [linear_schedule, exponential_schedule])
def test_arguments_are_keyword_only(schedule):
    with pytest.raises(TypeError):
        schedule(0, 1.0, 0.1, 10)
