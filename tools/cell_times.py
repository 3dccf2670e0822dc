"""How long each cell of the executed notebooks took, and whether the long ones showed
a progress bar while they ran.

    python tools/cell_times.py build/book/cache/full      # after `make book`
    python tools/cell_times.py build/book/cache/full --over 20

Reads the notebooks ``tools/book.py`` executed (nbclient stamps every cell with when
it started and finished) and lists the cells that ran longer than ``--over`` seconds,
each with the kind of progress it showed: a widget bar (tqdm in JupyterLab), a text
bar (tqdm without widgets) or nothing. A cell that long with nothing to watch is a
cell to fix: the course's rule is a bar that counts what the run counts. Exits 1 when
one is found, so a build script can stop on it.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from course_utils.lessons.notebook_files import read_notebook  # noqa: E402

WIDGET = "application/vnd.jupyter.widget-view+json"
TEXT_BAR = re.compile(r"\d+%\|")  # tqdm's text bar: " 40%|████      | 4/10"


def seconds(cell: dict[str, Any]) -> float | None:
    """The cell's run time from nbclient's stamps, or None if it was not run."""
    stamps = cell.get("metadata", {}).get("execution", {})
    start, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
    if not (start and end):
        return None
    parse = datetime.fromisoformat
    return (
        parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))
    ).total_seconds()


def progress_kind(cell: dict[str, Any]) -> str:
    """``"widget bar"``, ``"text bar"`` or ``"none"``: what the reader could watch."""
    outputs = cell.get("outputs", [])
    if any(WIDGET in out.get("data", {}) for out in outputs):
        return "widget bar"
    text = "".join(
        "".join(out.get("text", "")) for out in outputs if out.get("name") == "stderr"
    )
    return "text bar" if TEXT_BAR.search(text) else "none"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "folder", type=Path, help="executed notebooks, e.g. build/book/cache/full"
    )
    parser.add_argument("--over", type=float, default=20.0, help="seconds (default 20)")
    args = parser.parse_args(argv)
    paths = sorted(args.folder.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        parser.error(
            f"no executed notebooks (NN_*.ipynb) in {args.folder}. Fix: run "
            "`make book` "
            "first, or pass the folder it wrote (build/book/cache/full)."
        )
    silent = 0
    for path in paths:
        cells = read_notebook(path)["cells"]
        times = [
            (i, seconds(c), c) for i, c in enumerate(cells) if c["cell_type"] == "code"
        ]
        total = sum(t for _, t, _ in times if t is not None)
        print(f"{path.name}: {total / 60:.1f} min over {len(times)} code cells")
        for i, t, cell in times:
            if t is None or t < args.over:
                continue
            kind = progress_kind(cell)
            silent += kind == "none"
            first = "".join(cell["source"]).strip().splitlines()[0][:60]
            print(f"  cell {i:3d}: {t:6.1f} s  {kind:10s}  {first}")
    if silent:
        print(f"{silent} cell(s) over {args.over:g} s showed no progress bar")
    return 1 if silent else 0


if __name__ == "__main__":
    raise SystemExit(main())
