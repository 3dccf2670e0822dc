"""Policies: callables that take one raw observation and return one action."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from course_utils.agents.tabular import epsilon_greedy


def greedy_action(q_values: torch.Tensor | np.ndarray) -> int:
    """``argmax_a Q(s, a)`` of one state's ``(n_actions,)`` values; the first of
    equal maxima (as ``torch.argmax`` and ``np.argmax`` do).
    """
    if isinstance(q_values, torch.Tensor):
        return int(q_values.argmax().item())
    return int(np.argmax(q_values))


def _as_finite_obs(obs: np.ndarray) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.dtype.kind == "f" and not np.isfinite(obs).all():
        raise ValueError(
            f"The observation contains NaN or inf ({obs.ravel()[:8]}...): a policy "
            "cannot act on it. Fix: check the environment (or the wrapper) that "
            "produced it."
        )
    return obs


class QPolicy:
    """ε-greedy on a Q-network: ``policy(obs) -> int``.

    With ``epsilon=0`` (the default) it is greedy and needs no ``rng``; with ``epsilon >
    0`` it is ``course_utils.agents.tabular.epsilon_greedy`` on the network's Q-values.
    The observation goes in exactly as Gymnasium returns it; any rescaling lives in the
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
        if isinstance(epsilon, bool) or not isinstance(
            epsilon, (int, float, np.floating)
        ):
            raise ValueError(f"epsilon must be a number in [0, 1], got {epsilon!r}.")
        if not 0.0 <= epsilon <= 1.0:  # also refuses NaN
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}.")
        epsilon = float(epsilon)
        if epsilon > 0 and not isinstance(rng, np.random.Generator):
            raise ValueError(
                "An ε-greedy policy with epsilon > 0 needs an rng "
                "(np.random.default_rng(seed)), got "
                f"{type(rng).__name__}."
            )
        if not hasattr(q_net, "n_actions"):
            raise ValueError(
                "QPolicy needs a course Q-network (QNetwork or DuelingQNetwork, which "
                f"know n_actions), got {type(q_net).__name__}."
            )
        self.q_net, self.epsilon, self.rng, self.device = q_net, epsilon, rng, device
        self.n_actions = int(q_net.n_actions)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> int:
        obs_t = torch.as_tensor(_as_finite_obs(obs), device=self.device).unsqueeze(0)
        q_values = self.q_net(obs_t)[0]
        if self.epsilon > 0:
            return epsilon_greedy(q_values.cpu().numpy(), self.epsilon, self.rng)
        return greedy_action(q_values)


class ActorPolicy:
    """Deterministic continuous policy: ``policy(obs) -> (act_dim,) float32 array``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    def __init__(self, actor: nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.actor, self.device = actor, device

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(_as_finite_obs(obs), device=self.device).unsqueeze(0)
        action = self.actor(obs_t)[0].cpu().numpy().astype(np.float32)
        if not all(math.isfinite(x) for x in action):
            raise ValueError(
                "The actor returned NaN or inf torques: its weights are damaged "
                "(training diverged?). Fix: retrain, or load a shipped checkpoint."
            )
        return action
