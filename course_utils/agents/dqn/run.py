"""What the DQN loop shares between one environment and several: a run's numbers
(:class:`DQNConfig`), what it builds before its first step (the networks and their
optimizer, model selection) and the steps it takes the same way on every environment
step (:class:`DQNRun`: ε, learn, sync, select, record an episode, finish), and what
it hands back (:class:`DQNResult`). ``loop.train_dqn`` builds the run and runs the
one-environment body, or ``vector``'s over several environments.

The config, with a comment and a check for each of its settings, sits beside the
set-up and the steps that read it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import course_utils.agents.dqn.core as core
from course_utils.agents.services import BestModelKeeper, Deadline
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.networks import QNetwork
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


def one_env_spaces(env: gym.Env | gym.vector.VectorEnv) -> gym.Env | SimpleNamespace:
    """``env`` itself, or for a vector environment one environment's spaces (what
    the network and buffer builders read)."""
    if not isinstance(env, gym.vector.VectorEnv):
        return env
    return SimpleNamespace(
        observation_space=env.single_observation_space,
        action_space=env.single_action_space,
    )


@dataclass
class DQNRun:
    """One training run's state and the steps both bodies of ``train_dqn`` take the
    same way; each method is one numbered step of the loop."""

    cfg: DQNConfig
    rng: np.random.Generator  # draws the batches (and the loops' actions)
    td_loss: core.TDLoss
    device: str | torch.device
    q_net: QNetwork
    target_net: QNetwork
    optimizer: torch.optim.Optimizer
    buffer: ReplayBuffer
    keeper: BestModelKeeper  # model selection
    deadline: Deadline  # the wall-time cap (its clock started before the set-up)
    watch: RunProgress  # the bar
    n_actions: int
    result: DQNResult = field(init=False)  # filled in as the run goes
    explore_steps: int = field(init=False)  # steps over which ε falls
    bootstrap_gamma: float = field(init=False)  # γ^n: n-step transitions bootstrap

    def __post_init__(self) -> None:
        cfg, q_net = self.cfg, self.q_net
        history = self.keeper.history
        self.result = DQNResult(q_net, q_net, [], [], [], history, None, 0, 0.0)
        self.explore_steps = max(1, int(cfg.exploration_fraction * cfg.total_steps))
        self.bootstrap_gamma = cfg.gamma**cfg.n_step

    def epsilon(self, step: int) -> float:
        """ε at environment ``step``: a line from ``epsilon_start`` to ``epsilon_end``
        over the first ``exploration_fraction`` of ``total_steps``, then flat."""
        cfg = self.cfg
        return linear_schedule(
            step,
            start=cfg.epsilon_start,
            end=cfg.epsilon_end,
            duration=self.explore_steps,
        )

    def end_episode(self, step: int, episode_return: float, length: int) -> None:
        """Record a training episode that ended on environment ``step``."""
        self.result.episode_returns.append(episode_return)
        self.result.episode_lengths.append(length)
        self.result.episode_end_steps.append(step)
        self.watch.episode(step, episode_return)

    def learn(self, step: int) -> None:
        """Learn: every ``train_freq`` steps once ``learning_starts`` have passed,
        ``gradient_steps`` gradient steps on the TD loss of sampled batches, at the
        scheduled learning rate (default: constant)."""
        cfg = self.cfg
        if step <= cfg.learning_starts or step % cfg.train_freq:
            return
        for group in self.optimizer.param_groups:
            group["lr"] = cfg.lr_at(step)
        for _ in range(cfg.gradient_steps):
            batch = self.buffer.sample(cfg.batch_size, self.rng).to_torch(self.device)
            loss = core.gradient_step(
                self.q_net,
                self.target_net,
                self.optimizer,
                batch,
                gamma=self.bootstrap_gamma,
                td_loss=self.td_loss,
                max_grad_norm=cfg.max_grad_norm,
            )
            self.result.losses.append(loss)

    def sync(self, step: int) -> None:
        """Sync the target network every ``target_update_interval`` steps."""
        if core.should_sync(step, self.cfg.target_update_interval):
            core.soft_update(self.target_net, self.q_net, self.cfg.tau)

    def select(self, step: int) -> None:
        """Model selection: evaluate on the evaluation seeds when it is time, keep
        the best network, note when the score first reached ``solved_at``."""
        mean = self.keeper.maybe_evaluate(step, self.q_net)
        if mean is None:
            return
        keeper, result = self.keeper, self.result
        self.watch.evaluation(step, *keeper.history[-1][1:], best=keeper.best_score)
        solved = self.cfg.solved_at is not None and mean >= self.cfg.solved_at
        if solved and result.first_solved is None:
            result.first_solved = (step, self.deadline.elapsed() - keeper.seconds)

    def out_of_time(self, step: int) -> bool:
        """The wall-time cap, checked every 1,000 environment steps."""
        return step % 1000 == 0 and self.deadline.passed()

    def finish(self, steps: int) -> DQNResult:
        """Close the bar and hand back the result after ``steps`` environment steps."""
        self.watch.close()
        result = self.result
        result.steps = steps
        result.last_q_net = self.q_net.eval()
        best = self.keeper.best
        result.q_net = best if best is not None else result.last_q_net
        result.eval_time_s = self.keeper.seconds
        result.wall_time_s = self.deadline.elapsed()
        return result
