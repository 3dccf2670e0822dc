"""Build the course as a website: every notebook with its real figures and videos.

    python tools/book.py            # full mode, the real figures (make book)
    python tools/book.py --fast     # fast mode, the CI build (make book-fast)

1. **Execute** each notebook of ``notebooks/`` in a kernel of this Python, with
   ``notebooks/`` as its working folder, unless the cache holds it already: the cache
   (``build/book/cache/<mode>/``, outside git) is keyed by the notebook's cells, every
   file of ``course_utils/`` and ``data/``, and the mode, so a rebuild re-runs only
   the notebooks whose inputs changed. Full mode takes about 35 minutes of CPU, one
   thread per notebook (``--jobs 2`` runs two at a time). Each notebook's run time,
   wall and kernel CPU, is written beside it (``<name>.time.json``).
2. **Shape it for reading**: solutions behind a "show" toggle, the instructors'
   model answers (markdown cells tagged ``solution``) and the Colab setup cell left
   out, the mode banner and progress-bar widgets (empty boxes in a static page) left
   out, links to repository files outside ``notebooks/`` pointed at the repository.
3. **Render** with Jupyter Book 1 (Sphinx; it builds offline) into
   ``build/book/html/``, warnings as errors: a broken link between pages or a
   missing image fails the build. The landing page is the README's course map.

The site's address and the repository's are in ``pyproject.toml`` (``[project.urls]``);
``tests/e2e/test_site.py`` opens every page in headless Chromium.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from course_utils.lessons.colab import SETUP_MARKER
from course_utils.lessons.notebook_files import read_notebook, write_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CONFIG = ROOT / "docs" / "book"
OUT = ROOT / "build" / "book"
CELL_TIMEOUT = 3600  # s: full mode's longest training cell takes about 10 minutes
WIDGET = "application/vnd.jupyter.widget-view+json"
BANNERS = ("FAST MODE is on", "Full mode: budgets", "GRADING MODE is on")
SOLUTION_MARKER = "### BEGIN SOLUTION"
# [text](target), ![alt](target), src="target", href="target"
LINK = re.compile(r"(?P<head>\]\(|(?:src|href)=\")(?P<target>[^)\"\s]+)(?P<tail>[)\"])")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#|/)", re.IGNORECASE)
IMAGE_SUFFIXES = {".png", ".gif", ".jpg", ".jpeg", ".svg", ".webp"}


def project_urls() -> dict[str, str]:
    """``[project.urls]`` of pyproject.toml: the one place that names the addresses.

    Read with a pattern, not tomllib, which Python 3.10 lacks.
    """
    text = (ROOT / "pyproject.toml").read_text()
    section = text.split("[project.urls]", 1)[1].split("\n[", 1)[0]
    return dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]+)"', section, re.MULTILINE))


# --- 1. execute, with a cache -------------------------------------------------------


def inputs_digest(paths: Iterable[Path]) -> str:
    """SHA-256 over the files under ``paths`` (names and contents, in sorted order)."""
    digest = hashlib.sha256()
    for top in paths:
        files = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in filter(Path.is_file, files):
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(notebook: dict[str, Any], mode: str, package: str) -> str:
    """What an executed notebook depends on: its cells, package and data, mode."""
    cells = [(c["cell_type"], _text(c.get("source", ""))) for c in notebook["cells"]]
    payload = {"cells": cells, "mode": mode, "inputs": package}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def execute(path: Path, mode: str, cache: Path, package: str) -> dict[str, Any]:
    """The notebook at ``path`` with its outputs, from the cache or from a kernel."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    key = cache_key(notebook, mode, package)
    cached = cache / f"{path.stem}.ipynb"
    stamp = cache / f"{path.stem}.key"
    if cached.is_file() and stamp.is_file() and stamp.read_text() == key:
        print(f"book: {path.name}: cached ({mode} mode)", flush=True)
        return read_notebook(cached)
    print(f"book: {path.name}: executing in {mode} mode ...", flush=True)
    start, load = time.perf_counter(), os.getloadavg()[0]
    cpu = {"seconds": 0.0}  # the kernel's CPU time: a load-independent run time

    def kernel_cpu(**_: Any) -> None:
        import psutil  # ipykernel's own dependency

        times = psutil.Process(client.km.provisioner.pid).cpu_times()
        cpu["seconds"] = sum(times[:4])  # user, system and their children's

    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
        on_cell_executed=kernel_cpu,
    )
    client.execute()
    cache.mkdir(parents=True, exist_ok=True)
    write_notebook(cached, notebook)
    stamp.write_text(key)
    seconds = time.perf_counter() - start
    load_after = os.getloadavg()[0]
    timing = {
        "seconds": round(seconds, 1),
        "kernel_cpu_seconds": round(cpu["seconds"], 1),
        "load": [load, load_after],
    }
    (cache / f"{path.stem}.time.json").write_text(json.dumps(timing) + "\n")
    minutes = f"{seconds / 60:.1f} min, kernel CPU {cpu['seconds'] / 60:.1f} min"
    print(f"book: {path.name}: executed in {minutes}", flush=True)
    return read_notebook(cached)


def kernel_environment(fast: bool) -> None:
    """The kernels inherit this process's environment: set the mode and rendering."""
    os.environ.pop("COURSE_GRADING", None)
    os.environ.pop("NBGRADER_EXECUTION", None)
    if fast:
        os.environ["COURSE_FAST"] = "1"
    else:
        os.environ.pop("COURSE_FAST", None)
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")


# --- 2. shape for reading ---------------------------------------------------------


def _text(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def _add_tag(cell: dict[str, Any], tag: str) -> None:
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if tag not in tags:
        tags.append(tag)


def shape_cell(cell: dict[str, Any]) -> dict[str, Any] | None:
    """One cell as the site shows it, or None when the site leaves it out."""
    cell = copy.deepcopy(cell)
    source = _text(cell.get("source", ""))
    tags = cell.get("metadata", {}).get("tags", [])
    if cell["cell_type"] == "markdown" and "solution" in tags:
        return None  # the instructors' model answers
    if cell["cell_type"] != "code":
        return cell
    if source.lstrip().startswith(SETUP_MARKER):
        return None  # installs the course on Colab; nothing to read
    if SOLUTION_MARKER in source:
        _add_tag(cell, "hide-input")  # the solution behind a toggle
    outputs = []
    for output in cell.get("outputs", []):
        if WIDGET in output.get("data", {}):
            continue  # a progress bar: an empty box in a static page
        if output.get("output_type") == "stream":
            lines = _text(output["text"]).splitlines(keepends=True)
            kept = [line for line in lines if not line.startswith(BANNERS)]
            if not "".join(kept).strip():
                continue
            output = {**output, "text": "".join(kept)}
        outputs.append(output)
    cell["outputs"] = outputs
    return cell


def rewrite_links(
    text: str, here: Path, site_pages: set[str], copy_media: Callable[[Path], str]
) -> str:
    """Point a page's relative links where they work on the site.

    A link to a notebook becomes a link to its page; an image is copied beside the
    pages; any other file of the repository is linked on the repository's site.

    Raises:
        ValueError: a relative link to a file that does not exist.
    """
    repository = project_urls()["Repository"].rstrip("/")

    def fix(match: re.Match[str]) -> str:
        target = match["target"]
        if EXTERNAL.match(target):
            return match[0]
        file, _, anchor = target.partition("#")
        resolved = (here / file).resolve()
        if not resolved.exists():
            raise ValueError(
                f"{here.name}: the link {target!r} points to {resolved}, which "
                "does not exist. Fix the link in the source file."
            )
        if resolved.parent == NOTEBOOKS and resolved.name in site_pages:
            new = resolved.name
        elif resolved.suffix.lower() in IMAGE_SUFFIXES:
            new = copy_media(resolved)
        else:
            kind = "tree" if resolved.is_dir() else "blob"
            new = f"{repository}/{kind}/main/{resolved.relative_to(ROOT).as_posix()}"
        return f"{match['head']}{new}{'#' + anchor if anchor else ''}{match['tail']}"

    return LINK.sub(fix, text)


def landing_page(readme: str) -> str:
    """The README up to its instructors' section (the course map): the index."""
    cut = readme.find("\n## For instructors")
    page = readme if cut < 0 else readme[:cut]
    urls = project_urls()
    return page.rstrip() + (
        "\n\n## Run it yourself\n\n"
        "The course, its tests and the instructors' guide are at "
        f"<{urls['Repository']}>.\n"
    )


def notebook_markdown(cell: dict[str, Any], fix: Callable[[str], str]) -> None:
    if cell["cell_type"] == "markdown":
        cell["source"] = fix(_text(cell["source"]))


# --- 3. render --------------------------------------------------------------------


def write_sources(notebooks: dict[str, dict[str, Any]], src: Path) -> None:
    """The book's source folder: config, landing page, shaped notebooks, media."""
    if src.exists():
        shutil.rmtree(src)
    media = src / "_static" / "media"  # Sphinx copies _static/ as it is
    media.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(CONFIG / name, src / name)
    pages = set(notebooks)

    def copy_media(path: Path) -> str:
        shutil.copy(path, media / path.name)
        return f"_static/media/{path.name}"

    index = landing_page((ROOT / "README.md").read_text())
    (src / "index.md").write_text(rewrite_links(index, ROOT, pages, copy_media))
    for name, notebook in notebooks.items():
        shaped = copy.deepcopy(notebook)
        cells = [shape_cell(cell) for cell in shaped["cells"]]
        shaped["cells"] = [cell for cell in cells if cell is not None]
        for cell in shaped["cells"]:
            notebook_markdown(
                cell, lambda text: rewrite_links(text, NOTEBOOKS, pages, copy_media)
            )
        write_notebook(src / name, shaped)


def render(src: Path, html: Path) -> None:
    """Jupyter Book, warnings as errors (broken references, missing images)."""
    work = src.parent / "_sphinx"
    jupyter_book = str(Path(sys.executable).with_name("jupyter-book"))
    command = [jupyter_book, "build", str(src), "--path-output", str(work)]
    command += ["--builder", "html", "-W", "-n", "--keep-going", "-q"]
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"book: jupyter-book failed (exit {done.returncode}); warnings above"
        )
    if html.exists():
        shutil.rmtree(html)
    shutil.copytree(work / "_build" / "html", html)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="fast mode (the CI build)")
    parser.add_argument("--jobs", type=int, default=2, help="notebooks run at once")
    parser.add_argument("--out", type=Path, default=OUT, help="default: build/book")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    mode = "fast" if args.fast else "full"
    kernel_environment(args.fast)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    package = inputs_digest([ROOT / "course_utils", ROOT / "data"])
    cache = args.out / "cache" / mode
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        executed = list(pool.map(lambda p: execute(p, mode, cache, package), paths))
    notebooks = {path.name: nb for path, nb in zip(paths, executed, strict=True)}
    write_sources(notebooks, args.out / "src")
    render(args.out / "src", args.out / "html")
    (args.out / "html" / ".mode").write_text(mode)
    print(f"book: the site is in {args.out / 'html'} ({mode} mode); open index.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
