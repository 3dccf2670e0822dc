"""course_utils.dqn, its exercise checks, and the trainer's command line."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import dqn
from course_utils import networks as dqn_networks
from course_utils.buffers import Batch
from course_utils.checks import dqn as checks
from course_utils.envs import make_env
from course_utils.seeding import set_seed


class FixedQ(nn.Module):
    """A fake network that returns fixed Q-values for every observation."""

    def __init__(self, q_values: list[float]) -> None:
        super().__init__()
        self.q = torch.tensor(q_values)
        self.n_actions = len(q_values)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.q.expand(obs.shape[0], -1)


def test_td_target_hand_computed_terminated_and_truncated():
    reward = torch.tensor([-1.0, -1.0, -1.0])
    next_q = torch.tensor([[-5.0, -3.0, -4.0]] * 3)
    # row 0: ordinary step; row 1: reached the flag (terminated);
    # row 2: cut by the time limit -> stored with terminated = 0, so it bootstraps.
    terminated = torch.tensor([0.0, 1.0, 0.0])
    target = dqn.td_target(reward, next_q, terminated, 0.5)
    assert target.tolist() == [-1 + 0.5 * -3.0, -1.0, -1 + 0.5 * -3.0]


def test_double_dqn_target_lets_online_net_choose_and_target_net_score():
    online = torch.tensor([[1.0, 5.0, 2.0]])  # online net prefers action 1
    target = torch.tensor([[10.0, -2.0, 7.0]])  # target net would prefer action 0
    out = dqn.double_dqn_target(
        torch.tensor([0.0]), online, target, torch.tensor([0.0]), 1.0
    )
    assert out.tolist() == [-2.0]
    plain = dqn.td_target(torch.tensor([0.0]), target, torch.tensor([0.0]), 1.0)
    assert plain.tolist() == [10.0]
    done = dqn.double_dqn_target(
        torch.tensor([3.0]), online, target, torch.tensor([1.0]), 1.0
    )
    assert done.tolist() == [3.0]


def _batch() -> Batch:
    return Batch(
        obs=torch.zeros(2, 2),
        action=torch.tensor([0, 2]),
        reward=torch.tensor([1.0, -1.0]),
        next_obs=torch.zeros(2, 2),
        terminated=torch.tensor([0.0, 1.0]),
    )


def test_compute_loss_hand_computed_for_mse_and_huber():
    q_net, target_net = FixedQ([0.0, 0.0, 0.0]), FixedQ([2.0, 4.0, 3.0])
    # targets: 1 + 0.5 * 4 = 3 (bootstraps), -1 (terminal); Q(s, a) = 0 for both
    mse = dqn.compute_loss(q_net, target_net, _batch(), 0.5, loss_fn=F.mse_loss)
    assert mse.item() == pytest.approx((9 + 1) / 2)
    huber = dqn.compute_loss(q_net, target_net, _batch(), 0.5)
    assert huber.item() == pytest.approx(((3 - 0.5) + 0.5) / 2)


def test_target_pieces_plain_and_double():
    batch = _batch()
    online, target = FixedQ([1.0, 5.0, 2.0]), FixedQ([10.0, -2.0, 7.0])
    plain = dqn.compute_target(online, target, batch, 1.0)
    assert plain.tolist() == [1.0 + 10.0, -1.0]  # the target net picks action 0
    double = dqn.compute_target_double(online, target, batch, 1.0)
    assert double.tolist() == [1.0 - 2.0, -1.0]  # the online net picks action 1


def test_target_pieces_carry_no_graph():
    net = dqn.QNetwork(2, 3, hidden=(4,))
    batch = _batch()
    for fn in (dqn.compute_target, dqn.compute_target_double):
        assert not fn(net, net, batch, 0.9).requires_grad


def test_optimize_takes_one_clipped_step():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    loss = (net(torch.ones(1, 1)) - 100.0).pow(2).sum()  # gradient -200
    dqn.optimize(net, opt, loss, max_grad_norm=1.0)
    assert net.weight.item() == pytest.approx(1.0)  # clipped to norm 1


def test_soft_and_hard_updates():
    source, target = nn.Linear(3, 2), nn.Linear(3, 2)
    before = target.weight.detach().clone()
    dqn.soft_update(target, source, 0.1)
    expected = 0.1 * source.weight.detach() + 0.9 * before
    assert torch.allclose(target.weight, expected)
    dqn.soft_update(target, source, 1.0)
    assert torch.equal(target.weight, source.weight)
    assert torch.equal(target.bias, source.bias)
    with pytest.raises(ValueError, match="tau"):
        dqn.soft_update(target, source, 0.0)


def test_hold_lengths():
    rng = np.random.default_rng(0)
    assert {dqn.one_step(rng) for _ in range(20)} == {1}
    assert rng.random() == np.random.default_rng(0).random()  # one_step drew nothing
    held = [dqn.ZipfHold(1.5)(rng) for _ in range(2000)]
    assert min(held) == 1 and max(held) > 20  # heavy tail
    assert max(dqn.ZipfHold(1.01, max_steps=7)(rng) for _ in range(200)) <= 7
    with pytest.raises(ValueError, match="mu > 1"):
        dqn.ZipfHold(0.5)


def test_raw_transition_keeps_what_the_env_gave():
    assert dqn.raw_transition(5.0, False, {"lives": 2}, {"lives": 3}) == (5.0, False)
    assert dqn.raw_transition(-1, True, {}, {}) == (-1.0, True)


def test_train_dqn_runs_learns_and_keeps_the_best_network():
    torch.set_num_threads(1)
    cfg = dqn.DQNConfig(
        total_steps=600,
        learning_starts=100,
        batch_size=32,
        buffer_size=1000,
        eval_every=300,
        eval_episodes=1,
        hidden=(16, 16),
        target_update_interval=50,
    )
    env, eval_env = make_env("MountainCar-v0"), make_env("MountainCar-v0")
    result = dqn.train_dqn(
        env, cfg, rng=set_seed(0), seed=0, eval_env=eval_env, progress=False
    )
    assert result.steps == 600
    assert len(result.losses) == (600 - 100) // cfg.train_freq
    assert [s for s, _, _ in result.evals] == [300, 600]
    assert len(result.episode_returns) == 3  # 200-step truncations
    assert 0 < result.eval_time_s < result.wall_time_s
    assert result.q_net is not result.last_q_net


def test_train_dqn_is_deterministic_for_a_seed(tiny_dqn):
    cfg = tiny_dqn

    def weights() -> torch.Tensor:
        result = dqn.train_dqn(
            make_env("MountainCar-v0"), cfg, rng=set_seed(3), seed=3, progress=False
        )
        return torch.cat([p.flatten() for p in result.q_net.parameters()])

    assert torch.equal(weights(), weights())


def test_train_dqn_stops_at_the_wall_time_cap(tiny_dqn):
    # max_seconds: already over, so training stops at the first check (step 1000)
    cfg = replace(tiny_dqn, total_steps=5_000, max_seconds=1e-9)
    result = dqn.train_dqn(
        make_env("MountainCar-v0"), cfg, rng=set_seed(0), seed=0, progress=False
    )
    assert result.steps == 1000


def _push_all(collector, rewards, *, terminated_at=None, truncated_at=None):
    out = []
    for t, r in enumerate(rewards):
        out += collector.push(
            np.array([t]),
            t,
            r,
            np.array([t + 1]),
            t == terminated_at,
            t == truncated_at,
        )
    return [(int(o[0]), a, round(R, 6), int(n[0]), d) for o, a, R, n, d in out]


def test_n_step_collector_hand_computed():
    # n = 3, γ = 0.5, rewards 1, 2, 4, 8: R_0 = 1 + 0.5*2 + 0.25*4 = 3, R_1 = 6.
    got = _push_all(dqn.NStepCollector(3, 0.5), [1.0, 2.0, 4.0, 8.0])
    assert got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)]
    # Termination at the 4th step: every pending step is stored, no bootstrap.
    got = _push_all(dqn.NStepCollector(3, 0.5), [1.0, 2.0, 4.0, 8.0], terminated_at=3)
    assert got == [
        (0, 0, 3.0, 3, False),
        (1, 1, 6.0, 4, True),
        (2, 2, 8.0, 4, True),
        (3, 3, 8.0, 4, True),
    ]
    # Truncation: the steps with fewer than n rewards ahead are dropped.
    collector = dqn.NStepCollector(3, 0.5)
    got = _push_all(collector, [1.0, 2.0, 4.0, 8.0], truncated_at=3)
    assert got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)]
    assert not collector.pending


def test_one_step_collector_passes_transitions_through():
    got = _push_all(dqn.NStepCollector(1, 0.9), [1.0, 2.0, 3.0], truncated_at=2)
    assert got == [(0, 0, 1.0, 1, False), (1, 1, 2.0, 2, False), (2, 2, 3.0, 3, False)]
    got = _push_all(dqn.NStepCollector(1, 0.9), [1.0, 2.0], terminated_at=1)
    assert got == [(0, 0, 1.0, 1, False), (1, 1, 2.0, 2, True)]
    with pytest.raises(ValueError, match="n_step"):
        dqn.NStepCollector(0, 0.9)


def test_train_dqn_with_n_step_returns_runs(tiny_dqn):
    cfg = replace(tiny_dqn, total_steps=400, n_step=3)
    result = dqn.train_dqn(
        make_env("MountainCar-v0"), cfg, rng=set_seed(0), seed=0, progress=False
    )
    assert result.steps == 400 and all(np.isfinite(result.losses))


def test_make_q_network_normalises_and_refuses_unbounded_spaces():
    net = dqn.make_q_network(make_env("MountainCar-v0"), (8,))
    assert net.normalize is not None and net.n_actions == 3
    dueling = dqn.make_q_network(
        make_env("MountainCar-v0"), (8,), net_class=dqn_networks.DuelingQNetwork
    )
    assert isinstance(dueling, dqn_networks.DuelingQNetwork)
    with pytest.raises(ValueError, match="finite"):
        dqn.make_q_network(make_env("CartPole-v1"), (8,))
    assert dqn.make_q_network(make_env("CartPole-v1"), (8,), normalize_obs=False)


def test_make_q_network_refuses_continuous_actions():
    with pytest.raises(ValueError, match="discrete action space"):
        dqn.make_q_network(make_env("BipedalWalker-v3"), (8,))


@pytest.mark.parametrize(
    "field, value",
    [
        ("total_steps", 0),
        ("train_freq", 0),
        ("target_update_interval", 0),
        ("batch_size", -1),
        ("n_step", 0),
        ("total_steps", 2.5),
        ("gamma", float("nan")),
        ("gamma", 1.5),
        ("max_grad_norm", float("nan")),
        ("lr", 0.0),
    ],
)
def test_dqn_config_refuses_values_that_would_crash_or_mislead(field, value):
    with pytest.raises(ValueError, match=f"DQNConfig.{field}"):
        dqn.DQNConfig(**{field: value})


def test_train_dqn_seeds_the_network_weights_itself(tiny_dqn):
    """Without set_seed, the same seed gives the same initial (and final) network."""
    cfg = replace(tiny_dqn, total_steps=50, learning_starts=100)

    def first_layer() -> torch.Tensor:
        result = dqn.train_dqn(
            make_env("MountainCar-v0"),
            cfg,
            progress=False,
            rng=np.random.default_rng(0),
            seed=0,
        )
        return next(result.q_net.parameters()).detach().clone()

    a = first_layer()
    torch.manual_seed(12345)  # disturb the global state: it must not matter
    assert torch.equal(a, first_layer())


# --- exercise checks: pass the reference, fail plausible wrong answers ---------------


def test_check_td_target():
    assert checks.check_td_target(dqn.td_target) is dqn.td_target
    with pytest.raises(AssertionError, match="Exercise 1"):
        checks.check_td_target(
            lambda r, q, t, g: r + g * q.max(dim=1).values
        )  # no mask
    with pytest.raises(AssertionError):
        checks.check_td_target(lambda r, q, t, g: r + g * (1 - t) * q.mean(dim=1))


def test_check_storage_flag():
    assert checks.check_storage_flag(dqn.storage_flag)
    with pytest.raises(AssertionError, match="truncation"):
        checks.check_storage_flag(lambda terminated, truncated: terminated or truncated)


def test_check_soft_update():
    assert checks.check_soft_update(dqn.soft_update) is dqn.soft_update

    def reversed_tau(target, source, tau):
        with torch.no_grad():
            for t, s in zip(target.parameters(), source.parameters(), strict=True):
                t.mul_(tau).add_(s, alpha=1 - tau)

    with pytest.raises(AssertionError, match="Exercise 3"):
        checks.check_soft_update(reversed_tau)


def test_check_should_sync_catches_the_precedence_bug():
    assert checks.check_should_sync(dqn.should_sync)
    with pytest.raises(AssertionError, match="precedence"):
        checks.check_should_sync(lambda step, interval: step % 1 / (1 / interval) == 0)


def test_checks_fall_back_to_the_reference_when_not_done(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 1: the TD target")

    assert checks.check_td_target(stub) is dqn.td_target
    assert checks.check_soft_update(stub) is dqn.soft_update
    assert "not done yet" in capsys.readouterr().out
