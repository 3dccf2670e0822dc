"""course_utils.agents.dqn.qr: QR-DQN's pieces (quantile Huber loss, quantile
targets, the TD loss that brings them) by hand, the loss's defining property, the
refusal of a network it cannot train, and a train-save-load round trip."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.agents import dqn
from course_utils.agents.dqn import qr as qr_dqn
from course_utils.common.buffers import Batch
from course_utils.common.checkpoints import (
    check_network_spec,
    load_network,
    load_policy,
    save_checkpoint,
)
from course_utils.common.envs import make_env
from course_utils.common.networks import DuelingQNetwork, QuantileQNetwork
from course_utils.common.seeding import set_seed
from course_utils.presets import piece_name


class FixedQuantiles(nn.Module):
    """A fake quantile network: the same (n_actions, N) quantiles for every obs."""

    def __init__(self, quantiles: list[list[float]]) -> None:
        super().__init__()
        self.q = torch.tensor(quantiles)
        self.n_actions = len(quantiles)

    def quantiles(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q.expand(obs.shape[0], -1, -1)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.quantiles(obs).mean(dim=-1)


def _batch(reward, terminated, action=None) -> Batch:
    n = len(reward)
    return Batch(
        obs=torch.zeros(n, 1),
        action=torch.zeros(n, dtype=torch.int64) if action is None else action,
        reward=torch.tensor(reward),
        next_obs=torch.zeros(n, 1),
        terminated=torch.tensor(terminated),
    )


def test_quantile_fractions_are_the_midpoints():
    assert qr_dqn.quantile_fractions(4).tolist() == [0.125, 0.375, 0.625, 0.875]
    assert qr_dqn.quantile_fractions(51)[25].item() == 0.5  # odd N: the median


def test_quantile_huber_loss_hand_computed():
    # N = 2: tau = (0.25, 0.75). u_ij = target_j - theta_i:
    #   i = 0 (theta 0):  u = 0.5, 2   -> weight tau = 0.25 on Huber 0.125, 1.5
    #   i = 1 (theta 1):  u = -0.5, 1  -> weights 1 - 0.75, 0.75 on Huber 0.125, 0.5
    # sum over i, mean over j: ((0.03125 + 0.03125) + (0.375 + 0.375)) / 2
    loss = qr_dqn.quantile_huber_loss(
        torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 2.0]])
    )
    assert loss.item() == pytest.approx(0.40625)
    # a batch averages its rows; M target samples may differ from N
    theta = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    target = torch.tensor([[0.5, 2.0], [0.0, 0.0]])
    assert qr_dqn.quantile_huber_loss(theta, target).item() == pytest.approx(0.203125)
    one = qr_dqn.quantile_huber_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[3.0]]))
    assert one.item() == pytest.approx(0.25 * 2.5 + 0.75 * 1.5)


@pytest.mark.parametrize(
    "target, want",
    [
        (torch.linspace(0.0, 100.0, 201), [12.5, 37.5, 62.5, 87.5]),  # uniform
        (torch.tensor([-50.0] * 25 + [50.0] * 75), [-50.0, 50.0, 50.0, 50.0]),
    ],
    ids=["uniform", "two-point"],
)
def test_minimising_the_loss_recovers_the_quantiles_at_the_midpoints(target, want):
    # a free vector of 4 quantiles against a fixed sample: it settles at the sample's
    # quantiles at tau = 1/8, 3/8, 5/8, 7/8. Huber (kappa = 1) moves each by at most
    # kappa / 2 towards the median, small next to these spreads.
    theta = torch.zeros(1, 4, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=2.0)
    for step in range(400):
        if step == 300:
            optimizer.param_groups[0]["lr"] = 0.2
        loss = qr_dqn.quantile_huber_loss(theta, target.unsqueeze(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert theta.detach()[0].tolist() == pytest.approx(want, abs=1.0)


def test_quantile_huber_loss_refuses_q_values():
    with pytest.raises(ValueError, match=r"\(batch, N\).*QuantileLoss"):
        qr_dqn.quantile_huber_loss(torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match="got shapes"):
        qr_dqn.quantile_huber_loss(torch.zeros(4, 3), torch.zeros(4))


# online means (1, 5): the online net prefers action 1; target means (15, -2): the
# target net prefers action 0. Rows: an ordinary step, a terminated one, and a
# time-limit truncation (stored with terminated = 0, so it bootstraps).
ONLINE = FixedQuantiles([[0.0, 2.0], [4.0, 6.0]])
TARGET = FixedQuantiles([[10.0, 20.0], [-3.0, -1.0]])
ROWS = ([1.0, 2.0, 3.0], [0.0, 1.0, 0.0])


def test_double_target_lets_the_online_net_choose_and_stops_at_termination():
    target = qr_dqn.quantile_target_double(ONLINE, TARGET, _batch(*ROWS), 0.5)
    # a* = 1 (online); 1 + 0.5 * (-3, -1); terminal: the reward alone; truncated:
    # bootstraps as the first row
    assert target.tolist() == [[-0.5, 0.5], [2.0, 2.0], [1.5, 2.5]]


def test_plain_target_lets_the_target_net_choose():
    target = qr_dqn.quantile_target(ONLINE, TARGET, _batch(*ROWS), 0.5)
    assert target.tolist() == [[6.0, 11.0], [2.0, 2.0], [8.0, 13.0]]


def test_targets_carry_no_graph():
    net = QuantileQNetwork(1, 2, hidden=(4,), n_quantiles=3)
    for fn in (qr_dqn.quantile_target, qr_dqn.quantile_target_double):
        target = fn(net, net, _batch(*ROWS), 0.9)
        assert target.shape == (3, 3) and not target.requires_grad


def test_td_loss_takes_the_quantiles_of_the_actions_taken():
    # action 0's quantiles (0, 1) against the target (0.5, 2): the hand-computed loss
    # above. The online net's means (0.5, 5) pick a* = 1 in next_obs, whose target
    # quantiles are (0.5, 2); the target net's own choice would be action 0 (100s).
    q_net = FixedQuantiles([[0.0, 1.0], [5.0, 5.0]])
    target_net = FixedQuantiles([[100.0, 100.0], [0.5, 2.0]])
    batch = _batch([0.0], [0.0], action=torch.tensor([0]))
    loss = qr_dqn.QuantileLoss()(q_net, target_net, batch, 1.0)
    assert loss.item() == pytest.approx(0.40625)
    # a second row took action 1: quantiles (5, 5), both above both targets, so
    # weights 1 - tau: (0.75 * (4 + 2.5) + 0.25 * (4 + 2.5)) / 2 = 3.25
    batch = _batch([0.0, 0.0], [0.0, 0.0], action=torch.tensor([0, 1]))
    loss = qr_dqn.QuantileLoss()(q_net, target_net, batch, 1.0)
    assert loss.item() == pytest.approx((0.40625 + 3.25) / 2)
    plain = qr_dqn.QuantileLoss(target=qr_dqn.quantile_target)
    assert plain(q_net, target_net, batch, 1.0).item() > 50


@pytest.mark.parametrize(
    "pieces",
    [
        {"td_loss": qr_dqn.QuantileLoss()},  # with the default QNetwork
        {"td_loss": qr_dqn.QuantileLoss(), "net_class": DuelingQNetwork},
    ],
    ids=["QNetwork", "DuelingQNetwork"],
)
def test_train_dqn_refuses_a_quantile_loss_without_a_quantile_network(tiny_dqn, pieces):
    with pytest.raises(ValueError, match=r"trains a QuantileQNetwork.*QR_DQN_PIECES"):
        dqn.train_dqn(
            make_env("MountainCar-v0"),
            tiny_dqn,
            rng=set_seed(0),
            seed=0,
            progress=False,
            **pieces,
        )


def test_the_pieces_learn_a_reward_distribution_not_only_its_mean():
    # A one-state bandit: action 0 pays uniform [0, 20], action 1 pays 10 always.
    # Both means are 10; QR-DQN learns action 0's spread and action 1's point mass.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = QuantileQNetwork(1, 2, hidden=(16,), n_quantiles=4)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(0)
    for step in range(400):
        if step == 300:
            optimizer.param_groups[0]["lr"] = 0.005
        action = torch.randint(0, 2, (64,), generator=gen)
        reward = torch.where(action == 0, 20.0 * torch.rand(64, generator=gen), 10.0)
        batch = Batch(
            torch.zeros(64, 1), action, reward, torch.zeros(64, 1), torch.ones(64)
        )
        dqn.gradient_step(
            net,
            net,
            optimizer,
            batch,
            gamma=0.99,
            td_loss=qr_dqn.QuantileLoss(),
            max_grad_norm=10.0,
        )
    with torch.no_grad():
        learned = net.quantiles(torch.zeros(1, 1))[0]
    assert learned[0].tolist() == pytest.approx([2.5, 7.5, 12.5, 17.5], abs=1.0)
    assert learned[1].tolist() == pytest.approx([10.0] * 4, abs=0.5)


def test_train_dqn_with_the_qr_pieces_trains_saves_and_loads(
    tiny_dqn, tmp_path, make_metadata
):
    torch.set_num_threads(1)
    cfg = replace(tiny_dqn, n_step=3)
    result = dqn.train_dqn(
        make_env("MountainCar-v0"),
        cfg,
        rng=set_seed(0),
        seed=0,
        progress=False,
        **qr_dqn.QR_DQN_PIECES,
    )
    net = result.q_net
    assert isinstance(net, QuantileQNetwork) and net.n_quantiles == 51
    assert len(result.losses) == 300 // cfg.train_freq - 50 // cfg.train_freq
    assert all(np.isfinite(result.losses))
    path = save_checkpoint(tmp_path / "qr.pt", net, metadata=make_metadata())
    loaded, meta = load_network(path)
    assert meta["network"]["class"] == "QuantileQNetwork"
    obs = torch.as_tensor(make_env("MountainCar-v0").reset(seed=5)[0]).unsqueeze(0)
    assert torch.equal(loaded.quantiles(obs), net.quantiles(obs))
    policy, _ = load_policy(path)  # acts on the means of the quantiles
    assert policy(obs[0].numpy()) == int(net(obs).argmax())


def test_a_checkpoint_spec_with_absurd_quantiles_is_refused():
    spec = QuantileQNetwork(2, 3, hidden=(4,)).spec
    check_network_spec(spec)
    spec["kwargs"]["n_quantiles"] = 10**6
    with pytest.raises(ValueError, match=r"3000000 wide \(.*n_quantiles.*4096 wide"):
        check_network_spec(spec)


def test_the_metadata_names_the_qr_pieces():
    assert {k: piece_name(v) for k, v in qr_dqn.QR_DQN_PIECES.items()} == {
        "net_class": "QuantileQNetwork",
        "td_loss": "QuantileLoss(target=quantile_target_double, kappa=1.0)",
    }


@pytest.mark.parametrize("kappa", [0.0, -1.0, float("nan"), float("inf"), True, "1"])
def test_a_kappa_that_is_no_huber_threshold_is_refused(kappa):
    theta, target = torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 2.0]])
    with pytest.raises(ValueError, match=r"kappa must be a number > 0"):
        qr_dqn.quantile_huber_loss(theta, target, kappa=kappa)
    with pytest.raises(ValueError, match=r"kappa must be a number > 0"):
        qr_dqn.QuantileLoss(kappa=kappa)


def test_online_and_target_nets_with_other_quantile_counts_are_refused():
    q_net = FixedQuantiles([[0.0, 1.0], [5.0, 5.0]])  # 2 quantiles
    target_net = FixedQuantiles([[0.0, 1.0, 2.0], [0.5, 2.0, 3.0]])  # 3 quantiles
    batch = _batch([0.0], [0.0], action=torch.tensor([0]))
    with pytest.raises(ValueError, match=r"2 quantiles.*target.*3"):
        qr_dqn.QuantileLoss()(q_net, target_net, batch, 1.0)


@pytest.mark.parametrize("n", [0, -2, 2.5, True])
def test_quantile_fractions_need_a_whole_number_of_quantiles(n):
    with pytest.raises(ValueError, match="n_quantiles must be a whole number >= 1"):
        qr_dqn.quantile_fractions(n)
