"""The course's source notebooks, rewritten in place whole or not at all.

``python -m course_utils.lessons.nbgrader_metadata`` and ``python -m
course_utils.lessons.colab`` rewrite the notebooks in ``notebooks/``: the instructor's
only copy of the lessons. Both read, change and write through here. A notebook is
written to a new temporary file beside it and renamed over it
(``course_utils.common.files.replacing``), so a full disk, an error or a kill leaves the
old notebook as it was, never half of one. The layout is the course's: one-space
indent, UTF-8 (not escaped), a final newline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from course_utils.common.files import replacing

__all__ = ["notebook_text", "read_notebook", "rewrite_notebooks", "write_notebook"]


def read_notebook(path: Path) -> dict[str, Any]:
    """The notebook at ``path`` as ``json.load`` gives it.

    Raises:
        ValueError: ``path`` is not UTF-8 JSON holding an object.
        OSError: it cannot be read.
    """
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(
            f"not a notebook ({error}). Fix: restore it from git (a merge conflict?)."
        ) from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError(
            "not a notebook: it has no list of 'cells'. Fix: restore it from git."
        )
    return notebook


def notebook_text(notebook: dict[str, Any]) -> str:
    """``notebook`` in the course's layout, as Jupyter saves it."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def write_notebook(path: Path, notebook: dict[str, Any]) -> None:
    """Replace the notebook at ``path`` with ``notebook``, whole or not at all."""
    text = notebook_text(notebook)  # before the temporary file: an error leaves none
    with replacing(path, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


def rewrite_notebooks(
    paths: Sequence[Path],
    change: Callable[[dict[str, Any], Path], bool],
    *,
    check: bool,
    fix: str,
) -> int:
    """The command line of a notebook rewriter: ``change(notebook, path)`` edits a
    notebook in memory and says whether it changed anything; each changed notebook
    is written (or, with ``check``, reported). One broken notebook does not stop the
    others.

    Returns:
        the exit status: 0, 1 (``check`` and a notebook is out of date; ``fix`` is
        printed) or 2 (a notebook could not be read, changed or written).
    """
    stale, failed = [], False
    for path in paths:
        try:
            notebook = read_notebook(path)
            changed = change(notebook, path)
            if changed and not check:
                write_notebook(path, notebook)
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(f"error: {path}: {error}", file=sys.stderr)
            failed = True
            continue
        status = "out of date" if check else "written"
        print(f"{path}: {status if changed else 'up to date'}")
        stale += [path] if changed else []
    if failed:
        return 2
    if check and stale:
        print(f"Fix: {fix}", file=sys.stderr)
        return 1
    return 0
