"""Open in Colab: every notebook's badge and setup cell, written from one address.

    python -m course_utils.lessons.colab            # write the badges and setup cells
    python -m course_utils.lessons.colab --check    # exit 1 if one is out of date

The course's public repository is named once, in ``pyproject.toml``
(``[project.urls] Repository``). From it this module writes, in every notebook,

- an "Open in Colab" badge under the title of the first markdown cell, and
- the setup cell (the first code cell, ``# extra code – setup``): on Colab only, it
  clones the course to ``/content/course`` and installs it with pip, which adds only
  what Colab lacks (the package's dependencies are the notebooks' run-time needs, all
  satisfied by Colab's IPython 7.34 and ipykernel 5.5.6, so pip leaves those alone).

The README's course map links the same badges; ``tests/lessons/test_colab.py`` checks
that every badge and setup cell agrees with ``pyproject.toml`` and runs the setup cell
in a simulated fresh Colab. To publish the course elsewhere: change the address in
``pyproject.toml``, run this module, and update the README's badges.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from course_utils.lessons.notebook_files import rewrite_notebooks

BRANCH = "main"  # the branch the badges open and the setup cell clones (its default)
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SETUP_MARKER = "# extra code – setup"
_BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\(.*$")
_REPOSITORY = re.compile(r'^\s*Repository\s*=\s*"([^"]+)"\s*$', re.MULTILINE)
_GITHUB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repository(root: Path) -> str:
    """The course's address, ``[project.urls] Repository`` in ``root/pyproject.toml``.

    Raises:
        ValueError: when the file has no such entry or it is not a GitHub address
            (Colab opens notebooks from GitHub).
    """
    text = (Path(root) / "pyproject.toml").read_text(encoding="utf-8")
    urls = text.split("[project.urls]", 1)
    found = _REPOSITORY.search(urls[1].split("\n[", 1)[0]) if len(urls) == 2 else None
    if not found:
        raise ValueError(
            f"{root}/pyproject.toml names no repository. Fix: add "
            '[project.urls] Repository = "https://github.com/OWNER/NAME".'
        )
    if not _GITHUB.match(found.group(1)):
        raise ValueError(
            f"Repository = {found.group(1)!r} is not https://github.com/OWNER/NAME: "
            "Colab opens notebooks from GitHub."
        )
    return found.group(1)


def colab_url(repo: str, notebook: str) -> str:
    """Colab's address of ``notebook`` (a path in the repository, e.g.
    ``notebooks/03_dqn_mountaincar.ipynb``) on :data:`BRANCH` of ``repo``."""
    match = _GITHUB.match(repo)
    if not match:
        raise ValueError(f"{repo!r} is not https://github.com/OWNER/NAME.")
    owner, name = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{BRANCH}/{notebook}"


def badge(repo: str, notebook: str) -> str:
    """The badge as markdown: an image linking to :func:`colab_url`."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, notebook)})"


def setup_cell(repo: str) -> str:
    """The source of every notebook's setup cell, for the course at ``repo``."""
    return f"""\
{SETUP_MARKER}. Locally there is nothing to do: `make lab` installed the course.
# On Colab it fetches the course into /content/course and installs with pip only what
# Colab lacks (IPython, ipykernel and Jupyter stay as they are).
import sys

if "google.colab" in sys.modules:
    import importlib.util
    import os
    import subprocess

    COURSE_REPO = "{repo}"
    if importlib.util.find_spec("course_utils") is None:  # not installed yet
        if not os.path.isdir("course"):
            clone = ["git", "clone", "-q", "--depth", "1", COURSE_REPO, "course"]
            subprocess.run(clone, check=True)
        pip = [sys.executable, "-m", "pip", "install", "-q", "-e", "course"]
        subprocess.run(pip, check=True)
        sys.path.insert(0, os.path.abspath("course"))  # this kernel can't see it yet"""


def _text(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _set_text(cell: dict[str, Any], text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def _with_badge(text: str, line: str) -> str:
    """``text`` with ``line`` as its badge: in place of the old, or under the title."""
    lines = text.split("\n")
    for index, old in enumerate(lines):
        if _BADGE_LINE.match(old):
            lines[index] = line
            return "\n".join(lines)
    return "\n".join([lines[0], "", line, *lines[1:]])


def apply(notebook: dict[str, Any], path: str, repo: str) -> bool:
    """Write the badge and the setup cell of ``notebook`` (its repository ``path``,
    e.g. ``notebooks/01_mlp_basics.ipynb``); True if anything changed.

    Raises:
        ValueError: when the first cell is not the title's markdown cell or no code
            cell starts with the setup marker.
    """
    cells = notebook["cells"]
    if not cells or cells[0]["cell_type"] != "markdown":
        raise ValueError(f"{path}: the first cell must be the title (markdown).")
    setup = next((c for c in cells if c["cell_type"] == "code"), None)
    if setup is None or not _text(setup).startswith(SETUP_MARKER):
        raise ValueError(
            f"{path}: the first code cell must be the setup cell, starting with "
            f"{SETUP_MARKER!r}."
        )
    changed = False
    for cell, text in (
        (cells[0], _with_badge(_text(cells[0]), badge(repo, path))),
        (setup, setup_cell(repo)),
    ):
        if _text(cell) != text:
            _set_text(cell, text)
            changed = True
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit 0, 1 (--check: stale), 2 (error)."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.lessons.colab",
        description="Write every notebook's Colab badge and setup cell.",
    )
    parser.add_argument("--root", type=Path, default=Path("."), help="the course")
    parser.add_argument("--check", action="store_true", help="only report, exit 1")
    args = parser.parse_args(argv)
    try:
        repo = repository(args.root)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return rewrite_notebooks(
        sorted((args.root / "notebooks").glob("*.ipynb")),
        lambda notebook, path: apply(notebook, f"notebooks/{path.name}", repo),
        check=args.check,
        fix="python -m course_utils.lessons.colab",
    )


if __name__ == "__main__":
    raise SystemExit(main())
