"""course_utils.agents.dqn and the trainer's command line; the exercise checks are
tested in tests/lessons/test_dqn_checks.py."""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.agents import dqn
from course_utils.agents.dqn import loop as dqn_loop
from course_utils.common import networks as dqn_networks
from course_utils.common.buffers import Batch
from course_utils.common.envs import make_env
from course_utils.common.networks import QNetwork
from course_utils.common.plotting import LiveCurve
from course_utils.common.policies import epsilon_greedy
from course_utils.common.seeding import set_seed


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
    net = QNetwork(2, 3, hidden=(4,))
    batch = _batch()
    for fn in (dqn.compute_target, dqn.compute_target_double):
        assert not fn(net, net, batch, 0.9).requires_grad


def test_gradient_step_takes_one_clipped_step_on_the_td_loss():
    net = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    seen = []

    def td_loss(q_net, target_net, batch, gamma):
        seen.append((q_net, target_net, batch, gamma))
        return (q_net(torch.ones(1, 1)) - 100.0).pow(2).sum()  # gradient -200

    loss = dqn.gradient_step(
        net, "target", opt, "batch", gamma=0.5, td_loss=td_loss, max_grad_norm=1.0
    )
    assert loss == 10_000.0 and seen == [(net, "target", "batch", 0.5)]
    assert net.weight.item() == pytest.approx(1.0)  # clipped to norm 1


def test_dqn_loss_is_compute_loss_with_its_target_and_loss():
    q_net, target_net = FixedQ([0.0, 1.0, 0.0]), FixedQ([2.0, 4.0, 3.0])
    pairs = [
        (dqn.compute_target, F.smooth_l1_loss),
        (dqn.compute_target_double, F.mse_loss),
    ]
    for target, loss in pairs:
        td_loss = dqn.DQNLoss(target=target, loss=loss)
        bundled = td_loss(q_net, target_net, _batch(), 0.9)
        alone = dqn.compute_loss(
            q_net, target_net, _batch(), 0.9, target_fn=target, loss_fn=loss
        )
        assert bundled.item() == alone.item()
    assert dqn.DQNLoss() == dqn.DQNLoss(dqn.compute_target, F.smooth_l1_loss)


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
    assert {dqn.no_hold(rng) for _ in range(20)} == {1}
    assert rng.random() == np.random.default_rng(0).random()  # no_hold drew nothing
    held = [dqn.ZipfHold(1.5)(rng) for _ in range(2000)]
    assert min(held) == 1 and max(held) > 20  # heavy tail
    assert max(dqn.ZipfHold(1.01, max_steps=7)(rng) for _ in range(200)) <= 7
    with pytest.raises(ValueError, match="mu must be a number > 1"):
        dqn.ZipfHold(0.5)


def test_no_shaping_keeps_what_the_env_gave():
    assert dqn.no_shaping(5.0, False, {"lives": 2}, {"lives": 3}) == (5.0, False)
    assert dqn.no_shaping(-1, True, {}, {}) == (-1.0, True)


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


def _push_all(rewards, *, n, gamma, terminated_at=None, truncated_at=None):
    pending, out = deque(), []
    for t, r in enumerate(rewards):
        out += dqn.n_step_push(
            pending,
            np.array([t]),
            t,
            r,
            np.array([t + 1]),
            t == terminated_at,
            t == truncated_at,
            n=n,
            gamma=gamma,
        )
    got = [(int(o[0]), a, round(R, 6), int(s[0]), d) for o, a, R, s, d in out]
    return got, pending


def test_n_step_push_hand_computed():
    # n = 3, γ = 0.5, rewards 1, 2, 4, 8: R_0 = 1 + 0.5*2 + 0.25*4 = 3, R_1 = 6.
    got, _ = _push_all([1.0, 2.0, 4.0, 8.0], n=3, gamma=0.5)
    assert got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)]
    # Termination at the 4th step: every pending step is stored, no bootstrap.
    got, _ = _push_all([1.0, 2.0, 4.0, 8.0], n=3, gamma=0.5, terminated_at=3)
    assert got == [
        (0, 0, 3.0, 3, False),
        (1, 1, 6.0, 4, True),
        (2, 2, 8.0, 4, True),
        (3, 3, 8.0, 4, True),
    ]
    # Truncation: the steps with fewer than n rewards ahead are dropped.
    got, pending = _push_all([1.0, 2.0, 4.0, 8.0], n=3, gamma=0.5, truncated_at=3)
    assert got == [(0, 0, 3.0, 3, False), (1, 1, 6.0, 4, False)]
    assert not pending


def test_one_step_push_passes_transitions_through():
    got, _ = _push_all([1.0, 2.0, 3.0], n=1, gamma=0.9, truncated_at=2)
    assert got == [(0, 0, 1.0, 1, False), (1, 1, 2.0, 2, False), (2, 2, 3.0, 3, False)]
    got, _ = _push_all([1.0, 2.0], n=1, gamma=0.9, terminated_at=1)
    assert got == [(0, 0, 1.0, 1, False), (1, 1, 2.0, 2, True)]


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
        ("lr_end", 0.0),
        ("lr_end", float("inf")),
        ("lr_end", "1e-4"),
        ("lr_end", True),
        ("tau", 1.5),  # was refused only at the first target sync
        ("tau", 0.0),
        ("exploration_fraction", -1),
        ("exploration_fraction", 2.0),
        ("epsilon_start", 1.5),
        ("epsilon_end", -0.1),
        ("eval_epsilon", float("nan")),
        ("normalize_obs", "no"),
        ("normalize_obs", 1),
        ("solved_at", float("nan")),  # made the final save refuse the run
        ("solved_at", "-110"),
        ("eval_seed", -3),  # was found at the first evaluation
        ("eval_seed", 1.5),
        ("eval_every", -1),
        ("eval_episodes", 0),
        ("learning_starts", -5),
        ("hidden", (256, 0)),
        ("hidden", "256"),
        ("max_seconds", 0.0),
        ("max_seconds", float("nan")),
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


def test_gradient_step_equals_the_loss_then_a_clipped_step_by_hand():
    torch.manual_seed(0)
    nets = [QNetwork(2, 3, hidden=(8,)) for _ in range(2)]
    copies = [copy.deepcopy(n) for n in nets]
    batch = Batch(
        obs=torch.randn(5, 2),
        action=torch.tensor([0, 1, 2, 1, 0]),
        reward=torch.randn(5),
        next_obs=torch.randn(5, 2),
        terminated=torch.tensor([0.0, 1.0, 0.0, 0.0, 1.0]),
    )
    opt_a = torch.optim.Adam(nets[0].parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(copies[0].parameters(), lr=1e-2)
    td_loss = dqn.DQNLoss(target=dqn.compute_target_double)
    loss = dqn.gradient_step(
        nets[0],
        nets[1],
        opt_a,
        batch,
        gamma=0.9**3,
        td_loss=td_loss,
        max_grad_norm=1.0,
    )
    ref = dqn.compute_loss(
        copies[0],
        copies[1],
        batch,
        0.9**3,
        target_fn=dqn.compute_target_double,
    )
    opt_b.zero_grad()
    ref.backward()
    nn.utils.clip_grad_norm_(copies[0].parameters(), 1.0)
    opt_b.step()
    assert loss == ref.item()
    for a, b in zip(nets[0].parameters(), copies[0].parameters(), strict=True):
        assert torch.equal(a, b)


def test_choose_action_without_holds_draws_what_epsilon_greedy_draws():
    net = FixedQ([0.0, 2.0, 2.0, 1.0])  # a tie, so the greedy choice draws too
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    mine = [
        dqn.choose_action(
            net, np.zeros(2), 0.3, a, n_actions=4, hold_left=0, held_action=0
        )[0]
        for _ in range(300)
    ]
    ref = [epsilon_greedy(np.array([0.0, 2.0, 2.0, 1.0]), 0.3, b) for _ in range(300)]
    assert mine == ref


def test_choose_action_warmup_draws_no_coin_and_holds_count_down():
    net = FixedQ([0.0, 2.0, 1.0])
    rng, fresh = np.random.default_rng(0), np.random.default_rng(0)
    out = dqn.choose_action(
        net,
        np.zeros(2, np.float32),
        0.0,
        rng,
        n_actions=3,
        hold_left=0,
        held_action=0,
        hold=lambda r: 3,
        warmup=True,
    )
    assert out == (int(fresh.integers(3)), 2, out[0])
    assert dqn.choose_action(
        net, np.zeros(2, np.float32), 0.0, rng, n_actions=3, hold_left=0, held_action=0
    ) == (1, 0, 0)


def test_lr_schedule_is_constant_by_default_and_linear_to_lr_end():
    cfg = dqn.DQNConfig(total_steps=1_000, lr=2.5e-4)
    assert cfg.lr_end is None
    assert all(cfg.lr_at(step) == 2.5e-4 for step in (0, 1, 333, 1_000, 5_000))
    decay = replace(cfg, lr_end=5e-5)
    assert decay.lr_at(0) == 2.5e-4
    assert decay.lr_at(500) == pytest.approx(1.5e-4)
    assert decay.lr_at(1_000) == pytest.approx(5e-5)
    assert decay.lr_at(9_999) == pytest.approx(5e-5)  # stays at lr_end after


def test_train_dqn_applies_the_lr_schedule(tiny_dqn):
    """With lr_end, Adam's lr at the end is the schedule's value at the last update;
    without it the optimizer's lr is never changed."""
    seen = {}
    original = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.setdefault("lrs", []).append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    cfg = replace(tiny_dqn, lr=1e-3, lr_end=1e-4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", spy)
        dqn.train_dqn(
            make_env("MountainCar-v0"), cfg, rng=set_seed(0), seed=0, progress=False
        )
        lrs, seen["lrs"] = seen["lrs"], []
        dqn.train_dqn(
            make_env("MountainCar-v0"),
            replace(cfg, lr_end=None),
            rng=set_seed(0),
            seed=0,
            progress=False,
        )
    assert lrs[0] == pytest.approx(cfg.lr_at(cfg.learning_starts + 2))
    assert lrs[-1] == pytest.approx(cfg.lr_at(cfg.total_steps))
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert set(seen["lrs"]) == {1e-3}


@pytest.fixture
def bars(keep_bars) -> list:
    """Every ``RunProgress`` the DQN loop makes, kept for inspection."""
    return keep_bars(dqn_loop)


def test_the_bar_counts_steps_and_closes_green_at_the_wall_time_cap(tiny_dqn, bars):
    cfg = replace(tiny_dqn, total_steps=5_000, max_seconds=1e-9)
    result = dqn.train_dqn(make_env("MountainCar-v0"), cfg, rng=set_seed(0), seed=0)
    (watch,) = bars
    assert watch.unit == "steps"
    assert result.steps == 1000
    assert watch.bar.n == watch.bar.total == 1000  # shrunk to where it stopped
    assert watch.postfix["stopped"] == "time cap"
    assert watch.bar.disable  # closed


def test_the_bar_shows_the_latest_evaluation(tiny_dqn, bars):
    cfg = replace(tiny_dqn, eval_every=150, eval_episodes=1)
    result = dqn.train_dqn(
        make_env("MountainCar-v0"),
        cfg,
        rng=set_seed(0),
        seed=0,
        eval_env=make_env("MountainCar-v0"),
    )
    (watch,) = bars
    assert watch.bar.n == watch.bar.total == cfg.total_steps
    assert watch.postfix["eval"] == f"{result.evals[-1][1]:.1f}"
    assert watch.postfix["best"] == f"{max(m for _, m, _ in result.evals):.1f}"


def test_the_live_curve_changes_nothing_and_draws_the_run(tiny_dqn):
    cfg = replace(tiny_dqn, eval_every=150, eval_episodes=1)

    def run(live):
        return dqn.train_dqn(
            make_env("MountainCar-v0"),
            cfg,
            rng=set_seed(0),
            seed=0,
            eval_env=make_env("MountainCar-v0"),
            progress=False,
            live=live,
        )

    curve = LiveCurve(solved_at=-110)
    on, off = run(curve), run(False)
    assert on.losses == off.losses and on.evals == off.evals
    for a, b in zip(on.q_net.parameters(), off.q_net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert curve.episode_returns == on.episode_returns
    assert curve.episode_steps == on.episode_end_steps
    assert curve.evaluations == on.evals
    assert curve.draws == 0  # outside a notebook nothing is shown


def test_dqn_config_accepts_the_edges_it_documents():
    dqn.DQNConfig(eval_every=0, learning_starts=0, tau=1.0, exploration_fraction=0.0)
    dqn.DQNConfig(solved_at=None, max_seconds=None, hidden=[8], normalize_obs=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 0}, "ZipfHold.max_steps must be a whole number >= 1"),
        ({"max_steps": 2.5}, "ZipfHold.max_steps"),
        ({"max_steps": True}, "ZipfHold.max_steps"),
        ({"mu": float("nan")}, "ZipfHold.mu"),
    ],
)
def test_zipf_hold_refuses_settings_that_hold_nothing(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dqn.ZipfHold(**kwargs)
