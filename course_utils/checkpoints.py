"""Save and load trained agents: a network's weights plus the metadata that says how
it was made, how well it plays, and how to rebuild its environment.

A checkpoint is a pair of files written by one save: ``agent.pt`` (weights and
metadata, read with ``weights_only=True`` so a file can never run code) and
``agent.pt.json``, a readable copy of the metadata that also records the SHA-256 of the
``.pt``'s bytes. Loading checks the pair. A missing sidecar is only a warning (the
``.pt`` alone is complete); a sidecar that disagrees with its ``.pt`` (corrupt, left one
save behind, or edited) is an error, so an edited score never passes silently.
``repair_sidecar`` rebuilds a sidecar from its ``.pt``.

Saves write temporary files named ``.<name>.tmp-<pid>-<random>`` and rename them into
place; a save killed part-way leaves the previous pair, and the next save or load of
that path removes the leftovers of processes that no longer run.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import hashlib
import io
import json
import math
import os
import platform
import re
import secrets
import time
import warnings
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.networks import NETWORK_CLASSES, build_network
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
HASH_KEY = "checkpoint_sha256"  # in the sidecar only: SHA-256 of the .pt's bytes
POLICY_KINDS = ("q", "actor")
MAX_WIDTH = 4096  # largest obs_dim, n_actions, act_dim or hidden width
MAX_LAYERS = 8  # most hidden layers
MAX_PARAMS = 20_000_000  # 80 MB of float32; the course's largest agent has 0.55 M
MAX_FILE_BYTES = 256 * 2**20
STALE_AFTER_S = 3600.0  # a temporary file this old is a leftover even if its pid runs
_TMP = re.compile(r"^\.(?P<target>.+)\.tmp-?(?P<pid>\d+)(?:-[0-9a-f]+)?$")
_VERSIONED = ("course-utils", "torch", "gymnasium", "ale-py", "box2d", "numpy")


class CheckpointWarning(UserWarning):
    """The checkpoint loaded, but its sidecar needs attention (missing, old, redone)."""


class CheckpointPermissionError(PermissionError, ValueError):
    """A checkpoint cannot be read or written for lack of permission. Also a
    ``ValueError``, so callers that report bad checkpoints report this one too."""


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


# --- Checks shared by saving and loading -------------------------------------------


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


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


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
    for key in ("obs_dim", "n_actions", "act_dim"):
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


# --- Temporary files ----------------------------------------------------------------


def _tmp_for(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _is_stale(tmp: Path, pid: int) -> bool:
    """True for a temporary file whose process no longer runs, or a very old one."""
    try:
        if time.time() - tmp.stat().st_mtime > STALE_AFTER_S:
            return True
    except OSError:
        return False
    if os.name != "posix" or pid == os.getpid():  # on Windows os.kill(pid, 0) kills
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OverflowError, ValueError):  # not even a possible pid
        return True
    except OSError:  # alive, another user's
        return False
    return False


def _recorded_hash(sidecar: Path) -> Any:
    try:
        written = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return written.get(HASH_KEY) if isinstance(written, dict) else None


def _clean_stale(path: Path, digest: str | None = None) -> None:
    """Remove the temporary files that killed saves of ``path`` left behind. Given the
    ``.pt``'s ``digest``, a waiting sidecar that matches it completes its save."""
    sidecar = _sidecar(path)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for tmp in entries:
        match = _TMP.match(tmp.name)
        if not match or match["target"] not in (path.name, sidecar.name):
            continue
        if not _is_stale(tmp, int(match["pid"])):
            continue
        with contextlib.suppress(OSError):  # a read-only folder keeps its leftovers
            if (
                digest is not None
                and match["target"] == sidecar.name
                and _recorded_hash(tmp) == digest
                and _recorded_hash(sidecar) != digest
            ):
                os.replace(tmp, sidecar)
                warnings.warn(
                    f"{path}: completed an interrupted save (killed between writing "
                    f"the .pt and its sidecar; the new sidecar was waiting in "
                    f"{tmp.name}).",
                    CheckpointWarning,
                    stacklevel=4,
                )
            else:
                tmp.unlink()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _sync_folder(folder: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- Saving -------------------------------------------------------------------------


def check_save_path(path: str | Path, *, overwrite: bool = False) -> Path:
    """Check that ``save_checkpoint(path, ...)`` can write, before a long training run.

    Creates missing folders and proves the folder writable with a temporary file
    (removed again); refuses a folder, a ``.json`` name, and an existing checkpoint
    or sidecar unless ``overwrite``. Removes leftovers of killed saves of ``path``.

    Raises:
        ValueError: a folder or a non-file is in the way, or a ``.json`` name.
        FileExistsError: the checkpoint or its sidecar exists and not ``overwrite``.
        CheckpointPermissionError: the folder cannot be written.
    """
    path = _as_path(path)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r:.40}.")
    sidecar = _sidecar(path)
    if path.suffix == ".json":
        raise ValueError(
            f"{path} ends in .json, the name of a checkpoint's readable sidecar. Fix: "
            f"save the checkpoint as a .pt file, e.g. {path.with_suffix('.pt')}."
        )
    for target in (path, sidecar):
        what = "the checkpoint" if target == path else "its sidecar"
        if target.is_dir():
            raise ValueError(
                f"Cannot save {path.name}: a folder is in the way at {target}, where "
                f"{what} goes; nothing was changed. Fix: give a file path, e.g. "
                f"{target.parent / 'agent.pt'} or {target / 'agent.pt'}."
            )
        if target.exists() and not target.is_file():
            raise ValueError(
                f"Cannot save {path.name}: {target} exists and is not a regular file "
                f"(a device, pipe or socket); nothing was changed. Fix: choose another "
                "path."
            )
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} already exists and was left untouched. Fix: choose another "
                "path, or pass overwrite=True (--overwrite on the command line)."
            )
    blocker = next((p for p in path.parents if p.exists() or p.is_symlink()), Path("."))
    if not blocker.is_dir():
        raise ValueError(
            f"Cannot save {path}: {blocker} is a file, not a folder. Fix: choose a "
            "path inside a folder."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = _tmp_for(path)
        try:
            _write_synced(probe, b"")
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()
    except OSError as error:
        message = (
            f"cannot write {path}: {error.strerror or error} (in {path.parent}). "
            "Fix: choose a folder you can write to (e.g. one in your home folder), or "
            "change its permissions."
        )
        if isinstance(error, PermissionError) or error.errno == errno.EROFS:
            raise CheckpointPermissionError(message) from None
        raise OSError(message) from None
    _clean_stale(path)
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

    Taught in: 03_dqn_mountaincar.ipynb
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


def _sidecar_text(digest: str, metadata: dict[str, Any]) -> str:
    return json.dumps({HASH_KEY: digest, **metadata}, indent=2, allow_nan=False) + "\n"


# --- Loading ------------------------------------------------------------------------


def _read_checkpoint(path: Path) -> tuple[str, dict[str, Any]]:
    """``(sha256 of the file's bytes, payload)`` of a checked course checkpoint."""
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pt"))[:5]
        example = path / (inside[0] if inside else "agent.pt")
        raise ValueError(
            f"{path} is a folder, not a checkpoint file"
            f"{f' (it holds {inside})' if inside else ''}. Fix: give the .pt file, "
            f"e.g. {example}."
        )
    if path.suffix == ".json":
        raise ValueError(
            f"{path} is a checkpoint's readable sidecar, not the checkpoint. Fix: load "
            f"{path.with_suffix('')} (the .pt file beside it) instead."
        )
    if not path.exists():
        known = (
            sorted(p.name for p in path.parent.glob("*.pt"))
            if path.parent.is_dir()
            else []
        )
        close = difflib.get_close_matches(path.name, known, n=1)
        hint = f" Did you mean {path.parent / close[0]}?" if close else ""
        raise FileNotFoundError(f"No checkpoint at {path}.{hint}")
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file, so not a checkpoint.")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"{path} is {size / 2**20:,.0f} MB; a course checkpoint is a few MB (at "
            f"most {MAX_FILE_BYTES / 2**20:.0f} MB). Fix: check that this is the file "
            "you meant."
        )
    try:
        data = path.read_bytes()
    except PermissionError:
        raise CheckpointPermissionError(
            errno.EACCES,
            f"cannot read {path}: permission denied. Fix: make it readable "
            f"(chmod u+r {path}) or copy it into a folder of yours.",
        ) from None
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error}.") from None
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        why = (
            "it holds Python objects other than tensors and plain data, and loading "
            "them could run code: refused"
            if "Weights only load failed" in str(error)
            else "corrupt or not made by save_checkpoint"
        )
        raise ValueError(
            f"{path} is not a readable course checkpoint ({why}): "
            f"{type(error).__name__}: {str(error)[:200]}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a course checkpoint (expected format {FORMAT!r})."
        )
    _check_metadata(payload.get("metadata"), str(path))
    return hashlib.sha256(data).hexdigest(), payload


def _summary(metadata: dict[str, Any]) -> str:
    evaluation = metadata.get("evaluation")
    mean = evaluation.get("mean") if isinstance(evaluation, dict) else None
    return (
        f"{metadata.get('env_id')!r:.40} scoring {mean!r:.20} "
        f"(seed {metadata.get('seed')!r:.20})"
    )


def _differences(mine: Any, theirs: Any, where: str = "") -> list[str]:
    """Where the sidecar (``theirs``) differs from the checkpoint's metadata."""
    if isinstance(mine, dict) and isinstance(theirs, dict):
        found = []
        for key in [*mine, *(k for k in theirs if k not in mine)]:
            here = f"{where}.{key}" if where else str(key)
            if key not in theirs:
                found.append(f"{here} is missing from the sidecar")
            elif key not in mine:
                found.append(f"{here} is only in the sidecar")
            else:
                found += _differences(mine[key], theirs[key], here)
        return found
    if isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
        return [
            d
            for i, pair in enumerate(zip(mine, theirs, strict=True))
            for d in _differences(*pair, f"{where}[{i}]")
        ]
    both_nan = all(isinstance(x, float) and math.isnan(x) for x in (mine, theirs))
    if mine == theirs or both_nan:
        return []
    return [f"{where}: {theirs!r:.40} in the sidecar, {mine!r:.40} in the checkpoint"]


def _check_sidecar(path: Path, digest: str, metadata: dict[str, Any]) -> None:
    """Warn if the sidecar is missing or unverifiable; refuse one that disagrees."""
    sidecar = _sidecar(path)
    fix = (
        f"Fix: if {path.name} is the agent you want, rebuild its sidecar with "
        "`from course_utils.checkpoints import repair_sidecar; "
        f"repair_sidecar({str(path)!r})`; otherwise restore both files of one save."
    )
    if not sidecar.exists() and not sidecar.is_symlink():
        warnings.warn(
            f"{path} has no sidecar {sidecar.name} beside it (deleted?). Loading it "
            f"anyway: the metadata inside the .pt is complete. {fix}",
            CheckpointWarning,
            stacklevel=4,
        )
        return
    try:
        if sidecar.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"larger than {MAX_FILE_BYTES / 2**20:.0f} MB")
        written = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        raise ValueError(
            f"{sidecar} is not a readable JSON copy of {path.name}'s metadata "
            f"({type(error).__name__}: {str(error)[:100]}). {fix}"
        ) from None
    if not isinstance(written, dict):
        raise ValueError(
            f"{sidecar} should hold a JSON object (the metadata of {path.name}), got "
            f"a {type(written).__name__}. {fix}"
        )
    recorded = written.pop(HASH_KEY, None)
    if recorded is not None and recorded != digest:
        raise ValueError(
            f"{sidecar} does not belong to {path.name}: it records SHA-256 "
            f"{str(recorded)[:16]}..., the file's is {digest[:16]}... It describes "
            f"{_summary(written)}; the checkpoint holds {_summary(metadata)}. A save "
            f"interrupted between the two files, or one file replaced, does this. {fix}"
        )
    try:
        differ = _differences(json.loads(json.dumps(metadata)), written)
    except RecursionError:
        differ = ["the metadata is nested too deeply to compare"]
    if differ:
        more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
        raise ValueError(
            f"{sidecar} disagrees with the metadata saved inside {path.name}: "
            f"{'; '.join(differ[:4])}{more}. The metadata inside the .pt is what "
            f"loads with the weights; an edited sidecar cannot change it. {fix}"
        )
    if recorded is None:
        warnings.warn(
            f"{sidecar} records no SHA-256 of {path.name} (an older course_utils "
            f"wrote it), so the pair cannot be verified. {fix}",
            CheckpointWarning,
            stacklevel=4,
        )


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
