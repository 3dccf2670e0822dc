"""The network a checkpoint describes: its spec's sizes bounded, and its shapes
compared with the saved tensors on PyTorch's meta device, before anything large is
allocated; then the network rebuilt with its weights.

The internals of ``course_utils.common.checkpoints``, which re-exports
``check_network_spec``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from course_utils.common.checkpoint_checks import (
    MAX_LAYERS,
    MAX_PARAMS,
    MAX_WIDTH,
    _is_number,
    _is_whole,
)
from course_utils.common.networks import NETWORK_CLASSES, build_network


def _check_spec(spec: Any, source: str) -> None:
    """Bound the sizes a network spec asks for, before anything is built."""
    if not isinstance(spec, dict) or "class" not in spec or "kwargs" not in spec:
        raise ValueError(
            f"{source}: a network spec needs 'class' and 'kwargs' keys, got "
            f"{spec!r:.120}."
        )
    if not isinstance(spec["class"], str) or spec["class"] not in NETWORK_CLASSES:
        raise ValueError(
            f"{source}: Unknown network class {spec['class']!r:.60}; the course knows "
            f"{sorted(NETWORK_CLASSES)}."
        )
    kwargs = spec["kwargs"]
    if not isinstance(kwargs, dict):
        raise ValueError(
            f"{source}: the network spec's 'kwargs' must be a dict of constructor "
            f"arguments, got {type(kwargs).__name__}."
        )
    for key in ("obs_dim", "n_actions", "act_dim", "n_quantiles"):
        value = kwargs.get(key, 1)
        if not _is_whole(value) or not 1 <= value <= MAX_WIDTH:
            raise ValueError(
                f"{source}: the network's {key} must be a whole number between 1 and "
                f"{MAX_WIDTH}, got {value!r:.40}."
            )
    hidden = kwargs.get("hidden", [])
    if not isinstance(hidden, (list, tuple)) or not all(map(_is_whole, hidden)):
        raise ValueError(
            f"{source}: the network's hidden must be a list of whole numbers (layer "
            f"widths) such as [256, 256], got {hidden!r:.60}."
        )
    if len(hidden) > MAX_LAYERS:
        raise ValueError(
            f"{source}: the network's hidden has {len(hidden)} layers; the course "
            f"builds at most {MAX_LAYERS} layers."
        )
    if not all(1 <= width <= MAX_WIDTH for width in hidden):
        raise ValueError(
            f"{source}: the network's hidden widths must lie between 1 and "
            f"{MAX_WIDTH}, got {list(hidden)}."
        )
    low, high = kwargs.get("obs_low"), kwargs.get("obs_high")
    if low is None and high is None:
        return
    n = kwargs.get("obs_dim")
    for name, bound in (("obs_low", low), ("obs_high", high)):
        if not isinstance(bound, (list, tuple)) or len(bound) != n:
            raise ValueError(
                f"{source}: the network's {name} must be a list of {n} finite numbers "
                f"(one per observation entry), got {bound!r:.60}."
            )
        bad = [x for x in bound if not _is_number(x) or not math.isfinite(x)]
        if bad:
            raise ValueError(
                f"{source}: the network's {name} must hold finite numbers, got "
                f"{bad[:3]!r:.60} among them."
            )
    if any(h <= lo for lo, h in zip(low, high, strict=True)):
        raise ValueError(
            f"{source}: the network needs obs_low < obs_high in every entry, got "
            f"obs_low={list(low)[:4]}..., obs_high={list(high)[:4]}...."
        )


def check_network_spec(spec: dict[str, Any]) -> None:
    """Raise a ``ValueError`` if ``load_network`` would refuse to build ``spec``
    (``net.spec``): unknown class, sizes out of bounds, too many parameters. Nothing
    is allocated; call it before a long training run.
    """
    _probe(spec, "network spec")


def _probe(spec: Any, source: str) -> nn.Module:
    """``spec``'s network on the meta device: its shapes without memory."""
    _check_spec(spec, source)
    # Shapes without memory: build on the meta device. Normalize needs real bounds,
    # and its two vectors are small (obs_dim <= MAX_WIDTH), so leave it out here.
    kwargs = {
        k: None if k in ("obs_low", "obs_high") else v
        for k, v in spec["kwargs"].items()
    }
    try:
        with torch.device("meta"):
            probe = build_network({"class": spec["class"], "kwargs": kwargs})
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    except Exception as error:  # e.g. an IndexError from an empty dueling hidden
        raise ValueError(
            f"{source}: the network spec {spec!r:.120} cannot be built: "
            f"{type(error).__name__}: {error}"
        ) from None
    n_params = sum(t.numel() for t in probe.state_dict().values())
    if n_params > MAX_PARAMS:
        raise ValueError(
            f"{source}: the network spec describes {n_params:,} parameters; the course "
            f"builds at most {MAX_PARAMS:,}. Fix: use smaller hidden widths."
        )
    return probe


def _rebuild(spec: Any, state: Any, kind: str, source: str) -> nn.Module:
    """The network ``spec`` describes, holding ``state``; refused before any large
    allocation if the sizes are out of bounds or do not match the tensors."""
    probe = _probe(spec, source)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{source}: the state_dict must map parameter names to tensors, got "
            f"{state!r:.80}."
        )
    for name, want in probe.state_dict().items():
        got = state.get(name)
        if got is None or got.shape != want.shape:
            held = "nothing" if got is None else f"shape {tuple(got.shape)}"
            raise ValueError(
                f"{source} holds weights for another architecture than its metadata "
                f"describes: the spec needs {name} of shape {tuple(want.shape)}, the "
                f"file holds {held}. Fix: the file was damaged or edited; use the "
                "checkpoint as save_checkpoint wrote it, or train again."
            )
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(
                f"{source}: the weights {name} contain NaN or inf: the training "
                "diverged and this network cannot play. Fix: train again (a smaller lr "
                "or max_grad_norm helps) or use an earlier checkpoint."
            )
    try:
        net = build_network(spec)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError) as error:
        raise ValueError(
            f"{source} holds weights for another architecture than its metadata "
            f"describes ({spec!r:.200}): {str(error).splitlines()[0]}. Fix: the file "
            "was damaged or edited; use the checkpoint as save_checkpoint wrote it."
        ) from None
    needs = "n_actions" if kind == "q" else "act_dim"
    if not hasattr(net, needs):
        wanted = (
            "a Q-network (QNetwork, DuelingQNetwork)"
            if kind == "q"
            else "an actor (MLPActor)"
        )
        raise ValueError(
            f"{source}: policy kind {kind!r} needs {wanted}, got {spec['class']}. "
            "Fix: set metadata['policy']['kind'] to 'q' for Q-networks, 'actor' for "
            "actors."
        )
    return net
