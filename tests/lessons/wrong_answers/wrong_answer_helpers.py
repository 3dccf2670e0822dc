"""Assertions shared by the wrong-answer banks."""

from __future__ import annotations

import pytest


def fails(check, fn, *args, crash=(), **kwargs):
    """The check must reject ``fn``: an AssertionError with a hint (self-study mode), or
    one of the exceptions ``crash`` the student's own code raises, shown as it is."""
    with pytest.raises((AssertionError, *crash)) as info:
        check(fn, *args, **kwargs)
    assert str(info.value).strip(), "a failure must say what to reconsider"
    return str(info.value)


def passes(check, fn, *args, **kwargs):
    """The check must accept ``fn`` and hand it back."""
    assert check(fn, *args, **kwargs) is fn
