"""nbgrader cell metadata for the course notebooks, derived from what the cells say.

    python -m course_utils.lessons.nbgrader_metadata            # write
    notebooks/*.ipynb python -m course_utils.lessons.nbgrader_metadata --check    # exit
    1 if one is out of date

Re-run it after editing a notebook; it is idempotent and changes nothing but the
``nbgrader`` entry of cell metadata. The rules:

- A markdown heading ``### Exercise N: ...`` opens exercise N; any other heading of
  level 1-3 closes it. ``### Exercise N (open): ...`` is an open exercise: no answer
  cell, no check, never graded automatically.
- Each code cell of the exercise with a ``### BEGIN SOLUTION`` region is an answer:
  an nbgrader solution cell whose ``grade_id`` is the name it defines (``td_target``).
- The code cell that calls a ``check_...`` function through its module
  (``td_target = course_utils.lessons.checks.dqn.check_td_target(td_target)``; helpers
  such as ``digits_cv_accuracy`` do not count) is the exercise's check: a locked,
  graded cell worth ``POINTS_PER_CHECK``, ``grade_id`` the check's name. A check
  called by a bare name is an error: a student's cell could define that name.
- The cells that import ``course_utils.lessons.checks`` and every code cell before
  them (the setup cell) are locked, not graded (``grade_id`` ``imports``, ``setup``):
  nbgrader grades them as the instructor wrote them, so a student cannot replace a
  check or switch grading off there, before the checks are imported.
- A markdown cell tagged ``solution`` (the model answers to the end-of-notebook
  questions) becomes a manually graded answer cell, one point per numbered answer:
  ``make student`` drops it, nbgrader puts ``YOUR ANSWER HERE`` in its place. A code
  cell tagged ``solution`` is an error (nbgrader cannot drop a cell: it would leak).
- No other cell carries nbgrader metadata (stale entries are removed).

Anything that breaks the rules (a check outside an exercise, an exercise without
exactly one check, a repeated ``grade_id``) is a ``ValueError`` naming the notebook and
the cell.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path
from typing import Any

from course_utils.lessons.notebook_files import (
    read_notebook,
    rewrite_notebooks,
    write_notebook,
)

POINTS_PER_CHECK = 1
_HEADING = re.compile(r"^(#{1,6})\s*(.*?)\s*$", re.MULTILINE)
_EXERCISE = re.compile(r"Exercise\s+(\d+)\s*(\([^)]*\))?\s*:")
_SOLUTION = "### BEGIN SOLUTION"
_CHECKS = "course_utils.lessons.checks"
_BASE = {"schema_version": 3, "task": False}


def _text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _tree(source: str, where: str) -> ast.Module:
    """Parse a code cell, magics and shell lines set aside."""
    lines = ["pass" if re.match(r"\s*[%!]", ln) else ln for ln in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError as error:
        raise ValueError(f"{where}: not valid Python ({error.msg}).") from None


def _imported_checks(cells: list[dict[str, Any]], name: str) -> dict[str, str]:
    """The ``check_...`` names the notebook imports by name, and their modules."""
    names = {}
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            for node in ast.walk(_tree(_text(cell), f"{name}, cell {index}")):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    _CHECKS
                ):
                    names.update(
                        (alias.asname or alias.name, node.module)
                        for alias in node.names
                        if alias.name.startswith("check_")  # not helpers
                    )
    return names


def _imports_checks(tree: ast.Module) -> bool:
    """True if the cell imports anything from course_utils.lessons.checks."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        if any(m == _CHECKS or m.startswith(_CHECKS + ".") for m in modules):
            return True
    return False


def _prelude(cells: list[dict[str, Any]], name: str) -> dict[int, str]:
    """``{index: grade_id}`` of the code cells up to the last one that imports the
    checks: ``setup``, ``imports`` (numbered from the second of a kind)."""
    code = [i for i, cell in enumerate(cells) if cell["cell_type"] == "code"]
    importing = [
        i for i in code if _imports_checks(_tree(_text(cells[i]), f"{name}, cell {i}"))
    ]
    out: dict[int, str] = {}
    for i in code:
        if importing and i <= importing[-1]:
            kind = "imports" if i in importing else "setup"
            seen = sum(value.startswith(kind) for value in out.values())
            out[i] = f"{kind}_{seen + 1}" if seen else kind
    return out


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for a chain of attributes on a name; "" for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def _calls(tree: ast.Module, where: str, imported: dict[str, str]) -> list[str]:
    """The checks ``tree`` calls (``course_utils.lessons.checks.<notebook>.check_x``
    gives ``check_x``); a check called any other way is an error."""
    called = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rpartition(".")[2]
        if not last.startswith("check_"):
            continue
        if name.startswith(_CHECKS + ".") and name.count(".") == 4:
            called.append(last)
        elif name == last and last in imported:
            raise ValueError(
                f"{where} calls {last} by its bare name, which any cell of the "
                "student's could define. Fix: call it through its module, "
                f"{imported[last]}.{last}(...), and import the module "
                f"(import {imported[last]}) in the imports cell."
            )
    return called


def _defined(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            return node.name
    return None


def _written_answers(source: str) -> dict:
    """A markdown cell tagged ``solution`` (model answers): a manually graded answer.

    nbgrader shows the students ``YOUR ANSWER HERE`` in its place; one point per
    numbered answer; ``grade_id`` from its heading (``answers_to_the_questions``).
    """
    heading = _HEADING.search(source)
    title = heading.group(2).split("(")[0] if heading else ""
    grade_id = re.sub(r"\W+", "_", title.casefold()).strip("_") or "written_answers"
    numbered = len(re.findall(r"^\s*\d+\.\s", source, re.MULTILINE))
    meta = {"grade": True, "grade_id": grade_id, "locked": False}
    meta.update(points=max(numbered, 1), solution=True, **_BASE)
    return dict(sorted(meta.items()))


def derive(notebook: dict[str, Any], name: str = "notebook") -> dict[int, dict]:
    """The nbgrader metadata each cell should carry: ``{cell index: metadata}``.

    Args:
        notebook: a version-4 notebook as read by ``json.load``.
        name: how errors name the notebook.

    Raises:
        ValueError: when the cells break the rules in the module docstring.
    """
    cells = notebook["cells"]
    imported = _imported_checks(cells, name)
    prelude = _prelude(cells, name)
    wanted: dict[int, dict] = {}
    exercise: dict[str, Any] | None = None
    exercises: list[dict[str, Any]] = []
    for index, cell in enumerate(cells):
        where, source = f"{name}, cell {index}", _text(cell)
        if cell["cell_type"] == "markdown":
            for level, title in _HEADING.findall(source):
                found = _EXERCISE.match(title)
                if found:
                    is_open = "open" in (found.group(2) or "")
                    exercise = {"title": title, "cell": index, "open": is_open}
                    exercise.update(answers=0, checks=0)
                    exercises.append(exercise)
                elif len(level) <= 3:
                    exercise = None
            if "solution" in cell.get("metadata", {}).get("tags", []):
                wanted[index] = _written_answers(source)
            continue
        if cell["cell_type"] != "code":
            continue
        if "solution" in cell.get("metadata", {}).get("tags", []):
            raise ValueError(
                f"{where} is tagged 'solution': make student drops it, but nbgrader "
                "cannot drop a cell and would give the answer away. Fix: put the "
                "answer in a ### BEGIN SOLUTION ... ### END SOLUTION region of the "
                "exercise's stub cell, and delete this cell."
            )
        tree = _tree(source, where)
        called = _calls(tree, where, imported)
        has_solution = any(ln.strip() == _SOLUTION for ln in source.splitlines())
        if index in prelude and not called and not has_solution:
            meta = {"grade": False, "grade_id": prelude[index], "locked": True}
            wanted[index] = dict(sorted({**meta, "solution": False, **_BASE}.items()))
            continue
        if not called and not has_solution:
            continue
        if exercise is None or exercise["open"]:
            what = "calls " + called[0] if called else "has a solution region"
            raise ValueError(
                f"{where} {what} but is not inside an exercise. Fix: put it under its "
                "'### Exercise N: ...' heading (not an '(open)' one)."
            )
        if called and has_solution:
            raise ValueError(f"{where}: a check and a solution in one cell; split it.")
        if called:
            if len(called) > 1 or exercise["checks"] or not exercise["answers"]:
                raise ValueError(
                    f"{where}: {exercise['title']!r} must have its answer cell(s) "
                    "first, then exactly one check cell calling one check; found "
                    f"{called} here after {exercise['checks']} check cell(s)."
                )
            meta = {"grade": True, "grade_id": called[0], "locked": True}
            meta.update(points=POINTS_PER_CHECK, solution=False)
            exercise["checks"] += 1
        else:
            exercise["answers"] += 1
            grade_id = _defined(tree) or f"exercise_{exercise['cell']}_answer"
            meta = {"grade": False, "grade_id": grade_id, "locked": False}
            meta.update(solution=True)
        wanted[index] = dict(sorted({**meta, **_BASE}.items()))
    for exercise in exercises:
        if not exercise["open"] and exercise["checks"] != 1:
            raise ValueError(
                f"{name}, cell {exercise['cell']}: {exercise['title']!r} has no check "
                "cell. Fix: add `answer = check_...(answer)` after its answer cell, "
                "or mark it '(open)' in the heading if it has none by design."
            )
    ids = [meta["grade_id"] for meta in wanted.values()]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise ValueError(f"{name}: grade_id {repeated} used twice. Rename one.")
    return wanted


def apply(notebook: dict[str, Any], name: str = "notebook") -> bool:
    """Give every cell ``derive``'s nbgrader metadata; True if anything changed."""
    wanted, changed = derive(notebook, name), False
    for index, cell in enumerate(notebook["cells"]):
        metadata = cell.setdefault("metadata", {})
        if metadata.get("nbgrader") == wanted.get(index):
            continue
        metadata.pop("nbgrader", None)
        if index in wanted:
            metadata["nbgrader"] = wanted[index]
        cell["metadata"] = dict(sorted(metadata.items()))  # the order Jupyter saves
        changed = True
    return changed


def points(notebook: dict[str, Any], *, manual: bool = False) -> float:
    """Points of the graded cells as they are in ``notebook``: the autograded checks,
    or with ``manual=True`` the manually graded written answers."""
    total = 0.0
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and bool(meta.get("solution")) == manual:
            total += meta.get("points", 0)
    return total


def update_file(path: Path, *, write: bool = True) -> bool:
    """Read ``path`` now, apply the rules and (if ``write``) save it only if it changed,
    whole or not at all, in the course's JSON layout.

    Returns True when the notebook was (or, with ``write=False``, would be) changed.
    """
    notebook = read_notebook(path)
    changed = apply(notebook, Path(path).name)
    if changed and write:
        write_notebook(path, notebook)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit 0, 1 (--check: stale), 2 (error)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.lessons.nbgrader_metadata",
        description="Write the nbgrader cell metadata of the course notebooks.",
    )
    parser.add_argument("paths", nargs="*", type=Path, help="default: notebooks/*")
    parser.add_argument("--check", action="store_true", help="only report, exit 1")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(Path("notebooks").glob("*.ipynb"))
    if not paths:
        print("error: no notebooks given and none in notebooks/", file=sys.stderr)
        return 2
    return rewrite_notebooks(
        paths,
        lambda notebook, path: apply(notebook, path.name),
        check=args.check,
        fix="python -m course_utils.lessons.nbgrader_metadata",
    )


if __name__ == "__main__":
    raise SystemExit(main())
