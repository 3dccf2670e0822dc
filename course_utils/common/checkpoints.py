"""Save and load trained agents. One ``.pt`` file is the truth: a ``torch.save`` zip
of ``{"format": FORMAT, "metadata": <JSON text>, "state_dict": {name: tensor}}``; the
metadata (how the network was made, how well it plays, how to rebuild its environment)
as JSON text stays strict, and unpickling builds strings and tensors only. A save also
writes ``<name>.pt.json``, the metadata indented for people, which loading never reads.

Reading is bounded before it starts: a regular file of at most ``MAX_FILE_BYTES``, a
zip of uncompressed records, unpickled with ``weights_only=True`` (a file never runs
code) first onto PyTorch's meta device, so keys, dtypes, shapes and storage sizes are
checked against the network spec in the metadata before any tensor data is read.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.common.data import did_you_mean
from course_utils.common.files import read_bounded, replacing
from course_utils.common.networks import build_network
from course_utils.common.policies import ActorPolicy, QPolicy
from course_utils.common.validate import device as validate_device
from course_utils.common.validate import is_number, whole_number

FORMAT = "course-checkpoint-v2"
REQUIRED_METADATA = ("env_id", "env_kwargs", "network", "policy", "train_command")
REQUIRED_METADATA += ("seed", "train_steps", "wall_time_s", "evaluation", "versions")
MAX_WIDTH = 4096  # largest obs_dim, n_actions, act_dim, n_quantiles, hidden width
MAX_LAYERS = 8  # most hidden layers
MAX_PARAMS = 20_000_000  # 80 MB of float32; the course's largest agent has 0.55 M
MAX_METADATA_BYTES = 4 * 2**20  # as JSON text; the largest shipped is 0.16 MB
MAX_FILE_BYTES = 4 * MAX_PARAMS + 2 * MAX_METADATA_BYTES
_FIX = "Fix: use the file as save_checkpoint wrote it, or train again (one of an older"
_FIX += " course_utils converts with tools/convert_checkpoints.py)."
_SCORES = {"mean", "std", "episodes", "seeds"}
_EXPECTED = {  # what the metadata entries loading relies on must be
    "env_id": "a name such as 'MountainCar-v0'",
    "env_kwargs": "a dict of gym.make arguments",
    "policy": "a dict {'kind': 'q' or 'actor', 'eval_epsilon': a number in [0, 1]}",
    "evaluation": "a dict with 'mean', 'std', 'episodes' and 'seeds' entries",
}


class CheckpointPermissionError(PermissionError, ValueError):
    """No permission to read or write a checkpoint; a ``ValueError`` too."""


def _as_path(path: Any) -> Path:
    """``path`` as a ``Path`` to a ``.pt`` file, ``~`` expanded."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"A checkpoint path must be a str or Path, got {path!r:.60}.")
    text = os.fspath(path)
    if not text or text.endswith(("/", os.sep)):
        raise ValueError(
            f"The checkpoint path {text!r} is empty or ends in '/', so names no file. "
            f"Fix: give a file path such as {text + 'agent.pt'!r}."
        )
    path = Path(text).expanduser()  # "~/runs/agent.pt" means the home folder
    if path.suffix == ".json":
        pt = path.with_suffix("" if path.stem.endswith(".pt") else ".pt")
        raise ValueError(
            f"{path} ends in .json, a readable copy. Fix: load or save {pt}."
        )
    return path


def _check_json(value: Any, where: str) -> None:
    """Refuse anything that would not come back unchanged from strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}, which JSON lacks. Fix: store None.")
    if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
        raise ValueError(f"{where}: JSON keys must be strings: {list(value)!r:.50}")
    if isinstance(value, (list, tuple, dict)):
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            _check_json(item, f"{where}[{key!r}]")
    elif value is not None and not isinstance(value, (str, int, float)):
        raise ValueError(
            f"{where} is a {type(value).__name__}: metadata must be JSON-serialisable "
            "(numbers, strings, lists, dicts, None). Fix: e.g. float(x), list(x)."
        )


def _check_metadata(meta: Any, source: str) -> None:
    keys = meta if isinstance(meta, dict) else {}
    if missing := [key for key in REQUIRED_METADATA if key not in keys]:
        raise ValueError(
            f"{source}: metadata is missing {missing}. Every course checkpoint records "
            f"{list(REQUIRED_METADATA)}."
        )
    policy = meta["policy"] if isinstance(meta["policy"], dict) else {}
    eps, kind = policy.get("eval_epsilon", 0), policy.get("kind")
    scores = meta["evaluation"]
    valid = {
        "env_id": isinstance(meta["env_id"], str) and meta["env_id"],
        "env_kwargs": isinstance(meta["env_kwargs"], dict),
        "policy": kind in ("q", "actor") and is_number(eps) and 0 <= eps <= 1,
        "evaluation": isinstance(scores, dict) and _SCORES <= set(scores),
    }
    for key, what in _EXPECTED.items():
        if not valid[key]:
            raise ValueError(
                f"{source}: metadata[{key!r}] must be {what}: {meta[key]!r:.80}"
            )


def _check_weights(spec: Any, state: Any, source: str) -> None:
    """Bound the sizes ``spec`` asks for, build it on the meta device (no memory) and
    compare with ``state`` (unless None): exactly its tensors, each stored whole."""
    kwargs = spec.get("kwargs") if isinstance(spec, dict) else None
    hidden = kwargs.get("hidden", []) if isinstance(kwargs, dict) else None
    if not isinstance(hidden, list) or len(hidden) > MAX_LAYERS or len(spec) != 2:
        raise ValueError(
            f"{source}: a network spec is {{'class', 'kwargs'}}, whose hidden must be "
            f"a list of at most {MAX_LAYERS} layer widths (e.g. [256]): {spec!r:.99}"
        )
    try:  # Normalize needs real bounds: its two tensors are added below
        with torch.device("meta"):
            unbounded = dict.fromkeys(kwargs.keys() & {"obs_low", "obs_high"})
            net = build_network({**spec, "kwargs": {**kwargs, **unbounded}})
    except Exception as error:  # e.g. an IndexError from an empty dueling hidden
        raise ValueError(f"{source}: {type(error).__name__}: {error}") from None
    want = dict(net.state_dict())
    if kwargs.get("obs_low") is not None:
        for name in ("normalize.low", "normalize.scale"):
            want[name] = torch.empty(kwargs["obs_dim"], device="meta")  # float32
    n_params = sum(t.numel() for t in want.values())
    widest = max(max(t.shape) for t in want.values())
    if n_params > MAX_PARAMS or widest > MAX_WIDTH:
        raise ValueError(
            f"{source}: the network spec describes {n_params:,} parameters, layers up "
            f"to {widest} wide (obs_dim, n_actions, act_dim, hidden, n_quantiles); at "
            f"most {MAX_PARAMS:,} parameters, {MAX_WIDTH} wide. Fix: smaller sizes."
        )
    if state is None:
        return
    if not isinstance(state, dict) or not all(map(torch.is_tensor, state.values())):
        raise ValueError(f"{source}: the state_dict must map names to tensors.")
    for name in [*want, *state]:
        needed, held = _describe(want.get(name)), _describe(state.get(name))
        if needed != held:
            raise ValueError(
                f"{source} holds weights for another architecture than its metadata "
                f"describes: {name}: the spec needs {needed}, the file holds {held}. "
                f"{_FIX}"
            )


def _describe(tensor: torch.Tensor | None) -> str:
    """``torch.float32 (4, 2)``; a view (1 KB seen as 1 GB, say) is not stored whole."""
    if tensor is None:
        return "nothing"
    whole = tensor.layout == torch.strided and tensor.is_contiguous()
    whole = whole and tensor.untyped_storage().nbytes() == tensor.nbytes
    view = "" if whole else " (not stored whole: a view of other data)"
    return f"{tensor.dtype} {tuple(tensor.shape)}{view}"


def check_network_spec(spec: dict[str, Any]) -> None:
    """Raise a ``ValueError`` if ``load_network`` would refuse to build ``spec``
    (``net.spec``): unknown class, sizes out of bounds, too many parameters. Nothing
    is allocated; call it before a long training run."""
    _check_weights(spec, None, "network spec")


def _unpickle(data: bytes, source: str, device: str) -> Any:
    """``torch.load`` of a zip whose unpacked size is bounded first."""
    end, end64, locator = data[-22:], data[-98:-42], data[-42:-22]
    listing = [int.from_bytes(end[12:16], "little")]  # the bytes that list the records
    if locator[:4] == b"PK\x06\x07" and end64[:4] == b"PK\x06\x06":
        listing.append(int.from_bytes(end64[40:48], "little"))
    try:
        if end[:4] != b"PK\x05\x06" or max(listing) > 2**16:
            raise ValueError("not a zip as torch.save writes it")
        for record in zipfile.ZipFile(io.BytesIO(data)).infolist():
            big = "/data/" not in record.filename and record.file_size > 2**23
            if record.compress_type != zipfile.ZIP_STORED or big:
                raise ValueError(f"{record.filename} is compressed or too big")
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        why = "could run code" if "Weights only load" in str(error) else "corrupt"
        raise ValueError(
            f"{source} is not a readable course checkpoint ({why}): "
            f"{type(error).__name__}: {str(error)[:200]}"
        ) from None


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(metadata, state_dict)`` of a checked course checkpoint, on the CPU."""
    fix = f"Fix: give the .pt file save_checkpoint wrote, e.g. {path / 'agent.pt'}."
    try:
        data = read_bounded(path, MAX_FILE_BYTES, what="a checkpoint", fix=fix)
    except FileNotFoundError:
        raise FileNotFoundError(f"No checkpoint {path}.{did_you_mean(path)}") from None
    except OSError as error:
        denied = isinstance(error, PermissionError)
        error_type = CheckpointPermissionError if denied else ValueError
        raise error_type(f"cannot read {path}: {error.strerror}.") from None
    payload = _unpickle(data, str(path), "meta")  # no tensor data read yet
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a course checkpoint ({FORMAT!r}). {_FIX}")
    if set(payload) != {"format", "metadata", "state_dict"}:
        raise ValueError(f"{path}: unknown parts {sorted(payload)[:5]}. {_FIX}")
    try:
        metadata = json.loads(payload["metadata"])
        json.dumps(metadata, allow_nan=False)  # no NaN or infinity
    except (TypeError, ValueError, RecursionError) as error:
        raise ValueError(f"{path}: metadata is not strict JSON text: {error}") from None
    _check_metadata(metadata, str(path))
    _check_weights(metadata["network"], payload["state_dict"], str(path))
    return metadata, _unpickle(data, str(path), "cpu")["state_dict"]


def _build(metadata: dict, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    if bad := [name for name, t in state.items() if not torch.isfinite(t).all()]:
        raise ValueError(
            f"{source}: the weights {bad[0]} contain NaN or inf: the training "
            "diverged. Fix: train again (a smaller lr or max_grad_norm helps)."
        )
    try:
        net = build_network(metadata["network"])
        net.load_state_dict(state)
    except (ValueError, RuntimeError) as error:
        raise ValueError(f"{source}: {str(error).splitlines()[0]} {_FIX}") from None
    if hasattr(net, "act_dim") != ((kind := metadata["policy"]["kind"]) == "actor"):
        raise ValueError(
            f"{source}: policy kind {kind!r} does not fit a {type(net).__name__}. Fix: "
            "metadata['policy']['kind'] is 'q' for a Q-network, 'actor' for an actor."
        )
    return net


def check_save_path(path: str | Path, *, overwrite: bool = False) -> Path:
    """Check, before a long training run, that ``save_checkpoint(path, ...)`` can
    write: creates missing folders, proves them writable, refuses what is in the way
    and an existing file (the ``.pt`` or its copy) unless ``overwrite``. Returns the
    path, ``~`` expanded."""
    path = _as_path(path)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r:.40}.")
    for target in (path, path.with_name(path.name + ".json")):
        if target.exists() and not target.is_file():
            raise ValueError(
                f"Cannot save {path.name}: a folder or a device is in the way at "
                f"{target}. Fix: give a file path, e.g. {target / 'agent.pt'}."
            )
        if os.path.lexists(target) and not overwrite:
            raise FileExistsError(
                f"{target} already exists and was left untouched. Fix: choose another "
                "path, or pass overwrite=True (--overwrite on the command line)."
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path.parent).close()
    except (FileExistsError, NotADirectoryError):
        raise ValueError(f"{path}: a file is in the way of its folder.") from None
    except OSError as error:
        message = f"cannot write to {path.parent}: {error.strerror or error}. Fix: "
        message += "choose a folder you can write to, e.g. in your home folder."
        if isinstance(error, PermissionError) or error.errno == errno.EROFS:
            raise CheckpointPermissionError(message) from None
        raise OSError(message) from None
    return path


def save_checkpoint(
    path: str | Path, model: nn.Module, *, metadata: dict, overwrite: bool = False
) -> Path:
    """Write ``model``'s weights and ``metadata`` (plus ``model.spec``) to ``path``,
    then the readable copy ``<path>.json``. What loading would refuse is refused with
    nothing written; an existing file is replaced only if ``overwrite``; a failed or
    killed save leaves the previous file. Returns ``path``, ``~`` expanded."""
    path, source = _as_path(path), str(path)
    if not isinstance(model, nn.Module) or not hasattr(model, "spec"):
        raise ValueError("save_checkpoint needs a course network that knows its spec.")
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}.")
    metadata = {**metadata, "network": model.spec}
    try:
        _check_json(metadata, "metadata")
        text = json.dumps(metadata, allow_nan=False)
    except RecursionError:
        raise ValueError("metadata is nested too deeply to be JSON.") from None
    if len(text) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is over {MAX_METADATA_BYTES:,} characters of JSON.")
    metadata = json.loads(text)  # exactly what loading will read
    _check_metadata(metadata, source)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    _check_weights(metadata["network"], state, source)
    _build(metadata, state, source)
    check_save_path(path, overwrite=overwrite)
    with replacing(path, overwrite=overwrite) as tmp:
        torch.save({"format": FORMAT, "metadata": text, "state_dict": state}, tmp)
    copy = path.with_name(path.name + ".json")
    try:
        with replacing(copy, overwrite=True) as tmp:
            tmp.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    except OSError as error:
        warnings.warn(f"Saved {path}, not its copy {copy.name}: {error}", stacklevel=2)
    return path


def load_network(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """``(network in eval mode, metadata)`` of the checkpoint at ``path``. Raises
    ``FileNotFoundError`` for no file, ``ValueError`` for a file that is no course
    checkpoint (saying why) or a ``device`` this machine lacks."""
    path, dev = _as_path(path), validate_device("device", device)
    metadata, state = _read(path)
    return _build(metadata, state, str(path)).to(dev).eval(), metadata


def load_policy(
    path: str | Path,
    device: str = "cpu",
    *,
    epsilon: float | None = None,
    seed: int = 0,
) -> tuple[QPolicy | ActorPolicy, dict[str, Any]]:
    """``(policy, metadata)``: ``policy(raw Gymnasium observation)`` is an action.
    A Q-policy explores with ``epsilon`` (default: the checkpoint's ``eval_epsilon``,
    0 for MountainCar, 0.05 for Atari), drawing from a generator seeded with ``seed``.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    seed = whole_number("seed", seed, minimum=0)
    net, metadata = load_network(path, dev := validate_device("device", device))
    if metadata["policy"]["kind"] == "q":
        eps = metadata["policy"].get("eval_epsilon", 0) if epsilon is None else epsilon
        rng = np.random.default_rng(seed)  # QPolicy checks epsilon
        return QPolicy(net, epsilon=eps, rng=rng, device=dev), metadata
    if epsilon is not None:
        raise ValueError(
            f"epsilon={epsilon} was given, but {path} holds an actor, which never "
            "explores at evaluation. Fix: leave epsilon out."
        )
    return ActorPolicy(net, device=dev), metadata
