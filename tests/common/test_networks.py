"""Networks: mlp layout, output shapes, Normalize, the dueling identity, specs."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.common.networks import (
    BitsQNetwork,
    DuelingQNetwork,
    LayerNormQNetwork,
    MLPActor,
    Normalize,
    QNetwork,
    QuantileQNetwork,
    build_network,
    mlp,
)


def test_mlp_layout_and_shapes():
    net = mlp((2, 8, 16, 3))
    kinds = [type(m) for m in net]
    assert kinds == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [
        (m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)
    ] == [(2, 8), (8, 16), (16, 3)]
    assert net(torch.zeros(5, 2)).shape == (5, 3)


def test_mlp_without_hidden_layers_is_one_linear():
    net = mlp((4, 3))
    assert len(net) == 1 and isinstance(net[0], nn.Linear)


def test_mlp_activation_per_layer_and_output_activation():
    net = mlp((3, 4, 5, 2), ("tanh", "elu"), output_activation="tanh")
    assert [type(m) for m in net] == [
        nn.Linear,
        nn.Tanh,
        nn.Linear,
        nn.ELU,
        nn.Linear,
        nn.Tanh,
    ]
    out = net(torch.randn(100, 3) * 100)
    assert out.abs().max() <= 1.0


def test_mlp_sigmoid_activation():
    net = mlp((1, 2, 1), "sigmoid")
    assert isinstance(net[1], nn.Sigmoid)


@pytest.mark.parametrize(
    "sizes, activation, match",
    [
        ((2,), "relu", "needs an input and an output"),
        ((2, 0, 3), "relu", r"sizes must be whole numbers >= 1"),
        ((2, 4, 4, 3), ("relu",), "Got 1 activations for 2 hidden layers"),
        ((2, 4, 3), "swish", "Unknown activation 'swish'"),
    ],
)
def test_mlp_errors(sizes, activation, match):
    with pytest.raises(ValueError, match=match):
        mlp(sizes, activation)


def test_q_networks_output_shapes():
    for cls in (QNetwork, DuelingQNetwork):
        net = cls(2, 3, hidden=(16, 8))
        assert net(torch.zeros(7, 2)).shape == (7, 3)
        assert net(torch.zeros(1, 2)).shape == (1, 3)
        assert (net.obs_dim, net.n_actions) == (2, 3)


def test_actor_output_shape_and_range():
    actor = MLPActor(24, 4, hidden=(32, 16))
    out = actor(torch.randn(9, 24) * 50)
    assert out.shape == (9, 4)
    assert out.abs().max() <= 1.0  # tanh output
    assert isinstance(actor.body[-1], nn.Tanh)


def test_normalize_maps_low_to_minus_one_and_high_to_one():
    norm = Normalize([-1.2, -0.07], [0.6, 0.07])  # MountainCar's bounds
    out = norm(torch.tensor([[-1.2, -0.07], [0.6, 0.07], [-0.3, 0.0]]))
    torch.testing.assert_close(
        out, torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])
    )
    assert out.dtype == torch.float32


def test_normalize_accepts_uint8():
    norm = Normalize([0.0] * 128, [255.0] * 128)
    ram = torch.tensor([[0] * 64 + [255] * 64], dtype=torch.uint8)
    out = norm(ram)
    assert out.dtype == torch.float32 and out.shape == (1, 128)
    torch.testing.assert_close(out[0, :64], torch.full((64,), -1.0))
    torch.testing.assert_close(out[0, 64:], torch.full((64,), 1.0))


@pytest.mark.parametrize(
    "low, high", [([0.0, 1.0], [1.0, 1.0]), ([0.0], [1.0, 2.0]), ([2.0], [1.0])]
)
def test_normalize_refuses_bad_bounds(low, high):
    with pytest.raises(ValueError, match="low < high"):
        Normalize(low, high)


def test_q_network_with_bounds_takes_raw_uint8_observations():
    net = QNetwork(128, 6, hidden=(8,), obs_low=[0] * 128, obs_high=[255] * 128)
    ram = torch.randint(0, 256, (3, 128), dtype=torch.uint8)
    expected = net.body((ram.float() / 255.0) * 2.0 - 1.0)
    torch.testing.assert_close(net(ram), expected)


def test_dueling_identity_mean_over_actions_of_q_minus_v_is_zero():
    torch.manual_seed(0)
    net = DuelingQNetwork(4, 5, hidden=(32, 32))
    obs = torch.randn(10, 4)
    q = net(obs)
    v = net.value(net.body(net._pre(obs)))  # (10, 1)
    assert v.shape == (10, 1)
    torch.testing.assert_close((q - v).mean(dim=1), torch.zeros(10), atol=1e-6, rtol=0)
    # ...and Q is not just V: the advantages still separate the actions.
    assert (q - v).abs().max() > 1e-4


def _nets():
    return [
        QNetwork(2, 3, hidden=(16, 16)),
        QNetwork(128, 6, hidden=(8,), obs_low=[0] * 128, obs_high=[255] * 128),
        DuelingQNetwork(
            2, 3, hidden=(16,), obs_low=[-1.2, -0.07], obs_high=[0.6, 0.07]
        ),
        MLPActor(24, 4, hidden=(16, 8), activation="tanh"),
        LayerNormQNetwork(
            128, 6, hidden=(8, 8), obs_low=[0] * 128, obs_high=[255] * 128
        ),
        QuantileQNetwork(
            128, 6, hidden=(8,), obs_low=[0] * 128, obs_high=[255] * 128, n_quantiles=5
        ),
    ]


@pytest.mark.parametrize("net", _nets(), ids=lambda n: n.spec["class"])
def test_build_network_round_trip_from_spec(net):
    spec = json.loads(json.dumps(net.spec))  # what a checkpoint stores: plain JSON
    rebuilt = build_network(spec)
    assert type(rebuilt) is type(net)
    assert rebuilt.spec == net.spec
    rebuilt.load_state_dict(net.state_dict())  # same architecture: every key fits
    obs = torch.rand(4, net.obs_dim)
    torch.testing.assert_close(rebuilt(obs), net(obs), rtol=0, atol=0)


def test_spec_records_the_class_and_arguments():
    net = DuelingQNetwork(2, 3, hidden=(64, 32))
    assert net.spec == {
        "class": "DuelingQNetwork",
        "kwargs": {
            "obs_dim": 2,
            "n_actions": 3,
            "hidden": [64, 32],
            "obs_low": None,
            "obs_high": None,
        },
    }


@pytest.mark.parametrize(
    "spec",
    [None, [], {"class": "QNetwork"}, {"kwargs": {}}, "QNetwork"],
)
def test_build_network_bad_spec(spec):
    with pytest.raises(ValueError, match="'class' and 'kwargs'"):
        build_network(spec)


def test_build_network_unknown_class_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown network class 'Transformer'") as info:
        build_network({"class": "Transformer", "kwargs": {}})
    assert "QNetwork" in str(info.value) and "MLPActor" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{"obs_dim": 2}, {"obs_dim": 2, "n_actions": 3, "width": 7}],
)
def test_build_network_bad_kwargs_is_a_value_error(kwargs):
    with pytest.raises(ValueError, match="QNetwork"):
        build_network({"class": "QNetwork", "kwargs": kwargs})


@pytest.mark.parametrize("net", _nets(), ids=lambda n: n.spec["class"])
def test_wrong_obs_dim_is_a_clear_error(net):
    with pytest.raises(
        ValueError, match=rf"expects observations of shape \({net.obs_dim},\)"
    ):
        net(torch.zeros(2, net.obs_dim + 1))


# ------------------------------------------------------------------ bad input
# Numbers are checked where they enter: a clear ValueError, never a silent change.


@pytest.mark.parametrize(
    "sizes",
    ["256", [2, 2.7, 3], [2, 3.0], [2, True, 3], [2, "8", 3], 5, [2, None], [2, [3]]],
    ids=repr,
)
def test_mlp_sizes_must_be_whole_numbers(sizes):
    with pytest.raises(ValueError, match="sizes must be whole numbers") as info:
        mlp(sizes)
    assert repr(sizes)[:10] in str(info.value)


def test_mlp_accepts_numpy_integers():
    net = mlp(np.array([2, 4, 3]))
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [4, 3]


@pytest.mark.parametrize(
    "low, high",
    [
        ([np.nan, 0.0], [1.0, 1.0]),
        ([0.0, 0.0], [1.0, np.nan]),
        ([-np.inf, 0.0], [1.0, 1.0]),
        ([0.0, 0.0], [np.inf, 1.0]),
    ],
)
def test_normalize_and_q_network_refuse_nan_or_infinite_bounds(low, high):
    with pytest.raises(ValueError, match="finite") as info:
        Normalize(low, high)
    assert "obs_low=None" in str(info.value)
    with pytest.raises(ValueError, match="finite"):
        QNetwork(2, 3, obs_low=low, obs_high=high)


def test_q_network_needs_both_bounds_of_the_right_length():
    with pytest.raises(ValueError, match="obs_low and obs_high"):
        QNetwork(2, 3, obs_low=[0.0, 0.0])
    with pytest.raises(ValueError, match=r"2 numbers"):
        QNetwork(2, 3, obs_low=[0.0, 0.0, 0.0], obs_high=[1.0, 1.0, 1.0])


@pytest.mark.parametrize("cls", [QNetwork, DuelingQNetwork, QuantileQNetwork, MLPActor])
@pytest.mark.parametrize(
    "obs_dim", [np.zeros((1, 2)), 0, -3, 2.5, "2", True, None], ids=repr
)
def test_obs_dim_must_be_a_whole_number(cls, obs_dim):
    with pytest.raises(ValueError, match="obs_dim must be a whole number >= 1") as info:
        cls(obs_dim, 3)
    assert "observation_space.shape[0]" in str(info.value)


@pytest.mark.parametrize("cls", [QNetwork, DuelingQNetwork, QuantileQNetwork])
@pytest.mark.parametrize("n_actions", [0, 2.5, np.zeros(3), "3"], ids=repr)
def test_n_actions_must_be_a_whole_number(cls, n_actions):
    with pytest.raises(ValueError, match="n_actions must be a whole number >= 1"):
        cls(2, n_actions)


@pytest.mark.parametrize("hidden", [256, "64", (64, 2.5), (0,)], ids=repr)
def test_hidden_must_be_whole_numbers(hidden):
    with pytest.raises(ValueError, match="hidden"):
        QNetwork(2, 3, hidden=hidden)


def test_dueling_needs_a_hidden_layer():
    with pytest.raises(ValueError, match="at least one hidden layer"):
        DuelingQNetwork(2, 3, hidden=())


def test_numpy_sizes_from_a_space_are_fine():
    net = QNetwork(np.int64(2), np.int64(3), hidden=(np.int64(8),))
    assert net(torch.zeros(1, 2)).shape == (1, 3)
    assert json.dumps(net.spec)  # still JSON-able for checkpoints


# ------------------------------------------------------------------ construction
def test_dueling_builds_its_body_once():
    # The dueling net used to build (and throw away) a plain QNetwork body first,
    # so its initial weights depended on layers it never used.
    torch.manual_seed(0)
    dueling = DuelingQNetwork(2, 3, hidden=(8, 8))
    torch.manual_seed(0)
    trunk = mlp((2, 8, 8))
    torch.testing.assert_close(dueling.body[0].weight, trunk[0].weight)
    torch.testing.assert_close(dueling.body[2].weight, trunk[2].weight)
    torch.manual_seed(0)
    plain = QNetwork(2, 3, hidden=(8, 8))
    torch.testing.assert_close(plain.body[0].weight, dueling.body[0].weight)


def test_a_grid_observation_is_flattened_inside_the_network():
    net = QNetwork(2 * 3 * 3, 4, hidden=(8,), obs_shape=(2, 3, 3))
    grid = torch.rand(5, 2, 3, 3)
    assert net(grid).shape == (5, 4)
    assert torch.equal(net(grid), net(grid.reshape(5, 18)))  # same numbers, flat
    assert net.spec["kwargs"]["obs_shape"] == [2, 3, 3]
    with pytest.raises(ValueError, match=r"expects observations of shape \(2, 3, 3\)"):
        net(torch.rand(5, 3, 3, 2))
    with pytest.raises(ValueError, match="obs_shape"):
        QNetwork(10, 4, obs_shape=(2, 3, 3))
    assert "obs_shape" not in QNetwork(2, 3).spec["kwargs"]  # flat nets: spec unchanged


def test_layer_norm_q_network_layout_and_normalised_hidden_layers():
    """Linear -> LayerNorm -> ReLU per hidden layer, then a Linear to the Q-values;
    every hidden vector leaves its LayerNorm with mean 0 and variance 1."""
    net = LayerNormQNetwork(4, 3, hidden=(16, 8))
    kinds = [type(layer).__name__ for layer in net.body]
    assert kinds == ["Linear", "LayerNorm", "ReLU"] * 2 + ["Linear"]
    assert net.spec["class"] == "LayerNormQNetwork" and net.n_actions == 3
    obs = torch.randn(5, 4) * 100
    assert net(obs).shape == (5, 3)
    normed = net.body[:2](obs)  # at initialisation gain 1, bias 0
    torch.testing.assert_close(normed.mean(-1), torch.zeros(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        normed.var(-1, unbiased=False), torch.ones(5), atol=1e-3, rtol=0
    )
    assert [type(m).__name__ for m in LayerNormQNetwork(4, 3, hidden=()).body] == [
        "Linear"
    ]


def test_layer_norm_q_network_takes_stacked_uint8_ram():
    net = LayerNormQNetwork(
        512, 6, hidden=(8,), obs_low=[0] * 512, obs_high=[255] * 512, obs_shape=(4, 128)
    )
    ram = torch.randint(0, 256, (2, 4, 128), dtype=torch.uint8)
    assert net(ram).shape == (2, 6)
    rebuilt = build_network(json.loads(json.dumps(net.spec)))
    rebuilt.load_state_dict(net.state_dict())
    assert torch.equal(rebuilt(ram), net(ram))


def _first_layer_input(net: torch.nn.Module, obs: torch.Tensor) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    hook = net.body[0].register_forward_hook(lambda m, args, out: seen.append(args[0]))
    net(obs)
    hook.remove()
    return seen[0]


def test_bits_q_network_feeds_rescaled_bytes_then_their_bits_little_end_first():
    net = BitsQNetwork(128, 6, hidden=(8,), obs_low=[0] * 128, obs_high=[255] * 128)
    ram = torch.randint(0, 256, (3, 128), dtype=torch.uint8)
    ram[0, 18], ram[1, 18] = 0b111110, 0b111101  # two rows of invaders, one apart
    fed = _first_layer_input(net, ram)
    assert fed.shape == (3, 9 * 128) and net.body[0].in_features == 9 * 128
    torch.testing.assert_close(fed[:, :128], ram.float() / 127.5 - 1.0)
    bits = np.unpackbits(ram.numpy()[:, :, None], axis=2, bitorder="little")
    assert np.array_equal(fed[:, 128:].numpy(), bits.reshape(3, -1).astype(np.float32))
    assert fed[0, 128 + 8 * 18 : 128 + 8 * 19].tolist() == [0, 1, 1, 1, 1, 1, 0, 0]
    assert torch.equal(net(ram), net(ram.float()))  # uint8 or float bytes alike


def test_bits_q_network_rebuilds_from_its_spec_stacked_too():
    net = BitsQNetwork(
        256, 6, hidden=(8,), obs_low=[0] * 256, obs_high=[255] * 256, obs_shape=(2, 128)
    )
    assert net.spec["class"] == "BitsQNetwork"
    ram = torch.randint(0, 256, (4, 2, 128), dtype=torch.uint8)
    rebuilt = build_network(json.loads(json.dumps(net.spec)))
    rebuilt.load_state_dict(net.state_dict())
    assert torch.equal(rebuilt(ram), net(ram)) and net(ram).shape == (4, 6)


@pytest.mark.parametrize(
    ("obs", "shown"),
    [
        (torch.full((1, 4), 0.5), r"\[0.5, 0.5\]"),  # rescaled already
        (torch.full((1, 4), 256.0), r"\[256, 256\]"),
        (torch.full((1, 4), -1.0), r"\[-1, -1\]"),
        (torch.full((1, 4), 300, dtype=torch.int64), r"\[300, 300\]"),
    ],
)
def test_bits_q_network_refuses_what_is_not_a_byte(obs, shown):
    net = BitsQNetwork(4, 2, hidden=(8,))
    with pytest.raises(
        ValueError,
        match=rf"whole numbers in \[0, 255\].*{shown}|"
        rf"lie in \[0, 255\], got values in {shown}",
    ):
        net(obs)


def test_quantile_q_network_shapes_and_its_q_values_are_the_mean_quantile():
    net = QuantileQNetwork(2, 3, hidden=(16,), n_quantiles=5)
    obs = torch.randn(7, 2)
    quantiles = net.quantiles(obs)
    assert quantiles.shape == (7, 3, 5) and net(obs).shape == (7, 3)
    torch.testing.assert_close(net(obs), quantiles.mean(dim=-1), rtol=0, atol=0)
    assert net.body[-1].out_features == 3 * 5
    assert QuantileQNetwork(2, 3).n_quantiles == 51  # the documented default
    assert net.spec["kwargs"]["n_quantiles"] == 5


def test_quantile_q_network_takes_stacked_uint8_ram_and_rebuilds():
    net = QuantileQNetwork(
        256, 6, hidden=(8,), obs_low=[0] * 256, obs_high=[255] * 256, obs_shape=(2, 128)
    )
    ram = torch.randint(0, 256, (4, 2, 128), dtype=torch.uint8)
    assert net.quantiles(ram).shape == (4, 6, 51) and net(ram).shape == (4, 6)
    rebuilt = build_network(json.loads(json.dumps(net.spec)))
    rebuilt.load_state_dict(net.state_dict())
    assert torch.equal(rebuilt.quantiles(ram), net.quantiles(ram))


@pytest.mark.parametrize("n_quantiles", [0, -1, 2.5, "51", True, None], ids=repr)
def test_n_quantiles_must_be_a_whole_number(n_quantiles):
    with pytest.raises(ValueError, match="n_quantiles must be a whole number >= 1"):
        QuantileQNetwork(2, 3, n_quantiles=n_quantiles)
