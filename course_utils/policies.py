"""Policies: callables that take one raw observation and return one action."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class QPolicy:
    """ε-greedy on a Q-network: ``policy(obs) -> int``.

    With ``epsilon=0`` (the default) it is greedy and needs no ``rng``. The
    observation goes in exactly as Gymnasium returns it; any rescaling lives in the
    network (see ``networks.Normalize``).

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(
        self,
        q_net: nn.Module,
        *,
        epsilon: float = 0.0,
        rng: np.random.Generator | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}.")
        if epsilon > 0 and rng is None:
            raise ValueError("An ε-greedy policy with epsilon > 0 needs an rng.")
        self.q_net, self.epsilon, self.rng, self.device = q_net, epsilon, rng, device
        self.n_actions = int(q_net.n_actions)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> int:
        if self.epsilon > 0 and self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.n_actions))
        obs_t = torch.as_tensor(np.asarray(obs), device=self.device).unsqueeze(0)
        return int(self.q_net(obs_t).argmax(dim=1).item())


class ActorPolicy:
    """Deterministic continuous policy: ``policy(obs) -> (act_dim,) float32 array``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    def __init__(self, actor: nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.actor, self.device = actor, device

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(np.asarray(obs), device=self.device).unsqueeze(0)
        return self.actor(obs_t)[0].cpu().numpy().astype(np.float32)
