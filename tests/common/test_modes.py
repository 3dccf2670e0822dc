"""Fast mode: COURSE_FAST parsing and budgets."""

import os
import re
import subprocess
import sys

import pytest

from course_utils.common.modes import (
    FAST_ENV_VAR,
    GRADING_ENV_VAR,
    NBGRADER_ENV_VAR,
    budget,
    fast_mode,
    fast_mode_banner,
    grading_mode,
)


@pytest.fixture(autouse=True)
def not_grading(monkeypatch):
    """Grading mode forces fast mode: every test starts with it off."""
    monkeypatch.delenv(GRADING_ENV_VAR, raising=False)
    monkeypatch.delenv(NBGRADER_ENV_VAR, raising=False)


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " 1 ", "On"])
def test_fast_mode_on(monkeypatch, value):
    monkeypatch.setenv(FAST_ENV_VAR, value)
    assert fast_mode() is True


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "off", " 0 "])
def test_fast_mode_off(monkeypatch, value):
    monkeypatch.setenv(FAST_ENV_VAR, value)
    assert fast_mode() is False


def test_fast_mode_off_when_unset(monkeypatch):
    monkeypatch.delenv(FAST_ENV_VAR, raising=False)
    assert fast_mode() is False


@pytest.mark.parametrize("value", ["2", "fast", "y", "-1", "1.0"])
def test_fast_mode_bad_value_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(FAST_ENV_VAR, value)
    with pytest.raises(
        ValueError, match=re.escape(f"COURSE_FAST={value!r} is not understood")
    ) as info:
        fast_mode()
    assert "export COURSE_FAST=1" in str(info.value)


def test_budget_picks_fast_or_full(monkeypatch):
    monkeypatch.setenv(FAST_ENV_VAR, "1")
    assert budget(full=60_000, fast=600) == 600
    monkeypatch.setenv(FAST_ENV_VAR, "0")
    assert budget(full=60_000, fast=600) == 60_000
    monkeypatch.delenv(FAST_ENV_VAR)
    assert budget(full=(256, 256), fast=(16,)) == (256, 256)


def test_budget_is_keyword_only_and_propagates_bad_values(monkeypatch):
    with pytest.raises(TypeError):
        budget(60_000, 600)  # type: ignore[misc]
    monkeypatch.setenv(FAST_ENV_VAR, "maybe")
    with pytest.raises(ValueError, match="not understood"):
        budget(full=1, fast=2)


def test_banner_says_which_mode(monkeypatch):
    monkeypatch.setenv(FAST_ENV_VAR, "1")
    assert fast_mode_banner().startswith("FAST MODE is on")
    monkeypatch.setenv(FAST_ENV_VAR, "0")
    assert fast_mode_banner().startswith("Full mode")


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_grading_mode_on_and_it_forces_fast_budgets(monkeypatch, value):
    monkeypatch.setenv(GRADING_ENV_VAR, value)
    monkeypatch.setenv(FAST_ENV_VAR, "0")
    assert grading_mode() is True and fast_mode() is True
    assert budget(full=60_000, fast=600) == 600
    assert fast_mode_banner().startswith("GRADING MODE is on")


@pytest.mark.parametrize("value", ["", "0", "off", "no"])
def test_grading_mode_off(monkeypatch, value):
    monkeypatch.delenv(FAST_ENV_VAR, raising=False)
    monkeypatch.setenv(GRADING_ENV_VAR, value)
    assert grading_mode() is False
    assert fast_mode() is False  # COURSE_FAST is not set either


@pytest.mark.parametrize(
    "execution, expected",
    [("autograde", True), ("validate", True), ("", False), ("other", False)],
)
def test_nbgrader_execution_turns_grading_on(monkeypatch, execution, expected):
    monkeypatch.setenv(NBGRADER_ENV_VAR, execution)
    assert grading_mode() is expected
    monkeypatch.setenv(GRADING_ENV_VAR, "")  # empty: as if unset
    assert grading_mode() is expected
    monkeypatch.setenv(GRADING_ENV_VAR, "0")  # cannot switch nbgrader's grading off
    assert grading_mode() is expected


@pytest.mark.parametrize("value", ["2", "grade", "y"])
def test_grading_mode_bad_value_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(GRADING_ENV_VAR, value)
    with pytest.raises(ValueError) as info:
        grading_mode()
    message = str(info.value)
    assert f"COURSE_GRADING={value!r} is not understood" in message
    assert "1 (grading mode on) or 0 (off)" in message
    assert "export COURSE_GRADING=1" in message
    with pytest.raises(ValueError, match="COURSE_GRADING"):
        fast_mode()


def test_grading_mode_reads_the_environment_the_process_started_with(tmp_path):
    """A cell that deletes NBGRADER_EXECUTION or sets COURSE_GRADING=0 in a kernel
    nbgrader started does not end grading."""
    code = (
        "import os\n"
        "from course_utils.common.modes import grading_mode\n"
        "os.environ.pop('NBGRADER_EXECUTION')\n"
        "os.environ['COURSE_GRADING'] = '0'\n"
        "print(grading_mode())\n"
    )
    env = {**os.environ, NBGRADER_ENV_VAR: "autograde"}
    env.pop(GRADING_ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    expected = "True" if sys.platform.startswith("linux") else "False"
    assert done.stdout.strip() == expected
