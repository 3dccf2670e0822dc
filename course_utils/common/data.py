"""Where the course's data lives: the ``data/`` folder beside the package (or
``COURSE_DATA``), and the pretrained checkpoints shipped in ``data/checkpoints/``.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path


def data_dir() -> Path:
    """The course's ``data/`` folder (``COURSE_DATA`` overrides it)."""
    override = os.environ.get("COURSE_DATA")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "data"
    return _found(
        path,
        path.is_dir(),
        f"The course data folder {path} does not exist. Fix: `make install` (it keeps "
        "data/ beside course_utils/), or set COURSE_DATA to the folder.",
    )


def shipped_checkpoint(name: str) -> Path:
    """Path of a pretrained checkpoint shipped in ``data/checkpoints/``."""
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name must be a file name like 'snake_dqn.pt': {name!r:.60}")
    path = data_dir() / "checkpoints" / name
    return _found(
        path,
        path.is_file(),
        f"No shipped checkpoint {path}.{did_you_mean(path)} Fix: use a .pt file of "
        "that folder, or regenerate them with `make checkpoints`.",
    )


def _found(path: Path, exists: bool, missing: str) -> Path:
    """``path`` if it ``exists``; else a ``FileNotFoundError`` saying ``missing``."""
    if not exists:
        raise FileNotFoundError(missing)
    return path


def did_you_mean(path: Path) -> str:
    """' Did you mean <the closest .pt beside path>?', or '' when none is close."""
    known = [p.name for p in path.parent.glob("*.pt")] if path.parent.is_dir() else []
    close = difflib.get_close_matches(path.name, known, n=1)
    return f" Did you mean {path.parent / close[0]}?" if close else ""
