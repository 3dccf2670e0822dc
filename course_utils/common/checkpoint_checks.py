"""Checks a checkpoint must pass, shared by saving and loading: the file format and
its constants, the metadata every course checkpoint records (strict JSON), the path
and the device. Everything here only checks; nothing reads or writes a file.

The internals of ``course_utils.common.checkpoints``, which re-exports the public names.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
HASH_KEY = "checkpoint_sha256"  # in the sidecar only: SHA-256 of the .pt's bytes
POLICY_KINDS = ("q", "actor")
MAX_WIDTH = 4096  # largest obs_dim, n_actions, act_dim, n_quantiles, hidden width
MAX_LAYERS = 8  # most hidden layers
MAX_PARAMS = 20_000_000  # 80 MB of float32; the course's largest agent has 0.55 M
MAX_FILE_BYTES = 256 * 2**20


class CheckpointWarning(UserWarning):
    """The checkpoint loaded, but its sidecar needs attention (missing, old, redone)."""


class CheckpointPermissionError(PermissionError, ValueError):
    """A checkpoint cannot be read or written for lack of permission. Also a
    ``ValueError``, so callers that report bad checkpoints report this one too."""


def _as_path(path: Any) -> Path:
    if isinstance(path, str) and not path:
        raise ValueError(
            "The checkpoint path is empty. Fix: give a file path such as "
            "'runs/agent.pt'."
        )
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"A checkpoint path must be a str or pathlib.Path, got "
            f"{type(path).__name__} {path!r:.60}. Fix: e.g. 'runs/agent.pt'."
        )
    if isinstance(path, str) and path.endswith(("/", os.sep)):
        raise ValueError(
            f"The checkpoint path {path!r} ends in '/', so it names a folder. Fix: add "
            f"the file name, e.g. {path + 'agent.pt'!r}."
        )
    return Path(path).expanduser()  # "~/runs/agent.pt" means the home folder


def _check_json(value: Any, where: str) -> None:
    """Refuse anything that would not come back unchanged from strict JSON."""
    if value is None or isinstance(value, (str, int)):  # int includes bool
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"{where} is {value}: metadata must be valid JSON, which has no NaN "
                "or infinity. Fix: store None (or a finite number) there."
            )
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} has the key {key!r} ({type(key).__name__}): JSON keys "
                    "must be strings. Fix: use str(key)."
                )
            _check_json(item, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} is a {type(value).__name__} ({value!r:.60}): metadata must be "
        "JSON-serialisable (plain numbers, strings, lists, dicts, None). Fix: convert "
        "it, e.g. float(x) or int(x) for a NumPy number, list(x) for a set."
    )


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
    if not isinstance(metadata["env_id"], str) or not metadata["env_id"]:
        raise ValueError(
            f"{source}: metadata['env_id'] must be a non-empty string such as "
            f"'MountainCar-v0', got {metadata['env_id']!r:.60}."
        )
    if not isinstance(metadata["env_kwargs"], dict):
        raise ValueError(
            f"{source}: metadata['env_kwargs'] must be a dict of gym.make arguments "
            f"(often {{}}), got {type(metadata['env_kwargs']).__name__}."
        )
    policy = metadata["policy"]
    if not isinstance(policy, dict) or "kind" not in policy:
        raise ValueError(
            f"{source}: metadata['policy'] must be a dict with a 'kind' "
            "('q' or 'actor')."
        )
    if policy["kind"] not in POLICY_KINDS:
        raise ValueError(
            f"{source}: unknown policy kind {policy['kind']!r:.40} (expected 'q' or "
            "'actor')."
        )
    eps = policy.get("eval_epsilon", 0.0)
    if not _is_number(eps) or not 0.0 <= eps <= 1.0:
        raise ValueError(
            f"{source}: metadata['policy']['eval_epsilon'] must be a number in [0, 1], "
            f"got {eps!r:.40}."
        )
    for key in ("mean", "std", "episodes", "seeds"):
        if (
            not isinstance(metadata["evaluation"], dict)
            or key not in metadata["evaluation"]
        ):
            raise ValueError(f"{source}: metadata['evaluation'] needs a {key!r} entry.")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.floating)) and not isinstance(x, bool)


def _is_whole(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_device(device: Any) -> torch.device:
    fix = "Fix: use device='cpu' (the course's agents are small and fast on a CPU)."
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str) and device:
        try:
            dev = torch.device(device)
        except RuntimeError:
            raise ValueError(
                f"device={device!r} is not a device PyTorch knows; expected 'cpu', "
                f"'cuda', 'cuda:N' or 'mps'. {fix}"
            ) from None
    else:
        raise ValueError(
            f"device must be a string such as 'cpu' or 'cuda', got {device!r}. {fix}"
        )
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this PyTorch build has no CUDA support"
                if torch.version.cuda is None
                else "no NVIDIA GPU is visible"
            )
            raise ValueError(
                f"device={str(dev)!r} was asked for, but CUDA is not available on this "
                f"machine ({why}; torch {torch.__version__}). {fix}"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(dev)!r}: this machine has {torch.cuda.device_count()} "
                "GPU(s), numbered from 0. Fix: use device='cuda' or device='cpu'."
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                f"device='mps' was asked for, but Apple's MPS is not available on this "
                f"machine. {fix}"
            )
    elif dev.type != "cpu":
        raise ValueError(
            f"device={str(dev)!r}: the course runs agents on 'cpu', 'cuda' or 'mps', "
            f"not {dev.type!r}. {fix}"
        )
    return dev
