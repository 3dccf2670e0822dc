"""Build student copies of the notebooks: solutions out, outputs cleared.

    python -m course_utils.lessons.student notebooks build/student

Rules (the nbgrader convention, without nbgrader):

- In a code cell, lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
  ``raise NotImplementedError("Exercise N: ...")`` at the marker's indentation; the
  exercise name comes from the nearest markdown heading ``### Exercise N: ...`` above.
  Put solution regions inside function bodies, so the stub cell still runs.
- Lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS`` vanish.
- A markdown cell tagged ``solution`` (model answers to written questions) becomes the
  student's answer cell: ``YOUR ANSWER HERE``, its nbgrader metadata kept, exactly as
  nbgrader's copy has it, so a copy handed in can earn the written points. A code cell
  tagged ``solution`` is dropped whole.
- Every output and execution count is cleared.

Nothing leaks silently and nothing is lost: a marker spelt any other way (``# BEGIN
SOLUTION``, lower case, a non-breaking space...) or outside a code cell, a tag such
as ``Solution``, and a cell with nbgrader's ``"solution": true`` but no region are
errors naming the notebook and the cell. Every notebook is checked before anything is
written; the copies are written to a temporary folder, then moved into place; a
notebook in the destination that holds solutions (swapped arguments) is never
overwritten.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import unicodedata
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbformat.corpus.words import generate_corpus_id as random_cell_id
from nbformat.warnings import MissingIDFieldWarning

__all__ = [
    "ANSWER_HERE",
    "BEGIN_HIDDEN",
    "BEGIN_SOLUTION",
    "END_HIDDEN",
    "END_SOLUTION",
    "MARKERS",
    "build",
    "main",
    "make_student_copy",
]

_EXERCISE = re.compile(r"^#{2,4}\s*(Exercise\s+[\w.]+\s*:.*?)\s*$", re.MULTILINE)


def _parses(source: str) -> bool:
    """True if the cell is valid Python once magics and shell lines are set aside."""
    lines = ["pass" if re.match(r"\s*[%!]", ln) else ln for ln in source.splitlines()]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return True


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def _check_is_notebook(notebook: Any, name: str) -> None:
    try:
        with warnings.catch_warnings():  # a missing cell id is only a warning today
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nbformat.validate(notebook)
    except Exception as error:  # ValidationError, or a list/None where a dict belongs
        message = str(getattr(error, "message", error)).splitlines()[0]
        raise ValueError(
            f"{name} is not a valid notebook ({message}). Fix: open and save it in "
            "Jupyter, or restore it from git."
        ) from None


def make_student_copy(notebook: nbformat.NotebookNode, name: str = "notebook"):
    """Return a new notebook with solutions stripped and outputs cleared.

    Raises:
        ValueError: on an invalid notebook, unbalanced or misspelt markers, a marker
            outside a code cell, a misspelt ``solution`` tag, an nbgrader solution
            cell without a region, or a stripped cell that no longer parses.
    """
    _check_is_notebook(notebook, name)
    student = nbformat.v4.new_notebook(metadata=notebook.metadata)
    exercise = "Exercise: complete this code"
    for index, cell in enumerate(notebook.cells):
        where = f"{name}, cell {index}"
        if _solution_tag(cell.get("metadata", {}).get("tags", []), where):
            if cell.cell_type == "markdown":
                student.cells.append(_answer_cell(cell))
            continue
        graded = _nbgrader_solution(cell, where)
        cell = nbformat.from_dict(dict(cell))
        cell.source = _text(cell.source)
        if graded and not _has_solution_region(cell):
            raise ValueError(
                f'{where}: nbgrader metadata marks this cell as a solution ("solution":'
                " true) but it has no ### BEGIN SOLUTION ... ### END SOLUTION region, "
                "so the whole answer would reach the students. Fix: put the answer "
                "between the two markers (code cells only), or tag the cell "
                "'solution' to drop it whole."
            )
        if cell.cell_type == "code":
            cell.source, _ = _strip_regions(cell.source, exercise, where)
            if not _parses(cell.source):
                raise ValueError(
                    f"{where}: the student version does not parse:\n{cell.source}"
                )
            cell.outputs, cell.execution_count = [], None
        else:
            _refuse_markers(cell, where)
            if cell.cell_type == "markdown":
                headings = _EXERCISE.findall(cell.source)
                if headings:
                    exercise = headings[-1]
        cell["id"] = random_cell_id()  # nbformat 4.5 needs one; not the source's
        student.cells.append(cell)
    _, student = nbformat.validator.normalize(student)  # returns a normalised deep copy
    return nbformat.from_dict(student)


def _answer_cell(cell: Any) -> nbformat.NotebookNode:
    """The place for the student's written answers, where the model answers were."""
    metadata = dict(cell.get("metadata", {}))
    tags = [tag for tag in metadata.pop("tags", []) if tag != "solution"]
    if tags:
        metadata["tags"] = tags
    answer = nbformat.v4.new_markdown_cell(ANSWER_HERE, metadata=metadata)
    answer["id"] = random_cell_id()
    return answer


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read ``path`` as a version-4 notebook; anything else: a ValueError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"{path} is not a notebook: it is not UTF-8 text (a binary file?)."
        ) from None
    except OSError as error:  # a folder named *.ipynb, no permission...
        raise ValueError(f"{path} cannot be read: {error.strerror}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not a notebook: broken JSON at line {error.lineno}, column "
            f"{error.colno} ({error.msg}). Fix: restore it from git, or repair it "
            "(a merge conflict?)."
        ) from None
    if not isinstance(data, dict):
        raise ValueError(
            f"{path} is not a notebook: its JSON is a {type(data).__name__}, a "
            "notebook is an object with 'cells', 'metadata' and 'nbformat'."
        )
    if data.get("nbformat") != 4:
        raise ValueError(
            f"{path} is not a valid notebook for this builder: it says nbformat "
            f"{data.get('nbformat')!r}, the builder reads nbformat 4. Fix: open and "
            "save it in Jupyter (or restore it from git)."
        )
    _check_is_notebook(data, str(path))
    return nbformat.reads(text, as_version=4)


def _solutions_in(path: Path) -> str | None:
    """Where an existing destination notebook holds solutions (None: it has none)."""
    try:
        notebook = _read_notebook(path)
    except ValueError as error:
        return f"it cannot be read ({error})"
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if any("solution" in str(tag).casefold() for tag in tags):
            return f"cell {index} is tagged {tags!r}"
        for line in _text(cell.source).splitlines():
            if _looks_like_marker(line):
                return f"cell {index} has {line.strip()!r}"
    return None


def _check_folders(src: Path, dest: Path) -> None:
    if not src.exists():
        raise ValueError(f"The source folder {src} does not exist.")
    if not src.is_dir():
        raise ValueError(
            f"The source {src} is not a folder. Fix: give the folder that holds the "
            "notebooks: python -m course_utils.lessons.student notebooks build/student"
        )
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"The destination {dest} exists and is not a folder.")
    real_src, real_dest = src.resolve(), dest.resolve()
    if real_dest == real_src or real_src in real_dest.parents:
        raise ValueError(
            f"The student copies must go outside the source folder {src}, got "
            f"{dest}. Fix: python -m course_utils.lessons.student notebooks "
            "build/student"
        )


def build(src: Path, dest: Path) -> list[Path]:
    """Write a student copy of every ``src/*.ipynb`` into ``dest``.

    Every notebook is read and stripped first; nothing is written if one fails. The
    copies go to a temporary folder, then are moved into ``dest``. An existing
    notebook in ``dest`` is replaced only if it holds no solutions.

    Raises:
        ValueError: on a bad folder, a bad notebook, or a destination notebook with
            solutions in it (the arguments were swapped?).
    """
    src, dest = Path(src), Path(dest)
    _check_folders(src, dest)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"No notebooks found in {src}.")
    students = []
    for path in notebooks:
        student = make_student_copy(_read_notebook(path), path.name)
        nbformat.validate(student)
        students.append((path.name, student))
    for name, _ in students:
        target = dest / name
        found = _solutions_in(target) if target.exists() else None
        if found:
            raise ValueError(
                f"{target} is not a student copy: {found}. It is left alone and "
                f"nothing was written. Did you swap the arguments? The source comes "
                "first: python -m course_utils.lessons.student notebooks build/student"
            )
        if target.is_dir():
            raise ValueError(f"{target} is a folder: move it away first.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, student in students:
            nbformat.write(student, tmp / name)
        if not dest.exists():
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0o700)
            os.rename(tmp, dest)
        else:
            for name, _ in students:
                os.replace(tmp / name, dest / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [dest / name for name, _ in students]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.lessons.student",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("src", nargs="?", default="notebooks")
    parser.add_argument("dest", nargs="?", default="build/student")
    args = parser.parse_args(argv)
    try:
        written = build(Path(args.src), Path(args.dest))
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
ANSWER_HERE = "YOUR ANSWER HERE"  # nbgrader's text in an emptied written-answer cell
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


if __name__ == "__main__":
    raise SystemExit(main())
