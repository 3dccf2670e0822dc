"""Checks for the exercises of 03_dqn_mountaincar.ipynb."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils import dqn
from course_utils.checks import expect_close, expect_true, run_check


def check_td_target(fn: Callable) -> Callable:
    """Exercise 1: ``td_target(reward, next_q, terminated, gamma) -> (batch,)``."""

    def cases(f: Callable) -> None:
        reward = torch.tensor([-1.0, -1.0, 0.5])
        next_q = torch.tensor(
            [[-10.0, -8.0, -9.0], [-3.0, -4.0, -5.0], [2.0, 1.0, 0.0]]
        )
        terminated = torch.tensor([0.0, 1.0, 0.0])
        out = f(reward, next_q, terminated, 0.9)
        expect_true(
            isinstance(out, torch.Tensor), f"return a torch tensor, got {type(out)}"
        )
        expect_close(
            out.detach(),
            [-1 + 0.9 * -8.0, -1.0, 0.5 + 0.9 * 2.0],
            what="td_target on 3 transitions",
            hint="Use the max over next actions, and multiply the bootstrap term "
            "by (1 - terminated): a terminal transition keeps only its reward.",
        )
        # A time-limit truncation is stored with terminated = 0: it bootstraps.
        expect_close(
            f(
                torch.tensor([-1.0]),
                torch.tensor([[-20.0, -30.0, -40.0]]),
                torch.tensor([0.0]),
                0.98,
            ).detach(),
            [-1 + 0.98 * -20.0],
            what="a transition cut by the 200-step time limit",
            hint="Truncation is not termination: the car could have gone on.",
        )

    return run_check("Exercise 1: the TD target", fn, cases, reference=dqn.td_target)


def check_soft_update(fn: Callable) -> Callable:
    """Exercise 3: ``soft_update(target_net, q_net, tau)`` in place."""

    def cases(f: Callable) -> None:
        source, target = nn.Linear(2, 1), nn.Linear(2, 1)
        with torch.no_grad():
            source.weight.fill_(1.0)
            source.bias.fill_(1.0)
            target.weight.fill_(0.0)
            target.bias.fill_(-1.0)
        f(target, source, 0.25)
        expect_close(
            target.weight.detach(),
            [[0.25, 0.25]],
            what="weights after tau=0.25",
            hint="θ_target ← τ·θ + (1 − τ)·θ_target, for every parameter.",
        )
        expect_close(
            target.bias.detach(),
            [-0.5],
            what="bias after tau=0.25",
            hint="Update the bias too: loop over all parameters().",
        )
        expect_close(
            source.weight.detach(),
            [[1.0, 1.0]],
            what="the online network",
            hint="Only the target network changes.",
        )
        f(target, source, 1.0)
        expect_close(
            target.weight.detach(),
            [[1.0, 1.0]],
            what="weights after tau=1",
            hint="tau = 1 must be a hard copy.",
        )

    return run_check(
        "Exercise 3: soft target update", fn, cases, reference=dqn.soft_update
    )


def check_should_sync(fn: Callable) -> Callable:
    """Exercise 4 (bug hunt): ``should_sync(step, interval) -> bool``."""

    def cases(f: Callable) -> None:
        fired = [s for s in range(1, 2001) if f(s, 500)]
        expect_true(
            fired == [500, 1000, 1500, 2000],
            f"with interval 500, the sync must fire at steps 500, 1000, 1500, 2000; "
            f"yours fires at {fired[:8]}{'...' if len(fired) > 8 else ''}. "
            "Remember that % and / have the same precedence in Python.",
        )

    return run_check(
        "Exercise 4: the target-sync bug", fn, cases, reference=dqn.should_sync
    )


def check_storage_flag(fn: Callable) -> Callable:
    """Exercise 2 (bug hunt): ``storage_flag(terminated, truncated) -> bool``."""

    def cases(f: Callable) -> None:
        table = {
            (False, False): False,
            (True, False): True,
            (False, True): False,
            (True, True): True,
        }
        for (terminated, truncated), expected in table.items():
            got = bool(f(terminated, truncated))
            expect_true(
                got == expected,
                f"terminated={terminated}, truncated={truncated}: store {expected}, "
                f"got {got}. A time-limit truncation is not a terminal state.",
            )

    return run_check(
        "Exercise 2: the truncation bug", fn, cases, reference=dqn.storage_flag
    )
