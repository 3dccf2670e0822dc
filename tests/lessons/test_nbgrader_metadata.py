"""nbgrader metadata: the course notebooks carry it, consistently.

Fails when a notebook was edited without re-running the script. Fix:
    python -m course_utils.lessons.nbgrader_metadata
"""

from __future__ import annotations

import copy
import errno
import json
import re
from pathlib import Path

import pytest

from course_utils.lessons.nbgrader_metadata import (
    apply,
    derive,
    main,
    points,
    update_file,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIX = (
    "Fix: python -m course_utils.lessons.nbgrader_metadata, then commit the notebooks."
)
each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def _exercise_numbers(notebook: dict) -> list[str]:
    """The numbers of the exercises that are not '(open)', from the headings."""
    text = "\n".join(
        "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"
    )
    return re.findall(r"^#{2,4}\s*Exercise\s+(\d+)\s*:", text, re.MULTILINE)


@each_notebook
def test_the_metadata_is_up_to_date(path):
    notebook = _read(path)
    assert not apply(copy.deepcopy(notebook), path.name), (
        f"{path.name}: its nbgrader metadata is not what the cells say. {FIX}"
    )


@each_notebook
def test_every_exercise_has_one_answer_and_one_locked_graded_check(path):
    notebook = _read(path)
    cells = [(i, _nbgrader(c)) for i, c in enumerate(notebook["cells"])]
    checks = [(i, m) for i, m in cells if m.get("grade") and not m["solution"]]
    answers = [(i, m) for i, m in cells if m.get("solution") and not m["grade"]]
    written = [(i, m) for i, m in cells if m.get("solution") and m["grade"]]
    assert len(checks) == len(_exercise_numbers(notebook)) > 0, FIX
    assert len(answers) >= len(checks)
    for index, meta in checks:
        assert meta["locked"] and meta["points"] > 0, index
        assert "check_" in "".join(notebook["cells"][index]["source"])
    for index, meta in answers:
        assert not meta["locked"], index
        assert "### BEGIN SOLUTION" in "".join(notebook["cells"][index]["source"])
    for index, meta in written:
        cell = notebook["cells"][index]
        assert (
            cell["cell_type"] == "markdown" and "solution" in cell["metadata"]["tags"]
        )
        assert not meta["locked"] and meta["points"] > 0, index
    ids = [m["grade_id"] for _, m in cells if m]
    assert len(ids) == len(set(ids)), f"{path.name}: repeated grade_id in {ids}"
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids), ids


def test_nbgrader_accepts_the_metadata():
    validator = pytest.importorskip("nbgrader.nbgraderformat.v3")
    nbformat = pytest.importorskip("nbformat")
    for path in NOTEBOOKS:
        validator.MetadataValidatorV3().validate_nb(nbformat.read(path, as_version=4))


def _guide_points() -> dict[str, tuple[int, float, float]]:
    """INSTRUCTORS.md's table: notebook -> (autograded exercises, points, written)."""
    text = (ROOT / "INSTRUCTORS.md").read_text(encoding="utf-8")
    cell = r"\s*(\d+)\s*\|"
    rows = re.findall(rf"^\|\s*`(\w+\.ipynb|total)`\s*\|{cell}{cell}{cell}", text, re.M)
    return {name: (int(n), float(p), float(w)) for name, n, p, w in rows}


def test_points_add_up_to_what_the_instructors_guide_says():
    table = _guide_points()
    assert table, "INSTRUCTORS.md has no table of graded exercises and points"
    found = {}
    for path in NOTEBOOKS:
        notebook = _read(path)
        graded = sum(
            bool(_nbgrader(c).get("grade") and not _nbgrader(c)["solution"])
            for c in notebook["cells"]
        )
        found[path.name] = (graded, points(notebook), points(notebook, manual=True))
    found["total"] = tuple(sum(v[i] for v in found.values()) for i in range(3))
    assert table == found, (
        "INSTRUCTORS.md's grading table (notebook | autograded exercises | points | "
        f"written answers) does not match the notebooks: guide {table}, notebooks "
        f"{found}. Fix the table in 'Grading with nbgrader'."
    )


# The rules, on small notebooks.
def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str, **metadata) -> dict:
    cell = {"cell_type": "code", "metadata": metadata, "source": text}
    return cell | {"outputs": [], "execution_count": None}


IMPORTS = _code(
    "import course_utils.lessons.checks.dqn\n"
    "from course_utils.lessons.checks.dqn import check_x, cv_helper\n"
)
LOCKED_IMPORTS = {
    "grade": False,
    "grade_id": "imports",
    "locked": True,
    "schema_version": 3,
    "solution": False,
    "task": False,
}
STUB = _code(
    "def td_target(r):\n    ### BEGIN SOLUTION\n    return r\n    ### END SOLUTION"
)
CHECK = _code("td_target = course_utils.lessons.checks.dqn.check_td_target(td_target)")


def _notebook(*cells: dict) -> dict:
    cells = copy.deepcopy([IMPORTS, *cells])  # apply() writes into the cells
    return {"cells": cells, "metadata": {}, "nbformat": 4}


def test_derive_marks_the_answer_and_the_check():
    notebook = _notebook(_md("### Exercise 1: TD"), STUB, CHECK, _md("## Questions"))
    assert derive(notebook) == {
        0: LOCKED_IMPORTS,
        2: {
            "grade": False,
            "grade_id": "td_target",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            "task": False,
        },
        3: {
            "grade": True,
            "grade_id": "check_td_target",
            "locked": True,
            "points": 1,
            "schema_version": 3,
            "solution": False,
            "task": False,
        },
    }


def test_apply_is_idempotent_and_removes_stale_metadata():
    stale = _code("print(1)", nbgrader={"grade": True, "grade_id": "old"}, tags=["x"])
    notebook = _notebook(_md("### Exercise 1: TD"), STUB, CHECK, stale)
    assert apply(notebook) is True
    assert notebook["cells"][4]["metadata"] == {"tags": ["x"]}
    assert points(notebook) == 1
    assert apply(notebook) is False


def test_the_cells_up_to_the_checks_import_are_locked():
    """A student cannot edit what runs before the checks are imported."""
    setup = _code("# extra code – setup\nimport sys")
    notebook = _notebook(_md("### Exercise 1: TD"), STUB, CHECK)
    notebook["cells"][:0] = [_md("# Title"), setup]
    wanted = derive(notebook)
    assert wanted[1] == {**LOCKED_IMPORTS, "grade_id": "setup"}
    assert wanted[2] == LOCKED_IMPORTS
    assert sorted(wanted) == [1, 2, 4, 5]


def test_a_helper_from_the_checks_is_not_a_check():
    helper = _code("score = cv_helper(1)")
    notebook = _notebook(_md("### Exercise 1: TD"), helper, STUB, CHECK)
    assert sorted(derive(notebook)) == [0, 3, 4]


def test_model_answers_become_a_manually_graded_answer_cell():
    answers = _md("## Answers to the questions (instructors)\n\n1. Yes.\n2. No.")
    answers["metadata"]["tags"] = ["solution"]
    notebook = _notebook(_md("## Questions\n\n1. A?\n2. B?"), answers)
    assert derive(notebook) == {
        0: LOCKED_IMPORTS,
        2: {
            "grade": True,
            "grade_id": "answers_to_the_questions",
            "locked": False,
            "points": 2,
            "schema_version": 3,
            "solution": True,
            "task": False,
        },
    }
    apply(notebook)
    assert points(notebook) == 0 and points(notebook, manual=True) == 2


def test_open_exercises_are_not_graded():
    notebook = _notebook(_md("### Exercise 5 (open): one knob\n\nNo check."))
    assert derive(notebook) == {0: LOCKED_IMPORTS}


@pytest.mark.parametrize(
    "cells, message",
    [
        ([STUB, CHECK], "not inside an exercise"),
        ([_md("### Exercise 1: TD"), STUB], "has no check cell"),
        ([_md("### Exercise 1: TD"), CHECK], "answer cell(s) first"),
        ([_md("### Exercise 1: TD"), STUB, CHECK, CHECK], "exactly one check"),
        ([_md("### Exercise 1: TD"), STUB, _md("## Next"), CHECK], "not inside"),
        ([_md("### Exercise 5 (open): x"), STUB], "not an '(open)' one"),
        (
            [
                _md("### Exercise 1: TD"),
                STUB,
                _code(
                    "course_utils.lessons.checks.dqn.check_x(1)\n"
                    "course_utils.lessons.checks.dqn.check_td_target(2)"
                ),
            ],
            "calling one check",
        ),
        (
            [_md("### Exercise 1: TD"), STUB, _code("td_target = check_x(td_target)")],
            "calls check_x by its bare name, which any cell of the student's could "
            "define. Fix: call it through its module, "
            "course_utils.lessons.checks.dqn.check_x(...)",
        ),
        (
            [_md("### Exercise 1: TD"), STUB, STUB, CHECK],
            "grade_id ['td_target'] used twice",
        ),
        (
            [_md("### Exercise 1: TD"), STUB, _code("x = 1", tags=["solution"]), CHECK],
            "nbgrader cannot drop a cell",
        ),
        ([_md("### Exercise 1: TD"), _code("def f(:")], "not valid Python"),
    ],
    ids=[
        "outside",
        "no-check",
        "check-first",
        "two-checks",
        "heading-closes",
        "open",
        "two-calls",
        "bare-name",
        "same-id",
        "solution-tag",
        "syntax",
    ],
)
def test_rule_breaks_are_clear_errors(cells, message):
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        derive(_notebook(*cells), "course.ipynb")
    assert str(info.value).startswith("course.ipynb")


def test_update_file_keeps_the_layout_and_main_checks(tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    notebook = _notebook(_md("### Exercise 1: TD — ε"), STUB, CHECK)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    assert main(["--check", str(path)]) == 1
    assert "out of date" in capsys.readouterr().out
    assert update_file(path) is True
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=1, ensure_ascii=False) + "\n"
    assert "ε" in text  # not escaped
    assert main(["--check", str(path)]) == 0
    assert main([str(tmp_path / "missing.ipynb"), str(path)]) == 2
    assert f"{path}: up to date" in capsys.readouterr().out  # the others still done


def _disk_fills_up_halfway(monkeypatch) -> None:
    """Every text write stops half way with "No space left on device"."""
    real = Path.write_text

    def half_then_full(self, data, *args, **kwargs):
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)


def test_a_write_that_fails_half_way_leaves_the_notebook_whole(
    tmp_path, monkeypatch, capsys
):
    path = tmp_path / "nb.ipynb"
    stale = _code("print(1)", nbgrader={"grade": True, "grade_id": "old"})
    notebook = {"cells": [stale] * 50, "metadata": {}, "nbformat": 4}
    path.write_text(json.dumps(notebook, indent=1) + "\n", encoding="utf-8")
    before = path.read_bytes()
    _disk_fills_up_halfway(monkeypatch)
    assert main([str(path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert path.read_bytes() == before  # the old notebook, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb.ipynb"]  # no leftover
    monkeypatch.undo()
    assert main([str(path)]) == 0 and _read(path) != json.loads(before)
