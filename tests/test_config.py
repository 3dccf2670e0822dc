"""Fast mode: COURSE_FAST parsing and budgets."""

import re

import pytest

from course_utils.config import FAST_ENV_VAR, budget, fast_mode, fast_mode_banner


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
