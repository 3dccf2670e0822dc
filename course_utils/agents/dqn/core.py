"""The pieces of deep Q-learning, each written once: the TD targets (plain and
Double DQN), the loss on a batch, the gradient step, the target-network sync, the
n-step collector, and exploration (ε-greedy with held random actions: εz-greedy).

The loop in ``loop`` calls them; notebook 03's exercises define the same pieces and
check cells prove the two agree.

Taught in: 03_dqn_mountaincar.ipynb
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.common.buffers import Batch
from course_utils.common.policies import greedy_action
from course_utils.common.validate import number, probability, whole_number

TargetFn = Callable[[nn.Module, nn.Module, Batch, float], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HoldFn = Callable[[np.random.Generator], int]
ShapingFn = Callable[[float, bool, dict, dict], tuple[float, bool]]
TDLossFn = Callable[
    [nn.Module, nn.Module, Batch, float, TargetFn, LossFn], torch.Tensor
]


def td_target(
    reward: torch.Tensor, next_q: torch.Tensor, terminated: torch.Tensor, gamma: float
) -> torch.Tensor:
    """DQN target ``r + γ (1 − terminated) max_a' Q_target(s', a')``.

    Args:
        reward: (batch,) float32.
        next_q: (batch, n_actions) target-network Q-values of ``next_obs``.
        terminated: (batch,) float32, 1.0 only for true terminal states. A time-limit
            truncation is *not* terminal: the target still bootstraps.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return reward + gamma * (1.0 - terminated) * next_q.max(dim=1).values


def double_dqn_target(
    reward: torch.Tensor,
    next_q_online: torch.Tensor,
    next_q_target: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Double DQN: the online net picks ``a*``, the target net scores it.

    ``r + γ (1 − terminated) Q_target(s', argmax_a' Q_online(s', a'))``

    Taught in: 03_dqn_mountaincar.ipynb
    """
    best = next_q_online.argmax(dim=1, keepdim=True)
    next_value = next_q_target.gather(1, best).squeeze(1)
    return reward + gamma * (1.0 - terminated) * next_value


@torch.no_grad()
def compute_target(
    q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """Plain DQN (the published method): the target net picks and scores ``a'``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return td_target(batch.reward, target_net(batch.next_obs), batch.terminated, gamma)


@torch.no_grad()
def compute_target_double(
    q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
) -> torch.Tensor:
    """Double DQN (van Hasselt et al., 2016): the online net picks ``a*``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return double_dqn_target(
        batch.reward,
        q_net(batch.next_obs),
        target_net(batch.next_obs),
        batch.terminated,
        gamma,
    )


def compute_loss(
    q_net: nn.Module,
    target_net: nn.Module,
    batch: Batch,
    gamma: float,
    target_fn: TargetFn = compute_target,
    loss_fn: LossFn = F.smooth_l1_loss,
) -> torch.Tensor:
    """TD loss on one batch of tensors (see ``Batch.to_torch``): ``loss_fn(Q(s, a),
    target)``, with the target from ``target_fn`` (no gradient flows into it).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    q = q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
    return loss_fn(q, target_fn(q_net, target_net, batch, gamma))


def optimize(
    q_net: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float,
) -> None:
    """One gradient step: zero the gradients, backpropagate, clip, step.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()


@torch.no_grad()
def soft_update(target_net: nn.Module, q_net: nn.Module, tau: float) -> None:
    """Polyak update ``θ_target ← τ θ + (1 − τ) θ_target``; ``tau=1`` is a hard copy.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    probability("tau", tau, zero=False)
    for target, source in zip(target_net.parameters(), q_net.parameters(), strict=True):
        target.mul_(1.0 - tau).add_(source, alpha=tau)


def raw_transition(
    reward: float, terminated: bool, info: dict, prev_info: dict
) -> tuple[float, bool]:
    """Store what the environment gave (the default): ``(reward, terminated)``.

    A shaping function receives the step's ``reward``, ``terminated``, its ``info``
    and the previous step's (or reset's) ``prev_info``, and returns the reward and
    terminal flag the agent learns from; the episode's score is never changed.
    Atari's version is ``course_utils.lessons.ram_lab.atari_transition``.
    """
    return float(reward), bool(terminated)


def storage_flag(terminated: bool, truncated: bool) -> bool:
    """What the buffer must store as 'terminal': only a true termination (a time
    limit's truncation still bootstraps). The loop's shaping functions receive only
    ``terminated``, so a truncation can never be stored as terminal.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return bool(terminated)


def should_sync(step: int, interval: int) -> bool:
    """True on the steps where the target network is synced: every ``interval``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return step > 0 and step % interval == 0


def one_step(rng: np.random.Generator) -> int:
    """Plain ε-greedy: a random action lasts one step (draws nothing)."""
    return 1


@dataclass(frozen=True)
class ZipfHold:
    """εz-greedy (Dabney et al., 2021): a random action is held for ``n ~
    Zipf(mu)`` steps, capped at ``max_steps``.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    mu: float = 2.0
    max_steps: int = 10_000

    def __post_init__(self) -> None:
        number("ZipfHold.mu", self.mu, above=1, why="Zipf's exponent")

    def __call__(self, rng: np.random.Generator) -> int:
        return int(min(rng.zipf(self.mu), self.max_steps))


class NStepCollector:
    """Turns one-step transitions into ``n``-step ones (``n=1`` passes them through).

    A stored transition ``(obs_t, a_t, R, next_obs, terminated)`` carries the
    discounted reward of the next ``n`` steps, ``R = r_t + γ r_(t+1) + ... +
    γ^(n-1) r_(t+n-1)``, and ``next_obs`` is the state ``n`` steps later, so the TD
    target bootstraps with ``γ^n``. When the episode terminates, the last ``< n``
    steps are stored too, each with the rest of the rewards (no bootstrap needed).
    When it is truncated, steps with fewer than ``n`` rewards ahead are dropped: their
    bootstrap would need a different discount.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(self, n: int, gamma: float) -> None:
        self.n = whole_number("n_step", n)
        self.gamma = probability("gamma", gamma)
        self.pending: deque = deque()  # (obs, action, reward) awaiting n rewards

    def _ret(self, start: int) -> float:
        rewards = [r for _, _, r in list(self.pending)[start:]]
        return float(sum(self.gamma**k * r for k, r in enumerate(rewards)))

    def push(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool = False,
    ) -> list[tuple]:
        """Add one step; return the ``(obs, action, R, next_obs, terminated)``
        transitions that are now complete (maybe none)."""
        self.pending.append((np.array(obs), action, reward))  # copy: envs may reuse
        out = []
        if terminated:
            for i, (o, a, _) in enumerate(self.pending):
                out.append((o, a, self._ret(i), next_obs, True))
            self.pending.clear()
            return out
        if len(self.pending) == self.n:
            o, a, _ = self.pending[0]
            out.append((o, a, self._ret(0), next_obs, False))
            self.pending.popleft()
        if truncated:
            self.pending.clear()
        return out


# --- the exercises of notebook 03, one reference each --------------------------------
# The notebook's own loop calls these (the student's versions, or these when an
# exercise is not done yet); ``train_dqn`` keeps its inline lines, and the notebook
# proves that both loops end with identical weights.


def choose_action(
    q_net: nn.Module,
    obs: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    *,
    n_actions: int,
    hold_left: int,
    held_action: int,
    hold: HoldFn = one_step,
    warmup: bool = False,
) -> tuple[int, int, int]:
    """ε-greedy with held random actions (εz-greedy when ``hold`` is ``ZipfHold``).

    When no hold is running (``hold_left == 0``), flip the ε coin (``rng.random() <
    epsilon``; no coin while ``warmup``: always random); on a hit draw a random action
    (``rng.integers(n_actions)``), then its hold length ``hold(rng)``. While a hold
    runs, play the held action and count down; otherwise play ``argmax_a Q(obs, a)``.

    Returns:
        ``(action, hold_left, held_action)``, the last two for the next call.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    if hold_left == 0 and (warmup or rng.random() < epsilon):
        held_action, hold_left = int(rng.integers(n_actions)), hold(rng)
    if hold_left > 0:
        return held_action, hold_left - 1, held_action
    with torch.no_grad():
        q_values = q_net(torch.as_tensor(obs).unsqueeze(0))[0]
    return greedy_action(q_values, rng), 0, held_action


def n_step_push(
    pending: deque,
    obs: np.ndarray,
    action: int,
    reward: float,
    next_obs: np.ndarray,
    terminated: bool,
    truncated: bool,
    *,
    n: int,
    gamma: float,
) -> list[tuple]:
    """:class:`NStepCollector`'s ``push`` as a function of its ``pending`` deque of
    ``(obs, action, reward)`` (changed in place); the same transitions, bit for bit.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    pending.append((np.array(obs), action, reward))  # a copy: envs may reuse obs

    def ret(start: int) -> float:
        rewards = [r for _, _, r in list(pending)[start:]]
        return float(sum(gamma**k * r for k, r in enumerate(rewards)))

    out = []
    if terminated:
        out = [(o, a, ret(i), next_obs, True) for i, (o, a, _) in enumerate(pending)]
        pending.clear()
    elif len(pending) == n:
        o, a, _ = pending[0]
        out = [(o, a, ret(0), next_obs, False)]
        pending.popleft()
    if truncated:
        pending.clear()
    return out


def update(
    q_net: nn.Module,
    target_net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    gamma: float,
    n_step: int,
    target_fn: TargetFn,
    max_grad_norm: float,
    loss_fn: LossFn = F.smooth_l1_loss,
) -> float:
    """One gradient step on a batch of tensors: ``Q(s, a)``, the target under
    ``no_grad`` (bootstrapping with ``gamma ** n_step``), the loss, then zero_grad,
    backward, clip, step. :func:`compute_loss` then :func:`optimize`, in one.

    Returns:
        the loss, a float.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    q = q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        target = target_fn(q_net, target_net, batch, gamma**n_step)
    loss = loss_fn(q, target)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    return float(loss.item())
