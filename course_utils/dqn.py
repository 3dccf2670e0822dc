"""Deep Q-learning, collected once: the same lines notebook 03 builds inline.

Reused by notebook 04 (Space Invaders RAM) and ``python -m course_utils.train``.
"""

from __future__ import annotations

import copy
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.buffers import Batch, ReplayBuffer
from course_utils.evaluation import evaluate
from course_utils.networks import DuelingQNetwork, QNetwork
from course_utils.policies import QPolicy
from course_utils.schedules import linear_schedule


@dataclass
class DQNConfig:
    """Every knob of :func:`train_dqn` (the presets live in ``course_utils.train``)."""

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
    repeat_mu: float = 0.0  # > 1: εz-greedy, a random action is held for
    # n ~ Zipf(repeat_mu) steps (0 = plain ε-greedy)
    hidden: tuple[int, ...] = (128, 128)  # Q-network hidden widths
    dueling: bool = False  # dueling head
    double: bool = True  # Double-DQN target
    loss: str = "huber"  # "huber" or "mse"
    max_grad_norm: float = 10.0  # gradient clipping
    normalize_obs: bool = True  # rescale observations to [-1, 1] inside the net
    clip_reward: bool = False  # clip rewards to [-1, 1] (Atari habit)
    terminal_on_life_loss: bool = False  # store a lost life as terminal (info["lives"])
    eval_every: int = 5_000  # steps between greedy evaluations (0: never)
    eval_episodes: int = 10  # episodes per evaluation
    eval_seed: int = 10_000  # evaluation episode i uses eval_seed + i
    eval_epsilon: float = 0.0  # exploration while evaluating (Atari: 0.05)
    solved_at: float | None = None  # score that counts as solved (recorded)
    stop_when_solved: bool = False  # stop training at the first solved evaluation
    max_seconds: float | None = None  # optional wall-time cap on training
    extra: dict = field(default_factory=dict)  # free-form notes saved with the run

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


@dataclass
class DQNResult:
    """What :func:`train_dqn` hands back."""

    q_net: nn.Module  # the network with the best evaluation
    last_q_net: nn.Module  # the network at the end of training
    episode_returns: list[float]  # training episodes (with exploration)
    episode_end_steps: list[int]  # env step at which each episode ended
    losses: list[float]  # one per gradient step
    evals: list[tuple[int, float, float]]  # (step, mean, std) of each evaluation
    first_solved: tuple[int, float] | None  # (step, training seconds) when first solved
    steps: int  # environment steps done
    wall_time_s: float  # training + evaluation
    eval_time_s: float = 0.0  # of which evaluations


def make_q_network(env: gym.Env, cfg: DQNConfig) -> QNetwork:
    """A Q-network shaped for ``env``, built as ``cfg`` says."""
    space = env.observation_space
    bounds = {}
    if cfg.normalize_obs:
        low = np.broadcast_to(space.low, space.shape)
        high = np.broadcast_to(space.high, space.shape)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(
                "normalize_obs needs finite observation bounds for this env."
            )
        bounds = {"obs_low": low.ravel().tolist(), "obs_high": high.ravel().tolist()}
    cls = DuelingQNetwork if cfg.dueling else QNetwork
    return cls(
        int(np.prod(space.shape)), int(env.action_space.n), hidden=cfg.hidden, **bounds
    )


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
    return reward + gamma * (1.0 - terminated) * next_q_target.gather(1, best).squeeze(
        1
    )


def dqn_loss(
    q_net: nn.Module,
    target_net: nn.Module,
    batch: Batch,
    *,
    gamma: float,
    double: bool = True,
    loss: str = "huber",
) -> torch.Tensor:
    """TD loss on one batch of tensors (see ``Batch.to_torch``).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    q = q_net(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        next_q_target = target_net(batch.next_obs)
        if double:
            target = double_dqn_target(
                batch.reward,
                q_net(batch.next_obs),
                next_q_target,
                batch.terminated,
                gamma,
            )
        else:
            target = td_target(batch.reward, next_q_target, batch.terminated, gamma)
    if loss == "huber":
        return F.smooth_l1_loss(q, target)
    if loss == "mse":
        return F.mse_loss(q, target)
    raise ValueError(f"loss must be 'huber' or 'mse', got {loss!r}.")


@torch.no_grad()
def soft_update(target_net: nn.Module, q_net: nn.Module, tau: float) -> None:
    """Polyak update ``θ_target ← τ θ + (1 − τ) θ_target``; ``tau=1`` is a hard copy.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must lie in (0, 1], got {tau}.")
    for target, source in zip(target_net.parameters(), q_net.parameters(), strict=True):
        target.mul_(1.0 - tau).add_(source, alpha=tau)


def exploration_duration(
    repeat_mu: float, rng: np.random.Generator, max_steps: int = 10_000
) -> int:
    """How many steps an exploratory action is held: 1 for plain ε-greedy, else a
    heavy-tailed ``Zipf(repeat_mu)`` draw (εz-greedy, Dabney et al., 2021).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    if repeat_mu == 0:
        return 1
    if repeat_mu <= 1:
        raise ValueError(f"repeat_mu must be 0 (off) or > 1, got {repeat_mu}.")
    return int(min(rng.zipf(repeat_mu), max_steps))


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


def train_dqn(
    env: gym.Env,
    cfg: DQNConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    device: str | torch.device = "cpu",
    eval_env: gym.Env | None = None,
    progress: bool = True,
    on_eval: Callable[[int, float], None] | None = None,
) -> DQNResult:
    """Train a DQN agent on ``env`` (discrete actions) and return the best network.

    Every ``cfg.eval_every`` steps the greedy policy plays ``cfg.eval_episodes``
    episodes on ``eval_env``; the best-scoring network is kept (model selection on
    evaluation seeds, as Stable-Baselines3's EvalCallback does).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    start = time.perf_counter()
    q_net = make_q_network(env, cfg).to(device)
    target_net = copy.deepcopy(q_net)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=cfg.lr)
    buffer = ReplayBuffer.for_env(env, cfg.buffer_size)
    collector = NStepCollector(cfg.n_step, cfg.gamma)
    env.action_space.seed(seed)
    result = DQNResult(q_net, q_net, [], [], [], [], None, 0, 0.0)
    best_score = -np.inf
    explore_steps = max(1, int(cfg.exploration_fraction * cfg.total_steps))

    obs, info = env.reset(seed=seed)
    lives = info.get("lives", 0)
    episode_return = 0.0
    repeat_left, repeat_action = 0, 0
    bar = tqdm(
        range(1, cfg.total_steps + 1), disable=not progress, mininterval=1, desc="DQN"
    )
    for step in bar:
        epsilon = linear_schedule(
            step, start=cfg.epsilon_start, end=cfg.epsilon_end, duration=explore_steps
        )
        if repeat_left == 0 and (step <= cfg.learning_starts or rng.random() < epsilon):
            repeat_action = int(rng.integers(env.action_space.n))
            repeat_left = exploration_duration(cfg.repeat_mu, rng)
        if repeat_left > 0:
            action, repeat_left = repeat_action, repeat_left - 1
        else:
            with torch.no_grad():
                obs_t = torch.as_tensor(obs, device=device).unsqueeze(0)
                action = int(q_net(obs_t).argmax(dim=1).item())
        next_obs, reward, terminated, truncated, info = env.step(action)
        episode_return += float(reward)
        stored_reward = (
            float(np.clip(reward, -1, 1)) if cfg.clip_reward else float(reward)
        )
        # Atari habit: learn as if a lost life ended the episode (the game goes on).
        life_lost = cfg.terminal_on_life_loss and info.get("lives", lives) < lives
        lives = info.get("lives", lives)
        for transition in collector.push(
            obs, action, stored_reward, next_obs, terminated or life_lost, truncated
        ):
            buffer.add(*transition)
        obs = next_obs
        if terminated or truncated:
            result.episode_returns.append(episode_return)
            result.episode_end_steps.append(step)
            obs, info = env.reset()
            lives = info.get("lives", 0)
            episode_return = 0.0

        if step > cfg.learning_starts and step % cfg.train_freq == 0:
            for _ in range(cfg.gradient_steps):
                batch = buffer.sample(cfg.batch_size, rng).to_torch(device)
                loss = dqn_loss(
                    q_net,
                    target_net,
                    batch,
                    gamma=cfg.gamma**cfg.n_step,
                    double=cfg.double,
                    loss=cfg.loss,
                )
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(q_net.parameters(), cfg.max_grad_norm)
                optimizer.step()
                result.losses.append(float(loss.item()))
        if step % cfg.target_update_interval == 0:
            soft_update(target_net, q_net, cfg.tau)

        if eval_env is not None and cfg.eval_every and step % cfg.eval_every == 0:
            eval_start = time.perf_counter()
            eval_rng = np.random.default_rng(
                cfg.eval_seed + step
            )  # not the training rng
            policy = QPolicy(
                q_net.eval(), epsilon=cfg.eval_epsilon, rng=eval_rng, device=device
            )
            scores = evaluate(
                policy, eval_env, n_episodes=cfg.eval_episodes, seed=cfg.eval_seed
            )
            q_net.train()
            result.eval_time_s += time.perf_counter() - eval_start
            mean = float(scores.mean())
            result.evals.append((step, mean, float(scores.std())))
            if on_eval is not None:
                on_eval(step, mean)
            if mean > best_score:
                best_score, result.q_net = mean, copy.deepcopy(q_net).eval()
            bar.set_postfix(eval=f"{mean:.1f}", best=f"{best_score:.1f}", refresh=False)
            solved = cfg.solved_at is not None and mean >= cfg.solved_at
            if solved and result.first_solved is None:
                train_time = time.perf_counter() - start - result.eval_time_s
                result.first_solved = (step, train_time)
            if solved and cfg.stop_when_solved:
                break
        if cfg.max_seconds is not None and step % 1000 == 0:
            if time.perf_counter() - start > cfg.max_seconds:
                break
    bar.close()
    result.steps = step
    result.last_q_net = q_net.eval()
    if not result.evals:
        result.q_net = result.last_q_net
    result.wall_time_s = time.perf_counter() - start
    return result
