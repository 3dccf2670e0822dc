"""The DQN training loop: act, step, store, learn, sync, and model selection.

:func:`train_dqn` holds only the algorithm, as calls to the pieces of ``core`` (the
functions notebook 03's exercises define). What varies between the course's agents is
passed in as pieces (the published method by default): ``td_loss`` (the loss with its
own target: ``core.DQNLoss`` for plain or Double DQN, Huber or MSE; QR-DQN's
``qr.QuantileLoss``), ``net_class`` (plain, dueling, ...), ``hold`` (ε-greedy or
εz-greedy) and ``shaping`` (Atari's clipped rewards and lives). Model selection, the
wall-time cap and the progress bar come from ``agents.services``. Reused by notebook
04, the trainer and the benchmarks.

Taught in: 03_dqn_mountaincar.ipynb
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import course_utils.agents.dqn.core as core
from course_utils.agents.services import BestModelKeeper, Deadline, live_curve
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.networks import QNetwork
from course_utils.common.plotting import LiveCurve
from course_utils.common.policies import QPolicy
from course_utils.common.progress import RunProgress
from course_utils.common.schedules import linear_schedule
from course_utils.common.validate import (
    number,
    probability,
    refuse,
    whole_number,
    whole_numbers,
)


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
            whole_number(f"DQNConfig.{name}", getattr(self, name))
        for name in ("learning_starts", "eval_every", "eval_seed"):
            whole_number(f"DQNConfig.{name}", getattr(self, name), minimum=0)
        whole_number("DQNConfig.eval_episodes", self.eval_episodes)
        whole_numbers("DQNConfig.hidden", self.hidden, why="layer widths, e.g. (256,)")
        for name in ("gamma", "epsilon_start", "epsilon_end", "eval_epsilon"):
            probability(f"DQNConfig.{name}", getattr(self, name))
        probability("DQNConfig.exploration_fraction", self.exploration_fraction)
        probability("DQNConfig.tau", self.tau, zero=False, fix="1.0 (a hard copy).")
        if not isinstance(self.normalize_obs, bool):
            refuse("DQNConfig.normalize_obs", "True or False", self.normalize_obs)
        number("DQNConfig.max_grad_norm", self.max_grad_norm, above=0)
        number("DQNConfig.lr", self.lr, above=0)
        if self.solved_at is not None:
            number("DQNConfig.solved_at", self.solved_at, why="or None: the score")
        if self.max_seconds is not None:
            number("DQNConfig.max_seconds", self.max_seconds, above=0, why="or None")
        if self.lr_end is not None:
            number(
                "DQNConfig.lr_end",
                self.lr_end,
                above=0,
                why="or None for a constant lr",
                fix="e.g. lr_end=lr / 10.",
            )

    @property
    def replay_ratio(self) -> float:
        """Gradient steps per environment step once learning has started:
        ``gradient_steps / train_freq`` (with several environments, per environment
        step summed over them)."""
        return self.gradient_steps / self.train_freq

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
    episode_lengths: list[int] = field(default_factory=list)  # its steps, per episode


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


def make_learner(
    env: gym.Env,
    cfg: DQNConfig,
    *,
    seed: int,
    td_loss: core.TDLoss,
    net_class: type[QNetwork],
    device: str | torch.device,
) -> tuple[QNetwork, QNetwork, torch.optim.Optimizer]:
    """The online Q-network (its initial weights drawn from ``seed``), its target
    copy and their Adam optimizer; a network ``td_loss`` cannot train is refused."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        q_net = make_q_network(
            env, cfg.hidden, net_class=net_class, normalize_obs=cfg.normalize_obs
        ).to(device)
    if not isinstance(q_net, td_loss.network):
        raise ValueError(
            f"td_loss={td_loss!r} trains a {td_loss.network.__name__}, but net_class "
            f"built a {type(q_net).__name__}. Fix: pass the pieces that go together "
            "(for QR-DQN all of qr.QR_DQN_PIECES)."
        )
    target_net = copy.deepcopy(q_net)
    return q_net, target_net, torch.optim.Adam(q_net.parameters(), lr=cfg.lr)


def make_keeper(
    cfg: DQNConfig,
    eval_env: gym.Env | None,
    *,
    device: str | torch.device,
    on_eval: Callable[[int, float], None] | None,
) -> BestModelKeeper:
    """Model selection: every ``cfg.eval_every`` steps, ``cfg.eval_episodes``
    episodes on seeds ``cfg.eval_seed``+ with ε ``cfg.eval_epsilon``."""
    return BestModelKeeper(
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


def train_dqn(
    env: gym.Env,
    cfg: DQNConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    td_loss: core.TDLoss = core.DQNLoss(),
    net_class: type[QNetwork] = QNetwork,
    hold: core.HoldFn = core.no_hold,
    shaping: core.ShapingFn = core.no_shaping,
    device: str | torch.device = "cpu",
    eval_env: gym.Env | None = None,
    progress: bool | tqdm = True,
    live: bool | LiveCurve = False,
    on_eval: Callable[[int, float], None] | None = None,
) -> DQNResult:
    """Train a DQN agent on ``env`` (discrete actions) and return the best network.

    ``seed`` seeds the environment, its action space and the network's initial
    weights; ``rng`` draws every other random number. Every ``cfg.eval_every`` steps
    the policy plays ``cfg.eval_episodes`` episodes on ``eval_env`` (seeds
    ``cfg.eval_seed``+) and the best-scoring network is kept (model selection, as
    Stable-Baselines3's EvalCallback does).

    The pieces: ``td_loss`` brings its target and its loss (``core.DQNLoss``, or
    QR-DQN's ``qr.QuantileLoss`` with ``net_class=QuantileQNetwork``: all of
    ``qr.QR_DQN_PIECES``); a network ``net_class`` builds that ``td_loss`` cannot
    train is refused before training starts.

    ``progress``: the run's bar (True), none (False), or a bar over runs
    (``common.progress.progress_bar``) this run's bar sits under and vanishes from
    when it ends. The bar counts environment steps of ``cfg.total_steps`` and shows
    the latest evaluation. ``live``: True or a ``common.plotting.LiveCurve`` redraws
    the learning curve in the notebook at every evaluation (nothing outside a
    notebook); training is the same with it or without it.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    deadline = Deadline(cfg.max_seconds)
    q_net, target_net, optimizer = make_learner(
        env, cfg, seed=seed, td_loss=td_loss, net_class=net_class, device=device
    )
    buffer = ReplayBuffer.for_env(env, cfg.buffer_size)
    pending: deque = deque()  # steps waiting for their n rewards (n_step_push)
    keeper = make_keeper(cfg, eval_env, device=device, on_eval=on_eval)
    result = DQNResult(q_net, q_net, [], [], [], keeper.history, None, 0, 0.0)
    explore_steps = max(1, int(cfg.exploration_fraction * cfg.total_steps))
    n_actions = int(env.action_space.n)
    bootstrap_gamma = cfg.gamma**cfg.n_step  # an n-step transition bootstraps n on
    env.action_space.seed(seed)

    obs, info = env.reset(seed=seed)
    episode_return, hold_left, held_action = 0.0, 0, 0
    watch = RunProgress(
        steps=cfg.total_steps,
        seconds=cfg.max_seconds,
        elapsed=deadline.elapsed,
        progress=progress,
        desc="DQN",
        live=live_curve(live, title="DQN", solved_at=cfg.solved_at),
    )
    for step in range(1, cfg.total_steps + 1):
        # 1. act: random while the buffer fills, then ε-greedy with held random actions
        epsilon = linear_schedule(
            step, start=cfg.epsilon_start, end=cfg.epsilon_end, duration=explore_steps
        )
        action, hold_left, held_action = core.choose_action(
            q_net,
            obs,
            epsilon,
            rng,
            n_actions=n_actions,
            hold_left=hold_left,
            held_action=held_action,
            hold=hold,
            warmup=step <= cfg.learning_starts,
            device=device,
        )
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        episode_return += float(reward)
        # 2. store n-step transitions (shaping: e.g. Atari's clipped rewards and lives)
        terminal = core.terminal_to_store(terminated, truncated)
        stored_reward, terminal = shaping(reward, terminal, next_info, info)
        for transition in core.n_step_push(
            pending,
            obs,
            action,
            stored_reward,
            next_obs,
            terminal,
            truncated,
            n=cfg.n_step,
            gamma=cfg.gamma,
        ):
            buffer.add(*transition)
        obs, info = next_obs, next_info
        if terminated or truncated:
            result.episode_returns.append(episode_return)
            ends = result.episode_end_steps
            result.episode_lengths.append(step - (ends[-1] if ends else 0))
            ends.append(step)
            watch.episode(step, episode_return)
            obs, info = env.reset()
            episode_return = 0.0
        # 3. learn: gradient steps on the TD loss of sampled batches
        if step > cfg.learning_starts and step % cfg.train_freq == 0:
            for group in optimizer.param_groups:  # the lr schedule (default: constant)
                group["lr"] = cfg.lr_at(step)
            for _ in range(cfg.gradient_steps):
                batch = buffer.sample(cfg.batch_size, rng).to_torch(device)
                loss = core.gradient_step(
                    q_net,
                    target_net,
                    optimizer,
                    batch,
                    gamma=bootstrap_gamma,
                    td_loss=td_loss,
                    max_grad_norm=cfg.max_grad_norm,
                )
                result.losses.append(loss)
        # 4. sync the target network
        if core.should_sync(step, cfg.target_update_interval):
            core.soft_update(target_net, q_net, cfg.tau)
        # 5. model selection on evaluation seeds
        mean = keeper.maybe_evaluate(step, q_net)
        if mean is not None:
            watch.evaluation(step, *keeper.history[-1][1:], best=keeper.best_score)
            solved = cfg.solved_at is not None and mean >= cfg.solved_at
            if solved and result.first_solved is None:
                result.first_solved = (step, deadline.elapsed() - keeper.seconds)
        watch.update(steps=step)
        if step % 1000 == 0 and deadline.passed():
            break
    watch.close()
    result.steps = step
    result.last_q_net = q_net.eval()
    result.q_net = keeper.best if keeper.best is not None else result.last_q_net
    result.eval_time_s = keeper.seconds
    result.wall_time_s = deadline.elapsed()
    return result
