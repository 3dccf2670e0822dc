"""What a Selective Memory run carries from game to game, and what it records.

:class:`SMState` holds everything ``selective_memory.train_selective_memory`` changes
while it runs (networks, optimizers, both memories, games played, their figures);
pass it back as ``state=`` to continue a run. :class:`SMDiagnostics` is the per-game
record the loop keeps (``result.diagnostics``, plotted in notebook 05), and
:func:`critic_predictions` the critic's figures it records. The state before the first
game comes from ``selective_memory.new_state`` (it builds the algorithm's networks and
memories, and the loop calls it); ``course_utils.sm_resume`` saves a state to a file
and loads it back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from course_utils.networks import MLPActor

if TYPE_CHECKING:  # type hints only: selective_memory imports this module
    from course_utils.selective_memory import SelectiveMemory


@torch.no_grad()
def critic_predictions(
    critic: nn.Module, obs: np.ndarray, action: np.ndarray
) -> np.ndarray:
    """The critic's predicted returns ``(T,)`` for ``obs (T, obs_dim)`` and ``action
    (T, act_dim)``: put them beside the returns the steps actually obtained."""
    x = torch.as_tensor(np.hstack([obs, action]), dtype=torch.float32)
    return critic(x)[:, 0].numpy().astype(np.float64)


@dataclass
class SMDiagnostics:
    """Per-game figures the loop records (one entry per game, cheap to keep).

    ``memory_rows``: rows in memory after the game; ``keep_rate``: share of the game's
    steps kept; ``override_rate``: share of the acting rule's decisions where the
    critic replaced the actor's action (None when the rule cannot say, e.g. a plain
    function, or when every step was random); ``critic_pred`` and ``return_mean``:
    the critic's mean prediction Q(s_t, a_t) over the game's steps (before this game's
    fit) and the mean return-to-go they obtained; ``critic_corr``: the correlation of
    the two over the game's steps (None for fewer than 2 steps or a constant).
    """

    memory_rows: list[int] = field(default_factory=list)
    keep_rate: list[float] = field(default_factory=list)
    override_rate: list[float | None] = field(default_factory=list)
    critic_pred: list[float] = field(default_factory=list)
    return_mean: list[float] = field(default_factory=list)
    critic_corr: list[float | None] = field(default_factory=list)

    def record(
        self,
        memory: SelectiveMemory,
        kept: np.ndarray,
        overrides: list[bool],
        predicted: np.ndarray,
        rtg: np.ndarray,
    ) -> None:
        """Append one game's figures."""
        self.memory_rows.append(len(memory))
        self.keep_rate.append(float(np.mean(kept)) if len(kept) else 0.0)
        self.override_rate.append(float(np.mean(overrides)) if overrides else None)
        self.critic_pred.append(float(predicted.mean()) if len(rtg) else 0.0)
        self.return_mean.append(float(rtg.mean()) if len(rtg) else 0.0)
        ok = len(rtg) > 1 and predicted.std() > 0 and rtg.std() > 0
        corr = float(np.corrcoef(predicted, rtg)[0, 1]) if ok else None
        self.critic_corr.append(corr)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SMState:
    """Everything ``train_selective_memory`` changes while it runs: the networks
    and their optimizers, both memories, the games played so far and their figures.
    Pass it back as ``state=`` to continue a run (``course_utils.sm_resume`` saves
    and loads it, with the rng and the environment's random state)."""

    actor: MLPActor
    critic: nn.Module
    value: object | None  # V(s) built from the baseline, or None
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    memory: SelectiveMemory
    recent: SelectiveMemory  # every step, for fits that use them
    game: int = 0  # games played so far
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    wall_time_s: float = 0.0  # training wall time so far
    diagnostics: SMDiagnostics = field(default_factory=SMDiagnostics)
    evals: list[tuple[int, float, float]] = field(default_factory=list)
    best_actor: MLPActor | None = None
    best_score: float = -np.inf
