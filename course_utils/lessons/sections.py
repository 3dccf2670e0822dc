"""Optional sections of a lesson notebook: which cells its core path may skip.

The convention (CONTRIBUTING.md, "Optional sections"): a level-2 markdown heading
(``## ...``) whose text contains ``(optional)`` opens an optional section, and the
section runs until the next level-2 heading. A heading that opens or closes an
optional section is the first line of its markdown cell, so a cell is wholly in or
wholly out. Nothing after an optional section may use a name defined only inside it:
``tests/test_core_paths.py`` runs every notebook that declares optional sections with
those sections removed.

``tools/lesson_stats.py`` reads the same sections to count the core path's words.
"""

from __future__ import annotations

import copy
import re
from typing import Any

_LEVEL2 = re.compile(r"^##(?!#)\s*(.*?)\s*$", re.MULTILINE)
OPTIONAL_MARK = "(optional)"


def _text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def optional_cells(notebook: dict[str, Any], name: str = "notebook") -> list[int]:
    """Indices of the cells inside optional sections (their headings included).

    Args:
        notebook: a version-4 notebook (``json.load`` or ``nbformat.read``).
        name: how errors name the notebook.

    Raises:
        ValueError: a heading that opens or closes an optional section is not the
            first line of its cell, or one cell holds both kinds of heading.
    """
    inside = False
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "markdown":
            source = _text(cell)
            flags = [OPTIONAL_MARK in title for title in _LEVEL2.findall(source)]
            if flags:
                if len(set(flags)) > 1:
                    raise ValueError(
                        f"{name}, cell {index}: one cell holds an optional and a core "
                        "level-2 heading. Fix: split the cell at the second heading."
                    )
                if flags[0] != inside and not _LEVEL2.match(source.lstrip("\n")):
                    raise ValueError(
                        f"{name}, cell {index}: a level-2 heading that opens or closes "
                        "an optional section must be the first line of its cell. Fix: "
                        "split the cell just above the heading."
                    )
                inside = flags[0]
        if inside:
            found.append(index)
    return found


def core_path(notebook: dict[str, Any], name: str = "notebook") -> dict[str, Any]:
    """A copy of ``notebook`` without its optional sections."""
    skipped = set(optional_cells(notebook, name))
    core = copy.deepcopy(notebook)
    core["cells"] = [c for i, c in enumerate(core["cells"]) if i not in skipped]
    return core
