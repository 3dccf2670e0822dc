"""Policies: the one tie rule, ε-greedy on Q-values and on a fake Q-network, the
continuous actor."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.common.networks import MLPActor, QNetwork
from course_utils.common.policies import (
    ActorPolicy,
    QPolicy,
    epsilon_greedy,
    epsilon_greedy_action,
    greedy_action,
)


class FixedQ(nn.Module):
    """A fake Q-network: the same Q-values whatever the observation."""

    def __init__(self, q_values):
        super().__init__()
        self.q = torch.tensor(q_values, dtype=torch.float32)
        self.n_actions = len(q_values)
        self.seen = []

    def forward(self, obs):
        self.seen.append(obs)
        return self.q.expand(obs.shape[0], -1)


class EchoQ(nn.Module):
    """A fake Q-network whose Q-values are the observation itself."""

    n_actions = 4

    def forward(self, obs):
        return obs.float()


def test_greedy_picks_the_argmax_of_fixed_q_values():
    net = FixedQ([1.0, 5.0, 2.0, 3.0])
    policy = QPolicy(net)
    action = policy(np.zeros(2, dtype=np.float32))
    assert action == 1 and type(action) is int
    # The observation goes in with a batch dimension of one, values untouched.
    assert net.seen[0].shape == (1, 2)


def test_greedy_follows_the_observation():
    policy = QPolicy(EchoQ())
    assert policy(np.array([0.1, 0.9, 0.3, -1.0])) == 1
    assert policy(np.array([3.0, 0.0, 0.0, 0.0])) == 0
    assert policy(np.array([0, 0, 0, 7], dtype=np.uint8)) == 3


def test_epsilon_zero_with_rng_is_still_greedy():
    policy = QPolicy(FixedQ([0.0, 0.0, 9.0]), epsilon=0.0, rng=np.random.default_rng(0))
    assert {policy(np.zeros(1)) for _ in range(200)} == {2}


def test_epsilon_one_is_uniform_ish():
    policy = QPolicy(
        FixedQ([0.0, 10.0, 0.0, 0.0]), epsilon=1.0, rng=np.random.default_rng(0)
    )
    actions = np.array([policy(np.zeros(1)) for _ in range(4000)])
    counts = np.bincount(actions, minlength=4)
    assert counts.sum() == 4000 and len(counts) == 4
    assert np.all(np.abs(counts - 1000) < 150), counts  # ~4.7 standard deviations


def test_epsilon_half_mixes_greedy_and_random():
    policy = QPolicy(
        FixedQ([0.0, 10.0, 0.0, 0.0]), epsilon=0.5, rng=np.random.default_rng(1)
    )
    actions = np.array([policy(np.zeros(1)) for _ in range(4000)])
    # P(greedy) = 1 - ε + ε / n_actions = 0.625
    assert abs(np.mean(actions == 1) - 0.625) < 0.04


def test_epsilon_greedy_is_reproducible_with_the_same_rng_seed():
    def run(seed):
        policy = QPolicy(
            FixedQ([0.0, 1.0, 0.0]), epsilon=0.3, rng=np.random.default_rng(seed)
        )
        return [policy(np.zeros(1)) for _ in range(100)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_epsilon_without_rng_is_refused():
    with pytest.raises(ValueError, match="needs a np.random.Generator as rng"):
        QPolicy(FixedQ([0.0, 1.0]), epsilon=0.1)


@pytest.mark.parametrize("epsilon", [-0.1, 1.5])
def test_epsilon_out_of_range_is_refused(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        QPolicy(FixedQ([0.0, 1.0]), epsilon=epsilon, rng=np.random.default_rng(0))


def test_actor_policy_returns_float32_act_dim():
    torch.manual_seed(0)
    actor = MLPActor(24, 4, hidden=(16,))
    policy = ActorPolicy(actor)
    obs = np.linspace(-1, 1, 24)  # float64, as a student might pass it
    action = policy(obs)
    assert isinstance(action, np.ndarray)
    assert action.shape == (4,) and action.dtype == np.float32
    expected = (
        actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].detach().numpy()
    )
    np.testing.assert_allclose(action, expected, rtol=1e-6, atol=1e-6)
    assert np.all(np.abs(action) <= 1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_policies_refuse_nan_and_inf_observations(bad):
    q_policy = QPolicy(FixedQ([0.0, 1.0]))
    with pytest.raises(ValueError, match="NaN or inf"):
        q_policy(np.array([0.0, bad], dtype=np.float32))
    actor = ActorPolicy(MLPActor(2, 3, hidden=(4,)))
    with pytest.raises(ValueError, match="NaN or inf"):
        actor(np.array([bad, 0.0], dtype=np.float32))


def test_actor_policy_refuses_an_actor_that_returns_nan():
    actor = MLPActor(2, 3, hidden=(4,))
    with torch.no_grad():
        for p in actor.parameters():
            p.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or inf torques"):
        ActorPolicy(actor)(np.zeros(2, dtype=np.float32))


def test_q_policy_refuses_a_network_without_n_actions_and_a_bad_rng():
    with pytest.raises(ValueError, match="course Q-network"):
        QPolicy(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="needs a np.random.Generator as rng"):
        QPolicy(FixedQ([0.0, 1.0]), epsilon=0.5, rng=np.random.RandomState(0))
    with pytest.raises(ValueError, match="epsilon must"):
        QPolicy(FixedQ([0.0, 1.0]), epsilon=float("nan"), rng=np.random.default_rng(0))


# --- the one tie rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    "q_values", [np.array([1.0, 3.0, 2.0]), torch.tensor([1, 3, 2])]
)
def test_greedy_action_draws_nothing_without_a_tie(q_values):
    rng, fresh = np.random.default_rng(0), np.random.default_rng(0)
    assert greedy_action(q_values, rng) == 1
    assert rng.random() == fresh.random()  # no number was drawn


def test_greedy_action_breaks_exact_ties_uniformly_with_the_rng():
    rng = np.random.default_rng(1)
    picks = [greedy_action(np.array([5.0, 1.0, 5.0, 5.0]), rng) for _ in range(3000)]
    counts = np.bincount(picks, minlength=4)
    assert counts[1] == 0 and np.all(np.abs(counts[[0, 2, 3]] - 1000) < 120), counts
    # the draw is rng.integers(number of tied actions), among them in index order
    assert greedy_action(np.zeros(3), np.random.default_rng(2)) == int(
        np.random.default_rng(2).integers(3)
    )


@pytest.mark.parametrize(
    "q_values",
    [
        torch.tensor([[1.0, 3.0, 2.0]]),  # a batch of one observation's Q-values
        np.array([[1.0, 3.0, 2.0], [4.0, 0.0, 0.0]]),
        np.array(2.0),
        np.array([]),
    ],
)
def test_greedy_action_refuses_anything_but_one_row(q_values):
    with pytest.raises(ValueError, match=r"shape \(n_actions,\).*\[0\]"):
        greedy_action(q_values, np.random.default_rng(0))


def test_greedy_action_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        greedy_action(np.array([np.nan, np.nan]), np.random.default_rng(0))


def test_q_policy_breaks_ties_the_same_way_at_epsilon_zero_and_above():
    """Greedy and ε-greedy share the rule: ties at random, never always action 0."""
    for epsilon in (0.0, 0.3):
        policy = QPolicy(
            FixedQ([2.0, 2.0, 0.0]), epsilon=epsilon, rng=np.random.default_rng(0)
        )
        greedy = [a for a in (policy(np.zeros(1)) for _ in range(600)) if a != 2]
        assert 0.4 < np.mean(greedy) < 0.6  # both tied actions, about equally
    greedy = QPolicy(FixedQ([1.0, 1.0]))  # no rng: its own generator breaks ties
    assert {greedy(np.zeros(1)) for _ in range(50)} == {0, 1}


def test_epsilon_greedy_action_is_epsilon_greedy_on_the_network():
    net = FixedQ([0.0, 2.0, 2.0, 1.0])
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    mine = [epsilon_greedy_action(net, np.zeros(1), 0.4, a) for _ in range(200)]
    ref = [epsilon_greedy(np.array([0.0, 2.0, 2.0, 1.0]), 0.4, b) for _ in range(200)]
    assert mine == ref


def test_epsilon_greedy_draws_the_same_random_numbers_as_before():
    # Recorded before the checks were added: notebook 02 compares a student's
    # function against this one with the same seed.
    rng = np.random.default_rng(7)
    qs = [[1.0, 3.0, 2.0], [5.0, 1.0, 5.0, 5.0], [0.0, 0.0, 0.0], [-np.inf, 0, -np.inf]]
    out = [epsilon_greedy(qs[i % 4], [0.0, 0.3, 1.0][i % 3], rng) for i in range(40)]
    expected = "1221112110111311220112121021112120221201"
    assert out == [int(c) for c in expected]
    assert rng.random() == 0.32303634625820665


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_epsilon_greedy_refuses_nan_q_values(epsilon):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match="NaN") as info:
        epsilon_greedy([np.nan, 1.0], epsilon, rng)
    assert "q_values" in str(info.value)
    assert rng.bit_generator.state == state  # nothing drawn


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0]], ["a", "b"], 3.0], ids=repr)
def test_epsilon_greedy_refuses_q_values_that_are_not_one_row(bad):
    with pytest.raises(ValueError, match="q_values"):
        epsilon_greedy(bad, 0.1, np.random.default_rng(0))


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, np.nan, np.inf, "0.1", None], ids=repr)
def test_epsilon_greedy_refuses_epsilon_outside_0_1(epsilon):
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        epsilon_greedy([0.0, 1.0], epsilon, np.random.default_rng(0))


def test_epsilon_greedy_needs_a_generator():
    with pytest.raises(ValueError, match="np.random.Generator"):
        epsilon_greedy([0.0, 1.0], 0.1, np.random.RandomState(0))


@pytest.mark.parametrize("policy", ["q", "actor"])
def test_policies_refuse_a_device_this_machine_lacks_when_built(policy):
    with pytest.raises(ValueError, match=r"device must be .*'cpu'"):
        if policy == "q":
            QPolicy(QNetwork(2, 3, hidden=(4,)), device="gpu")
        else:
            ActorPolicy(MLPActor(2, 3, hidden=(4,)), device="gpu")
