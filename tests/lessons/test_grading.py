"""The course grades under nbgrader, end to end: an instructor's day.

A throwaway nbgrader course is built in a temporary folder from notebooks/, one
assignment per notebook, as INSTRUCTORS.md says. ``nbgrader generate_assignment`` makes
the student copies, which must equal ``make student``'s up to the stub line. Four
students submit every notebook: the solved source, the untouched nbgrader copy, a copy
with one plausible wrong answer, and a ``make student`` copy handed in with every
exercise solved and the written answers written. ``nbgrader autograde`` grades them
(grading mode turns on by itself, with the fast budgets); ``nbgrader export`` writes
the CSV and ``python -m course_utils.lessons.grades`` adds the points that await manual
grading. Then the written answers of the handed-in copy are graded by hand (through
nbgrader's gradebook, as the formgrader does) and the export shows them earned.

Needs the ``instructor`` extra (nbgrader); ``make test`` installs it, and under CI a
missing nbgrader fails instead of skipping. 5-10 minutes on 2 cores (20 notebook runs);
it prints each autograde's time and what a class of 30 would take.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.lessons.nbgrader_metadata import derive
from course_utils.lessons.student import build

if os.environ.get("CI"):
    import nbgrader  # noqa: F401  (CI installs the instructor extra: never skip there)
else:
    pytest.importorskip("nbgrader", reason="needs the instructor extra (nbgrader)")

pytestmark = pytest.mark.grading

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
COURSE_ID = "deep-rl-course"
STUDENTS = ("solved", "untouched", "wrong", "handed_in")
CLASS_SIZE = 30  # the class the timing is extrapolated to
WRITTEN = "1. My own answer, written in the cell the student copy leaves for it."
# One plausible wrong answer per notebook: (answer cell's grade_id, its new body).
WRONG = {
    "01_mlp_basics": (  # forgets to subtract the maximum: overflows on big logits
        "softmax",
        "exp = np.exp(logits)\nreturn exp / exp.sum(axis=-1, keepdims=True)",
    ),
    "02_rl_concepts": (  # discounts the first reward too
        "discounted_return",
        "return float(sum(gamma ** (t + 1) * r for t, r in enumerate(rewards)))",
    ),
    "03_dqn_mountaincar": (  # the seed notebook's bug: a time limit as a terminal
        "terminal_to_store",
        "return bool(terminated or truncated)",
    ),
    "04_dqn_space_invaders_ram": (  # random.randint(0, 1) on a 6-action game
        "epsilon_greedy_action",
        "with torch.no_grad():\n"
        "    q_values = q_net(torch.as_tensor(obs).unsqueeze(0))[0]\n"
        "if rng.random() < epsilon:\n"
        "    return int(rng.integers(0, 2))\n"
        "return int(q_values.argmax().item())",
    ),
    "05_selective_memory_bipedalwalker": (  # one slope above and below the average
        "keep_probability",
        "d = np.asarray(returns, dtype=np.float64) - avg\n"
        "return 0.1 + 0.9 * np.tanh(d)",
    ),
}
# INSTRUCTORS.md's example of a hidden test, added to notebook 03's source here.
HIDDEN = """
### BEGIN HIDDEN TESTS
reward, terminated = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
next_q = torch.tensor([[2.0, 5.0], [1.0, 0.0]])
expected = torch.tensor([3.5, 0.0])  # 1 + 0.5 * 5, then no future after the end
assert torch.allclose(td_target(reward, next_q, terminated, 0.5), expected)
### END HIDDEN TESTS"""
HIDDEN_IN = ("03_dqn_mountaincar", "check_td_target")
TAMPERED = "pass  # a student who 'fixes' the check"
STUB = "raise NotImplementedError()"
CONFIG = f"""c = get_config()
c.CourseDirectory.course_id = "{COURSE_ID}"
c.Execute.timeout = 600  # seconds per cell; a loaded 2-core machine is slow
"""


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(notebook: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def _source(cell: dict) -> str:
    return (
        cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    )


def _grade_ids(notebook: dict) -> dict[str, dict]:
    return {
        cell["metadata"]["nbgrader"]["grade_id"]: cell
        for cell in notebook["cells"]
        if "nbgrader" in cell.get("metadata", {})
    }


def _checks(notebook: dict, *, written: bool = False) -> dict[str, float]:
    """grade_id -> points of every autograded check (or manually graded answer)."""
    return {
        grade_id: cell["metadata"]["nbgrader"]["points"]
        for grade_id, cell in _grade_ids(notebook).items()
        if cell["metadata"]["nbgrader"]["grade"]
        and cell["metadata"]["nbgrader"]["solution"] == written
    }


def _with_wrong_answer(notebook: dict, grade_id: str, body: str) -> dict:
    """The solved notebook, one answer region replaced by ``body`` (markers gone)."""
    cell = _grade_ids(notebook)[grade_id]
    out, inside = [], False
    for line in _source(cell).splitlines():
        if line.strip() == "### BEGIN SOLUTION":
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + wrong for wrong in body.splitlines()]
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    cell["source"] = "\n".join(out)
    return notebook


def _handed_in(student_copy: dict, solved: dict) -> dict:
    """A ``make student`` copy as a diligent student hands it in: every answer cell
    holds the solution (markers gone), every written-answer cell an answer."""
    solutions = _grade_ids(solved)
    for grade_id, cell in _grade_ids(student_copy).items():
        meta = cell["metadata"]["nbgrader"]
        if meta["solution"] and cell["cell_type"] == "code":
            lines = _source(solutions[grade_id]).splitlines()
            cell["source"] = "\n".join(
                ln
                for ln in lines
                if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
            )
        elif meta["solution"]:
            assert _source(cell) == "YOUR ANSWER HERE", "no place for written answers"
            cell["source"] = WRITTEN
    return student_copy


def _grades_report(course: Path, csv_name: str) -> tuple[dict, str]:
    """``python -m course_utils.lessons.grades`` on an export: its rows and output."""
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.lessons.grades", csv_name],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with open(course / csv_name, newline="") as f:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(f)}
    return rows, done.stdout


def _grade_by_hand(course: Path, student: str) -> None:
    """What an instructor does in the formgrader: full marks for every written
    answer of ``student`` that awaits manual grading (the formgrader's save sets the
    manual score and clears the flag, as here)."""
    from nbgrader.api import Gradebook

    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        for path in NOTEBOOKS:
            notebook = gradebook.find_submission_notebook(path.stem, path.stem, student)
            for grade in notebook.grades:
                if grade.needs_manual_grade:
                    grade.manual_score = grade.max_score
                    grade.needs_manual_grade = False
            gradebook.db.commit()


def _nbgrader(course: Path, *args: str) -> float:
    """Run one nbgrader command in ``course``; return its wall time in seconds."""
    env = dict(os.environ)
    env.pop("COURSE_GRADING", None)  # nbgrader itself must switch grading mode on
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")  # no user-wide config
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0 and "ERROR" not in log, (
        f"nbgrader {' '.join(args)} failed ({done.returncode}):\n{log[-4000:]}"
    )
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """The graded course: its folder, the CSV rows (before and after the written
    answers were graded by hand), the report's output and the timings."""
    if not NOTEBOOKS:
        pytest.skip("notebooks/ has no notebooks yet")
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    (course / ".jupyter").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    for path in NOTEBOOKS:
        source = _read(path)
        if path.stem == HIDDEN_IN[0]:
            _grade_ids(source)[HIDDEN_IN[1]]["source"] += HIDDEN
        _write(source, course / "source" / path.stem / path.name)
    timings = {"generate_assignment": _nbgrader(course, "generate_assignment", "*")}
    student_copies = {
        p.name: p for p in build(ROOT / "notebooks", course / "make_student")
    }
    for path in NOTEBOOKS:
        grade_id, body = WRONG[path.stem]
        submissions = {
            "solved": _read(path),
            "untouched": _read(course / "release" / path.stem / path.name),
            "wrong": _with_wrong_answer(_read(path), grade_id, body),
            "handed_in": _handed_in(_read(student_copies[path.name]), _read(path)),
        }
        _grade_ids(submissions["wrong"])[f"check_{grade_id}"]["source"] = TAMPERED
        for student, notebook in submissions.items():
            _write(notebook, course / "submitted" / student / path.stem / path.name)
    for path in NOTEBOOKS:  # one assignment at a time, one kernel at a time
        timings[path.stem] = _nbgrader(course, "autograde", path.stem)
    timings["export"] = _nbgrader(course, "export", "--to", "grades.csv")
    rows, report = _grades_report(course, "grades.csv")
    _grade_by_hand(course, "handed_in")
    _nbgrader(course, "export", "--to", "graded.csv")
    graded, report_after = _grades_report(course, "graded.csv")
    per_student = sum(timings[p.stem] for p in NOTEBOOKS) / len(STUDENTS)
    print("\nnbgrader timings (s):", {k: round(v, 1) for k, v in timings.items()})
    print(
        f"autograding one student's {len(NOTEBOOKS)} notebooks: {per_student:.0f} s; "
        f"a class of {CLASS_SIZE}: about {per_student * CLASS_SIZE / 60:.0f} minutes"
    )
    print((course / "grades.csv").read_text())
    print(report)
    return {
        "dir": course,
        "rows": rows,
        "graded": graded,
        "report": report,
        "report_after": report_after,
        "timings": timings,
    }


def _cell_scores(
    course: dict, path: Path, student: str, *, written: bool = False
) -> dict[str, float | None]:
    """grade_id -> score in the gradebook (None: waits for a manual grade)."""
    from nbgrader.api import Gradebook

    url = f"sqlite:///{course['dir'] / 'gradebook.db'}"
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        scores = {}
        for grade_id in _checks(_read(path), written=written):
            grade = gradebook.find_grade(grade_id, path.stem, path.stem, student)
            scores[grade_id] = None if grade.needs_manual_grade else grade.score
        return scores


def _failing_cells(course: dict, path: Path, student: str) -> dict[str, list[int]]:
    """Indices of cells with an error, of graded cells with one, of unexecuted cells."""
    graded = _read(course["dir"] / "autograded" / student / path.stem / path.name)
    failing: dict[str, list[int]] = {"error": [], "graded": [], "unexecuted": []}
    for index, cell in enumerate(graded["cells"]):
        if cell["cell_type"] != "code" or not _source(cell).strip():
            continue
        if cell.get("execution_count") is None:
            failing["unexecuted"].append(index)
        if any(out["output_type"] == "error" for out in cell["outputs"]):
            is_graded = cell["metadata"].get("nbgrader", {}).get("grade")
            failing["graded" if is_graded else "error"].append(index)
    return failing


each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)


@each_notebook
def test_the_solved_notebook_earns_every_point(course, path):
    automatic = sum(_checks(_read(path)).values())
    written = _checks(_read(path), written=True)  # model answers: graded by hand
    row = course["rows"][(path.stem, "solved")]
    assert float(row["score"]) == automatic
    assert float(row["max_score"]) == automatic + sum(written.values())
    assert _cell_scores(course, path, "solved", written=True) == dict.fromkeys(written)
    assert _failing_cells(course, path, "solved") == {
        "error": [],
        "graded": [],
        "unexecuted": [],
    }


@each_notebook
def test_the_untouched_student_copy_earns_nothing_but_runs_to_the_end(course, path):
    row = course["rows"][(path.stem, "untouched")]
    assert float(row["score"]) == 0.0 < float(row["max_score"])
    assert set(_cell_scores(course, path, "untouched").values()) == {0.0}
    written = _cell_scores(course, path, "untouched", written=True)
    assert set(written.values()) <= {0.0}  # "YOUR ANSWER HERE" left as it was
    failing = _failing_cells(course, path, "untouched")
    assert failing["error"] == [] and failing["unexecuted"] == [], (
        f"{path.name}: cells outside the checks failed or never ran: {failing}"
    )
    assert len(failing["graded"]) == len(_checks(_read(path)))


@each_notebook
def test_one_wrong_answer_costs_that_exercise_only(course, path):
    wrong_answer = WRONG[path.stem][0]
    checks = _checks(_read(path))
    failed_check = f"check_{wrong_answer}"
    assert failed_check in checks, f"{path.name}: WRONG names an exercise it lacks"
    expected = {**checks, failed_check: 0.0}
    assert _cell_scores(course, path, "wrong") == expected
    row = course["rows"][(path.stem, "wrong")]
    assert float(row["score"]) == sum(checks.values()) - checks[failed_check]
    failing = _failing_cells(course, path, "wrong")
    assert failing["error"] == [] and failing["unexecuted"] == [], failing
    assert len(failing["graded"]) == 1


def test_the_gradebook_holds_every_submission(course):
    assert set(course["rows"]) == {(p.stem, s) for p in NOTEBOOKS for s in STUDENTS}


def _comparable(notebook: dict) -> list[tuple[str, str, dict]]:
    """Cell type, source (stub line normalised) and nbgrader identity of every cell;
    written-answer cells hold nbgrader's ``YOUR ANSWER HERE`` in both copies."""
    cells = []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "markdown" and meta.get("solution"):
            assert _source(cell) == "YOUR ANSWER HERE"
        lines = [
            re.sub(
                r"raise NotImplementedError\(.*\)$", "raise NotImplementedError()", ln
            )
            for ln in _source(cell).splitlines()
            if ln.strip() != "# YOUR CODE HERE"  # nbgrader's stub has this line too
        ]
        nbgrader_meta = cell.get("metadata", {}).get("nbgrader", {})
        identity = {k: nbgrader_meta.get(k) for k in ("grade_id", "grade", "points")}
        cells.append((cell["cell_type"], "\n".join(lines), identity))
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    return cells


def test_make_student_and_nbgrader_make_the_same_student_copies(course, tmp_path):
    """Both routes: no solutions, no hidden tests, no outputs, the same cells."""
    built = {p.name: p for p in build(ROOT / "notebooks", tmp_path / "student")}
    for path in NOTEBOOKS:
        released = _read(course["dir"] / "release" / path.stem / path.name)
        ours = _read(built[path.name])
        assert _comparable(ours) == _comparable(released), path.name
        text = "\n".join(_source(cell) for cell in released["cells"])
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
        model_answers = [
            line
            for cell in _read(path)["cells"]
            if "solution" in cell["metadata"].get("tags", [])
            for line in _source(cell).splitlines()
            if len(line.strip()) > 20
        ]
        assert not [line for line in model_answers if line in text], path.name
        assert len(derive(_read(path), path.name)) == len(_grade_ids(released))


def test_hidden_tests_are_hidden_from_students_and_run_in_grading(course):
    notebook, check = HIDDEN_IN
    name = f"{notebook}.ipynb"
    released = _read(course["dir"] / "release" / notebook / name)
    assert "torch.tensor([3.5, 0.0])" not in json.dumps(released)
    for student in STUDENTS:
        graded = _read(course["dir"] / "autograded" / student / notebook / name)
        assert "torch.tensor([3.5, 0.0])" in _source(_grade_ids(graded)[check])


def test_a_check_edited_by_the_student_is_restored(course):
    for path in NOTEBOOKS:
        check = f"check_{WRONG[path.stem][0]}"
        graded = _read(course["dir"] / "autograded" / "wrong" / path.stem / path.name)
        source = _source(_grade_ids(graded)[check])
        assert TAMPERED not in source and f"{check}(" in source, path.name


@each_notebook
def test_a_make_student_copy_handed_in_earns_every_point(course, path):
    """Every exercise solved in a ``make student`` copy scores; its written answers
    wait for a person, and once graded by hand the export counts them."""
    automatic = sum(_checks(_read(path)).values())
    written = sum(_checks(_read(path), written=True).values())
    row = course["rows"][(path.stem, "handed_in")]
    assert float(row["score"]) == automatic
    assert float(row["awaiting_manual_grading"]) == written
    graded = course["graded"][(path.stem, "handed_in")]
    assert float(graded["score"]) == automatic + written == float(graded["max_score"])
    assert float(graded["awaiting_manual_grading"]) == 0.0
    assert _failing_cells(course, path, "handed_in") == {
        "error": [],
        "graded": [],
        "unexecuted": [],
    }


@each_notebook
def test_the_export_says_which_points_await_manual_grading(course, path):
    written = sum(_checks(_read(path), written=True).values())
    rows = course["rows"]
    assert float(rows[(path.stem, "solved")]["awaiting_manual_grading"]) == written
    assert float(rows[(path.stem, "untouched")]["awaiting_manual_grading"]) == 0.0
    if written:
        assert f"solved / {path.stem}: {written:.1f} points" in course["report"]
        assert f"handed_in / {path.stem}" not in course["report_after"]


# Tampering: ways a student might try to earn a point without a correct answer. Each
# submission is a short notebook (the head of notebook 02, up to its first exercise's
# check), graded by nbgrader itself; none of them may earn the point.
TAMPER_NOTEBOOK = "02_rl_concepts"
TAMPER_ANSWER = "discounted_return"
TAMPER_CHECK = "check_discounted_return"
FAKE_CHECK = f"\n\ndef {TAMPER_CHECK}(fn):\n    return fn\n"
WRONG_SUM = "return float(sum(rewards))  # forgets the discount"


def _cell_of(notebook: dict, grade_id: str) -> dict:
    return _grade_ids(notebook)[grade_id]


def _import_cell(notebook: dict) -> dict:
    return next(
        cell
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        and "course_utils.lessons.checks" in _source(cell)
    )


def _prepend(cell: dict, code: str) -> None:
    cell["source"] = code + _source(cell)


def _tampered(solved: dict, released: dict) -> dict[str, dict]:
    """Submission name -> notebook. All but ``solved`` must earn nothing."""

    def unsolved() -> dict:
        return copy.deepcopy(released)

    out = {"solved": copy.deepcopy(solved), "untouched": unsolved()}
    # one line in the answer cell switches grading mode off through the environment
    nb = out["env_in_answer"] = unsolved()
    _prepend(
        _cell_of(nb, TAMPER_ANSWER), 'import os\nos.environ["COURSE_GRADING"] = "0"\n'
    )
    # the same from a cell of the student's own, inserted before the imports
    nb = out["env_before_imports"] = unsolved()
    nb["cells"].insert(
        nb["cells"].index(_import_cell(nb)),
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "tamper-env",
            "metadata": {},
            "outputs": [],
            "source": 'import os\nos.environ.pop("NBGRADER_EXECUTION", None)\n'
            'os.environ["COURSE_GRADING"] = "0"',
        },
    )
    # the package's grading_mode replaced, where it is defined and where it is used
    nb = out["grading_mode_replaced"] = unsolved()
    _prepend(
        _cell_of(nb, TAMPER_ANSWER),
        "import course_utils.common.modes\nimport course_utils.lessons.checks\n"
        "course_utils.common.modes.grading_mode = lambda: False\n"
        "course_utils.lessons.checks.grading_mode = lambda: False\n",
    )
    # a fake check defined in the import cell, or in the answer cell
    nb = out["fake_check_in_imports"] = unsolved()
    _import_cell(nb)["source"] = _source(_import_cell(nb)) + FAKE_CHECK
    nb = out["fake_check_in_answer"] = unsolved()
    _cell_of(nb, TAMPER_ANSWER)["source"] = (
        _source(_cell_of(nb, TAMPER_ANSWER)) + FAKE_CHECK
    )
    # NumPy's comparison rebound before a wrong answer
    nb = out["allclose_replaced"] = _with_wrong_answer(
        copy.deepcopy(solved), TAMPER_ANSWER, WRONG_SUM
    )
    _prepend(
        _cell_of(nb, TAMPER_ANSWER),
        "np.allclose = lambda *a, **k: True\n",
    )
    return out


def _head(notebook: dict, last_grade_id: str) -> dict:
    """``notebook`` up to the cell ``last_grade_id``, without the episodes of its
    first sections (they take time and grade nothing)."""
    cells = notebook["cells"]
    end = cells.index(_cell_of(notebook, last_grade_id)) + 1
    first = cells.index(_import_cell(notebook)) + 3  # imports, Config, seeding
    keep = cells[:first] + [
        cell
        for cell in cells[first:end]
        if "nbgrader" in cell.get("metadata", {})
        or (cell["cell_type"] == "markdown" and "Exercise" in _source(cell))
    ]
    return {**notebook, "cells": keep}


@pytest.fixture(scope="module")
def tampered(tmp_path_factory) -> dict:
    """The tampered submissions of one assignment, autograded: their check scores."""
    source_path = ROOT / "notebooks" / f"{TAMPER_NOTEBOOK}.ipynb"
    course = tmp_path_factory.mktemp("nbgrader-tamper") / "course"
    (course / ".jupyter").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    name = source_path.name
    solved = _head(_read(source_path), TAMPER_CHECK)
    _write(solved, course / "source" / TAMPER_NOTEBOOK / name)
    _nbgrader(course, "generate_assignment", TAMPER_NOTEBOOK)
    released = _read(course / "release" / TAMPER_NOTEBOOK / name)
    submissions = _tampered(solved, released)
    for student, notebook in submissions.items():
        _write(notebook, course / "submitted" / student / TAMPER_NOTEBOOK / name)
    _nbgrader(course, "autograde", TAMPER_NOTEBOOK)
    from nbgrader.api import Gradebook

    url = f"sqlite:///{course / 'gradebook.db'}"
    with Gradebook(url, course_id=COURSE_ID) as gradebook:
        scores = {
            student: gradebook.find_grade(
                TAMPER_CHECK, TAMPER_NOTEBOOK, TAMPER_NOTEBOOK, student
            ).score
            for student in submissions
        }
    print("\ntampered submissions, points:", scores)
    return scores


TAMPERING = (
    "env_in_answer",
    "env_before_imports",
    "grading_mode_replaced",
    "fake_check_in_imports",
    "fake_check_in_answer",
    "allclose_replaced",
)


def test_tamper_controls_the_solved_head_earns_the_point(tampered):
    assert tampered["solved"] == 1.0 and tampered["untouched"] == 0.0


@pytest.mark.parametrize("student", TAMPERING)
def test_tamper_earns_no_point(tampered, student):
    assert tampered[student] == 0.0, f"{student} earned {tampered[student]} points"
