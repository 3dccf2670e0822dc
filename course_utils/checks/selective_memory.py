"""Checks for the exercises of 05_selective_memory_bipedalwalker.ipynb."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from course_utils import selective_memory as sm
from course_utils.checks import expect_close, expect_true, run_check


def check_return_to_go(fn: Callable) -> Callable:
    """Exercise 1: ``return_to_go(rewards, gamma) -> (T,)``."""

    def cases(f: Callable) -> None:
        expect_close(
            f(np.array([1.0, 2.0, 3.0]), 0.5),
            [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0],
            what="return_to_go([1, 2, 3], gamma=0.5)",
            hint="R_t = r_t + γ·R_{t+1}, computed backwards from the last step, "
            "which keeps only its own reward.",
        )
        expect_close(
            f(np.array([0.0, 0.0, -100.0]), 0.95),
            [-100 * 0.95**2, -100 * 0.95, -100.0],
            what="a fall at the last step (rewards 0, 0, -100), gamma=0.95",
            hint="The penalty reaches earlier steps discounted once per step.",
        )
        expect_close(f(np.array([5.0]), 0.9), [5.0], what="a one-step episode")

    return run_check(
        "Exercise 1: the return-to-go", fn, cases, reference=sm.return_to_go
    )


def check_keep_probability(fn: Callable) -> Callable:
    """Exercise 2: ``keep_probability(returns, avg) -> (T,)``."""

    def cases(f: Callable) -> None:
        returns = np.array([3.0, 1.0, 0.5, -1.0, -10.0])
        expected = [
            0.1 + 0.9 * np.tanh(2.0),
            0.1,
            0.1 + 0.1 * np.tanh(-0.5),
            0.1 + 0.1 * np.tanh(-2.0),
            0.1 + 0.1 * np.tanh(-11.0),
        ]
        expect_close(
            f(returns, 1.0),
            expected,
            what="keep_probability([3, 1, 0.5, -1, -10], avg=1)",
            hint="Above the average: 0.1 + 0.9·tanh(R − avg). At or below it: "
            "0.1 + 0.1·tanh(R − avg), so poor steps are kept with p < 0.1.",
        )
        p = np.asarray(f(np.linspace(-50, 50, 101), 0.0))
        expect_true(
            bool(np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0)),
            "probabilities must lie in [0, 1] and grow with R.",
        )

    return run_check(
        "Exercise 2: the keep probability", fn, cases, reference=sm.keep_probability
    )


def check_select_action(fn: Callable) -> Callable:
    """Exercise 3: ``select_action(actor_action, candidates, q_values)``."""

    def cases(f: Callable) -> None:
        actor_action = np.array([0.1, 0.2], dtype=np.float32)
        candidates = np.array([[1, 1], [-1, -1], [0.5, -0.5]], dtype=np.float32)
        expect_close(
            f(actor_action, candidates, np.array([0.0, 1.0, 3.0, 2.0])),
            [-1.0, -1.0],
            what="critic scores [actor 0, candidates 1, 3, 2]",
            hint="q_values[0] scores the actor's action; q_values[1:] the candidates. "
            "Take the candidate with the highest score when it beats the actor.",
        )
        expect_close(
            f(actor_action, candidates, np.array([5.0, 1.0, 3.0, 2.0])),
            actor_action,
            what="critic scores [actor 5, candidates 1, 3, 2]",
            hint="Keep the actor's action when no candidate scores higher.",
        )
        expect_close(
            f(actor_action, candidates, np.array([3.0, 1.0, 3.0, 2.0])),
            actor_action,
            what="a tie between the actor and the best candidate",
            hint="A candidate must score strictly higher to replace the actor.",
        )

    return run_check(
        "Exercise 3: candidate selection", fn, cases, reference=sm.select_action
    )
