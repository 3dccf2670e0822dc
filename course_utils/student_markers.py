"""Solution markers in a course notebook: which lines, cells and tags hold an answer,
and the stripping of one code cell. A marker or tag spelt any other way is an error,
so an answer never reaches the students by a typo.

The internals of ``course_utils.student``, which re-exports the marker constants.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
_EXACT = re.compile(r"[ \t]*(### (?:BEGIN|END) (?:SOLUTION|HIDDEN TESTS))[ \t]*")
# Anything that reads like a marker once case, spaces and punctuation are set aside.
_LOOKALIKE = re.compile(r"(?<![a-z])(begin|end)[\W_]*(solution|hidden)", re.IGNORECASE)
_FIX = (
    "Markers stand alone on their line, in a code cell, spelt exactly "
    + ", ".join(repr(m) for m in MARKERS)
    + "."
)


def _looks_like_marker(line: str) -> bool:
    """True if ``line`` mentions a marker, however spelt (full-width, zero-width...)."""
    line = unicodedata.normalize("NFKC", line)
    line = "".join(ch for ch in line if unicodedata.category(ch) != "Cf")
    return _LOOKALIKE.search(line) is not None


def _strip_regions(source: str, exercise: str, where: str) -> tuple[str, list[str]]:
    """Replace solution regions, drop hidden tests; return (source, removed lines)."""
    out: list[str] = []
    removed: list[str] = []
    mode = None  # None, "solution" or "hidden"
    for number, line in enumerate(source.splitlines(), start=1):
        exact = _EXACT.fullmatch(line)
        marker = exact.group(1) if exact else None
        if marker is None and _looks_like_marker(line):
            raise ValueError(
                f"{where}, line {number}: {line.strip()!r} looks like a marker but is "
                f"not one, so it would reach the students. {_FIX}"
            )
        if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
            if mode is not None:
                raise ValueError(f"{where}: {marker!r} inside an open region.")
            mode = "solution" if marker == BEGIN_SOLUTION else "hidden"
            if mode == "solution":
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}raise NotImplementedError({exercise!r})")
            continue
        if marker in (END_SOLUTION, END_HIDDEN):
            expected = END_SOLUTION if mode == "solution" else END_HIDDEN
            if mode is None or marker != expected:
                raise ValueError(f"{where}: {marker!r} closes no open region.")
            mode = None
            continue
        if mode is None:
            out.append(line)
        else:
            removed.append(line)
    if mode is not None:
        raise ValueError(f"{where}: a {mode} region is never closed.")
    return "\n".join(out), removed


def _solution_tag(tags: list[str], where: str) -> bool:
    """True if the cell is tagged ``solution``; a near-miss spelling is an error."""
    for tag in tags:
        folded = re.sub(r"\W|_", "", unicodedata.normalize("NFKC", tag).casefold())
        if tag != "solution" and "solution" in folded:
            raise ValueError(
                f"{where}: tag {tag!r} is not the solution tag, which is spelt "
                "'solution' (lower case, nothing else), so this cell would reach the "
                "students. Fix: rename the tag to 'solution'."
            )
    return "solution" in tags


def _nbgrader_solution(cell: Any, where: str) -> bool:
    """nbgrader's ``"solution"`` flag of a cell (False when there is none)."""
    grader = cell.get("metadata", {}).get("nbgrader", {})
    flag = grader.get("solution", False) if isinstance(grader, dict) else None
    if not isinstance(flag, bool):
        raise ValueError(
            f"{where}: nbgrader metadata must be an object whose 'solution' is true "
            f"or false, got {grader!r}. Fix: edit the cell metadata."
        )
    return flag


def _has_solution_region(cell: Any) -> bool:
    return cell.cell_type == "code" and any(
        line.strip() == BEGIN_SOLUTION for line in cell.source.splitlines()
    )


def _refuse_markers(cell: Any, where: str) -> None:
    """Markdown and raw cells are copied as they are: a marker there would leak."""
    for number, line in enumerate(cell.source.splitlines(), start=1):
        if _looks_like_marker(line):
            raise ValueError(
                f"{where}, line {number}: {line.strip()!r} is a marker in a "
                f"{cell.cell_type} cell, where nothing is stripped, so it would reach "
                "the students. Markers work only in code cells; to drop a whole cell, "
                "tag it 'solution'."
            )
