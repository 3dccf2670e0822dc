"""Notebook 04's own run (a Q-network fed by the student's preprocessing, the action
log) and the byte-importance measurements."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.agents.dqn import DQNConfig, make_q_network, train_dqn
from course_utils.common.envs import make_env
from course_utils.common.networks import QNetwork
from course_utils.games.space_invaders import preprocess_ram
from course_utils.lessons.ram_lab import (
    ActionLog,
    RamQNetwork,
    action_shares,
    byte_importance,
    gradient_importance,
    q_values,
    ram_q_network,
    rank_of,
)

SI = "ALE/SpaceInvaders-v5"


def _bytes(n: int = 20, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 128), dtype=np.uint8)


def test_ram_network_with_the_reference_is_the_shipped_network():
    env = make_env(SI, obs_type="ram")
    torch.manual_seed(3)
    shipped = make_q_network(env, (16, 16), normalize_obs=True)
    torch.manual_seed(3)
    mine = ram_q_network(preprocess_ram)(128, 6, hidden=(16, 16))
    assert isinstance(mine, RamQNetwork) and isinstance(mine, QNetwork)
    for a, b in zip(shipped.parameters(), mine.parameters(), strict=True):
        assert torch.equal(a, b)  # the same initial weights
    obs = torch.as_tensor(_bytes())
    assert torch.equal(shipped(obs), mine(obs))


def test_ram_network_uses_the_given_preprocessing():
    seen = []

    def spy(obs):
        seen.append(obs.dtype)
        return np.zeros(obs.shape, dtype=np.float32)

    net = ram_q_network(spy)(128, 6, hidden=(4,))
    net(torch.as_tensor(_bytes(3)))
    assert seen == [np.uint8]
    copy.deepcopy(net)(torch.as_tensor(_bytes(2)))  # the target net is a deepcopy
    assert len(seen) == 2


def test_ram_network_refuses_a_float64_preprocessing():
    net = ram_q_network(lambda obs: obs / 127.5 - 1)(128, 6, hidden=(4,))
    with pytest.raises(ValueError, match="float32"):
        net(torch.as_tensor(_bytes(2)))


def test_train_dqn_runs_with_the_ram_network_and_logs_actions():
    env = ActionLog(make_env(SI, obs_type="ram"))
    cfg = DQNConfig(
        total_steps=60,
        learning_starts=20,
        buffer_size=100,
        batch_size=8,
        hidden=(8,),
        eval_every=0,
        normalize_obs=False,
    )
    result = train_dqn(
        env,
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        net_class=ram_q_network(preprocess_ram),
    )
    assert isinstance(result.q_net, RamQNetwork)
    assert len(env.actions) == 60 and set(env.actions) <= set(range(6))
    assert result.losses  # it learned through the student's preprocessing


def test_action_shares():
    ends, shares = action_shares([0, 0, 1, 2, 2, 2, 5], 6, window=3)
    assert ends.tolist() == [3, 6]
    np.testing.assert_allclose(shares[0], [2 / 3, 1 / 3, 0, 0, 0, 0])
    np.testing.assert_allclose(shares[1], [0, 0, 1, 0, 0, 0])
    assert action_shares([1], 6, window=5)[1].shape == (0, 6)
    with pytest.raises(ValueError, match="window"):
        action_shares([1], 6, window=0)


class OneByte(nn.Module):
    """Q-values that depend on byte 5 only: action 0 when it is below 128, else 1."""

    n_actions = 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()[:, 5:6] / 255.0
        return torch.cat([1.0 - x, x], dim=1)


def test_byte_importance_finds_the_only_byte_read():
    states = _bytes(200)
    states[:, 9] = 7  # a constant byte
    imp = byte_importance(OneByte(), states, np.random.default_rng(0), repeats=2)
    assert int(np.argmax(imp.action_change)) == 5 and imp.action_change[5] > 0.3
    assert int(np.argmax(imp.q_change)) == 5
    assert np.count_nonzero(imp.q_change) == 1
    assert imp.gradient[5] == pytest.approx(1 / 255, rel=1e-5)  # max(1 - x, x)
    assert imp.constant[9] and imp.constant.sum() == 1
    assert rank_of(imp.q_change, [5, 9])[5] == 1


def test_q_values_and_gradient_shapes():
    net = make_q_network(make_env(SI, obs_type="ram"), (8,))
    states = _bytes(10)
    assert q_values(net, states, batch=3).shape == (10, 6)
    assert gradient_importance(net, states).shape == (128,)
    with pytest.raises(ValueError, match="T >= 2"):
        byte_importance(net, states[:1], np.random.default_rng(0))


def test_the_students_run_with_the_references_is_the_shipped_recipe():
    import dataclasses

    from course_utils.agents.dqn import DQNLoss, compute_target_double
    from course_utils.games.space_invaders import atari_transition
    from course_utils.presets import get_preset

    preset = get_preset("spaceinvaders")
    cfg = dataclasses.replace(
        preset.config,
        total_steps=300,
        learning_starts=100,
        buffer_size=300,
        batch_size=16,
        hidden=(16,),
        eval_every=150,
        eval_episodes=1,
    )
    runs = []
    for normalize, net_class in ((True, preset.pieces["net_class"]), (False, None)):
        pieces = {**preset.pieces, "shaping": atari_transition}
        if net_class is None:  # the notebook's run: the student's three pieces
            pieces["net_class"] = ram_q_network(preprocess_ram)
            pieces["td_loss"] = DQNLoss(target=compute_target_double)
        runs.append(
            train_dqn(
                make_env(SI, obs_type="ram"),
                dataclasses.replace(cfg, normalize_obs=normalize),
                rng=np.random.default_rng(0),
                seed=0,
                eval_env=make_env(SI, obs_type="ram"),
                progress=False,
                **pieces,
            )
        )
    shipped, mine = runs
    assert shipped.losses == mine.losses and len(mine.losses) > 0
    assert shipped.evals == mine.evals
    obs = torch.as_tensor(_bytes(5))
    assert torch.equal(shipped.last_q_net(obs), mine.last_q_net(obs))
