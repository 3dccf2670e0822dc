"""The browser test: every notebook and every student copy, "Restart Kernel and Run
All Cells" in JupyterLab, driven in Debian's headless Chromium through Playwright.

Deselected by default (minutes): ``make e2e`` runs it (``pytest --e2e -m e2e
tests/e2e``), after ``make student`` has built the student copies. One JupyterLab
server and one browser serve the whole session; each notebook is one test, so
``-k 02`` picks notebook 02. Screenshots go to ``build/e2e/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab_driver
import pytest

pytestmark = pytest.mark.e2e

REPO = lab_driver.REPO
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
STUDENT = REPO / "build" / "student"
# the student copies are named after the notebooks: build them before testing
PATHS = [p.relative_to(REPO).as_posix() for p in NOTEBOOKS] + [
    (STUDENT / p.name).relative_to(REPO).as_posix() for p in NOTEBOOKS
]
SHOTS = REPO / "build" / "e2e"
TIMEOUT = 900.0  # s allowed per notebook for Run All
CHROMIUM = os.environ.get("E2E_CHROMIUM", lab_driver.DEFAULT_CHROMIUM)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="course-e2e-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workdir: Path) -> Iterator[lab_driver.Server]:
    overrides = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.json"
    shipped = REPO / "jupyter" / "overrides.json"
    if not overrides.exists() or overrides.read_bytes() != shipped.read_bytes():
        pytest.fail(f"{overrides} differs from {shipped}: run make install")
    with lab_driver.jupyterlab(REPO, workdir, SHOTS / "jupyterlab.log") as running:
        yield running


@pytest.fixture(scope="session")
def browser(workdir: Path) -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found. Install Debian's chromium (apt-get install "
            "chromium) or set E2E_CHROMIUM to a Chromium executable."
        )
    pytest.importorskip("playwright.sync_api", reason="make dev")
    with lab_driver.chromium(workdir / "chromium-profile", CHROMIUM) as context:
        yield context


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("rel", PATHS)
def test_run_all_shows_no_error(rel: str, server: Any, browser: Any) -> None:
    path = REPO / rel
    assert path.is_file(), f"{rel} does not exist: run make student first"
    before = _digest(path)
    result = lab_driver.run_notebook(
        browser, server, rel, path, SHOTS / lab_driver.screenshot_name(rel), TIMEOUT
    )
    if _digest(path) != before:
        result.errors.append("the notebook file on disk was modified")
    print(
        f"{rel}: {result.seconds:.1f} s, {result.images} images, "
        f"{result.videos} videos, screenshot {result.screenshot}"
    )
    assert result.ok, f"{rel}:\n" + "\n".join(f"  - {e}" for e in result.errors)


def test_a_students_lab_shows_no_grading_tools(server: Any) -> None:
    """make install has no nbgrader, and make test's install leaves its JupyterLab
    tools off: no Nbgrader menu, Validate button or Create Assignment panel, nothing
    about nbgrader_config.py in the log."""
    if (Path(sys.prefix) / ".course-instructor").exists():
        pytest.skip("make instructor switched nbgrader's JupyterLab tools on here")
    request = urllib.request.Request(
        f"{server.url}/lab", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        page = response.read().decode("utf-8", errors="replace")
    shown = lab_driver.grading_tools_shown(page, server.log.read_text(errors="replace"))
    assert not shown, "a student's JupyterLab shows nbgrader: " + "; ".join(shown)
