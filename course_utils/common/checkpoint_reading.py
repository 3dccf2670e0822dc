"""Reading a checkpoint pair back: the ``.pt`` refused unless it is a course
checkpoint that cannot run code (``weights_only=True``), then its sidecar compared
with it: missing or without a hash warns, of another save or edited is an error.

The internals of ``course_utils.common.checkpoints``.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import torch

from course_utils.common.checkpoint_checks import (
    FORMAT,
    HASH_KEY,
    MAX_FILE_BYTES,
    CheckpointPermissionError,
    CheckpointWarning,
    _check_metadata,
)
from course_utils.common.checkpoint_files import _sidecar


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
        "`from course_utils.common.checkpoints import repair_sidecar; "
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
