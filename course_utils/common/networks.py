"""Small PyTorch networks used across the course, rebuildable from a JSON-able spec."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.common.validate import whole_number, whole_numbers

_OBS_DIM_HINT = "numbers in one observation: env.observation_space.shape[0]"
_WIDTHS = "layer widths such as (2, 256, 256, 3)"
_WIDTHS_FIX = "write the widths as whole numbers in a tuple."
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(
            f"Unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}."
        )
    return ACTIVATIONS[name]()


def mlp(
    sizes: Sequence[int],
    activation: str | Sequence[str] = "relu",
    output_activation: str | None = None,
) -> nn.Sequential:
    """A multilayer perceptron: Linear layers with an activation between them.

    Args:
        sizes: layer widths from input to output, e.g. ``(2, 256, 256, 3)``.
        activation: one name for every hidden layer, or one name per hidden layer.
        output_activation: e.g. ``"tanh"`` to squash continuous actions, else None.

    Taught in: 01_mlp_basics.ipynb
    """
    sizes = whole_numbers("sizes", sizes, why=_WIDTHS, fix=_WIDTHS_FIX)
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output width, got {sizes}.")
    n_hidden = len(sizes) - 2
    acts = [activation] * n_hidden if isinstance(activation, str) else list(activation)
    if len(acts) != n_hidden:
        raise ValueError(f"Got {len(acts)} activations for {n_hidden} hidden layers.")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < n_hidden:
            layers.append(_activation(acts[i]))
    if output_activation is not None:
        layers.append(_activation(output_activation))
    return nn.Sequential(*layers)


class Normalize(nn.Module):
    """Map observations from ``[low, high]`` to ``[-1, 1]`` (any dtype in, float32 out).

    Living inside the network, it makes a saved policy accept raw observations
    exactly as Gymnasium returns them (e.g. RAM bytes as ``uint8``).
    """

    def __init__(self, low: Sequence[float], high: Sequence[float]) -> None:
        super().__init__()
        low_t = torch.as_tensor(np.asarray(low, dtype=np.float64), dtype=torch.float32)
        high_t = torch.as_tensor(
            np.asarray(high, dtype=np.float64), dtype=torch.float32
        )
        if not (torch.isfinite(low_t).all() and torch.isfinite(high_t).all()):
            raise ValueError(
                f"Normalize needs finite bounds, got low={low!r}, high={high!r}. A Box "
                "with infinite or NaN bounds (CartPole's velocities) cannot be "
                "rescaled to [-1, 1]. Fix: pass obs_low=None, obs_high=None to the "
                "network (no rescaling), or give finite bounds you chose yourself."
            )
        if low_t.shape != high_t.shape or bool((high_t <= low_t).any()):
            raise ValueError(
                "Normalize needs low < high elementwise, with equal shapes."
            )
        self.register_buffer("low", low_t)
        self.register_buffer("scale", 2.0 / (high_t - low_t))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs.float() - self.low) * self.scale - 1.0


class _SpecModule(nn.Module):
    """A module that remembers its constructor arguments for checkpoints."""

    def _remember(self, **kwargs: Any) -> None:
        self.spec = {"class": type(self).__name__, "kwargs": kwargs}

    obs_shape: tuple[int, ...] | None = None  # a grid observation, flattened first

    def _pre(self, obs: torch.Tensor) -> torch.Tensor:
        shape = self.obs_shape
        if shape is not None and tuple(obs.shape[obs.dim() - len(shape) :]) == shape:
            obs = obs.reshape(*obs.shape[: obs.dim() - len(shape)], self.obs_dim)
        if obs.shape[-1] != self.obs_dim:
            wanted = shape if shape is not None else (self.obs_dim,)
            raise ValueError(
                f"{type(self).__name__} expects observations of shape {wanted} "
                f"(with a batch dimension in front), got shape {tuple(obs.shape)}."
            )
        return self.normalize(obs) if self.normalize is not None else obs.float()


class QNetwork(_SpecModule):
    """Q-values of every discrete action: ``obs (batch, obs_dim) -> (batch, n_actions)``

    Args:
        obs_dim: numbers in one observation.
        n_actions: size of the discrete action space.
        hidden: hidden layer widths.
        obs_low, obs_high: if given, observations are rescaled to [-1, 1] first.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        hidden: tuple[int, ...] = (256, 256),
        obs_low: Sequence[float] | None = None,
        obs_high: Sequence[float] | None = None,
        obs_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim = whole_number("obs_dim", obs_dim, why=_OBS_DIM_HINT)
        if obs_shape is not None:
            self.obs_shape = whole_numbers("obs_shape", obs_shape, why="a grid's shape")
            if math.prod(self.obs_shape) != self.obs_dim:
                raise ValueError(
                    f"obs_shape {self.obs_shape} holds {math.prod(self.obs_shape)} "
                    f"numbers, but obs_dim is {self.obs_dim}. Fix: obs_dim = "
                    "prod(env.observation_space.shape)."
                )
        self.n_actions = whole_number(
            "n_actions", n_actions, why="e.g. env.action_space.n for a Discrete space"
        )
        hidden = whole_numbers("hidden", hidden, why=_WIDTHS, fix=_WIDTHS_FIX)
        if (obs_low is None) != (obs_high is None):
            raise ValueError(
                "Give both obs_low and obs_high (e.g. env.observation_space.low and "
                ".high), or neither (no rescaling)."
            )
        self.normalize = None
        if obs_low is not None:
            self.normalize = Normalize(obs_low, obs_high)
            if tuple(self.normalize.low.shape) != (self.obs_dim,):
                raise ValueError(
                    f"obs_low and obs_high must hold obs_dim = {self.obs_dim} numbers "
                    f"each, got shape {tuple(self.normalize.low.shape)}."
                )
        self._remember(
            obs_dim=self.obs_dim,
            n_actions=self.n_actions,
            hidden=list(hidden),
            obs_low=None if obs_low is None else [float(x) for x in obs_low],
            obs_high=None if obs_high is None else [float(x) for x in obs_high],
            **({} if obs_shape is None else {"obs_shape": list(self.obs_shape)}),
        )
        self._build(hidden)

    def _build(self, hidden: tuple[int, ...]) -> None:
        """Make the layers (the only place that draws initial weights)."""
        self.body = mlp((self.obs_dim, *hidden, self.n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(self._pre(obs))


class DuelingQNetwork(QNetwork):
    """Dueling head: ``Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)``.

    Same inputs and outputs as :class:`QNetwork`; the last hidden layer feeds two
    heads, one value and one advantage per action.

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def _build(self, hidden: tuple[int, ...]) -> None:
        if not hidden:
            raise ValueError(
                "DuelingQNetwork needs at least one hidden layer (the heads share "
                "it), got hidden=(). Fix: e.g. hidden=(256, 256)."
            )
        trunk = mlp((self.obs_dim, *hidden))  # ends with a Linear; add the activation
        self.body = nn.Sequential(*trunk, nn.ReLU())
        self.value = nn.Linear(hidden[-1], 1)
        self.advantage = nn.Linear(hidden[-1], self.n_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.body(self._pre(obs))
        adv = self.advantage(h)
        return self.value(h) + adv - adv.mean(dim=-1, keepdim=True)


class LayerNormQNetwork(QNetwork):
    """:class:`QNetwork` with a ``LayerNorm`` after every hidden ``Linear``:
    ``Linear -> LayerNorm -> ReLU`` per hidden layer, then a ``Linear`` to the
    Q-values. Same arguments, inputs and outputs as :class:`QNetwork`.

    Layer normalisation rescales each hidden vector to mean 0 and variance 1 (with a
    learned gain and bias), which keeps the activations' scale steady while the
    TD targets move (a habit of recent value-based agents, e.g. PQN and BRO).
    """

    def _build(self, hidden: tuple[int, ...]) -> None:
        layers: list[nn.Module] = []
        sizes = (self.obs_dim, *hidden)
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.LayerNorm(n_out), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], self.n_actions))
        self.body = nn.Sequential(*layers)


class BitsQNetwork(QNetwork):
    """:class:`QNetwork` for byte observations (Atari RAM) that also sees every
    byte's eight bits: the input layer gets ``obs_dim`` rescaled bytes (as
    :class:`QNetwork`) and ``8 * obs_dim`` bits (0 or 1), ``9 * obs_dim`` numbers.

    Why: a byte is not always a number. Space Invaders keeps its 36 invaders as six
    bit masks (bytes 18-23, one row of six per byte): rescaled to [-1, 1], masks
    ``0b111110`` and ``0b111101`` differ by 0.016, yet they are different invaders.
    Observations must be whole numbers in [0, 255] (the raw RAM), else a
    ``ValueError``.
    """

    def _build(self, hidden: tuple[int, ...]) -> None:
        self.register_buffer("shifts", torch.arange(8), persistent=False)
        self.body = mlp((9 * self.obs_dim, *hidden, self.n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        scaled = self._pre(obs)
        raw = obs.reshape(scaled.shape)
        if raw.is_floating_point() and bool(
            ((raw < 0) | (raw > 255) | (raw != raw.round())).any()
        ):
            raise ValueError(
                "BitsQNetwork reads bytes: observations must be whole numbers in "
                "[0, 255] (the raw RAM as the environment returns it), got values "
                f"in [{float(raw.min()):g}, {float(raw.max()):g}]. Fix: pass the raw "
                "observation; the network rescales it itself."
            )
        if not raw.is_floating_point() and bool(((raw < 0) | (raw > 255)).any()):
            raise ValueError(
                "BitsQNetwork reads bytes: observations must lie in [0, 255], got "
                f"values in [{int(raw.min())}, {int(raw.max())}]."
            )
        bits = (raw.to(torch.int64).unsqueeze(-1) >> self.shifts) & 1
        return self.body(torch.cat([scaled, bits.flatten(-2).float()], dim=-1))


class QuantileQNetwork(QNetwork):
    """Quantile regression DQN's network (Dabney et al., 2018): ``n_quantiles``
    values per action, the return distribution's quantiles at the fractions
    ``tau_i = (2i + 1) / (2 n_quantiles)``; its Q-value is their mean.

    ``quantiles(obs)``: ``(batch, obs_dim) -> (batch, n_actions, n_quantiles)``;
    ``forward(obs)``: ``(batch, obs_dim) -> (batch, n_actions)``, the mean over the
    quantiles, so acting, ``QPolicy``, evaluation and checkpoints use it as any
    Q-network. Same other arguments and input handling as :class:`QNetwork`; the
    output layer has ``n_actions * n_quantiles`` units. Trained by the pieces in
    ``course_utils.agents.dqn.qr``.

    Args:
        n_quantiles: quantiles per action; the other arguments are
            :class:`QNetwork`'s, by keyword after ``obs_dim`` and ``n_actions``.
            51 by default, not the paper's 200: the loss compares every pair of
            quantiles, so its cost grows as ``n_quantiles ** 2`` (at Space
            Invaders' sizes an update with 200 costs about 6x one with 51,
            ``benchmarks/qr_dqn_speed.py``); 51 is C51's number of atoms, so the
            two distributional agents compare at one size; and an odd number puts
            one fraction at the median (tau = 0.5).
    """

    def __init__(
        self, obs_dim: int, n_actions: int, *, n_quantiles: int = 51, **kwargs: Any
    ) -> None:
        # set before QNetwork.__init__ (which receives the other arguments), whose
        # _build reads it
        self.n_quantiles = whole_number(
            "n_quantiles", n_quantiles, why="quantiles per action, e.g. 51"
        )
        super().__init__(obs_dim, n_actions, **kwargs)
        self.spec["kwargs"]["n_quantiles"] = self.n_quantiles

    def _build(self, hidden: tuple[int, ...]) -> None:
        self.body = mlp((self.obs_dim, *hidden, self.n_actions * self.n_quantiles))

    def quantiles(self, obs: torch.Tensor) -> torch.Tensor:
        """``(batch, n_actions, n_quantiles)``: each action's return quantiles."""
        out = self.body(self._pre(obs))
        return out.unflatten(-1, (self.n_actions, self.n_quantiles))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.quantiles(obs).mean(dim=-1)


class MLPActor(_SpecModule):
    """Deterministic continuous policy ``obs (batch, obs_dim) -> (batch, act_dim)``
    with a tanh output, so actions lie in [-1, 1].

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        *,
        hidden: tuple[int, ...] = (1024, 512),
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.obs_dim = whole_number("obs_dim", obs_dim, why=_OBS_DIM_HINT)
        self.act_dim = whole_number(
            "act_dim", act_dim, why="e.g. env.action_space.shape[0] for a Box space"
        )
        hidden = whole_numbers("hidden", hidden, why=_WIDTHS, fix=_WIDTHS_FIX)
        self._remember(
            obs_dim=self.obs_dim,
            act_dim=self.act_dim,
            hidden=list(hidden),
            activation=activation,
        )
        self.normalize = None
        self.body = mlp((self.obs_dim, *hidden, self.act_dim), activation, "tanh")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(self._pre(obs))


NETWORK_CLASSES: dict[str, type[nn.Module]] = {
    "QNetwork": QNetwork,
    "DuelingQNetwork": DuelingQNetwork,
    "LayerNormQNetwork": LayerNormQNetwork,
    "BitsQNetwork": BitsQNetwork,
    "QuantileQNetwork": QuantileQNetwork,
    "MLPActor": MLPActor,
}


def build_network(spec: dict[str, Any]) -> nn.Module:
    """Rebuild a network from ``net.spec`` (``{"class": ..., "kwargs": {...}}``)."""
    if not isinstance(spec, dict) or "class" not in spec or "kwargs" not in spec:
        raise ValueError(
            f"A network spec needs 'class' and 'kwargs' keys, got {spec!r}."
        )
    cls = NETWORK_CLASSES.get(spec["class"])
    if cls is None:
        raise ValueError(
            f"Unknown network class {spec['class']!r}; the course knows "
            f"{sorted(NETWORK_CLASSES)}."
        )
    try:
        kwargs = dict(spec["kwargs"])
        if "hidden" in kwargs:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)
    except TypeError as error:  # missing or unknown arguments: a spec for another class
        raise ValueError(
            f"The spec's kwargs do not fit {spec['class']}: {error}."
        ) from None
