"""Checks for the exercises of 05_selective_memory_bipedalwalker.ipynb."""

from __future__ import annotations

from collections.abc import Callable

from course_utils.agents import selective_memory as sm
from course_utils.lessons.checks import expect_close, expect_true, run_check
from course_utils.lessons.checks.pinned import nn, np, torch


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


def check_keep_rule(fn: Callable) -> Callable:
    """Exercise 3: ``keep_selective(returns, stored, rng, baseline=None)`` -> mask."""

    def cases(f: Callable) -> None:
        stored = np.array([4.0, 6.0], dtype=np.float32)  # avg 5
        keep = np.asarray(f(np.array([100.0, -100.0]), stored, _rng(0)))
        expect_true(
            keep.dtype == bool and keep.shape == (2,),
            f"expected a (2,) bool mask, got dtype {keep.dtype}, shape {keep.shape}.",
        )
        expect_true(
            keep.tolist() == [True, False],
            "R = 100 against avg 5 must be kept (p = 1) and R = -100 dropped (p = 0); "
            f"got {keep.tolist()}. Compare each R with the mean of `stored`.",
        )
        keep = np.asarray(f(np.array([50.0, -50.0]), stored[:0], _rng(0)))
        expect_true(
            keep.tolist() == [True, False],
            "an empty memory has avg 0 (the mean of an empty array is nan): "
            f"expected [True, False] for R = 50, -50, got {keep.tolist()}.",
        )
        returns = np.full(4000, 6.0)  # R - avg = 1: p = 0.1 + 0.9 tanh(1) = 0.785
        rate = float(np.mean(f(returns, stored, _rng(1))))
        expect_true(
            abs(rate - (0.1 + 0.9 * np.tanh(1.0))) < 0.03,
            f"R one above avg should be kept 78.5 % of the time, got {rate:.1%}. "
            "Keep step t when a uniform number in [0, 1) is below its probability.",
        )
        expected = sm.keep_selective(returns, stored, _rng(2))
        expect_true(
            bool(np.array_equal(f(returns, stored, _rng(2)), expected)),
            "draw exactly one number per step, rng.random(len(returns)), so that "
            "your run plays the same games as the course's.",
        )

    return run_check(
        "Exercise 3: the keep rule", fn, cases, reference=sm.keep_selective
    )


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def check_select_action(fn: Callable) -> Callable:
    """Exercise 4: ``select_action(actor_action, candidates, q_values)``."""

    def cases(f: Callable) -> None:
        actor_action = np.array([0.1, 0.2], dtype=np.float32)
        candidates = np.array([[1, 1], [-1, -1], [0.5, -0.5]], dtype=np.float32)
        best = np.array([-1.0, -1.0], dtype=np.float32)  # candidate 1 scores 3
        for scores, expected, what, hint in (
            (
                [0.0, 1.0, 3.0, 2.0],
                best,
                "critic scores [actor 0, candidates 1, 3, 2]",
                "q_values[0] scores the actor's action; q_values[1:] the candidates. "
                "Take the candidate with the highest score when it beats the actor.",
            ),
            (
                [2.5, 1.0, 3.0, 2.0],
                best,
                "critic scores [actor 2.5, candidates 1, 3, 2]",
                "Compare the best candidate's own score, q_values[1 + best], with "
                "q_values[0]: candidate i is scored by q_values[i + 1].",
            ),
            (
                [5.0, 1.0, 3.0, 2.0],
                actor_action,
                "critic scores [actor 5, candidates 1, 3, 2]",
                "Keep the actor's action when no candidate scores higher.",
            ),
            (
                [3.0, 1.0, 3.0, 2.0],
                actor_action,
                "a tie between the actor and the best candidate",
                "A candidate must score strictly higher to replace the actor.",
            ),
        ):
            chosen = f(actor_action, candidates, np.array(scores))
            expect_close(chosen, expected, what=what, hint=hint)

    return run_check(
        "Exercise 4: candidate selection", fn, cases, reference=sm.select_action
    )


def check_fit_step(fn: Callable) -> Callable:
    """Exercise 5: ``fit_step(net, optimizer, inputs, targets) -> float``."""

    def cases(f: Callable) -> None:
        net = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            net.weight.copy_(torch.tensor([[1.0, -1.0]]))
        optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
        x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
        y = torch.tensor([[0.0], [1.0]])
        # predictions -1, 3; errors -1, 2: MSE 2.5; gradient -x0 + 2 x1 = [5, -2]
        loss = f(net, optimizer, x, y)
        expect_close(
            [float(loss)],
            [2.5],
            what="the loss returned for w = [1, -1] (predictions -1, 3; targets 0, 1)",
            hint="Return the MSE of this minibatch before the step, loss.item().",
        )
        expect_close(
            net.weight.detach().numpy()[0],
            [0.5, -0.8],
            what="the weights after one SGD step (lr 0.1) from w = [1, -1]",
            hint="The MSE's gradient here is [5, -2]: did you call loss.backward() "
            "and optimizer.step(), with the mean (not the sum) of squared errors?",
        )
        f(net, optimizer, x, y)  # gradient [0.4, -2.2] when the old one is cleared
        expect_close(
            net.weight.detach().numpy()[0],
            [0.46, -0.58],
            what="the weights after a second step",
            hint="Clear the old gradients first (optimizer.zero_grad()): PyTorch "
            "adds each backward pass's gradients to the stored ones.",
        )

    return run_check("Exercise 5: one fit step", fn, cases, reference=sm.fit_step)
