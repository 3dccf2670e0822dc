"""Writing checkpoint files safely: temporary names renamed into place, synced to
disk; the leftovers of killed saves removed; the save path checked before training.

Saves write temporary files named ``.<name>.tmp-<pid>-<random>`` and rename them into
place; a save killed part-way leaves the previous pair, and the next save or load of
that path removes the leftovers of processes that no longer run.

The internals of ``course_utils.common.checkpoints``, which re-exports
``check_save_path``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import time
import warnings
from pathlib import Path
from typing import Any

from course_utils.common.checkpoint_checks import (
    HASH_KEY,
    CheckpointPermissionError,
    CheckpointWarning,
    _as_path,
)

STALE_AFTER_S = 3600.0  # a temporary file this old is a leftover even if its pid runs
_TMP = re.compile(r"^\.(?P<target>.+)\.tmp-?(?P<pid>\d+)(?:-[0-9a-f]+)?$")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sidecar_text(digest: str, metadata: dict[str, Any]) -> str:
    return json.dumps({HASH_KEY: digest, **metadata}, indent=2, allow_nan=False) + "\n"


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
