"""Quantile regression DQN (QR-DQN, Dabney et al., 2018) as pieces of ``train_dqn``.

The network learns ``N`` quantiles of each action's return instead of its mean
(``QuantileQNetwork``; its Q-value, used to act, is their mean). The loop is
unchanged (the same n-step transitions, target syncs and ``gradient_step``, clipping
included); two pieces change, and they change together:

- ``td_loss``: :class:`QuantileLoss`, the quantiles of the actions taken against the
  target quantiles under :func:`quantile_huber_loss`, with its own target,
  :func:`quantile_target_double` (the online net's mean Q picks ``a*``, as Double DQN)
  or :func:`quantile_target` (the target net picks);
- ``net_class``: ``QuantileQNetwork``, the only network a ``QuantileLoss`` trains
  (``train_dqn`` refuses another before it starts).

``QR_DQN_PIECES`` holds the two, with the Double DQN target of the course's presets:
``train_dqn(env, cfg, ..., **QR_DQN_PIECES)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.agents.dqn.core import TargetFn
from course_utils.common.buffers import Batch
from course_utils.common.networks import QuantileQNetwork
from course_utils.common.validate import number, whole_number

_KAPPA = "the Huber threshold: errors beyond it cost linearly, e.g. 1.0"


def quantile_fractions(n_quantiles: int) -> torch.Tensor:
    """The midpoints ``tau_i = (2i + 1) / (2N)``, ``i = 0 .. N-1``: (N,) float32.

    Quantile ``i`` of the network stands for the probability slice ``[i/N,
    (i+1)/N]``; its midpoint is the fraction whose quantile minimises the
    1-Wasserstein distance to the true distribution (the paper's Lemma 2).
    """
    n_quantiles = whole_number("n_quantiles", n_quantiles, why="quantiles, e.g. 51")
    return (torch.arange(n_quantiles, dtype=torch.float32) + 0.5) / n_quantiles


def quantile_huber_loss(
    quantiles: torch.Tensor, target: torch.Tensor, *, kappa: float = 1.0
) -> torch.Tensor:
    """The quantile Huber loss of ``quantiles`` (batch, N) against ``target``
    samples (batch, M), a scalar.

    For every pair, ``u_ij = target_j - quantiles_i`` (batch, N, M) and ``rho_ij =
    |tau_i - 1{u_ij < 0}| * Huber_kappa(u_ij) / kappa``: quantile ``i`` pays
    ``tau_i`` per unit below a target sample and ``1 - tau_i`` above one, so it
    settles at the targets' ``tau_i`` quantile (Huber smooths the kink at 0).
    Summed over ``i``, averaged over ``j`` and the batch: the paper's Eq. (10), the
    reduction of Stable-Baselines3-contrib's ``quantile_huber_loss``
    (``sum_over_quantiles=True``), which its QR-DQN uses.
    """
    if quantiles.dim() != 2 or target.dim() != 2 or len(quantiles) != len(target):
        raise ValueError(
            "quantile_huber_loss needs quantiles (batch, N) and target quantiles "
            f"(batch, M), got shapes {tuple(quantiles.shape)} and "
            f"{tuple(target.shape)}. Fix: train with QuantileLoss and a "
            "QuantileQNetwork (all of qr.QR_DQN_PIECES)."
        )
    kappa = number("kappa", kappa, above=0, why=_KAPPA)
    n, m = quantiles.shape[1], target.shape[1]
    tau = quantile_fractions(n).to(quantiles).view(1, -1, 1)
    theta_i = quantiles.unsqueeze(2).expand(-1, -1, m)  # (batch, N, M)
    target_j = target.unsqueeze(1).expand(-1, n, -1)  # (batch, N, M)
    # Huber_kappa(u_ij) in one fused step: on CPU 3x faster than spelling it out
    # with torch.where, and this loss is most of an update's cost
    huber = F.huber_loss(theta_i, target_j, reduction="none", delta=kappa)
    with torch.no_grad():  # the weights are constants: no gradient through 1{u < 0}
        u = target_j - theta_i
        weight = (tau - (u < 0).float()).abs()
    return (weight * huber / kappa).sum(dim=1).mean()


def quantile_td_target(
    reward: torch.Tensor,
    next_quantiles: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """``r + gamma (1 - terminated) theta_j(s', a*)`` for every quantile ``j``:
    (batch, N).

    Args:
        reward: (batch,) float32 (the n-step return when ``gamma`` is ``γ^n``).
        next_quantiles: (batch, N) target-network quantiles of ``a*`` in ``next_obs``.
        terminated: (batch,) float32, 1.0 only for true terminal states (a
            truncation is stored as 0: it bootstraps).
    """
    return (
        reward.unsqueeze(1) + gamma * (1.0 - terminated).unsqueeze(1) * next_quantiles
    )


def _of_actions(quantiles: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
    """Row ``b``'s quantiles of ``action[b]``: (batch, A, N) -> (batch, N)."""
    return quantiles[torch.arange(len(action)), action.long()]


@torch.no_grad()
def quantile_target(
    q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """QR-DQN's target as published: the target net's mean Q picks ``a*`` and its
    quantiles of ``a*`` are bootstrapped. (batch, N)."""
    next_quantiles = target_net.quantiles(batch.next_obs)  # (batch, A, N)
    best = next_quantiles.mean(dim=2).argmax(dim=1)
    return quantile_td_target(
        batch.reward, _of_actions(next_quantiles, best), batch.terminated, gamma
    )


@torch.no_grad()
def quantile_target_double(
    q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """The Double DQN choice: the *online* net's mean Q picks ``a*``, the target
    net's quantiles of ``a*`` are bootstrapped. (batch, N)."""
    best = q_net(batch.next_obs).argmax(dim=1)
    next_quantiles = _of_actions(target_net.quantiles(batch.next_obs), best)
    return quantile_td_target(batch.reward, next_quantiles, batch.terminated, gamma)


@dataclass(frozen=True)
class QuantileLoss:
    """QR-DQN's TD loss (a ``dqn.TDLoss``): :func:`quantile_huber_loss` of the online
    quantiles of the actions taken, ``(batch, N)``, against ``target``'s quantiles
    ``(batch, N)``, computed without gradient. ``gamma`` is ``γ^n`` for n-step
    returns. It trains a ``QuantileQNetwork`` only.
    """

    target: TargetFn = quantile_target_double
    kappa: float = 1.0
    network: ClassVar[type[nn.Module]] = QuantileQNetwork

    def __post_init__(self) -> None:
        number("kappa", self.kappa, above=0, why=_KAPPA)

    def __call__(
        self, q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
    ) -> torch.Tensor:
        theta = _of_actions(q_net.quantiles(batch.obs), batch.action)
        with torch.no_grad():
            target = self.target(q_net, target_net, batch, gamma)
        if target.shape != theta.shape:
            raise ValueError(
                f"The online network gives {theta.shape[-1]} quantiles per action, the "
                f"target {target.shape[-1]}: QR-DQN's target has one sample per "
                "quantile. Fix: make the target network a copy of the online one "
                "(copy.deepcopy), so both have the same n_quantiles."
            )
        return quantile_huber_loss(theta, target, kappa=self.kappa)


# QR-DQN with the Double DQN choice of the course's presets (they all use it).
QR_DQN_PIECES: Mapping[str, Any] = MappingProxyType(
    {"net_class": QuantileQNetwork, "td_loss": QuantileLoss()}
)
