"""The course's measured improvements to Selective Memory, each a piece that
``train_selective_memory`` receives (none is FitML's).

The shipped walker uses four: :class:`NearActorChoice` (the critic picks among
candidates drawn around the actor's action, then a little noise),
:func:`keep_advantage_scaled` (the keep rule on R - V(s), scaled by the memory's
spread), :class:`ValueBaseline` (V(s) fitted on every recent step) and
:class:`FitCriticOnRecent` (the critic fitted on every recent step, as FitML's later
scripts do). :func:`returns_bootstrap_truncated` (not in the shipped walker)
bootstraps the return-to-go with V(s_T) where the 1 600-step time limit cut a game,
instead of treating the cut as the end. Notebook 05 measures each.

The two pieces that read V(s), :func:`keep_advantage_scaled` and
:func:`returns_bootstrap_truncated`, are marked with ``reads_baseline``: a run that
uses either must pass ``baseline=ValueBaseline()``, which builds the one V(s) both
read, and ``train_selective_memory`` refuses it otherwise.

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from course_utils.agents.selective_memory.core import (
    CandidateChoice,
    CriticFit,
    SelectiveMemory,
    ValueFunction,
    fit,
    keep_probability,
    reads_baseline,
    return_to_go,
)
from course_utils.common.networks import mlp


@dataclass(frozen=True)
class NearActorChoice(CandidateChoice):
    """Acting (ours): the critic compares the actor's action with ``n_candidates``
    drawn around it (``action + spread * N(0, 1)``), then Gaussian noise of scale
    ``noise`` is added. ``n_candidates=0``: the actor's action plus noise.

    ``act(obs, actor, critic, rng) -> (act_dim,) float32``.
    """

    n_candidates: int = 16
    spread: float = 0.3
    noise: float = 0.1

    def candidates(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n_candidates`` actions ``action + spread * N(0, 1)``."""
        shape = (self.n_candidates, len(action))
        return action + self.spread * rng.standard_normal(shape)

    def perturb(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The critic's choice plus ``noise * N(0, 1)``, clipped to [-1, 1]."""
        if self.noise > 0:
            draw = rng.standard_normal(len(action))
            action = np.clip(action + self.noise * draw, -1.0, 1.0)
        return action


def keep_selective_scaled(
    returns: np.ndarray,
    stored: np.ndarray,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Keep rule (ours): FitML's, on ``(R - avg) / std`` of the memory's returns, so
    the rule does not depend on the reward's scale."""
    avg = float(stored.mean()) if len(stored) else 0.0
    if len(stored) > 1:
        scale = float(stored.std()) + 1e-6
        return rng.random(len(returns)) < keep_probability(returns / scale, avg / scale)
    return rng.random(len(returns)) < keep_probability(returns, avg)


@reads_baseline
def keep_advantage_scaled(
    returns: np.ndarray,
    stored: np.ndarray,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Keep rule (ours): FitML's on the advantage ``(R - V(s)) / std``, kept when a
    step beat what the state promised (self-imitation learning's idea). Needs a
    ``baseline`` V(s): train with ``baseline=ValueBaseline()``."""
    if baseline is None:
        raise ValueError(
            "keep_advantage_scaled needs V(s) of every step. Fix: pass "
            "baseline=ValueBaseline() to train_selective_memory."
        )
    advantage = returns - baseline
    spread = advantage if len(stored) < 2 else stored - stored.mean()
    if len(spread) > 1:
        scale = float(spread.std()) + 1e-6
        return rng.random(len(returns)) < keep_probability(advantage / scale, 0.0)
    return rng.random(len(returns)) < keep_probability(advantage, 0.0)


@dataclass(frozen=True)
class FitCriticOnRecent(CriticFit):
    """Critic fit (ours here; FitML's later scripts do it too): regress the returns
    of every recent step, not only the selected ones, with at most ``max_updates``
    gradient steps of ``batch_size`` rows per fit."""

    batch_size: int = 256
    max_updates: int = 500

    def rows(self, memory: SelectiveMemory, recent: SelectiveMemory) -> SelectiveMemory:
        return recent


class _Value:
    """V(s) network and its optimizer (a ``ValueFunction``), built by
    :meth:`ValueBaseline.build`."""

    def __init__(self, spec: ValueBaseline, obs_dim: int) -> None:
        self.spec = spec
        self.net = mlp((obs_dim, *spec.hidden, 1))
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=spec.lr)

    @torch.no_grad()
    def predict(self, obs: np.ndarray) -> np.ndarray:
        """``obs (T, obs_dim)`` -> ``V (T,)``."""
        return self.net(torch.as_tensor(obs))[:, 0].numpy()

    def fit(self, recent: SelectiveMemory, rng: np.random.Generator) -> float:
        obs, _, ret = recent.arrays()
        return fit(
            self.net,
            self.optimizer,
            obs,
            ret[:, None],
            batch_size=self.spec.batch_size,
            epochs=1,
            rng=rng,
            max_updates=self.spec.max_updates,
        )


@dataclass(frozen=True)
class ValueBaseline:
    """A state-value baseline V(s) (ours), fitted on every recent step after each
    critic fit, for :func:`keep_advantage_scaled`."""

    hidden: tuple[int, ...] = (256, 256)
    lr: float = 1e-3
    batch_size: int = 256
    max_updates: int = 200

    def build(self, obs_dim: int) -> _Value:
        return _Value(self, obs_dim)


def return_to_go_bootstrapped(
    rewards: np.ndarray, gamma: float, *, truncated: bool, final_value: float
) -> np.ndarray:
    """Return-to-go that knows the time limit (ours): when the game was truncated,
    the future after the last step is ``final_value`` = V(s_T), not 0.

    ``R_{T-1} = r_{T-1} + gamma * V(s_T)`` if truncated, else ``r_{T-1}``; then
    ``R_t = r_t + gamma * R_{t+1}``. Returns ``(T,) float64``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if not truncated:
        return return_to_go(rewards, gamma)
    # V(s_T) stands as one more reward after the last step: FitML's recursion then
    # gives R_T = V(s_T) and R_{T-1} = r_{T-1} + gamma * V(s_T), the same operations.
    return return_to_go(np.append(rewards, float(final_value)), gamma)[:-1]


@reads_baseline
def returns_bootstrap_truncated(
    rewards: np.ndarray,
    gamma: float,
    *,
    truncated: bool,
    next_obs: np.ndarray,
    value: ValueFunction | None,
) -> np.ndarray:
    """Return targets (ours; FitML's are ``returns_to_game_end``):
    :func:`return_to_go_bootstrapped` with V(s_T) from the loop's value network at a
    truncation; a fall (terminated) still ends the future. Needs
    ``baseline=ValueBaseline()``."""
    if value is None:
        raise ValueError(
            "returns_bootstrap_truncated needs V(s) to bootstrap a truncated game. "
            "Fix: pass baseline=ValueBaseline() to train_selective_memory."
        )
    final = 0.0
    if truncated:
        final = float(value.predict(np.asarray(next_obs, dtype=np.float32)[None])[0])
    return return_to_go_bootstrapped(
        rewards, gamma, truncated=truncated, final_value=final
    )
