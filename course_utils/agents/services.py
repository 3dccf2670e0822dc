"""Services every training loop shares: model selection, a deadline, a live curve.

The loops in ``course_utils.agents.dqn`` and ``course_utils.agents.selective_memory``
hold only the algorithm; what is not the algorithm (evaluate every N, keep the best
copy, stop at a wall-time cap, the live learning curve a loop's ``live=`` asks for)
lives here once. The bar a run shows is ``common.progress.RunProgress``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from torch import nn

from course_utils.common.evaluation import evaluate
from course_utils.common.plotting import LiveCurve
from course_utils.common.validate import number, whole_number

Policy = Callable[[Any], Any]


class Deadline:
    """A wall-time cap: ``Deadline(600).passed()`` turns True 10 minutes after creation.

    ``max_seconds=None`` never passes. ``elapsed()`` is the time since creation.
    """

    def __init__(self, max_seconds: float | None) -> None:
        if max_seconds is not None:
            number("max_seconds", max_seconds, above=0, why="or None for no cap")
        self.max_seconds = max_seconds
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def passed(self) -> bool:
        return self.max_seconds is not None and self.elapsed() > self.max_seconds


class BestModelKeeper:
    """Periodic evaluation on model-selection seeds, keeping a copy of the best model.

    Every ``every`` units of training (steps for DQN, games for Selective Memory),
    ``keeper.maybe_evaluate(t, model)`` plays ``episodes`` episodes of
    ``make_policy(model, t)`` on ``env`` with seeds ``seed, seed + 1, ...`` and keeps
    ``copy.deepcopy(model).eval()`` when the mean beats every earlier one (as
    Stable-Baselines3's ``EvalCallback`` does). ``every=0`` or ``env=None`` never
    evaluates.

    Attributes:
        history: ``(t, mean, std)`` of each evaluation.
        best: the best model so far, or None before the first evaluation.
        seconds: wall time spent evaluating.
    """

    def __init__(
        self,
        env: gym.Env | None,
        make_policy: Callable[[nn.Module, int], Policy],
        *,
        every: int,
        episodes: int,
        seed: int,
        on_eval: Callable[[int, float], None] | None = None,
    ) -> None:
        whole_number("every", every, minimum=0, why="0: never evaluate")
        if every:
            whole_number("episodes", episodes, why="episodes per evaluation")
        self.env, self.make_policy = env, make_policy
        self.every, self.episodes, self.seed = every, episodes, seed
        self.on_eval = on_eval
        self.history: list[tuple[int, float, float]] = []
        self.best: nn.Module | None = None
        self.best_score = -np.inf
        self.seconds = 0.0

    def maybe_evaluate(self, t: int, model: nn.Module) -> float | None:
        """Evaluate ``model`` if ``t`` is a multiple of ``every``; return the mean."""
        if self.env is None or not self.every or t % self.every:
            return None
        start = time.perf_counter()
        model.eval()
        scores = evaluate(
            self.make_policy(model, t),
            self.env,
            n_episodes=self.episodes,
            seed=self.seed,
        )
        model.train()
        mean = float(scores.mean())
        self.history.append((t, mean, float(scores.std())))
        if mean > self.best_score:
            self.best_score, self.best = mean, copy.deepcopy(model).eval()
        self.seconds += time.perf_counter() - start
        if self.on_eval is not None:
            self.on_eval(t, mean)
        return mean


def live_curve(
    live: bool | LiveCurve, *, title: str, solved_at: float | None = None
) -> LiveCurve | None:
    """The curve a loop's ``live=`` asks for: False gives None, True a
    :class:`LiveCurve` titled ``title`` with the ``solved_at`` line, a
    :class:`LiveCurve` itself (a title, a solved line of your own)."""
    if isinstance(live, LiveCurve):
        return live
    if not isinstance(live, bool):
        raise ValueError(
            f"live must be True, False or a LiveCurve, got {live!r}. Fix: live=True, "
            "or live=LiveCurve(title=..., solved_at=...) from "
            "course_utils.common.plotting."
        )
    return LiveCurve(title=title, solved_at=solved_at) if live else None
