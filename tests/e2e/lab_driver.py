"""The browser test's driver: what a student sees when they "Run All" in JupyterLab.

``test_browser.py`` runs every notebook in ``notebooks/`` and every student copy in
``build/student/`` through these steps:

1. starts JupyterLab from the course's ``.venv`` on a free localhost port (token set,
   no browser, ``COURSE_FAST=1``, a fresh user-settings folder with autosave off so
   the notebooks on disk are never rewritten);
2. drives Debian's headless ``chromium`` through Playwright (no browser download);
3. opens ``/lab/tree/<path>?reset``, fails if a dialog (e.g. "Select Kernel") greets
   the student, then runs "Restart Kernel and Run All Cells" and waits until no cell
   shows ``[*]`` and the kernel is idle;
4. fails on error outputs (tracebacks, stderr mentioning "Error"/"Traceback",
   widgets that cannot render, figures shown as text), checks that plots rendered as
   PNG images and that notebooks calling ``show_video`` show a playable ``<video>``;
5. saves a screenshot of the whole notebook to ``build/e2e/<name>.png`` (student
   copies: ``student_<name>.png``).

Every wait is bounded; the server, its kernels and the browser are stopped whatever
happens. The pure parts (output classification, names, video detection) are
unit-tested in ``test_report.py``, which runs with the unit tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIRS = ("notebooks", "build/student")
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}
MAX_SCREENSHOT_HEIGHT = 32000  # px: taller notebooks are cut at the bottom
SERVER_START_TIMEOUT = 180.0  # s
OPEN_TIMEOUT = 180.0  # s: page load, kernel start
RUN_START_TIMEOUT = 120.0  # s: from "Restart" to the first queued cell
VIDEO_TIMEOUT = 60.0  # s per <video>
POLL = 2.0  # s

STDERR_MIME = "application/vnd.jupyter.stderr"
ERROR_MIME = "application/vnd.jupyter.error"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FIGURE_TEXT = re.compile(r"^<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>$")
SHOW_VIDEO_CALL = re.compile(r"(?<!def )\bshow_video\s*\(")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
ARROW = re.compile(r"^\s*-+>\s*\d*\s*")


# --------------------------------------------------------------------------- pure parts


def _text(value: str | list[str] | None) -> str:
    """nbformat stores text either as one string or as a list of lines."""
    if value is None:
        return ""
    return value if isinstance(value, str) else "".join(value)


def _first_line_with(text: str, words: Sequence[str]) -> str:
    """The first line of ``text`` containing one of ``words`` (else its first line)."""
    lines = [line.strip() for line in ANSI.sub("", text).splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in words):
            return line[:300]
    return lines[0][:300] if lines else ""


def stderr_is_error(text: str) -> bool:
    """stderr counts as an error when it mentions "Error" or "Traceback".

    Warnings (``UserWarning: ...``) and tqdm's text progress bars do not.
    """
    return "Error" in text or "Traceback" in text


def failing_line(traceback: Sequence[str]) -> str:
    """The source line IPython marks with ``---->`` last in a traceback, or ""."""
    marked = [
        line
        for entry in traceback
        for line in ANSI.sub("", entry).splitlines()
        if line.lstrip().startswith("---->")
    ]
    return ARROW.sub("", marked[-1]).strip()[:200] if marked else ""


def errors_in_notebook(nb: dict[str, Any]) -> list[str]:
    """Error outputs of an executed notebook (nbformat 4 JSON), in cell order.

    Counted as errors: ``error`` outputs (tracebacks), ``stderr`` streams that
    mention "Error" or "Traceback", and figures displayed only as text
    (``<Figure size ... with N Axes>`` without a PNG: the plot did not render).
    Widget outputs (tqdm progress bars) and warnings are fine.
    """
    errors: list[str] = []
    code_index = 0
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        code_index += 1
        where = f"code cell {code_index}"
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                ename, evalue = out.get("ename", "Error"), out.get("evalue", "")
                message = f"{where}: {ename}: {ANSI.sub('', evalue)}".rstrip(": ")
                if not evalue.strip():  # a bare `assert`: show the failing line
                    line = failing_line(out.get("traceback", []))
                    message += f" at `{line}`" if line else ""
                errors.append(message)
            elif kind == "stream" and out.get("name") == "stderr":
                text = _text(out.get("text"))
                if stderr_is_error(text):
                    line = _first_line_with(text, ("Error", "Traceback"))
                    errors.append(f"{where}: stderr: {line}")
            elif kind in ("display_data", "execute_result"):
                data = out.get("data", {})
                plain = _text(data.get("text/plain")).strip()
                if FIGURE_TEXT.match(plain) and not any(
                    key.startswith("image/") for key in data
                ):
                    errors.append(f"{where}: a figure shows as text ({plain})")
    return errors


def errors_in_rendered(items: Sequence[dict[str, str]]) -> list[str]:
    """Errors among rendered outputs as the browser shows them.

    ``items`` holds one ``{"mime": data-mime-type, "text": textContent}`` per
    ``.jp-OutputArea-output`` element. Errors: ``application/vnd.jupyter.error``,
    ``stderr`` mentioning "Error"/"Traceback", and widgets that failed to render
    ("Error displaying widget"). Rendered widgets (tqdm) are fine.
    """
    errors: list[str] = []
    for item in items:
        mime, text = item.get("mime", ""), item.get("text", "")
        if mime == ERROR_MIME:
            errors.append("shown: " + _first_line_with(text, ("Error", "Exception")))
        elif mime == STDERR_MIME and stderr_is_error(text):
            errors.append("shown: " + _first_line_with(text, ("Error", "Traceback")))
        elif "Error displaying widget" in text:
            errors.append("shown: " + _first_line_with(text, ("Error displaying",)))
    return errors


def png_outputs(nb: dict[str, Any]) -> int:
    """How many outputs of an executed notebook carry a PNG image."""
    return sum(
        "image/png" in out.get("data", {})
        for cell in nb.get("cells", [])
        if cell.get("cell_type") == "code"
        for out in cell.get("outputs", [])
    )


def shows_video(nb: dict[str, Any]) -> bool:
    """Whether a code cell calls ``show_video(...)`` (comments and defs ignored)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for line in _text(cell.get("source")).splitlines():
            code = line.split("#", 1)[0]
            if SHOW_VIDEO_CALL.search(code):
                return True
    return False


def screenshot_name(rel_path: str | Path) -> str:
    """``notebooks/02_x.ipynb`` -> ``02_x.png``; student copies get ``student_``."""
    path = Path(rel_path)
    prefix = "student_" if "student" in path.parent.parts else ""
    return f"{prefix}{path.stem}.png"


@dataclass
class Result:
    """What happened to one notebook."""

    path: str
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    images: int = 0
    videos: int = 0
    screenshot: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


# --------------------------------------------------------------------------- JupyterLab


@contextlib.contextmanager
def chromium(
    profile: Path, executable: str, extra_args: Sequence[str] = ()
) -> Iterator[Any]:
    """Debian's headless Chromium through Playwright: one persistent context with the
    course's arguments and viewport, every wait bounded at 60 s by default."""
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[*CHROMIUM_ARGS, *extra_args],
            viewport=VIEWPORT,
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_python() -> str:
    """The course's ``.venv`` Python (JupyterLab and the kernel come from there)."""
    candidate = REPO / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


@dataclass
class Server:
    """A running JupyterLab server."""

    proc: subprocess.Popen[bytes]
    url: str
    token: str
    log: Path

    def api(self, method: str, path: str, timeout: float = 10.0) -> Any:
        """Call the REST API; returns the decoded JSON (or None)."""
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel (bounded; errors ignored)."""
        with contextlib.suppress(Exception):
            for kernel in self.api("GET", "/api/kernels"):
                with contextlib.suppress(Exception):
                    self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=30.0)

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


GRADING_LAB_EXTENSION = "@jupyter/nbgrader"
CONFIG_DATA = re.compile(
    r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.S
)


def grading_tools_shown(page: str, log: str) -> list[str]:
    """What of nbgrader a JupyterLab shows, from its ``/lab`` page and its log: the
    lab extension (Nbgrader menu, Validate button, Create Assignment panel) when it is
    installed and not disabled, and the first log lines that mention nbgrader (its
    server extensions loading, or asking for an nbgrader_config.py)."""
    shown = []
    found = CONFIG_DATA.search(page)
    config = json.loads(found.group(1)) if found else {}
    installed = {e.get("name") for e in config.get("federated_extensions", [])}
    disabled = config.get("disabledExtensions", [])
    if isinstance(disabled, dict):  # {name: true} in some JupyterLab versions
        disabled = [name for name, off in disabled.items() if off]
    if GRADING_LAB_EXTENSION in installed and GRADING_LAB_EXTENSION not in disabled:
        shown.append(f"the {GRADING_LAB_EXTENSION} lab extension is enabled")
    shown += [ln.strip() for ln in log.splitlines() if "nbgrader" in ln.lower()][:3]
    return shown


@contextlib.contextmanager
def jupyterlab(root: Path, workdir: Path, log: Path) -> Iterator[Server]:
    """Start JupyterLab on ``root`` and stop it (and its kernels) on exit."""
    port, token = free_port(), secrets.token_hex(16)
    settings = workdir / "user-settings" / "@jupyterlab" / "docmanager-extension"
    settings.mkdir(parents=True)
    # Autosave off: "Run All" must never write outputs into the course's notebooks.
    (settings / "plugin.jupyterlab-settings").write_text('{"autosave": false}\n')
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # an Agg backend here would hide every inline plot
    env.update(
        COURSE_FAST="1",
        SDL_VIDEODRIVER=env.get("SDL_VIDEODRIVER", "dummy"),
        SDL_AUDIODRIVER=env.get("SDL_AUDIODRIVER", "dummy"),
        JUPYTERLAB_SETTINGS_DIR=str(workdir / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(workdir / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(workdir / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [
        venv_python(),
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp for the commands
        # Safety nets should this script be killed without cleaning up:
        "--MappingKernelManager.cull_idle_timeout=1800",
        "--ServerApp.shutdown_no_activity_timeout=900",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterLab exited with code {proc.returncode} while starting. "
                    f"Log ({log}):\n{server.log_tail()}"
                )
            with contextlib.suppress(OSError, urllib.error.URLError):
                server.api("GET", "/api/status", timeout=5.0)
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"JupyterLab did not answer within {SERVER_START_TIMEOUT:.0f} s. "
                    f"Log ({log}):\n{server.log_tail()}"
                )
            time.sleep(1.0)
        yield server
    finally:
        if proc.poll() is None:
            server.shutdown_kernels()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# --------------------------------------------------------------------------- browser

# The browser side lives in lab_driver.js (plain JavaScript, no doubled braces): it
# defines window.courseE2E before each page load; these strings call its functions.
JS_FILE = Path(__file__).resolve().with_name("lab_driver.js")
JS_STATE = "(path) => window.courseE2E.state(path)"
JS_RUN = "(path) => window.courseE2E.run(path)"
JS_NOTEBOOK = "(path) => window.courseE2E.notebook(path)"
JS_RENDERED = "(path) => window.courseE2E.rendered(path)"
JS_IMAGES = "(path) => window.courseE2E.images(path)"
JS_VIDEOS = "(args) => window.courseE2E.videos(args)"
JS_HEIGHT = "(path) => window.courseE2E.height(path)"


def _wait(what: str, timeout: float, check: Any, poll: float = 0.5) -> Any:
    """Call ``check()`` until it returns something truthy; bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: nothing after {timeout:.0f} s")
        time.sleep(poll)


def run_notebook(
    context: Any, server: Server, rel: str, nb_file: Path, shot: Path, timeout: float
) -> Result:
    """Open one notebook, Restart & Run All, check what shows, screenshot it."""
    result = Result(rel)
    start = time.monotonic()
    page = None
    shot.unlink(missing_ok=True)  # never report an old screenshot as this run's
    try:
        page = context.new_page()
        page.add_init_script(path=str(JS_FILE))  # defines window.courseE2E
        url = f"{server.url}/lab/tree/{rel}?reset&token={server.token}"
        page.goto(url, wait_until="domcontentloaded", timeout=OPEN_TIMEOUT * 1000)

        def opened() -> dict[str, Any] | None:
            state = page.evaluate(JS_STATE, rel)
            if state["dialogs"]:
                return state  # a dialog greets the student: reported below
            ok = state["panel"] and state["ready"] and state["kernel"] == "idle"
            return state if ok else None

        state = _wait("open the notebook and start its kernel", OPEN_TIMEOUT, opened)
        if state["dialogs"]:
            result.errors.append(f"a dialog on opening: {state['dialogs'][0]}")
            return result
        if state["kernelName"] != "python3":
            result.errors.append(f"kernel {state['kernelName']!r}, not 'python3'")

        def started() -> bool:
            state = page.evaluate(JS_STATE, rel)
            return bool(state["pending"] or state["numbered"])

        page.evaluate(JS_RUN, rel)
        # "Restart Kernel?" asks for confirmation (unless a user setting skips it).
        accept = page.locator(".jp-Dialog .jp-mod-accept")
        _wait("the Restart dialog", 60.0, lambda: accept.is_visible() or started())
        if accept.is_visible():
            accept.click(timeout=30_000)
        _wait("Run All to start", RUN_START_TIMEOUT, started)
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:  # idle and nothing pending twice in a row: done
            time.sleep(POLL)
            state = page.evaluate(JS_STATE, rel)
            if state["dialogs"]:
                result.errors.append(f"dialog while running: {state['dialogs'][0]}")
                break
            if state["kernel"] in ("dead", "unknown", None):
                result.errors.append(f"kernel status {state['kernel']!r}")
                break
            done = state["pending"] == 0 and state["kernel"] == "idle"
            quiet = quiet + 1 if done else 0
            if time.monotonic() > deadline:
                result.errors.append(
                    f"timed out after {timeout:.0f} s, {state['pending']} cells pending"
                )
                break

        nb = page.evaluate(JS_NOTEBOOK, rel)
        result.errors += errors_in_notebook(nb)
        rendered = errors_in_rendered(page.evaluate(JS_RENDERED, rel))
        if rendered and not result.errors:
            result.errors += rendered

        images = page.evaluate(JS_IMAGES, rel)
        result.images = images["shown"]
        expected = png_outputs(nb)
        if not result.errors:
            if expected == 0:
                result.errors.append("no plot rendered as an image (no PNG output)")
            elif images["shown"] < expected:
                result.errors.append(
                    f"{expected} PNG outputs but {images['shown']} images shown"
                )

        if shows_video(json.loads(nb_file.read_text())):
            videos = page.evaluate(JS_VIDEOS, [rel, VIDEO_TIMEOUT * 1000])
            result.videos = sum(v["readyState"] >= 2 for v in videos)
            if not result.errors:
                if not videos:
                    result.errors.append("calls show_video but shows no <video>")
                for i, v in enumerate(videos, 1):
                    if v["readyState"] < 2:
                        result.errors.append(
                            f"<video> {i} not playable: readyState {v['readyState']}"
                            + (f", error {v['error']}" if v["error"] else "")
                        )
        # A first-run prompt (news, updates) is a toast: students should not get one.
        toasts = page.evaluate(JS_STATE, rel)["toasts"]
        if toasts:
            result.errors.append(f"a notification pops up: {toasts[0]}")
    except Exception as exc:  # a failed wait or a broken page: report, carry on
        result.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        if page is not None:
            with contextlib.suppress(Exception):
                result.screenshot = str(screenshot(page, rel, shot))
            with contextlib.suppress(Exception):
                page.close()
        if not result.screenshot:
            result.errors.append(f"no screenshot saved to {shot}")
        result.seconds = time.monotonic() - start
        server.shutdown_kernels()  # frugal: one kernel at a time
    return result


def screenshot(page: Any, rel: str, shot: Path) -> Path:
    """Capture the whole notebook: grow the viewport to its height, then shoot.

    Off-screen cells only get their real height once rendered, so the viewport
    grows until the notebook's height stops changing (at most a few rounds).
    """
    height = VIEWPORT["height"]
    for _ in range(6):
        wanted = height
        with contextlib.suppress(Exception):
            wanted = int(page.evaluate(JS_HEIGHT, rel))
        wanted = max(VIEWPORT["height"], min(wanted, MAX_SCREENSHOT_HEIGHT))
        if abs(wanted - height) < 5:
            break
        height = wanted
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(1000)  # let the newly visible cells render
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True, timeout=120_000)
    return shot
