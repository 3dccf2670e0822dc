"""Notebook 04's own training run: a Q-network whose first step is the student's RAM
preprocessing, and a wrapper that records the actions taken during training.

``train_dqn`` receives the network as its ``net_class`` piece:
``train_dqn(..., net_class=ram_q_network(preprocess_ram))`` with
``cfg.normalize_obs=False`` (the preprocessing replaces the ``Normalize`` layer).

Taught in: 04_dqn_space_invaders_ram.ipynb
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from course_utils.networks import QNetwork

Preprocess = Callable[[np.ndarray], np.ndarray]


class PreprocessLayer(nn.Module):
    """Applies a NumPy preprocessing function (``uint8`` bytes in, ``float32`` out)
    to a batch of observations inside the network. No gradient flows into it.

    Args:
        fn: maps ``(batch, 128) uint8`` to ``(batch, 128) float32``.
    """

    def __init__(self, fn: Preprocess) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.fn(obs.detach().cpu().numpy())
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise ValueError(
                "The preprocessing must return a float32 NumPy array, got "
                f"{type(out).__name__} {getattr(out, 'dtype', '')}. Fix: "
                "np.asarray(obs, dtype=np.float32) before any arithmetic."
            )
        return torch.as_tensor(out).to(obs.device)


class RamQNetwork(QNetwork):
    """A :class:`~course_utils.networks.QNetwork` whose input step is ``preprocess``
    instead of the ``Normalize`` layer: ``(batch, 128) uint8 -> (batch, n_actions)``.

    The layers and their initial weights are those of a ``QNetwork`` of the same
    widths (the preprocessing has no weights), so with the course's
    ``preprocess_ram`` it computes what the shipped agent's network computes.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        hidden: tuple[int, ...] = (256, 256),
        preprocess: Preprocess,
    ) -> None:
        super().__init__(obs_dim, n_actions, hidden=hidden)
        self.normalize = PreprocessLayer(preprocess)


def ram_q_network(preprocess: Preprocess) -> Callable[..., RamQNetwork]:
    """The ``net_class`` piece for ``train_dqn``: builds a :class:`RamQNetwork` that
    uses ``preprocess``. Use it with ``DQNConfig(normalize_obs=False)``."""
    return functools.partial(RamQNetwork, preprocess=preprocess)


class ActionLog(gym.Wrapper):
    """Records every action the agent sends to the environment, in order
    (``self.actions``), without changing anything else."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actions: list[int] = []

    def step(self, action: int) -> tuple:
        self.actions.append(int(action))
        return self.env.step(action)


def action_shares(
    actions: Sequence[int], n_actions: int, *, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each action in consecutive windows of ``window`` steps.

    Returns:
        ``(ends, shares)``: ``ends (W,)`` the last step of each full window (1-based),
        ``shares (W, n_actions) float64``, each row summing to 1.
    """
    actions = np.asarray(actions, dtype=np.int64)
    if window < 1:
        raise ValueError(f"window must be >= 1 step, got {window}.")
    n_windows = len(actions) // window
    blocks = actions[: n_windows * window].reshape(n_windows, window)
    shares = np.zeros((n_windows, n_actions))
    for i, block in enumerate(blocks):
        shares[i] = np.bincount(block, minlength=n_actions)[:n_actions] / window
    return window * np.arange(1, n_windows + 1), shares
