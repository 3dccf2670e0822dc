"""How long a lesson reads, how many numbers it types, how much the student writes.

    python tools/lesson_stats.py                     # every notebook in notebooks/
    python tools/lesson_stats.py notebooks/01_mlp_basics.ipynb --numbers

Per notebook it prints:

- **words**: markdown words a student reads, i.e. whitespace-separated tokens holding a
  letter or a digit, in markdown cells *not* tagged ``solution`` (the instructors'
  answers), fenced code blocks and HTML tags left out (code, not prose), inline code
  and LaTeX counted; ``core`` is the same count without the optional sections
  (``course_utils.lessons.sections``);
- **long cells**: markdown cells over 150 words (STYLE.md: one idea per cell, usually
  under 150 words);
- **typed numbers**: numerals typed into that same markdown, the budget of STYLE.md's
  "Numbers come from cells" (about 60 per notebook). A numeral is a run of digits with
  its decimal point, thousands separators and exponent (``1,797``, ``0.5``, ``1e-4``
  count once each, and so does a size such as ``8×8``). Not counted, because they
  name things rather than state figures: digits glued to a letter or an underscore
  (``W1``, ``float64``, ``mnist_784``, ``2B``),
  the numbering of headings and of ordered-list items, cross-references (``Section
  3``, ``Exercise 5``, ``Question 4``, ``notebook 02``, ``step 2``) and link targets.
  Numbers in inline code and LaTeX *are* counted (``alpha=1e-4`` is a typed figure,
  even when it is a definition); ``--numbers`` lists every counted numeral with its
  cell, to check each one is a definition or is printed by a cell above it;
- **student lines**: non-blank lines that are not only a comment inside ``### BEGIN
  SOLUTION`` / ``### END SOLUTION`` regions: the code the student writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from course_utils.lessons.sections import optional_cells

ROOT = Path(__file__).resolve().parents[1]
LONG_CELL = 150

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->|<[^>\n]+>", re.DOTALL)  # comments and HTML tags
_LINK_TARGET = re.compile(r"\]\([^)]*\)|https?://\S+")
_HEADING_NUMBER = re.compile(r"^(#{1,6}\s*)(?:\d+(?:\.\d+)*\.?\s)?", re.MULTILINE)
_LIST_NUMBER = re.compile(r"^(\s*)\d+[.)]\s", re.MULTILINE)
_REFERENCE = re.compile(
    r"\b(?:[Ss]ections?|[Ee]xercises?|[Qq]uestions?|[Nn]otebooks?|[Ss]teps?|[Cc]ells?"
    r"|[Pp]arts?)\s+\d+(?:\s*(?:[–-]|and|or|,)\s*\d+)*"
)
# a numeral not glued to a letter, digit or underscore on either side; 8×8 is one
_NUMBER = re.compile(
    r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+−]?\d+)?"
    r"(?:\s?×\s?\d+)*(?![\w])"
)
_SOLUTION = re.compile(
    r"^\s*### BEGIN SOLUTION\s*$(.*?)^\s*### END SOLUTION\s*$",
    re.MULTILINE | re.DOTALL,
)


def _text(cell: dict) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _is_answer(cell: dict) -> bool:
    return "solution" in cell.get("metadata", {}).get("tags", [])


def prose(markdown: str) -> str:
    """Markdown without fenced code blocks, HTML comments and HTML tags."""
    return _COMMENT.sub(" ", _FENCE.sub(" ", markdown))


def count_words(markdown: str) -> int:
    return sum(bool(re.search(r"\w", token)) for token in prose(markdown).split())


def typed_numbers(markdown: str) -> list[str]:
    """The numerals the rule above counts, in order."""
    text = _LINK_TARGET.sub("]", prose(markdown))
    text = _HEADING_NUMBER.sub(r"\1", text)
    text = _LIST_NUMBER.sub(r"\1", text)
    text = _REFERENCE.sub(" ", text)
    return _NUMBER.findall(text)


def student_lines(code: str) -> int:
    lines = 0
    for region in _SOLUTION.findall(code):
        for line in region.splitlines():
            stripped = line.strip()
            lines += bool(stripped) and not stripped.startswith("#")
    return lines


def stats(path: Path) -> dict:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    result = {"words": 0, "core words": 0, "long cells": [], "numbers": []}
    try:
        optional = set(optional_cells(notebook, path.name))
    except ValueError as error:  # the sections break the convention: say so, go on
        print(f"  ({error})", file=sys.stderr)
        optional, result["core words"] = set(), None
    result["student lines"] = 0
    for index, cell in enumerate(notebook["cells"]):
        source = _text(cell)
        if cell["cell_type"] == "code":
            result["student lines"] += student_lines(source)
            continue
        if cell["cell_type"] != "markdown" or _is_answer(cell):
            continue
        words = count_words(source)
        result["words"] += words
        if result["core words"] is not None and index not in optional:
            result["core words"] += words
        if words > LONG_CELL:
            result["long cells"].append((index, words))
        result["numbers"] += [(index, n) for n in typed_numbers(source)]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--numbers", action="store_true", help="list every counted numeral by cell"
    )
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(
        f"{'notebook':40s} {'words':>6s} {'core':>6s} {'numbers':>8s} "
        f"{'student lines':>14s}  cells over {LONG_CELL} words",
        flush=True,
    )
    for path in paths:
        s = stats(path)
        long_cells = ", ".join(f"{i} ({w})" for i, w in s["long cells"]) or "none"
        core = "?" if s["core words"] is None else s["core words"]
        print(
            f"{path.name:40s} {s['words']:6d} {core:>6} "
            f"{len(s['numbers']):8d} {s['student lines']:14d}  {long_cells}"
        )
        if args.numbers:
            by_cell: dict[int, list[str]] = {}
            for index, number in s["numbers"]:
                by_cell.setdefault(index, []).append(number)
            for index, numbers in by_cell.items():
                print(f"    cell {index:3d}: {' '.join(numbers)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
