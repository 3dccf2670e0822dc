"""What ``nbgrader export`` leaves out: the points that still await manual grading.

    nbgrader export --to grades.csv
    python -m course_utils.lessons.grades grades.csv     # in the grading folder

nbgrader's CSV has a score and a max_score per submission, nothing more: a notebook
whose 7 written points nobody has graded yet reads "1.0 of 11.0", like one that earned
1 point. This command adds the column ``awaiting_manual_grading`` (the points of the
cells that still need a person, from nbgrader's gradebook) to every row of the CSV,
and prints which submissions still need the formgrader. Run it again after grading by
hand (and exporting again): the column falls to 0.

Needs nbgrader (the ``instructor`` extra); it only reads the gradebook.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

COLUMN = "awaiting_manual_grading"


def pending(gradebook: Path) -> dict[tuple[str, str], tuple[float, list[str]]]:
    """Points awaiting manual grading per submission.

    Args:
        gradebook: nbgrader's SQLite gradebook (``gradebook.db`` in the grading folder).

    Returns:
        ``{(assignment, student_id): (points, ["notebook: grade_id", ...])}`` for every
        submission in the gradebook (0 points and no cells when nothing waits).
    """
    from nbgrader.api import Gradebook  # the instructor extra

    if not Path(gradebook).is_file():
        raise ValueError(
            f"{gradebook} does not exist. Fix: run this in the grading folder (where "
            "nbgrader_config.py and gradebook.db are), or pass --gradebook PATH."
        )
    out: dict[tuple[str, str], tuple[float, list[str]]] = {}
    # course_id="" reads the gradebook without adding a course to it
    with Gradebook(f"sqlite:///{Path(gradebook).resolve()}", course_id="") as book:
        for assignment in book.assignments:
            for submission in assignment.submissions:
                waiting = [
                    (notebook.name, grade.name, float(grade.max_score))
                    for notebook in submission.notebooks
                    for grade in notebook.grades
                    if grade.needs_manual_grade
                ]
                out[(assignment.name, submission.student.id)] = (
                    sum(points for _, _, points in waiting),
                    [f"{notebook}: {cell}" for notebook, cell, _ in waiting],
                )
    return out


def add_pending_column(
    csv_path: Path, waiting: dict[tuple[str, str], tuple[float, list[str]]]
) -> list[dict[str, str]]:
    """Rewrite nbgrader's export ``csv_path`` with the :data:`COLUMN` added after
    ``max_score``; return its rows.

    Raises:
        ValueError: when the file is not nbgrader's CSV export.
    """
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    needed = {"assignment", "student_id", "score", "max_score"}
    if not needed <= set(fields):
        raise ValueError(
            f"{csv_path} is not nbgrader's export (columns {fields}). Fix: "
            "nbgrader export --to grades.csv, then run this on grades.csv."
        )
    if COLUMN not in fields:
        fields.insert(fields.index("max_score") + 1, COLUMN)
    for row in rows:
        points, _ = waiting.get((row["assignment"], row["student_id"]), (0.0, []))
        row[COLUMN] = f"{points:.1f}"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit 0, or 2 on an error."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.lessons.grades",
        description="Add the points awaiting manual grading to nbgrader's grades.csv.",
    )
    parser.add_argument("csv", type=Path, help="the file nbgrader export wrote")
    parser.add_argument("--gradebook", type=Path, default=Path("gradebook.db"))
    args = parser.parse_args(argv)
    try:
        waiting = pending(args.gradebook)
        rows = add_pending_column(args.csv, waiting)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ImportError:
        print("error: needs nbgrader: make instructor", file=sys.stderr)
        return 2
    to_grade = {key: value for key, value in waiting.items() if value[0] > 0}
    total = sum(points for points, _ in to_grade.values())
    print(f"{args.csv}: {len(rows)} rows, column {COLUMN!r} added.")
    if not to_grade:
        print("Nothing awaits manual grading.")
        return 0
    print(
        f"{total:.1f} points in {len(to_grade)} submissions await manual grading "
        "(formgrader: Manual Grading); the scores above do not count them yet:"
    )
    for (assignment, student), (points, cells) in sorted(to_grade.items()):
        print(f"  {student} / {assignment}: {points:.1f} points ({', '.join(cells)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
