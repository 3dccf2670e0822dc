"""Which RAM bytes does a trained Q-network read? Permutation and gradient importance
of each input byte, measured on recorded states.

Permutation importance (Breiman, 2001): shuffle one byte's values across the states,
so the byte keeps its distribution but loses its link to the rest of the state, and
measure how much the network's output changes. A byte the network ignores changes
nothing; a byte that is constant over the states cannot be tested this way (shuffling
it changes nothing either), which the result says with ``constant``.

Taught in: 04_dqn_space_invaders_ram.ipynb
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn


class ByteImportance(NamedTuple):
    """Per-byte results, each ``(n_bytes,) float64``.

    Fields: ``action_change`` share of states whose greedy action changes when the
    byte is shuffled (mean over repeats); ``q_change`` mean ``|ΔQ|`` over states and
    actions; ``gradient`` mean ``|∂ max_a Q / ∂ byte|`` per byte value (Q per unit of
    the raw byte, 0-255); ``constant`` (bool) bytes with one value over the states.
    """

    action_change: np.ndarray
    q_change: np.ndarray
    gradient: np.ndarray
    constant: np.ndarray


@torch.no_grad()
def q_values(q_net: nn.Module, states: np.ndarray, *, batch: int = 4096) -> np.ndarray:
    """``Q(s, ·)`` for every state: ``states (T, obs_dim)`` raw -> ``(T, n_actions)``
    float64."""
    out = [
        q_net(torch.as_tensor(states[i : i + batch])).double().numpy()
        for i in range(0, len(states), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0))


def gradient_importance(q_net: nn.Module, states: np.ndarray) -> np.ndarray:
    """Mean over states of ``|∂ max_a Q(s, a) / ∂ s_j|``, ``s_j`` the raw byte value
    (so it includes the network's rescaling): ``(obs_dim,) float64``."""
    x = torch.as_tensor(np.asarray(states, dtype=np.float32)).requires_grad_(True)
    q_net.zero_grad(set_to_none=True)
    q_net(x).max(dim=1).values.sum().backward()
    return x.grad.abs().mean(dim=0).double().numpy()


def byte_importance(
    q_net: nn.Module,
    states: np.ndarray,
    rng: np.random.Generator,
    *,
    repeats: int = 3,
) -> ByteImportance:
    """Permutation and gradient importance of every byte of ``states``.

    Args:
        q_net: maps raw ``(batch, obs_dim)`` observations to Q-values.
        states: ``(T, obs_dim)`` observations the agent met (e.g. ``uint8`` RAM).
        rng: draws the shuffles.
        repeats: shuffles per byte; the results are their mean.
    """
    states = np.asarray(states)
    if states.ndim != 2 or len(states) < 2:
        raise ValueError(
            f"states must be (T, obs_dim) with T >= 2, got shape {states.shape}."
        )
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    base = q_values(q_net, states)
    greedy = base.argmax(axis=1)
    n_bytes = states.shape[1]
    action_change, q_change = np.zeros(n_bytes), np.zeros(n_bytes)
    for j in range(n_bytes):
        for _ in range(repeats):
            shuffled = states.copy()
            shuffled[:, j] = rng.permutation(states[:, j])
            q = q_values(q_net, shuffled)
            action_change[j] += np.mean(q.argmax(axis=1) != greedy) / repeats
            q_change[j] += np.mean(np.abs(q - base)) / repeats
    constant = (states == states[0]).all(axis=0)
    return ByteImportance(
        action_change, q_change, gradient_importance(q_net, states), constant
    )


def rank_of(scores: np.ndarray, indices: list[int]) -> dict[int, int]:
    """Rank (1 = most important) of each byte in ``indices`` by ``scores``."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return {int(i): int(ranks[i]) for i in indices}
