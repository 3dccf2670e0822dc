"""The DQN loop over ``n`` environments stepped together: :func:`train_dqn`'s algorithm,
with one forward pass choosing the actions of every environment.

Same pieces, same order, the same counts: ``total_steps``, ``train_freq``,
``target_update_interval``, ``eval_every`` and the schedules count environment steps
summed over the environments, so frames stay comparable with :func:`train_dqn`. The
replay ratio, ``cfg.replay_ratio`` gradient steps per environment step, is kept by
learning on exactly the environment steps on which :func:`train_dqn` would. With one
environment in ``"sync"`` mode it *is* :func:`train_dqn` (the tests check the weights
bit for bit). With ``"async"`` environments (one process each) the gradient steps run
while the environments step (``step_async``, learn, ``step_wait``); the actions were
chosen by the network before those steps, as usual, but the transitions then in
flight reach the buffer after them.

The vector environment resets an environment in the step that ends its episode
(Gymnasium's ``AutoresetMode.SAME_STEP``): that step returns the new episode's first
observation, and the last one of the ended episode comes in ``info["final_obs"]``,
which is what the buffer stores as ``next_obs``.

Over 200 lines because the checks of a vector environment (the loop would misread one
built otherwise) and its config sit beside the loop; the loop itself is about 150.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv
from tqdm import tqdm

import course_utils.agents.dqn.core as core
from course_utils.agents.dqn.loop import (
    DQNConfig,
    DQNResult,
    make_keeper,
    make_learner,
)
from course_utils.agents.services import Deadline, live_curve
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.networks import QNetwork
from course_utils.common.plotting import LiveCurve
from course_utils.common.progress import RunProgress
from course_utils.common.schedules import linear_schedule
from course_utils.common.validate import refuse, whole_number

VECTOR_MODES = ("sync", "async")


@dataclass(frozen=True)
class VectorDQNConfig(DQNConfig):
    """:class:`DQNConfig` with the environments stepped together: ``num_envs`` of them,
    ``"sync"`` (one process, ``SyncVectorEnv``) or ``"async"`` (one process each,
    ``AsyncVectorEnv``, learning while they step)."""

    num_envs: int = 1
    """Environments stepped together; ``total_steps`` and every other count sum their
    steps."""
    vector: str = "sync"
    """``"sync"``: stepped one after another in this process; ``"async"``: one process
    each, the gradient steps taken while they step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        whole_number("VectorDQNConfig.num_envs", self.num_envs, why="environments")
        if self.vector not in VECTOR_MODES:
            refuse("VectorDQNConfig.vector", "'sync' or 'async'", self.vector)


def make_vector_env(
    env_fn: Callable[[], gym.Env], num_envs: int, vector: str = "sync"
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env_fn()`` stepped together, reset in the step that
    ends an episode (``AutoresetMode.SAME_STEP``), as :func:`train_dqn_vector` needs."""
    whole_number("num_envs", num_envs, why="environments")
    if vector not in VECTOR_MODES:
        refuse("vector", "'sync' or 'async'", vector)
    kind = SyncVectorEnv if vector == "sync" else AsyncVectorEnv
    return kind([env_fn] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)


def env_info(infos: dict, i: int) -> dict:
    """Environment ``i``'s own ``info`` out of a vector environment's batched one
    (its flat entries: without the ended episode's ``final_obs`` and ``final_info``)."""
    return {
        key: value[i]
        for key, value in infos.items()
        if key[0] != "_"
        and key != "final_obs"
        and not isinstance(value, dict)
        and infos[f"_{key}"][i]
    }


def check_vector_env(envs: gym.vector.VectorEnv, cfg: VectorDQNConfig) -> None:
    """Refuse a vector environment the loop would misread, saying how to build one."""
    if not isinstance(cfg, VectorDQNConfig):
        refuse("cfg", "a VectorDQNConfig (num_envs, vector)", type(cfg).__name__)
    fix = "Fix: build it with make_vector_env(env_fn, cfg.num_envs, cfg.vector)."
    if not isinstance(envs, gym.vector.VectorEnv):
        raise ValueError(f"envs must be a Gymnasium VectorEnv, got {envs!r}. {fix}")
    mode = envs.metadata.get("autoreset_mode")
    if mode != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"envs resets with autoreset_mode={mode}; this loop reads the last "
            f"observation of an episode from info['final_obs'] (SAME_STEP). {fix}"
        )
    kind = SyncVectorEnv if cfg.vector == "sync" else AsyncVectorEnv
    if envs.num_envs != cfg.num_envs or not isinstance(envs, kind):
        raise ValueError(
            f"envs is a {type(envs).__name__} of {envs.num_envs}, but cfg asks for "
            f"{cfg.num_envs} {cfg.vector} environments. {fix}"
        )


def train_dqn_vector(
    envs: gym.vector.VectorEnv,
    cfg: VectorDQNConfig,
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
    """Train DQN on the ``cfg.num_envs`` environments of ``envs`` (from
    :func:`make_vector_env`); the arguments and the result are :func:`train_dqn`'s.

    ``envs.reset(seed=seed)`` seeds environment ``i`` with ``seed + i``. An episode's
    end step is the environment step (summed over environments) it ended on.
    """
    check_vector_env(envs, cfg)
    deadline = Deadline(cfg.max_seconds)
    spaces = SimpleNamespace(  # one environment's spaces, as the builders read them
        observation_space=envs.single_observation_space,
        action_space=envs.single_action_space,
    )
    q_net, target_net, optimizer = make_learner(
        spaces, cfg, seed=seed, td_loss=td_loss, net_class=net_class, device=device
    )
    buffer = ReplayBuffer.for_env(spaces, cfg.buffer_size)
    n = cfg.num_envs
    pending = [deque() for _ in range(n)]  # each environment's n-step queue
    keeper = make_keeper(cfg, eval_env, device=device, on_eval=on_eval)
    result = DQNResult(q_net, q_net, [], [], [], keeper.history, None, 0, 0.0)
    explore_steps = max(1, int(cfg.exploration_fraction * cfg.total_steps))
    n_actions = int(spaces.action_space.n)
    bootstrap_gamma = cfg.gamma**cfg.n_step

    def learn(step: int) -> None:
        """The gradient steps :func:`train_dqn` takes at environment step ``step``."""
        if step <= cfg.learning_starts or step % cfg.train_freq:
            return
        for group in optimizer.param_groups:
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

    obs, infos = envs.reset(seed=seed)
    prev_info = [env_info(infos, i) for i in range(n)]
    returns, lengths = [0.0] * n, [0] * n  # each environment's running episode
    hold_left, held_action = np.zeros(n, np.int64), np.zeros(n, np.int64)
    watch = RunProgress(
        steps=cfg.total_steps,
        seconds=cfg.max_seconds,
        elapsed=deadline.elapsed,
        progress=progress,
        desc=f"DQN x{n}",
        live=live_curve(live, title="DQN", solved_at=cfg.solved_at),
    )
    overlap = isinstance(envs, AsyncVectorEnv)  # learn while they step
    step, stop = 0, False  # environment steps so far, summed over environments
    while step < cfg.total_steps and not stop:
        steps = range(step + 1, step + n + 1)  # environment i takes step step + 1 + i
        # 1. act: one forward pass for every environment, ε and holds per environment
        epsilons = [
            linear_schedule(
                s, start=cfg.epsilon_start, end=cfg.epsilon_end, duration=explore_steps
            )
            for s in steps
        ]
        actions, hold_left, held_action = core.choose_actions(
            q_net,
            obs,
            epsilons,
            rng,
            n_actions=n_actions,
            hold_left=hold_left,
            held_action=held_action,
            hold=hold,
            warmup=[s <= cfg.learning_starts for s in steps],
            device=device,
        )
        # 2. step every environment (async: learn while they step)
        if overlap:
            envs.step_async(actions)
            for s in steps:
                learn(s)
            next_obs, rewards, terminateds, truncateds, infos = envs.step_wait()
        else:
            next_obs, rewards, terminateds, truncateds, infos = envs.step(actions)
        # 3. store each environment's n-step transitions (its own queue and shaping)
        for i, s in enumerate(steps):
            done = terminateds[i] or truncateds[i]
            last_obs = infos["final_obs"][i] if done else next_obs[i]
            info = env_info(infos["final_info"], i) if done else env_info(infos, i)
            terminal = core.terminal_to_store(terminateds[i], truncateds[i])
            stored_reward, terminal = shaping(rewards[i], terminal, info, prev_info[i])
            for transition in core.n_step_push(
                pending[i],
                obs[i],
                int(actions[i]),
                stored_reward,
                last_obs,
                terminal,
                bool(truncateds[i]),
                n=cfg.n_step,
                gamma=cfg.gamma,
            ):
                buffer.add(*transition)
            returns[i] += float(rewards[i])
            lengths[i] += 1
            prev_info[i] = env_info(infos, i) if done else info  # done: the reset's
            if done:
                result.episode_returns.append(returns[i])
                result.episode_lengths.append(lengths[i])
                result.episode_end_steps.append(s)
                watch.episode(s, returns[i])
                returns[i], lengths[i] = 0.0, 0
        obs = next_obs
        # 4-6. on each environment step: learn, sync the target, select the model
        for s in steps:
            if not overlap:
                learn(s)
            if core.should_sync(s, cfg.target_update_interval):
                core.soft_update(target_net, q_net, cfg.tau)
            mean = keeper.maybe_evaluate(s, q_net)
            if mean is not None:
                watch.evaluation(s, *keeper.history[-1][1:], best=keeper.best_score)
                solved = cfg.solved_at is not None and mean >= cfg.solved_at
                if solved and result.first_solved is None:
                    result.first_solved = (s, deadline.elapsed() - keeper.seconds)
            stop = stop or (s % 1000 == 0 and deadline.passed())
        step = steps[-1]
        watch.update(steps=step)
    watch.close()
    result.steps = step
    result.last_q_net = q_net.eval()
    result.q_net = keeper.best if keeper.best is not None else result.last_q_net
    result.eval_time_s = keeper.seconds
    result.wall_time_s = deadline.elapsed()
    return result
