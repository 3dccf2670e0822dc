"""The DQN training loop: act, step, store, learn, sync, and model selection.

:func:`train_dqn` holds only the algorithm, as calls to the pieces of ``core`` (the
functions notebook 03's exercises define) and to the run's steps that both loops share
(``run.DQNRun``: learn, sync, model selection). What varies between the course's agents
is passed in as pieces (the published method by default): ``td_loss`` (the loss with
its own target: ``core.DQNLoss`` for plain or Double DQN, Huber or MSE; QR-DQN's
``qr.QuantileLoss``), ``net_class`` (plain, dueling, ...), ``hold`` (ε-greedy or
εz-greedy) and ``shaping`` (Atari's clipped rewards and lives). Given a vector
environment it runs the same algorithm over its environments (``vector``). Reused by
notebook 04, the trainer and the benchmarks.

Taught in: 03_dqn_mountaincar.ipynb
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

import course_utils.agents.dqn.core as core
from course_utils.agents.dqn.run import (
    DQNConfig,
    DQNResult,
    DQNRun,
    make_keeper,
    make_learner,
    one_env_spaces,
)
from course_utils.agents.dqn.vector import check_env, vector_loop
from course_utils.agents.services import Deadline, live_curve
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.networks import QNetwork
from course_utils.common.plotting import LiveCurve
from course_utils.common.progress import RunProgress


def train_dqn(
    env: gym.Env | gym.vector.VectorEnv,
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

    ``env`` is one environment, or several stepped together: a vector environment
    from ``make_vector_env(env_fn, cfg.num_envs, cfg.vector)`` with a
    ``VectorDQNConfig``. Every count (``total_steps``, ``train_freq``, ``eval_every``,
    the schedules) is of environment steps summed over the environments, and the
    gradient steps fall on the same steps, so the replay ratio is the same; one
    ``"sync"`` environment trains exactly as one plain one does.

    ``seed`` seeds the environment (environment ``i`` of a vector: ``seed + i``), its
    action space and the network's initial weights; ``rng`` draws every other random
    number. Every ``cfg.eval_every`` steps the policy plays ``cfg.eval_episodes``
    episodes on ``eval_env`` (seeds ``cfg.eval_seed``+) and the best-scoring network
    is kept (model selection, as Stable-Baselines3's EvalCallback does).

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
    check_env(env, cfg)
    deadline = Deadline(cfg.max_seconds)
    spaces = one_env_spaces(env)  # of a vector environment: one environment's
    q_net, target_net, optimizer = make_learner(
        spaces, cfg, seed=seed, td_loss=td_loss, net_class=net_class, device=device
    )
    n_envs = env.num_envs if isinstance(env, gym.vector.VectorEnv) else 1
    run = DQNRun(
        cfg=cfg,
        rng=rng,
        td_loss=td_loss,
        device=device,
        q_net=q_net,
        target_net=target_net,
        optimizer=optimizer,
        buffer=ReplayBuffer.for_env(spaces, cfg.buffer_size),
        keeper=make_keeper(cfg, eval_env, device=device, on_eval=on_eval),
        deadline=deadline,
        watch=RunProgress(
            steps=cfg.total_steps,
            seconds=cfg.max_seconds,
            elapsed=deadline.elapsed,
            progress=progress,
            desc="DQN" if n_envs == 1 else f"DQN x{n_envs}",
            live=live_curve(live, title="DQN", solved_at=cfg.solved_at),
        ),
        n_actions=int(spaces.action_space.n),
    )
    if isinstance(env, gym.vector.VectorEnv):
        return vector_loop(env, run, seed=seed, hold=hold, shaping=shaping)
    pending: deque = deque()  # steps waiting for their n rewards (n_step_push)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    episode_return, episode_length, hold_left, held_action = 0.0, 0, 0, 0
    for step in range(1, cfg.total_steps + 1):
        # 1. act: random while the buffer fills, then ε-greedy with held random actions
        action, hold_left, held_action = core.choose_action(
            run.q_net,
            obs,
            run.epsilon(step),
            rng,
            n_actions=run.n_actions,
            hold_left=hold_left,
            held_action=held_action,
            hold=hold,
            warmup=step <= cfg.learning_starts,
            device=device,
        )
        next_obs, reward, terminated, truncated, next_info = env.step(action)
        episode_return += float(reward)
        episode_length += 1
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
            run.buffer.add(*transition)
        obs, info = next_obs, next_info
        if terminated or truncated:
            run.end_episode(step, episode_return, episode_length)
            obs, info = env.reset()
            episode_return, episode_length = 0.0, 0
        # 3. learn: gradient steps on the TD loss of sampled batches
        run.learn(step)
        # 4. sync the target network
        run.sync(step)
        # 5. model selection on evaluation seeds
        run.select(step)
        run.watch.update(steps=step)
        if run.out_of_time(step):
            break
    return run.finish(step)
