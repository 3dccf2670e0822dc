"""Deep Q-learning, collected once: the same lines notebook 03 builds inline.

Over 200 lines because the loop and the pieces it receives belong together: the
maths of the targets, the n-step collector, the hold lengths and the loop.

The loop, :func:`train_dqn`, holds only the algorithm. What varies between the
course's agents is passed in as small functions (the published method by default):
``target_fn`` (plain or Double DQN), ``loss_fn`` (Huber or MSE), ``net_class``
(plain or dueling), ``hold`` (ε-greedy or εz-greedy), ``shaping`` (Atari's
clipped rewards and lives) and ``td_loss`` (the loss on a batch from the networks:
:func:`compute_loss`, or QR-DQN's in ``course_utils.qr_dqn``). Model selection,
the wall-time cap and the progress bar come from ``course_utils.training``. Reused
by notebook 04 and the trainer.
"""

from __future__ import annotations

import copy
import math
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.buffers import Batch, ReplayBuffer
from course_utils.networks import QNetwork
from course_utils.policies import QPolicy, greedy_action
from course_utils.schedules import linear_schedule
from course_utils.training import BestModelKeeper, Deadline, progress_bar

TargetFn = Callable[[nn.Module, nn.Module, Batch, float], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
HoldFn = Callable[[np.random.Generator], int]
ShapingFn = Callable[[float, bool, dict, dict], tuple[float, bool]]
TDLossFn = Callable[
    [nn.Module, nn.Module, Batch, float, TargetFn, LossFn], torch.Tensor
]


@dataclass(frozen=True)
class DQNConfig:
    """The numbers of :func:`train_dqn`; the agents' presets live in ``presets``."""

    total_steps: int = 60_000  # environment steps of training
    lr: float = 1e-3  # Adam learning rate
    batch_size: int = 128  # transitions per gradient step
    buffer_size: int = 50_000  # replay capacity
    learning_starts: int = 1_000  # random steps before the first update
    gamma: float = 0.99  # discount factor
    n_step: int = 1  # > 1: n-step returns, r_t + ... + γ^(n-1) r_(t+n-1), then γ^n Q
    train_freq: int = 4  # environment steps between updates
    gradient_steps: int = 1  # gradient steps per update
    target_update_interval: int = 500  # steps between target syncs (with tau)
    tau: float = 1.0  # 1.0 = hard copy, < 1 = Polyak (soft) update
    epsilon_start: float = 1.0  # ε at step 0
    epsilon_end: float = 0.05  # ε after the schedule
    exploration_fraction: float = 0.2  # share of total_steps over which ε falls
    hidden: tuple[int, ...] = (128, 128)  # Q-network hidden widths
    max_grad_norm: float = 10.0  # gradient clipping
    normalize_obs: bool = True  # rescale observations to [-1, 1] inside the net
    eval_every: int = 5_000  # steps between evaluations for model selection (0: never)
    eval_episodes: int = 10  # episodes per evaluation
    eval_seed: int = 10_000  # evaluation episode i uses eval_seed + i
    eval_epsilon: float = 0.0  # exploration while evaluating (Atari: 0.05)
    solved_at: float | None = None  # score that counts as solved (recorded)
    max_seconds: float | None = None  # optional wall-time cap on training
    lr_end: float | None = None  # None: constant lr; else lr falls linearly to lr_end
    # over total_steps (a wall-time cap stops the fall where it is)

    def __post_init__(self) -> None:
        for name in (
            "total_steps",
            "batch_size",
            "buffer_size",
            "train_freq",
            "gradient_steps",
            "target_update_interval",
            "n_step",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"DQNConfig.{name} must be an integer >= 1, got {value!r}."
                )
        if not (0.0 <= self.gamma <= 1.0):  # also refuses NaN
            raise ValueError(f"DQNConfig.gamma must lie in [0, 1], got {self.gamma}.")
        if not (self.max_grad_norm > 0 and math.isfinite(self.max_grad_norm)):
            raise ValueError(
                "DQNConfig.max_grad_norm must be a finite number > 0, "
                f"got {self.max_grad_norm}."
            )
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(
                f"DQNConfig.lr must be a finite number > 0, got {self.lr}."
            )
        end = self.lr_end
        if end is not None and not (
            isinstance(end, (int, float, np.number))
            and not isinstance(end, bool)
            and end > 0
            and math.isfinite(end)
        ):
            raise ValueError(
                f"DQNConfig.lr_end must be None (a constant lr) or a finite number "
                f"> 0, got {end!r}. Fix: e.g. lr_end=lr / 10."
            )

    def lr_at(self, step: int) -> float:
        """The learning rate at environment ``step``: ``lr`` throughout when
        ``lr_end`` is None (exactly ``lr``, bit for bit), else a straight line from
        ``lr`` at step 0 to ``lr_end`` at ``total_steps``."""
        end = self.lr if self.lr_end is None else self.lr_end
        fraction = min(max(step, 0) / self.total_steps, 1.0)
        return self.lr + fraction * (end - self.lr)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class DQNResult:
    """What :func:`train_dqn` hands back."""

    q_net: nn.Module  # the network with the best evaluation (else the last one)
    last_q_net: nn.Module  # the network at the end of training
    episode_returns: list[float]  # training episodes (with exploration)
    episode_end_steps: list[int]  # env step at which each episode ended
    losses: list[float]  # one per gradient step
    evals: list[tuple[int, float, float]]  # (step, mean, std) of each evaluation
    first_solved: tuple[int, float] | None  # (step, training seconds) when first solved
    steps: int  # environment steps done
    wall_time_s: float  # training + evaluation
    eval_time_s: float = 0.0  # of which evaluations


def make_q_network(
    env: gym.Env,
    hidden: tuple[int, ...],
    *,
    net_class: type[QNetwork] = QNetwork,
    normalize_obs: bool = True,
) -> QNetwork:
    """A Q-network shaped for ``env`` (a ``Discrete`` action space).

    ``normalize_obs`` rescales observations to [-1, 1] inside the network, from the
    observation space's bounds (which must then be finite).
    """
    space, actions = env.observation_space, env.action_space
    if not isinstance(actions, gym.spaces.Discrete):
        raise ValueError(
            f"DQN needs a discrete action space (gymnasium Discrete), but this "
            f"environment's is {actions}. Fix: use a discrete-action environment such "
            "as MountainCar-v0, or an actor-critic method for continuous actions "
            "(notebook 05)."
        )
    bounds = {}
    if normalize_obs:
        low = np.broadcast_to(space.low, space.shape)
        high = np.broadcast_to(space.high, space.shape)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(
                "normalize_obs needs finite observation bounds for this env. Fix: "
                "pass normalize_obs=False."
            )
        bounds = {"obs_low": low.ravel().tolist(), "obs_high": high.ravel().tolist()}
    if len(space.shape) > 1:  # a grid (e.g. Snake's planes): the net flattens it
        bounds["obs_shape"] = list(space.shape)
    return net_class(int(np.prod(space.shape)), int(actions.n), hidden=hidden, **bounds)


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
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must lie in (0, 1], got {tau}.")
    for target, source in zip(target_net.parameters(), q_net.parameters(), strict=True):
        target.mul_(1.0 - tau).add_(source, alpha=tau)


def raw_transition(
    reward: float, terminated: bool, info: dict, prev_info: dict
) -> tuple[float, bool]:
    """Store what the environment gave (the default): ``(reward, terminated)``.

    A shaping function receives the step's ``reward``, ``terminated``, its ``info``
    and the previous step's (or reset's) ``prev_info``, and returns the reward and
    terminal flag the agent learns from; the episode's score is never changed.
    Atari's version is ``course_utils.atari_ram.atari_transition``.
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
        if not self.mu > 1:
            raise ValueError(f"ZipfHold needs mu > 1, got {self.mu}.")

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
        if int(n) < 1:
            raise ValueError(f"n_step must be at least 1, got {n!r}.")
        self.n, self.gamma = int(n), float(gamma)
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


def sample_indices(size: int, batch_size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of a uniform sample *with replacement* of a buffer's ``size`` rows:
    ``(batch_size,)`` int64 in ``[0, size)``, the draw ``ReplayBuffer.sample`` makes.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    return rng.integers(0, size, size=batch_size)


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
    return greedy_action(q_values), 0, held_action


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


def train_dqn(
    env: gym.Env,
    cfg: DQNConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    target_fn: TargetFn = compute_target,
    loss_fn: LossFn = F.smooth_l1_loss,
    net_class: type[QNetwork] = QNetwork,
    hold: HoldFn = one_step,
    shaping: ShapingFn = raw_transition,
    td_loss: TDLossFn = compute_loss,
    device: str | torch.device = "cpu",
    eval_env: gym.Env | None = None,
    progress: bool = True,
    on_eval: Callable[[int, float], None] | None = None,
) -> DQNResult:
    """Train a DQN agent on ``env`` (discrete actions) and return the best network.

    ``seed`` seeds the environment, its action space and the network's initial
    weights; ``rng`` draws every other random number. Every ``cfg.eval_every`` steps
    the policy plays ``cfg.eval_episodes`` episodes on ``eval_env`` (seeds
    ``cfg.eval_seed``+) and the best-scoring network is kept (model selection, as
    Stable-Baselines3's EvalCallback does).

    ``td_loss(q_net, target_net, batch, gamma, target_fn, loss_fn)`` computes the
    loss of a batch (``gamma`` is ``γ^n``): :func:`compute_loss` by default,
    ``qr_dqn.quantile_td_loss`` for QR-DQN (with its other pieces,
    ``qr_dqn.QR_DQN_PIECES``). The gradient step itself is always :func:`optimize`.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    deadline = Deadline(cfg.max_seconds)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        q_net = make_q_network(
            env, cfg.hidden, net_class=net_class, normalize_obs=cfg.normalize_obs
        ).to(device)
    target_net = copy.deepcopy(q_net)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=cfg.lr)
    buffer = ReplayBuffer.for_env(env, cfg.buffer_size)
    collector = NStepCollector(cfg.n_step, cfg.gamma)
    keeper = BestModelKeeper(
        eval_env,
        lambda net, step: QPolicy(
            net,
            epsilon=cfg.eval_epsilon,
            rng=np.random.default_rng(cfg.eval_seed + step),
            device=device,
        ),
        every=cfg.eval_every,
        episodes=cfg.eval_episodes,
        seed=cfg.eval_seed,
        on_eval=on_eval,
    )
    result = DQNResult(q_net, q_net, [], [], [], keeper.history, None, 0, 0.0)
    explore_steps = max(1, int(cfg.exploration_fraction * cfg.total_steps))
    n_actions = int(env.action_space.n)
    env.action_space.seed(seed)

    obs, info = env.reset(seed=seed)
    episode_return, hold_left, held_action = 0.0, 0, 0
    bar = progress_bar(range(1, cfg.total_steps + 1), enabled=progress, desc="DQN")
    for step in bar:
        # 1. act: random while the buffer fills, then ε-greedy with held random actions
        epsilon = linear_schedule(
            step, start=cfg.epsilon_start, end=cfg.epsilon_end, duration=explore_steps
        )
        if hold_left == 0 and (step <= cfg.learning_starts or rng.random() < epsilon):
            held_action, hold_left = int(rng.integers(n_actions)), hold(rng)
        if hold_left > 0:
            action, hold_left = held_action, hold_left - 1
        else:
            with torch.no_grad():
                q_values = q_net(torch.as_tensor(obs, device=device).unsqueeze(0))[0]
            action = greedy_action(q_values)
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        episode_return += float(reward)
        # 2. store n-step transitions (shaping: e.g. Atari's clipped rewards and lives)
        stored_reward, stored_terminal = shaping(reward, terminated, next_info, info)
        for transition in collector.push(
            obs, action, stored_reward, next_obs, stored_terminal, truncated
        ):
            buffer.add(*transition)
        obs, info = next_obs, next_info
        if terminated or truncated:
            result.episode_returns.append(episode_return)
            result.episode_end_steps.append(step)
            obs, info = env.reset()
            episode_return = 0.0
        # 3. learn, bootstrapping n steps ahead with γ^n
        if step > cfg.learning_starts and step % cfg.train_freq == 0:
            for group in optimizer.param_groups:  # the lr schedule (default: constant)
                group["lr"] = cfg.lr_at(step)
            for _ in range(cfg.gradient_steps):
                batch = buffer.sample(cfg.batch_size, rng).to_torch(device)
                loss = td_loss(
                    q_net, target_net, batch, cfg.gamma**cfg.n_step, target_fn, loss_fn
                )
                optimize(q_net, optimizer, loss, cfg.max_grad_norm)
                result.losses.append(float(loss.item()))
        # 4. sync the target network
        if should_sync(step, cfg.target_update_interval):
            soft_update(target_net, q_net, cfg.tau)
        # 5. model selection on evaluation seeds
        mean = keeper.maybe_evaluate(step, q_net)
        if mean is not None:
            bar.set_postfix(
                eval=f"{mean:.1f}", best=f"{keeper.best_score:.1f}", refresh=False
            )
            solved = cfg.solved_at is not None and mean >= cfg.solved_at
            if solved and result.first_solved is None:
                result.first_solved = (step, deadline.elapsed() - keeper.seconds)
        if step % 1000 == 0 and deadline.passed():
            break
    bar.close()
    result.steps = step
    result.last_q_net = q_net.eval()
    result.q_net = keeper.best if keeper.best is not None else result.last_q_net
    result.eval_time_s = keeper.seconds
    result.wall_time_s = deadline.elapsed()
    return result
