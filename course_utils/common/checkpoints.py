"""Save and load trained agents: a network's weights plus the metadata that says how
it was made, how well it plays, and how to rebuild its environment.

A checkpoint is a pair of files written by one save: ``agent.pt`` (weights and
metadata, read with ``weights_only=True`` so a file can never run code) and
``agent.pt.json``, a readable copy of the metadata that also records the SHA-256 of the
``.pt``'s bytes. Loading checks the pair. A missing sidecar is only a warning (the
``.pt`` alone is complete); a sidecar that disagrees with its ``.pt`` (corrupt, left one
save behind, or edited) is an error, so an edited score never passes silently.
``repair_sidecar`` rebuilds a sidecar from its ``.pt``.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import io
import json
import os
import platform
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.common.checkpoint_checks import (
    FORMAT,
    HASH_KEY,
    REQUIRED_METADATA,
    CheckpointPermissionError,
    CheckpointWarning,
    _as_path,
    _check_device,
    _check_json,
    _check_metadata,
    _is_number,
)
from course_utils.common.checkpoint_files import (
    _clean_stale,
    _sidecar,
    _sidecar_text,
    _sync_folder,
    _tmp_for,
    _write_synced,
    check_save_path,
)
from course_utils.common.checkpoint_reading import _check_sidecar, _read_checkpoint
from course_utils.common.checkpoint_specs import _rebuild, check_network_spec
from course_utils.common.policies import ActorPolicy, QPolicy

__all__ = [
    "FORMAT",
    "HASH_KEY",
    "REQUIRED_METADATA",
    "CheckpointPermissionError",
    "CheckpointWarning",
    "check_network_spec",
    "check_save_path",
    "data_dir",
    "load_network",
    "load_policy",
    "package_versions",
    "repair_sidecar",
    "save_checkpoint",
    "shipped_checkpoint",
]

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
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "data"
    if not path.is_dir():
        raise FileNotFoundError(
            f"The course data folder {path} does not exist. Fix: install the course "
            "from its repository with `make install` (an editable install keeps data/ "
            "beside course_utils/), or set COURSE_DATA to the folder."
        )
    return path


def shipped_checkpoint(name: str) -> Path:
    """Path of a pretrained checkpoint shipped in ``data/checkpoints/``."""
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(
            f"name must be the file name of a shipped checkpoint, such as "
            f"'mountaincar_dqn.pt', got {name!r}."
        )
    path = data_dir() / "checkpoints" / name
    if not path.is_file():
        known = sorted(p.name for p in path.parent.glob("*.pt"))
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise FileNotFoundError(
            f"No shipped checkpoint {path}.{hint} The course ships {known}. Fix: use "
            "one of those names, or regenerate them with `make checkpoints`."
        )
    return path


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    metadata: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write ``model``'s weights and ``metadata`` to ``path``, plus a readable
    ``<path>.json`` copy of the metadata that records the SHA-256 of ``path``.

    The network spec is taken from ``model.spec``. Everything ``load_network`` would
    refuse (non-JSON or NaN metadata, oversized or non-finite networks) is refused
    first, with nothing written. Refuses to replace an existing file unless
    ``overwrite=True``. A failed or killed save leaves the previous pair.
    """
    path = _as_path(path)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r:.40}.")
    if not isinstance(model, nn.Module) or not hasattr(model, "spec"):
        raise ValueError(
            "save_checkpoint needs a course network (QNetwork, DuelingQNetwork, "
            "MLPActor) that knows its spec, so the file can rebuild it."
        )
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}.")
    if HASH_KEY in metadata:
        raise ValueError(
            f"metadata may not hold the key {HASH_KEY!r}: it is reserved for the "
            "sidecar's hash of the .pt. Fix: rename that entry."
        )
    metadata = {**metadata, "network": model.spec}
    try:
        _check_json(metadata, "metadata")
    except RecursionError:
        raise ValueError(
            "metadata is nested too deeply (or contains itself) to be JSON."
        ) from None
    metadata = json.loads(json.dumps(metadata))  # exactly what the sidecar says
    _check_metadata(metadata, str(path))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _rebuild(metadata["network"], state, metadata["policy"]["kind"], str(path))
    check_save_path(path, overwrite=overwrite)
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "state_dict": state, "metadata": metadata}, buffer)
    data = buffer.getvalue()
    sidecar_text = _sidecar_text(hashlib.sha256(data).hexdigest(), metadata)
    sidecar = _sidecar(path)
    tmp_pt, tmp_json = _tmp_for(path), _tmp_for(sidecar)
    try:
        _write_synced(tmp_pt, data)
        _write_synced(tmp_json, sidecar_text.encode())
        os.replace(tmp_pt, path)  # killed between these two renames, the waiting
        os.replace(tmp_json, sidecar)  # tmp_json completes the save at the next load
        _sync_folder(path.parent)
    finally:
        for tmp in (tmp_pt, tmp_json):
            with contextlib.suppress(OSError):
                tmp.unlink()
    return path


def repair_sidecar(path: str | Path) -> Path:
    """Rewrite ``<path>.json`` from the metadata saved inside ``path`` (with its
    hash). Use it when loading says the sidecar is missing, old or disagrees and the
    ``.pt`` is the agent you want. Returns the sidecar's path."""
    path = _as_path(path)
    digest, payload = _read_checkpoint(path)
    metadata = payload["metadata"]
    _rebuild(
        metadata["network"],
        payload["state_dict"],
        metadata["policy"]["kind"],
        str(path),
    )
    _check_json(metadata, f"{path}: metadata")
    sidecar = _sidecar(path)
    if sidecar.is_dir():
        raise ValueError(f"{sidecar} is a folder; move it, then repair again.")
    tmp = _tmp_for(sidecar)
    try:
        _write_synced(tmp, _sidecar_text(digest, metadata).encode())
        os.replace(tmp, sidecar)
    except PermissionError:
        raise CheckpointPermissionError(
            errno.EACCES,
            f"cannot write {sidecar}: permission denied. Fix: copy {path.name} into a "
            "folder of yours and repair the copy.",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return sidecar


def load_network(
    path: str | Path, device: str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the saved network (in eval mode) and return it with its metadata.

    The sidecar ``<path>.json`` is checked against the file: missing or without a
    hash gives a ``CheckpointWarning``; corrupt, of another save, or edited is an error.

    Raises:
        ValueError: for a file that is not a course checkpoint, is corrupt, lacks
            metadata, holds weights for another architecture or out-of-bounds sizes,
            has a sidecar that disagrees, or for an unavailable ``device``.
        FileNotFoundError: no file at ``path``.
    """
    path = _as_path(path)
    dev = _check_device(device)
    digest, payload = _read_checkpoint(path)
    metadata = payload["metadata"]
    _clean_stale(path, digest)
    net = _rebuild(
        metadata["network"],
        payload["state_dict"],
        metadata["policy"]["kind"],
        str(path),
    )
    _check_sidecar(
        path, digest, metadata
    )  # after the .pt's own checks: those come first
    return net.to(dev).eval(), metadata


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
    if epsilon is not None and (not _is_number(epsilon) or not 0 <= epsilon <= 1):
        raise ValueError(
            f"epsilon must be None (the checkpoint's own eval_epsilon) or a number in "
            f"[0, 1], got {epsilon!r:.40}. Fix: e.g. epsilon=0.0 for a greedy policy."
        )
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r:.40}.")
    dev = _check_device(device)
    net, metadata = load_network(path, dev)
    if metadata["policy"]["kind"] == "q":
        eps = (
            metadata["policy"].get("eval_epsilon", 0.0) if epsilon is None else epsilon
        )
        rng = np.random.default_rng(seed)
        return QPolicy(net, epsilon=float(eps), rng=rng, device=dev), metadata
    if epsilon is not None:
        raise ValueError(
            f"epsilon={epsilon} was given, but {path} holds an actor (continuous "
            "actions), which never explores at evaluation. Fix: leave epsilon out."
        )
    return ActorPolicy(net, device=dev), metadata
