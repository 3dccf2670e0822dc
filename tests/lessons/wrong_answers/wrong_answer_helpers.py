"""What the wrong-answer banks share.

Each ``test_<checks module>_bank.py`` is an independent bank of plausible wrong answers
to one notebook's graded exercises, written from the student copy (prompt, contract,
the cells that use the result) before reading the checks. Every wrong answer must fail
its check (an ``AssertionError`` with a hint, in self-study mode); every correct answer
written another way must pass. Each module's docstring tables how many wrong answers
passed the checks as they were when the bank was written ("passed before") and now.
A module lists its answers in ``WRONG`` and ``RIGHT`` (``[(check, [answer, ...]),
...]``) and makes its two tests with :func:`bank_tests`; answers that need more than
a call (a later cell's use, extra arguments) have tests of their own.
"""

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


def bank_tests(wrong, right):
    """The two tests of a bank: every wrong answer refused, every right one accepted."""

    @pytest.mark.parametrize(("check", "answer"), each_answer(wrong))
    def refuses(check, answer):
        fails(check, answer)

    @pytest.mark.parametrize(("check", "answer"), each_answer(right))
    def accepts(check, answer):
        passes(check, answer)

    return refuses, accepts


def each_answer(bank):
    """``[(check, [answer, ...]), ...]`` as one pytest case per answer, named by the
    answer's function (``pytest -k si_floats`` runs one)."""
    return [
        pytest.param(check, answer, id=f"{check.__name__}-{answer.__name__}")
        for check, answers in bank
        for answer in answers
    ]
