"""Build student copies of the notebooks: solutions out, outputs cleared.

    python -m course_utils.student notebooks build/student

Rules (the nbgrader convention, without nbgrader):

- In a code cell, lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` become
  ``raise NotImplementedError("Exercise N: ...")`` at the marker's indentation; the
  exercise name comes from the nearest markdown heading ``### Exercise N: ...`` above.
  Put solution regions inside function bodies, so the stub cell still runs.
- Lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS`` vanish.
- Cells tagged ``solution`` are dropped whole.
- Every output and execution count is cleared.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat
from nbformat.corpus.words import generate_corpus_id as random_cell_id

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
_EXERCISE = re.compile(r"^#{2,4}\s*(Exercise\s+[\w.]+\s*:.*?)\s*$", re.MULTILINE)


def _strip_regions(source: str, exercise: str, where: str) -> tuple[str, list[str]]:
    """Replace solution regions, drop hidden tests; return (source, removed lines)."""
    out: list[str] = []
    removed: list[str] = []
    mode = None  # None, "solution" or "hidden"
    for line in source.splitlines():
        marker = line.strip()
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


def _parses(source: str) -> bool:
    """True if the cell is valid Python once magics and shell lines are set aside."""
    lines = ["pass" if re.match(r"\s*[%!]", ln) else ln for ln in source.splitlines()]
    try:
        ast.parse("\n".join(lines))
    except SyntaxError:
        return False
    return True


def make_student_copy(notebook: nbformat.NotebookNode, name: str = "notebook"):
    """Return a new notebook with solutions stripped and outputs cleared.

    Raises:
        ValueError: on unbalanced markers, or a stripped cell that no longer parses.
    """
    student = nbformat.v4.new_notebook(metadata=notebook.metadata)
    exercise = "Exercise: complete this code"
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        if "solution" in tags:
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "markdown":
            headings = _EXERCISE.findall(cell.source)
            if headings:
                exercise = headings[-1]
        elif cell.cell_type == "code":
            where = f"{name}, cell {index}"
            cell.source, _ = _strip_regions(cell.source, exercise, where)
            if not _parses(cell.source):
                raise ValueError(
                    f"{where}: the student version does not parse:\n{cell.source}"
                )
            cell.outputs, cell.execution_count = [], None
        cell["id"] = random_cell_id()  # nbformat 4.5 needs one; not the source's
        student.cells.append(cell)
    _, student = nbformat.validator.normalize(student)  # returns a normalised deep copy
    return nbformat.from_dict(student)


def build(src: Path, dest: Path) -> list[Path]:
    """Write a student copy of every ``src/*.ipynb`` into ``dest``."""
    src, dest = Path(src), Path(dest)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"No notebooks found in {src}.")
    if dest.resolve() == src.resolve():
        raise ValueError(
            "The student copies must go to another folder than the sources."
        )
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        student = make_student_copy(notebook, path.name)
        nbformat.validate(student)
        out = dest / path.name
        nbformat.write(student, out)
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.student", description=__doc__.splitlines()[0]
    )
    parser.add_argument("src", nargs="?", default="notebooks")
    parser.add_argument("dest", nargs="?", default="build/student")
    args = parser.parse_args(argv)
    try:
        written = build(Path(args.src), Path(args.dest))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
