"""What `make install`, `make instructor`, `make test` and environment.yml would run.

- On Linux, torch comes from PyTorch's CPU wheel index by default (pip's default index
  holds the CUDA build there), and only torch is looked up on it; `GPU=1` drops it.
- A student's install is the course and the lab: no nbgrader, no test tools.
- The instructor's adds nbgrader and switches its JupyterLab tools on; make test's adds
  the test tools and leaves nbgrader's JupyterLab tools off.
- The torch line resolves to the CPU build, and an index that cannot be reached does
  not break it (pip warns and uses its other sources).

The last two run pip with ``--dry-run``: they read this machine's pip configuration
and need the network or a local wheel folder, and take about 10 s each.
"""

from __future__ import annotations

import json
import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
linux_only = pytest.mark.skipif(
    platform.system() != "Linux", reason="the CPU index is added on Linux only"
)
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _make_n(*args: str) -> list[str]:
    """The commands ``make -n -B ARGS`` prints (every step, as on a fresh .venv)."""
    done = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def _pip_installs(lines: list[str]) -> list[str]:
    return [ln for ln in lines if re.search(r"-m pip install\b", ln)]


def _torch_line(lines: list[str]) -> str:
    (line,) = [ln for ln in _pip_installs(lines) if '"torch==' in ln]
    return line


def _makefile_variable(name: str) -> str:
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(rf"^{name}\s*[:?]?=\s*(\S+)", makefile, re.M)
    assert found, f"the Makefile defines no {name}"
    return found.group(1)


@needs_make
@linux_only
def test_make_install_asks_pytorch_cpu_index_for_torch_only():
    lines = _make_n("install")
    torch = _torch_line(lines)
    assert f"--extra-index-url {CPU_INDEX}" in torch
    assert "--no-deps" in torch  # torch alone is looked up there
    others = [ln for ln in _pip_installs(lines) if ln != torch]
    assert others and not [ln for ln in others if "index-url" in ln]


@needs_make
def test_gpu_1_keeps_pip_default_torch():
    torch = _torch_line(_make_n("install", "GPU=1"))
    assert "index-url" not in torch and '"torch==' in torch


@needs_make
def test_a_student_install_is_the_course_and_the_lab_only():
    lines = _make_n("install")
    course = [ln for ln in _pip_installs(lines) if " -e " in ln]
    assert course == ['.venv/bin/python -m pip install --quiet -e ".[lab]"']
    text = "\n".join(lines)
    assert "instructor" not in text.replace(".course-instructor", "")
    assert "overrides.json .venv/share/jupyter/lab/settings/" in text
    assert "labextension disable" in text  # an older .venv's nbgrader is switched off


@needs_make
def test_make_instructor_adds_nbgrader_and_its_lab_tools():
    text = "\n".join(_make_n("instructor"))
    assert '-e ".[lab,instructor]"' in text
    assert "labextension enable --level=sys_prefix @jupyter/nbgrader" in text
    assert "server extension enable --sys-prefix nbgrader.server_extensions" in text


@needs_make
def test_make_test_installs_test_tools_and_keeps_grading_tools_off():
    lines = _make_n("test")
    text = "\n".join(lines)
    assert '-e ".[lab,test,instructor,dev,studies,book]"' in text
    assert "labextension enable" not in text
    assert "test ! -f .venv/.course-instructor" in text
    for step in ("-m colab", "-m grading", "--nbval-lax"):
        assert step in text, step


def test_environment_yml_uses_the_same_torch_and_index_as_the_makefile():
    yaml = pytest.importorskip("yaml")
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    (pip,) = [e["pip"] for e in env["dependencies"] if isinstance(e, dict)]
    assert pip[0] == f"--extra-index-url {_makefile_variable('TORCH_CPU_INDEX')}"
    assert _makefile_variable("TORCH_CPU_INDEX") == CPU_INDEX
    assert _makefile_variable("TORCH_SPEC") in pip
    assert "-e .[lab]" in pip
    assert not [e for e in pip if "nbgrader" in e]  # instructors add it (comment)


def _resolve_torch(torch_line: str) -> str:
    """The torch version the Makefile's torch line would install, by pip --dry-run."""
    args = shlex.split(torch_line)
    args = args[args.index("install") + 1 :]
    args = [a for a in args if a != "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"]
        + ["--quiet", "--report", "-", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (item,) = json.loads(done.stdout)["install"]
    assert item["metadata"]["name"] == "torch"
    return item["metadata"]["version"]


@needs_make
@linux_only
def test_the_torch_line_resolves_to_the_cpu_build():
    version = _resolve_torch(_torch_line(_make_n("install")))
    assert version == _makefile_variable("TORCH_SPEC").split("==")[1] + "+cpu"


@needs_make
def test_an_unreachable_index_does_not_break_the_install():
    """Port 9 (discard) on this machine refuses at once: pip warns, then falls back."""
    line = _torch_line(_make_n("install", "TORCH_INDEX=http://127.0.0.1:9/simple"))
    assert "--extra-index-url http://127.0.0.1:9/simple" in line
    version = _resolve_torch(line)
    assert version.split("+")[0] == _makefile_variable("TORCH_SPEC").split("==")[1]
