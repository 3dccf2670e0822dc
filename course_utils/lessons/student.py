"""Build student copies of the notebooks: solutions out, outputs cleared.

    python -m course_utils.lessons.student notebooks build/student \
        [--overwrite] [--graded]

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
- With ``--graded`` (copies handed out for grading), every self-check answer in a
  markdown cell, ``<details><summary>Check your answer</summary> ... </details>``,
  is removed too; self-study copies keep them. A "Check your answer" left over (a
  block spelt some other way) is an error naming the cell.
- Every output and execution count is cleared. Of the metadata only what Jupyter and
  nbgrader need is kept (kernel, language, tags, nbgrader's fields, cell display
  settings); of a markdown cell's attachments, only those its text shows.

Nothing leaks silently and nothing is lost: a marker spelt any other way (``# BEGIN
SOLUTION``, lower case, look-alike letters, ``START SOLUTION``, ``BEGIN ANSWER``...:
``course_utils.lessons.markers``) or outside a code cell, a tag such as ``Solution``
or ``answer``, a marker in kept metadata or a shown attachment, and a cell with
nbgrader's ``"solution": true`` but no region are errors naming the notebook and the
cell. Every notebook is checked before anything is written; the copies are written to
a temporary folder, then moved into place. A notebook in the destination that holds
solutions (swapped arguments) is never overwritten, and one that changed since the
builder wrote it (the hash in the destination's ``.student-copies.json``: a student
worked in it) only with ``--overwrite``.

The refusals above are the point: each is a way a solution could reach the students
or a student's work be lost.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbformat.corpus.words import generate_corpus_id as random_cell_id
from nbformat.warnings import MissingIDFieldWarning

from course_utils.common.files import replacing
from course_utils.lessons.markers import looks_like_marker, looks_like_solution_tag

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


def make_student_copy(
    notebook: nbformat.NotebookNode, name: str = "notebook", *, graded: bool = False
):
    """Return a new notebook with solutions stripped and outputs cleared.

    ``graded``: also remove the self-check answers (:data:`SELF_CHECK` blocks) from
    markdown cells, for copies whose written answers are graded.

    Raises:
        ValueError: on an invalid notebook, unbalanced or misspelt markers, a marker
            outside a code cell, a misspelt ``solution`` tag, an nbgrader solution
            cell without a region, or a stripped cell that no longer parses.
    """
    _check_is_notebook(notebook, name)
    metadata = _kept(notebook.metadata, _NOTEBOOK_KEYS, f"{name}, notebook metadata")
    student = nbformat.v4.new_notebook(metadata=metadata)
    exercise = "Exercise: complete this code"
    for index, cell in enumerate(notebook.cells):
        where = f"{name}, cell {index}"
        if _solution_tag(cell.get("metadata", {}).get("tags", []), where):
            if cell.cell_type == "markdown":
                student.cells.append(_answer_cell(cell, where))
            continue
        nbgrader_solution = _nbgrader_solution(cell, where)
        cell = nbformat.from_dict(dict(cell))
        cell.source = _text(cell.source)
        cell.metadata = _cell_metadata(cell.get("metadata", {}), where)
        if nbgrader_solution and not _has_solution_region(cell):
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
            if "attachments" in cell:
                cell.attachments = _attachments(cell, where)
                if not cell.attachments:
                    del cell["attachments"]
            if cell.cell_type == "markdown" and graded:
                cell.source = _without_self_checks(cell.source, where)
            if cell.cell_type == "markdown":
                headings = _EXERCISE.findall(cell.source)
                if headings:
                    exercise = headings[-1]
        cell["id"] = random_cell_id()  # nbformat 4.5 needs one; not the source's
        student.cells.append(cell)
    _, student = nbformat.validator.normalize(student)  # returns a normalised deep copy
    return nbformat.from_dict(student)


# What a copy keeps of the metadata; the rest (an extension's settings, anything that
# could carry an answer) is dropped.
_NOTEBOOK_KEYS = ("kernelspec", "language_info")
_CELL_KEYS = ("collapsed", "deletable", "editable", "jupyter", "nbgrader", "scrolled")
_CELL_KEYS += ("tags",)
_NBGRADER_KEYS = ("grade", "grade_id", "locked", "points", "schema_version")
_NBGRADER_KEYS += ("solution", "task")
_TEXT_ATTACHMENT = re.compile(r"text/.*|image/svg\+xml|application/(json|javascript)")


def _kept(metadata: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    """The entries of ``metadata`` named in ``keys``; a marker in them is an error."""
    kept = {key: metadata[key] for key in keys if key in metadata}
    for text in _strings(kept):
        if looks_like_marker(text):
            raise ValueError(
                f"{where}: {text!r} reads like a solution marker, and metadata is "
                "copied to the students. Fix: edit the metadata."
            )
    return kept


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _cell_metadata(metadata: Any, where: str) -> dict[str, Any]:
    kept = _kept(metadata, _CELL_KEYS, f"{where}, metadata")
    if isinstance(kept.get("nbgrader"), dict):
        kept["nbgrader"] = {
            k: v for k, v in kept["nbgrader"].items() if k in _NBGRADER_KEYS
        }
    return kept


def _attachments(cell: Any, where: str) -> dict[str, Any]:
    """The attachments the cell's text shows (``attachment:NAME``); the others are
    dropped. A marker in a text attachment (SVG, HTML...) is an error."""
    kept = {
        name: data
        for name, data in cell.attachments.items()
        if f"attachment:{name}" in cell.source
    }
    for name, bundle in kept.items():
        for mime, data in bundle.items():
            if not _TEXT_ATTACHMENT.fullmatch(mime):
                continue
            text = _text(data) if isinstance(data, str | list) else json.dumps(data)
            try:  # notebooks store attachments base64-encoded
                text = base64.b64decode(text, validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                pass
            if any(looks_like_marker(line) for line in text.splitlines()):
                raise ValueError(
                    f"{where}: attachment {name!r} ({mime}) holds a solution marker, "
                    "and attachments are copied to the students as they are. Fix: "
                    "remove it from the cell."
                )
    return kept


SELF_CHECK = re.compile(
    r"[ \t]*<details>\s*<summary>\s*Check your answer\s*</summary>"
    r".*?</details>[ \t]*\n?",
    re.DOTALL | re.IGNORECASE,
)


def _without_self_checks(source: str, where: str) -> str:
    """``source`` without its self-check answers and the blank lines they leave."""
    stripped = SELF_CHECK.sub("", source)
    if "check your answer" in stripped.casefold():
        raise ValueError(
            f"{where}: a 'Check your answer' is left after removing the self-check "
            "blocks, so its answer would reach a graded copy. Fix: write each as "
            "<details><summary>Check your answer</summary> ... </details>."
        )
    return re.sub(r"\n{3,}", "\n\n", stripped).strip("\n")


def _answer_cell(cell: Any, where: str) -> nbformat.NotebookNode:
    """The place for the student's written answers, where the model answers were."""
    metadata = _cell_metadata(cell.get("metadata", {}), where)
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
            if looks_like_marker(line):
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


def build(
    src: Path, dest: Path, *, overwrite: bool = False, graded: bool = False
) -> list[Path]:
    """Write a student copy of every ``src/*.ipynb`` into ``dest``.

    ``graded``: copies to hand out for grading, without the self-check answers.

    Every notebook is read and stripped first; nothing is written if one fails. The
    copies go to a temporary folder, then are moved into ``dest``, and ``dest``'s
    :data:`RECORD` keeps a hash of each. An existing notebook in ``dest`` is replaced
    only if it holds no solutions and is what the builder wrote there last (or what it
    would write now): a copy a student has worked in is left alone unless
    ``overwrite``.

    Raises:
        ValueError: on a bad folder, a bad notebook, a destination notebook with
            solutions in it (the arguments were swapped?) or one changed since the
            builder wrote it (without ``overwrite``).
    """
    src, dest = Path(src), Path(dest)
    _check_folders(src, dest)
    notebooks = sorted(src.glob("*.ipynb"))
    if not notebooks:
        raise ValueError(f"No notebooks found in {src}.")
    students = []
    for path in notebooks:
        student = make_student_copy(_read_notebook(path), path.name, graded=graded)
        nbformat.validate(student)
        students.append((path.name, student))
    record = _read_record(dest)
    changed = []
    for name, student in students:
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
        if target.exists() and not overwrite:
            if not _as_built(target, record.get(name), student):
                changed.append(target.name)
    if changed:
        raise ValueError(
            f"{', '.join(changed)} in {dest} changed since the builder wrote them (a "
            "student's work?): they are left alone and nothing was written. Fix: "
            "move them away or build elsewhere, or replace them on purpose with "
            "--overwrite (make student OVERWRITE=1)."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, student in students:
            nbformat.write(student, tmp / name)
            record[name] = _sha256((tmp / name).read_bytes())
        if not dest.exists():
            _write_record(tmp, record)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0o700)
            os.rename(tmp, dest)
        else:
            for name, _ in students:
                os.replace(tmp / name, dest / name)
            _write_record(dest, record)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [dest / name for name, _ in students]


RECORD = ".student-copies.json"  # in the destination: what the builder wrote there


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(dest: Path) -> dict[str, str]:
    """``{notebook name: sha256}`` of the copies the builder last wrote in ``dest``
    (empty when there is no readable record)."""
    try:
        record = json.loads((dest / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    copies = record.get("copies") if isinstance(record, dict) else None
    if not isinstance(copies, dict):
        return {}
    return {str(k): v for k, v in copies.items() if isinstance(v, str)}


def _write_record(folder: Path, record: dict[str, str]) -> None:
    text = json.dumps({"copies": dict(sorted(record.items()))}, indent=1) + "\n"
    with replacing(folder / RECORD, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _as_built(target: Path, recorded: str | None, student: Any) -> bool:
    """True if ``target`` is what the builder wrote (its recorded hash), or what it
    would write now up to the random cell ids: nobody's work is in it."""
    data = target.read_bytes()
    if recorded is not None and _sha256(data) == recorded:
        return True
    try:
        existing = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # anything unreadable is somebody's, not ours
        return False
    return _without_ids(existing) == _without_ids(student)


def _without_ids(notebook: Any) -> Any:
    cells = [{k: v for k, v in cell.items() if k != "id"} for cell in notebook.cells]
    return cells, notebook.metadata


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
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace copies changed since the builder wrote them (a student's work)",
    )
    parser.add_argument(
        "--graded",
        action="store_true",
        help="copies handed out for grading: remove the 'Check your answer' blocks",
    )
    args = parser.parse_args(argv)
    try:
        written = build(
            Path(args.src),
            Path(args.dest),
            overwrite=args.overwrite,
            graded=args.graded,
        )
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
_FIX = (
    "Markers stand alone on their line, in a code cell, spelt exactly "
    + ", ".join(repr(m) for m in MARKERS)
    + "."
)


def _strip_regions(source: str, exercise: str, where: str) -> tuple[str, list[str]]:
    """Replace solution regions, drop hidden tests; return (source, removed lines)."""
    out: list[str] = []
    removed: list[str] = []
    mode = None  # None, "solution" or "hidden"
    for number, line in enumerate(source.splitlines(), start=1):
        exact = _EXACT.fullmatch(line)
        marker = exact.group(1) if exact else None
        if marker is None and looks_like_marker(line):
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
        if tag != "solution" and looks_like_solution_tag(tag):
            raise ValueError(
                f"{where}: tag {tag!r} is not the solution tag, which is spelt "
                "'solution' (lower case, Latin letters, nothing else), so this cell "
                "would reach the students. Fix: rename the tag to 'solution'."
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
        if looks_like_marker(line):
            raise ValueError(
                f"{where}, line {number}: {line.strip()!r} is a marker in a "
                f"{cell.cell_type} cell, where nothing is stripped, so it would reach "
                "the students. Markers work only in code cells; to drop a whole cell, "
                "tag it 'solution'."
            )


if __name__ == "__main__":
    raise SystemExit(main())
