"""The pieces of deep Q-learning, each written once, in the order the loop calls them.

- **act**: :func:`choose_action`, ε-greedy whose random action is held for
  ``hold(rng)`` steps (εz-greedy with :class:`ZipfHold`, plain ε-greedy with
  :func:`no_hold`);
- **store**: :func:`terminal_to_store` (only a termination is terminal), a shaping
  piece (:func:`no_shaping` by default) and :func:`n_step_push` (n-step transitions);
- **sample**: ``common.buffers.sample_indices``, which ``ReplayBuffer.sample`` draws;
- **target**: :func:`td_target` and :func:`double_dqn_target` (the maths),
  :func:`compute_target` and :func:`compute_target_double` (on a batch);
- **update**: :func:`compute_loss`, the TD loss of a batch, travels with its target
  and its loss function in a :class:`TDLoss` (:class:`DQNLoss` here, QR-DQN's
  ``QuantileLoss`` in ``qr``); :func:`gradient_step` takes one clipped step on it;
- **sync**: :func:`should_sync` and :func:`soft_update`.

``loop.train_dqn`` calls exactly these, and notebook 03's exercises define the same
functions with the same contracts, so the notebook's loop and the package's make the
same calls (a check cell proves they end with identical weights). No piece keeps
hidden state: what one step hands to the next (a running hold, the steps waiting for
their n rewards) is passed in and handed back.

Taught in: 03_dqn_mountaincar.ipynb
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

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
Transition = tuple[np.ndarray, int, float, np.ndarray, bool]


# --- act ------------------------------------------------------------------------------


def no_hold(rng: np.random.Generator) -> int:
    """A random action lasts one step: plain ε-greedy (draws nothing)."""
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
        whole_number("ZipfHold.max_steps", self.max_steps, why="the longest hold")

    def __call__(self, rng: np.random.Generator) -> int:
        return int(min(rng.zipf(self.mu), self.max_steps))


def choose_action(
    q_net: nn.Module,
    obs: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    *,
    n_actions: int,
    hold_left: int,
    held_action: int,
    hold: HoldFn = no_hold,
    warmup: bool = False,
    device: str | torch.device = "cpu",
) -> tuple[int, int, int]:
    """ε-greedy with held random actions (εz-greedy when ``hold`` is ``ZipfHold``).

    When no hold is running (``hold_left == 0``), flip the ε coin (``rng.random() <
    epsilon``; no coin while ``warmup``: always random); on a hit draw a random action
    (``rng.integers(n_actions)``), then its hold length ``hold(rng)``. While a hold
    runs, play the held action and count down; otherwise play the greedy action of
    ``q_net`` on ``obs`` (``common.policies.greedy_action``: exact ties at random).
    With ``hold=no_hold`` and no warmup it draws what
    ``common.policies.epsilon_greedy`` draws. It is :func:`choose_actions` for one
    environment.

    Args:
        obs: one observation as the environment returns it, e.g. ``(2,) float32``.
        hold_left, held_action: what the previous call returned (0, 0 at the start).

    Returns:
        ``(action, hold_left, held_action)``, the last two for the next call.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    actions, left, held = choose_actions(
        q_net,
        np.asarray(obs)[None],
        [epsilon],
        rng,
        n_actions=n_actions,
        hold_left=[hold_left],
        held_action=[held_action],
        hold=hold,
        warmup=[warmup],
        device=device,
    )
    return int(actions[0]), int(left[0]), int(held[0])


def choose_actions(
    q_net: nn.Module,
    obs: np.ndarray,
    epsilons: Sequence[float],
    rng: np.random.Generator,
    *,
    n_actions: int,
    hold_left: Sequence[int],
    held_action: Sequence[int],
    hold: HoldFn = no_hold,
    warmup: Sequence[bool],
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`choose_action` for ``n`` environments at once: the ε coin, the random
    action and its hold per environment (in environment order), then one forward pass
    of ``q_net`` for every environment that plays greedily.

    Args:
        obs: ``(n, *obs_shape)``, the environments' observations stacked.
        epsilons, hold_left, held_action, warmup: one per environment.

    Returns:
        ``(actions, hold_left, held_action)``, three ``(n,) int64`` arrays.
    """
    hold_left = np.array(hold_left, dtype=np.int64)
    held_action = np.array(held_action, dtype=np.int64)
    actions = np.empty(len(hold_left), dtype=np.int64)
    greedy = []  # the environments that play the network's action
    for i in range(len(actions)):
        if hold_left[i] == 0 and (warmup[i] or rng.random() < epsilons[i]):
            held_action[i], hold_left[i] = rng.integers(n_actions), hold(rng)
        if hold_left[i] > 0:
            actions[i], hold_left[i] = held_action[i], hold_left[i] - 1
        else:
            greedy.append(i)
    if greedy:
        with torch.no_grad():
            q_values = q_net(torch.as_tensor(obs[greedy], device=device)).cpu()
        for i, row in zip(greedy, q_values.numpy(), strict=True):
            actions[i] = greedy_action(row, rng)
    return actions, hold_left, held_action


# --- store ----------------------------------------------------------------------------


def terminal_to_store(terminated: bool, truncated: bool) -> bool:
    """What the buffer must store as 'terminal': only a true termination. A time
    limit's truncation is not a terminal state: its target still bootstraps.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return bool(terminated)


def no_shaping(
    reward: float, terminated: bool, info: dict, prev_info: dict
) -> tuple[float, bool]:
    """Store what the environment gave (the default shaping): ``(reward, terminated)``.

    A shaping piece receives the step's ``reward``, the terminal flag
    :func:`terminal_to_store` gave, the step's ``info`` and the previous step's (or
    reset's) ``prev_info``, and returns the reward and terminal flag the agent learns
    from; the episode's score is never changed. Atari's is
    ``course_utils.games.space_invaders.atari_transition``.
    """
    return float(reward), bool(terminated)


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
) -> list[Transition]:
    """Add one step to ``pending`` (the ``(obs, action, reward)`` of the steps still
    waiting for their n rewards, changed in place); return the n-step transitions
    ``(obs, action, R, next_obs, terminated)`` that are now complete (maybe none).

    A stored transition carries the discounted reward of the next ``n`` steps, ``R =
    r_t + γ r_(t+1) + ... + γ^(n-1) r_(t+n-1)``, and ``next_obs`` is the state ``n``
    steps later, so the TD target bootstraps with ``γ^n``. When the episode
    terminates, every waiting step is stored with the rest of the rewards and
    ``terminated=True`` (no bootstrap). When it is truncated, the steps with fewer than
    ``n`` rewards ahead are dropped: their bootstrap would need another discount.
    ``n=1`` passes one-step transitions through.

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


# --- target ---------------------------------------------------------------------------


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


# --- update ---------------------------------------------------------------------------


def compute_loss(
    q_net: nn.Module,
    target_net: nn.Module,
    batch: Batch,
    gamma: float,
    *,
    target_fn: TargetFn = compute_target,
    loss_fn: LossFn = F.smooth_l1_loss,
) -> torch.Tensor:
    """DQN's TD loss on one batch: ``loss_fn(Q(s, a), target)``.

    ``Q(s, a)`` is ``q_net``'s value of the action taken in each row, ``(batch,)``;
    the target comes from ``target_fn`` under ``torch.no_grad()``, so no gradient
    flows into it.

    Args:
        batch: a ``Batch`` of tensors (``Batch.to_torch``): ``obs (batch, *obs_shape)``,
            ``action (batch,)`` int64, ``reward (batch,)`` float32 (the n-step
            return), ``next_obs``, ``terminated (batch,)`` float32.
        gamma: the discount of the bootstrap, ``γ^n`` for n-step transitions.

    Returns:
        the loss, a scalar tensor with gradient through ``Q(s, a)`` only.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    q = q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        target = target_fn(q_net, target_net, batch, gamma)
    return loss_fn(q, target)


class TDLoss(Protocol):
    """The TD loss of a batch, with its own target: the pieces that change together.

    ``td_loss(q_net, target_net, batch, gamma) -> scalar loss``; ``network`` is the
    class of network it can train (``train_dqn`` refuses any other before it starts).
    """

    network: ClassVar[type[nn.Module]]

    def __call__(
        self, q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class DQNLoss:
    """DQN's :class:`TDLoss`: :func:`compute_loss` with its target and its loss.

    ``DQNLoss()`` is the published method (target net picks and scores, Huber);
    ``DQNLoss(target=compute_target_double)`` is Double DQN; ``loss=F.mse_loss`` the
    squared error. Any network with one Q-value per action will do.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    target: TargetFn = compute_target
    loss: LossFn = F.smooth_l1_loss
    network: ClassVar[type[nn.Module]] = nn.Module

    def __call__(
        self, q_net: nn.Module, target_net: nn.Module, batch: Batch, gamma: float
    ) -> torch.Tensor:
        return compute_loss(
            q_net, target_net, batch, gamma, target_fn=self.target, loss_fn=self.loss
        )


def gradient_step(
    q_net: nn.Module,
    target_net: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    gamma: float,
    td_loss: TDLoss,
    max_grad_norm: float,
) -> float:
    """The update: the TD loss of ``batch``, then one gradient step on ``q_net``:
    zero the gradients, backpropagate, clip their norm to ``max_grad_norm``, step.

    Args:
        gamma: the discount of the bootstrap, ``γ^n`` for n-step transitions.
        td_loss: e.g. ``DQNLoss(target=compute_target_double)``.

    Returns:
        the loss before the step, a float.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    loss = td_loss(q_net, target_net, batch, gamma)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_net.parameters(), max_grad_norm)
    optimizer.step()
    return float(loss.item())


# --- sync -----------------------------------------------------------------------------


def should_sync(step: int, interval: int) -> bool:
    """True on the steps where the target network is synced: every ``interval``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return step > 0 and step % interval == 0


@torch.no_grad()
def soft_update(target_net: nn.Module, q_net: nn.Module, tau: float) -> None:
    """Polyak update ``θ_target ← τ θ + (1 − τ) θ_target``; ``tau=1`` is a hard copy.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    probability("tau", tau, zero=False)
    for target, source in zip(target_net.parameters(), q_net.parameters(), strict=True):
        target.mul_(1.0 - tau).add_(source, alpha=tau)
