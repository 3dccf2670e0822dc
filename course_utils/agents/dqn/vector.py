"""The DQN loop over ``n`` environments stepped together, which ``train_dqn`` runs when
given a vector environment: the same algorithm, with one forward pass choosing the
actions of every environment.

Same pieces, same order, the same counts: ``total_steps``, ``train_freq``,
``target_update_interval``, ``eval_every`` and the schedules count environment steps
summed over the environments, so frames stay comparable with one environment. The
replay ratio, ``cfg.replay_ratio`` gradient steps per environment step, is kept by
learning on exactly the environment steps on which the one-environment loop would.
With one environment in ``"sync"`` mode it trains as that loop does (the tests check
the weights bit for bit). With ``"async"`` environments (one process each) the
gradient steps run while the environments step (``step_async``, learn, ``step_wait``);
the actions were chosen by the network before those steps, as usual, but the
transitions then in flight reach the buffer after them.

The vector environment resets an environment in the step that ends its episode
(Gymnasium's ``AutoresetMode.SAME_STEP``): that step returns the new episode's first
observation, and the last one of the ended episode comes in ``info["final_obs"]``,
which is what the buffer stores as ``next_obs``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

import course_utils.agents.dqn.core as core
from course_utils.agents.dqn.run import DQNConfig, DQNResult, DQNRun
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
    ends an episode (``AutoresetMode.SAME_STEP``), as ``train_dqn`` needs."""
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


def check_env(env: gym.Env | gym.vector.VectorEnv, cfg: DQNConfig) -> None:
    """Refuse an environment the loop would misread, or one that does not match
    ``cfg`` (a vector environment wants a :class:`VectorDQNConfig` describing it, and
    a ``VectorDQNConfig`` a vector environment), saying how to build one."""
    fix = "Fix: build it with make_vector_env(env_fn, cfg.num_envs, cfg.vector)."
    vector = isinstance(env, gym.vector.VectorEnv)
    if not vector:
        if isinstance(cfg, VectorDQNConfig):
            raise ValueError(
                f"cfg is a VectorDQNConfig ({cfg.num_envs} {cfg.vector} environments), "
                f"so env must be a Gymnasium VectorEnv, got {env!r}. {fix}"
            )
        return
    if not isinstance(cfg, VectorDQNConfig):
        refuse("cfg", "a VectorDQNConfig (num_envs, vector)", type(cfg).__name__)
    mode = env.metadata.get("autoreset_mode")
    if mode != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"env resets with autoreset_mode={mode}; this loop reads the last "
            f"observation of an episode from info['final_obs'] (SAME_STEP). {fix}"
        )
    kind = SyncVectorEnv if cfg.vector == "sync" else AsyncVectorEnv
    if env.num_envs != cfg.num_envs or not isinstance(env, kind):
        raise ValueError(
            f"env is a {type(env).__name__} of {env.num_envs}, but cfg asks for "
            f"{cfg.num_envs} {cfg.vector} environments. {fix}"
        )


def vector_loop(
    envs: gym.vector.VectorEnv,
    run: DQNRun,
    *,
    seed: int,
    hold: core.HoldFn,
    shaping: core.ShapingFn,
) -> DQNResult:
    """``train_dqn`` on the ``run.cfg.num_envs`` environments of ``envs`` (checked
    by :func:`check_env`). ``envs.reset(seed=seed)`` seeds environment ``i`` with
    ``seed + i``. An episode's end step is the environment step (summed over
    environments) it ended on."""
    cfg, n = run.cfg, envs.num_envs
    pending = [deque() for _ in range(n)]  # each environment's n-step queue
    obs, infos = envs.reset(seed=seed)
    prev_info = [env_info(infos, i) for i in range(n)]
    returns, lengths = [0.0] * n, [0] * n  # each environment's running episode
    hold_left, held_action = np.zeros(n, np.int64), np.zeros(n, np.int64)
    overlap = isinstance(envs, AsyncVectorEnv)  # learn while they step
    step, stop = 0, False  # environment steps so far, summed over environments
    while step < cfg.total_steps and not stop:
        steps = range(step + 1, step + n + 1)  # environment i takes step step + 1 + i
        # 1. act: one forward pass for every environment, ε and holds per environment
        actions, hold_left, held_action = core.choose_actions(
            run.q_net,
            obs,
            [run.epsilon(s) for s in steps],
            run.rng,
            n_actions=run.n_actions,
            hold_left=hold_left,
            held_action=held_action,
            hold=hold,
            warmup=[s <= cfg.learning_starts for s in steps],
            device=run.device,
        )
        # 2. step every environment (async: learn while they step)
        if overlap:
            envs.step_async(actions)
            for s in steps:
                run.learn(s)
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
                run.buffer.add(*transition)
            returns[i] += float(rewards[i])
            lengths[i] += 1
            prev_info[i] = env_info(infos, i) if done else info  # done: the reset's
            if done:
                run.end_episode(s, returns[i], lengths[i])
                returns[i], lengths[i] = 0.0, 0
        obs = next_obs
        # 4-6. on each environment step: learn, sync the target, select the model
        for s in steps:
            if not overlap:
                run.learn(s)
            run.sync(s)
            run.select(s)
            stop = stop or run.out_of_time(s)
        step = steps[-1]
        run.watch.update(steps=step)
    return run.finish(step)
