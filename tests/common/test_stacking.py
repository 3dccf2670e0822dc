"""Stacking the last RAM snapshots: make_env(..., stack=k) everywhere.

Training, model selection, evaluation, the trainer and a saved checkpoint must all see
the same stacked observation, so ``stack`` is an environment keyword argument: it lives
in a preset's ``env_kwargs``, in the checkpoint's metadata, and in the allow-list that
``evaluate`` checks before it rebuilds the environment.
"""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch

from course_utils.agents import dqn
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.checkpoints import load_policy, save_checkpoint
from course_utils.common.envs import MAX_STACK, make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.evaluate import main as evaluate_main
from course_utils.presets import check_env_spec, get_preset

SI = "ALE/SpaceInvaders-v5"
RAM_STACK = {"obs_type": "ram", "stack": 4}


@pytest.fixture
def stacked():
    env = make_env(SI, **RAM_STACK)
    yield env
    env.close()


def test_stacked_ram_is_uint8_stack_by_128_oldest_first(stacked):
    assert stacked.observation_space == gym.spaces.Box(0, 255, (4, 128), np.uint8)
    obs, _ = stacked.reset(seed=0)
    assert obs.shape == (4, 128) and obs.dtype == np.uint8
    assert (obs == obs[-1]).all()  # after a reset the first snapshot fills every slot
    plain = make_env(SI, obs_type="ram")
    single, _ = plain.reset(seed=0)
    np.testing.assert_array_equal(obs[-1], single)
    history = [single]
    for _ in range(6):  # the same actions in both: the stack is the last 4 snapshots
        obs, *_ = stacked.step(1)
        history.append(plain.step(1)[0])
    np.testing.assert_array_equal(obs, np.stack(history[-4:]))
    assert not (obs[0] == obs[-1]).all()  # distinct snapshots, not one array 4 times
    plain.close()


def test_stack_two_and_seed(stacked):
    env = make_env(SI, obs_type="ram", stack=2, seed=3)
    assert env.observation_space.shape == (2, 128)
    a, _ = env.reset(seed=3)
    b, _ = stacked.reset(seed=3)
    np.testing.assert_array_equal(a, b[-2:])
    env.close()


@pytest.mark.parametrize("stack", [0, 1, -4, MAX_STACK + 1, 4.0, "4", True, [4]])
def test_bad_stack_values_are_refused_clearly(stack):
    with pytest.raises(ValueError, match=r"stack must be a whole number .* got"):
        make_env(SI, obs_type="ram", stack=stack)


def test_the_network_buffer_and_policy_see_the_stacked_observation(stacked):
    q_net = dqn.make_q_network(stacked, (8,))
    assert q_net.obs_dim == 512 and q_net.spec["kwargs"]["obs_shape"] == [4, 128]
    buffer = ReplayBuffer.for_env(stacked, 10)
    obs, _ = stacked.reset(seed=0)
    next_obs, *_ = stacked.step(0)
    buffer.add(obs, 0, 0.0, next_obs, False)
    batch = buffer.sample(1, np.random.default_rng(0))
    assert batch.obs.shape == (1, 4, 128) and batch.obs.dtype == np.uint8
    assert q_net(torch.as_tensor(batch.obs)).shape == (1, 6)
    policy = QPolicy(q_net, epsilon=0.05, rng=np.random.default_rng(0))
    assert 0 <= policy(obs) < 6
    with pytest.raises(ValueError, match=r"expects observations of shape \(4, 128\)"):
        q_net(torch.zeros(1, 128, dtype=torch.uint8))  # an unstacked observation


def test_env_spec_allows_stack_only_for_ram_space_invaders():
    assert check_env_spec(SI, RAM_STACK) == (SI, RAM_STACK)
    assert check_env_spec(SI, {"obs_type": "ram", "stack": 2})
    for kwargs, message in [
        ({"obs_type": "ram", "stack": 3}, "stack=3"),
        ({"obs_type": "ram", "stack": 4.0}, "stack=4.0"),
        ({"obs_type": "ram", "stack": True}, "stack=True"),
        ({"stack": 4}, "stacks RAM snapshots only"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_env_spec(SI, kwargs)
    with pytest.raises(ValueError, match="stack=4"):
        check_env_spec("MountainCar-v0", {"stack": 4})


@pytest.fixture
def stacked_checkpoint(tmp_path, make_metadata):
    """A few hundred steps of the Space Invaders preset's loop on stacked RAM, saved
    as the trainer would (env_kwargs in the metadata)."""
    preset = get_preset("spaceinvaders")
    cfg = replace(
        preset.config,
        total_steps=300,
        learning_starts=100,
        batch_size=8,
        buffer_size=500,
        hidden=(8,),
        eval_every=300,
        eval_episodes=1,
    )
    result = dqn.train_dqn(
        make_env(SI, **RAM_STACK),
        cfg,
        rng=set_seed(0),
        seed=0,
        eval_env=make_env(SI, **RAM_STACK),
        progress=False,
        **preset.pieces,
    )
    assert result.steps == 300 and [s for s, _, _ in result.evals] == [300]
    metadata = make_metadata(SI, env_kwargs=dict(RAM_STACK), eval_epsilon=0.05)
    metadata["evaluation"]["episodes"] = 1
    return save_checkpoint(tmp_path / "stacked.pt", result.q_net, metadata=metadata)


def test_a_stacked_checkpoint_loads_and_evaluates_with_the_same_stacking(
    stacked_checkpoint, capsys
):
    policy, meta = load_policy(stacked_checkpoint)
    assert meta["env_kwargs"] == RAM_STACK
    env_id, env_kwargs = check_env_spec(meta["env_id"], meta["env_kwargs"])
    scores = evaluate(policy, make_env(env_id, **env_kwargs), n_episodes=1, seed=7)
    assert scores.shape == (1,) and np.isfinite(scores).all()
    # without the stacking the network refuses the observation, loudly
    with pytest.raises(ValueError, match=r"\(4, 128\)"):
        evaluate(policy, make_env(SI, obs_type="ram"), n_episodes=1, seed=7)
    # the evaluate command rebuilds the stacked env from the metadata alone
    assert evaluate_main([str(stacked_checkpoint), "--episodes", "1"]) == 0
    assert "ALE/SpaceInvaders-v5:" in capsys.readouterr().out
