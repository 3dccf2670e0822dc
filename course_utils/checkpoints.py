"""Save and load trained agents: a network's weights plus the metadata that says how
it was made, how well it plays, and how to rebuild its environment."""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.networks import build_network
from course_utils.policies import ActorPolicy, QPolicy

FORMAT = "course-checkpoint-v1"
REQUIRED_METADATA = (
    "env_id",  # e.g. "MountainCar-v0"
    "env_kwargs",  # extra gym.make arguments, e.g. {"obs_type": "ram"}
    "network",  # net.spec: {"class": ..., "kwargs": {...}}
    "policy",  # {"kind": "q" | "actor", "eval_epsilon": float}
    "train_command",  # the command line that made the file
    "seed",  # training seed
    "train_steps",  # environment steps of training
    "wall_time_s",  # training wall time in seconds
    "evaluation",  # {"mean", "std", "episodes", "seeds"}
    "versions",  # package_versions()
)
_VERSIONED = ("course-utils", "torch", "gymnasium", "ale-py", "box2d", "numpy")


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape a trained agent."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def data_dir() -> Path:
    """The course's ``data/`` folder (``COURSE_DATA`` overrides it)."""
    override = os.environ.get("COURSE_DATA")
    path = (
        Path(override) if override else Path(__file__).resolve().parent.parent / "data"
    )
    if not path.is_dir():
        raise FileNotFoundError(
            f"The course data folder {path} does not exist. Fix: install the course "
            "from its repository with `make install` (an editable install keeps data/ "
            "beside course_utils/), or set COURSE_DATA to the folder."
        )
    return path


def shipped_checkpoint(name: str) -> Path:
    """Path of a pretrained checkpoint shipped in ``data/checkpoints/``."""
    path = data_dir() / "checkpoints" / name
    if not path.is_file():
        raise FileNotFoundError(
            f"No shipped checkpoint {path}. Fix: regenerate it with `make checkpoints`."
        )
    return path


def _check_metadata(metadata: Any, source: str) -> None:
    if not isinstance(metadata, dict):
        raise ValueError(
            f"{source}: metadata must be a dict, got {type(metadata).__name__}."
        )
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(
            f"{source}: metadata is missing {missing}. Every course checkpoint records "
            f"{list(REQUIRED_METADATA)}."
        )
    if not isinstance(metadata["policy"], dict) or "kind" not in metadata["policy"]:
        raise ValueError(
            f"{source}: metadata['policy'] must be a dict with a 'kind' "
            "('q' or 'actor')."
        )
    for key in ("mean", "std", "episodes", "seeds"):
        if (
            not isinstance(metadata["evaluation"], dict)
            or key not in metadata["evaluation"]
        ):
            raise ValueError(f"{source}: metadata['evaluation'] needs a {key!r} entry.")


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    metadata: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``model``'s weights and ``metadata`` atomically, plus a readable
    ``<path>.json`` copy of the metadata beside it.

    The network spec is taken from ``model.spec``. Refuses to replace an existing
    file unless ``overwrite=True``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    path = Path(path)
    if not hasattr(model, "spec"):
        raise ValueError(
            "save_checkpoint needs a course network (QNetwork, DuelingQNetwork, "
            "MLPActor) "
            "that knows its spec, so the file can rebuild it."
        )
    metadata = {**metadata, "network": model.spec}
    _check_metadata(metadata, str(path))
    try:
        json.dumps(metadata)
    except TypeError as error:
        raise ValueError(
            f"metadata must be JSON-serialisable (plain numbers, strings, "
            f"lists, dicts): {error}"
        ) from None
    sidecar = path.with_suffix(path.suffix + ".json")
    for target in (path, sidecar):
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} already exists and was left untouched. Fix: choose another "
                "path, or pass overwrite=True (--overwrite on the command line)."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": FORMAT, "state_dict": state, "metadata": metadata}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    tmp = sidecar.with_name(f".{sidecar.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    os.replace(tmp, sidecar)
    return path


def load_network(
    path: str | Path, device: str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the saved network (in eval mode) and return it with its metadata.

    Raises:
        ValueError: for a file that is not a course checkpoint, is corrupt, lacks
            metadata, or holds weights for another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}.")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise ValueError(
            f"{path} is not a readable course checkpoint (corrupt or not made by "
            f"save_checkpoint): {type(error).__name__}: {str(error)[:200]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a course checkpoint (expected format {FORMAT!r})."
        )
    metadata = payload.get("metadata")
    _check_metadata(metadata, str(path))
    net = build_network(metadata["network"])
    try:
        net.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as error:
        raise ValueError(
            f"{path} holds weights for another architecture than its metadata "
            "describes "
            f"({metadata['network']}): {str(error).splitlines()[0]}"
        ) from None
    return net.to(device).eval(), metadata


def load_policy(
    path: str | Path,
    device: str = "cpu",
    *,
    epsilon: float | None = None,
    seed: int = 0,
) -> tuple[QPolicy | ActorPolicy, dict[str, Any]]:
    """Load a checkpoint as a policy that takes a raw Gymnasium observation.

    Args:
        path: the ``.pt`` file.
        device: where to run the network.
        epsilon: exploration during evaluation for Q-policies; defaults to the
            checkpoint's ``policy.eval_epsilon`` (0 for MountainCar, 0.05 for Atari).
        seed: seeds the policy's own random generator (used only when epsilon > 0).

    Returns:
        ``(policy, metadata)``; ``policy(obs)`` returns an action for the env.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    net, metadata = load_network(path, device)
    kind = metadata["policy"].get("kind")
    if kind == "q":
        eps = (
            metadata["policy"].get("eval_epsilon", 0.0) if epsilon is None else epsilon
        )
        rng = np.random.default_rng(seed)
        return QPolicy(net, epsilon=eps, rng=rng, device=device), metadata
    if kind == "actor":
        return ActorPolicy(net, device=device), metadata
    raise ValueError(f"{path}: unknown policy kind {kind!r} (expected 'q' or 'actor').")
