"""Every notebook's core path runs on its own.

A notebook that declares optional sections (CONTRIBUTING.md, "Optional sections")
promises that a student may skip them: this test removes them
(``course_utils.lessons.sections.core_path``) and executes what is left in fast mode,
in a fresh kernel started in ``notebooks/``, as "Run All" would. A name used after an
optional section but defined only inside one fails here with its ``NameError``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils.lessons.sections import core_path, optional_cells

ROOT = Path(__file__).resolve().parents[1]


def _declares_optional_sections(path: Path) -> bool:
    try:
        return bool(optional_cells(json.loads(path.read_text(encoding="utf-8"))))
    except ValueError:  # a heading that breaks the convention: the test says which
        return True


NOTEBOOKS = [
    path
    for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
    if _declares_optional_sections(path)
]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_core_path_runs_alone(path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("COURSE_FAST", "1")  # the kernel inherits the environment
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    notebook = nbformat.read(path, as_version=4)
    skipped = len(optional_cells(notebook, path.name))
    core = nbformat.from_dict(core_path(notebook, path.name))
    client = nbclient.NotebookClient(
        core,
        timeout=1200,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(
            f"{path.name} with its optional sections removed ({skipped} cells) "
            f"fails: a cell of the core path needs something only an optional "
            f"section defines.\n{error}"
        )
