"""train_dqn over several environments stepped together: the same algorithm, one
forward pass for every environment's action, each environment's transitions kept
apart."""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from course_utils.agents import dqn
from course_utils.agents.dqn import loop as loop_module
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.envs import make_env
from course_utils.common.seeding import set_seed
from course_utils.presets import PRESETS


def vector_config(cfg: dqn.DQNConfig, **changes) -> dqn.VectorDQNConfig:
    return dqn.VectorDQNConfig(
        **dataclasses.asdict(cfg) | {"hidden": cfg.hidden}, **changes
    )


def weights(net: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in net.parameters()])


class Counter(gym.Env):
    """obs = (env id, episode, t, 7): which environment, which of its episodes, which
    step of it. Environment ``k`` (reset with seed ``s + k``) ends its episodes after
    ``3 + k`` steps, terminated on odd episodes and truncated on even ones; a reset
    observation carries 7 as its last entry, a step's 1. ``info`` counts lives: one
    lost on every second step."""

    observation_space = gym.spaces.Box(0, 1000, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.id, self.episode = seed % 100, -1
        self.episode, self.t = self.episode + 1, 0
        return self._obs(7), {"env": self.id, "t": 0, "lives": 5}

    def _obs(self, last):
        return np.array([self.id, self.episode, self.t, last], np.float32)

    def step(self, action):
        self.t += 1
        end = self.t == 3 + self.id
        terminated, truncated = (
            end and self.episode % 2 == 1,
            end and self.episode % 2 == 0,
        )
        info = {"env": self.id, "t": self.t, "lives": 5 - self.t // 2}
        return self._obs(1), 1.0, terminated, truncated, info


def counter_run(num_envs=3, vector="sync", n_step=2, **changes):
    settings = dict(
        total_steps=90,
        learning_starts=30,
        batch_size=4,
        buffer_size=1000,
        eval_every=0,
        hidden=(4,),
        normalize_obs=False,
    )
    cfg = dqn.VectorDQNConfig(
        **settings | changes, n_step=n_step, num_envs=num_envs, vector=vector
    )
    envs = dqn.make_vector_env(Counter, num_envs, vector)
    seen, buffers = [], []

    class KeptBuffer(ReplayBuffer):
        @classmethod
        def for_env(cls, env, capacity):
            buffers.append(super().for_env(env, capacity))
            return buffers[-1]

    def spy(reward, terminal, info, prev_info):
        seen.append((info, prev_info))
        return dqn.no_shaping(reward, terminal, info, prev_info)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loop_module, "ReplayBuffer", KeptBuffer)
        result = dqn.train_dqn(
            envs, cfg, rng=set_seed(0), seed=0, shaping=spy, progress=False
        )
    envs.close()
    return result, seen, buffers[0]


def test_one_sync_environment_is_train_dqn_bit_for_bit(tiny_dqn):
    """MountainCar with the shipped pieces (εz-greedy holds, Double DQN, 3-step
    returns), evaluations and episodes: the same returns, losses and weights."""
    torch.set_num_threads(1)
    cfg = replace(
        PRESETS["mountaincar"].config,
        total_steps=1_500,
        learning_starts=300,
        eval_every=500,
        eval_episodes=1,
        hidden=(16,),
    )
    pieces = PRESETS["mountaincar"].pieces
    old = dqn.train_dqn(
        make_env("MountainCar-v0"),
        cfg,
        rng=set_seed(1),
        seed=1,
        eval_env=make_env("MountainCar-v0"),
        progress=False,
        **pieces,
    )
    envs = dqn.make_vector_env(lambda: make_env("MountainCar-v0"), 1)
    new = dqn.train_dqn(
        envs,
        vector_config(cfg),
        rng=set_seed(1),
        seed=1,
        eval_env=make_env("MountainCar-v0"),
        progress=False,
        **pieces,
    )
    assert new.episode_returns == old.episode_returns
    assert new.episode_end_steps == old.episode_end_steps
    assert new.episode_lengths == old.episode_lengths == [200] * 7  # truncations
    assert new.losses == old.losses and new.evals == old.evals
    assert torch.equal(weights(new.last_q_net), weights(old.last_q_net))
    assert torch.equal(weights(new.q_net), weights(old.q_net))


def test_several_environments_learn_cartpole():
    """Four environments, one forward pass per step: CartPole's greedy policy
    improves within 6 000 steps (a random one balances about 20 steps)."""
    torch.set_num_threads(1)
    cfg = dqn.VectorDQNConfig(
        total_steps=6_000,
        lr=2e-3,
        batch_size=64,
        buffer_size=6_000,
        learning_starts=500,
        train_freq=2,
        target_update_interval=200,
        exploration_fraction=0.3,
        hidden=(64,),
        normalize_obs=False,
        eval_every=2_000,
        eval_episodes=3,
        num_envs=4,
    )
    envs = dqn.make_vector_env(lambda: gym.make("CartPole-v1"), 4)
    result = dqn.train_dqn(
        envs,
        cfg,
        rng=set_seed(0),
        seed=0,
        eval_env=gym.make("CartPole-v1"),
        progress=False,
    )
    assert result.steps == 6_000
    assert max(mean for _, mean, _ in result.evals) > 60
    assert sum(result.episode_returns) <= 6_000  # each step counted once
    assert result.episode_end_steps == sorted(result.episode_end_steps)


@pytest.mark.parametrize("vector", ["sync", "async"])
def test_no_reset_observation_is_stored_and_no_queue_mixes_environments(vector):
    result, _, buffer = counter_run(vector=vector)
    obs, next_obs = buffer.obs[: len(buffer)], buffer.next_obs[: len(buffer)]
    terminal = buffer.terminated[: len(buffer)] == 1
    assert len(buffer) > 50 and result.steps == 90
    assert (next_obs[:, 3] == 1).all(), "a reset observation was stored as next_obs"
    # the same environment and episode: no queue took another environment's steps
    assert (next_obs[:, :2] == obs[:, :2]).all()
    steps_ahead = next_obs[:, 2] - obs[:, 2]
    assert (steps_ahead[~terminal] == 2).all()  # n = 2: a truncation drops the rest
    assert set(steps_ahead[terminal]) == {1, 2}
    last = next_obs[:, 2] == 3 + next_obs[:, 0]  # from info["final_obs"]
    assert last[terminal].all() and last[~terminal].any()  # truncated ones too


def test_returns_lengths_and_shaping_are_per_environment():
    result, seen, _ = counter_run(num_envs=3, n_step=1)
    # environment k's episodes last 3 + k steps: one reward each
    assert set(result.episode_returns) == {3.0, 4.0, 5.0}
    assert result.episode_lengths == [int(r) for r in result.episode_returns]
    for info, prev_info in seen:
        assert set(info) == set(prev_info) == {"env", "t", "lives"}
        assert info["env"] == prev_info["env"]  # each its own previous info
        assert info["t"] == prev_info["t"] + 1  # a new episode's: the reset's (t=0)
    ends = [i for i, _ in seen if i["t"] == 3 + i["env"]]
    assert ends, "the last step's info (final_info) reaches the shaping"
    assert len(result.episode_end_steps) == len(result.episode_returns)


@pytest.mark.parametrize(
    ("vector", "num_envs", "train_freq", "gradient_steps"),
    [("sync", 1, 4, 1), ("sync", 4, 1, 2), ("sync", 8, 4, 1), ("async", 4, 2, 3)],
)
def test_the_replay_ratio_is_kept_over_all_environments(
    vector, num_envs, train_freq, gradient_steps
):
    result, _, _ = counter_run(
        num_envs=num_envs,
        vector=vector,
        train_freq=train_freq,
        gradient_steps=gradient_steps,
        total_steps=96,
        learning_starts=32,
    )
    cfg = dqn.DQNConfig(train_freq=train_freq, gradient_steps=gradient_steps)
    assert result.steps == 96
    assert len(result.losses) == (96 - 32) * cfg.replay_ratio


def test_choose_actions_is_choose_action_per_environment():
    net = torch.nn.Linear(3, 4)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    batch = dqn.choose_actions(
        net,
        obs,
        [0.5] * 5,
        np.random.default_rng(7),
        n_actions=4,
        hold_left=[0, 2, 0, 0, 1],
        held_action=[0, 3, 0, 0, 2],
        hold=dqn.ZipfHold(),
        warmup=[False, False, True, False, False],
    )
    rng, one = np.random.default_rng(7), []
    for i, (left, held) in enumerate([(0, 0), (2, 3), (0, 0), (0, 0), (1, 2)]):
        one.append(
            dqn.choose_action(
                net,
                obs[i],
                0.5,
                rng,
                n_actions=4,
                hold_left=left,
                held_action=held,
                hold=dqn.ZipfHold(),
                warmup=i == 2,
            )
        )
    # one forward pass after every coin, so the draws differ only on exact ties
    assert [tuple(int(a[i]) for a in batch) for i in range(5)] == one
    actions, hold_left, _ = batch
    assert (actions[1], hold_left[1], actions[4], hold_left[4]) == (3, 1, 2, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_envs": 0}, "num_envs"),
        ({"vector": "threads"}, "'sync' or 'async'"),
    ],
)
def test_bad_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        dqn.VectorDQNConfig(**change)


def test_envs_the_loop_would_misread_are_refused():
    cfg = dqn.VectorDQNConfig(total_steps=10, num_envs=2, hidden=(4,))
    run = lambda envs, c=cfg: dqn.train_dqn(  # noqa: E731
        envs, c, rng=set_seed(0), seed=0, progress=False
    )
    with pytest.raises(ValueError, match="SAME_STEP.*make_vector_env"):
        run(SyncVectorEnv([Counter] * 2))  # Gymnasium's default: NEXT_STEP
    with pytest.raises(ValueError, match="of 3, but cfg asks for 2 sync"):
        run(dqn.make_vector_env(Counter, 3))
    with pytest.raises(ValueError, match="VectorDQNConfig"):
        run(dqn.make_vector_env(Counter, 2), dqn.DQNConfig())
    with pytest.raises(ValueError, match="VectorEnv"):
        run(Counter())
    env = SyncVectorEnv([Counter] * 2, autoreset_mode=AutoresetMode.SAME_STEP)
    assert run(env, replace(cfg, learning_starts=4, batch_size=2)).steps == 10
