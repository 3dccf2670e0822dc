"""The wrong-answer banks run every check in self-study mode, where a wrong answer
raises ``AssertionError`` and a right one returns the student's function."""

from __future__ import annotations

import pytest

from course_utils.common.modes import GRADING_ENV_VAR, NBGRADER_ENV_VAR


@pytest.fixture(autouse=True)
def self_study(monkeypatch):
    monkeypatch.delenv(GRADING_ENV_VAR, raising=False)
    monkeypatch.delenv(NBGRADER_ENV_VAR, raising=False)
