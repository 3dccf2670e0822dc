"""The repository's own files: dependency lists in step, clean notebooks, CI, copies."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_utils.common.versions import MINIMUM
from course_utils.lessons.student import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    build,
)

tomllib = pytest.importorskip(
    "tomllib", reason="reading pyproject.toml needs Python 3.11+"
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NO_NOTEBOOKS = "notebooks/ has no notebooks yet"
each_notebook = pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=p.name) for p in NOTEBOOKS]
    or [pytest.param(None, marks=pytest.mark.skip(reason=NO_NOTEBOOKS))],
)


def _name(requirement: str) -> str:
    """'gymnasium[box2d,atari]>=1.3' -> 'gymnasium' (PEP 503 normalised)."""
    return canonicalize_name(Requirement(requirement).name)


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _environment_pip_entries() -> list[str]:
    text = (ROOT / "environment.yml").read_text()
    # PyYAML comes with JupyterLab; without it, read the simple pip list by hand.
    try:
        import yaml
    except ImportError:
        return _pip_entries_by_hand(text)
    for entry in yaml.safe_load(text)["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return [str(item) for item in entry["pip"]]
    raise AssertionError("environment.yml has no pip section")


def _pip_entries_by_hand(text: str) -> list[str]:
    entries, indent = [], None
    for line in text.splitlines():
        if re.match(r"\s*- pip:\s*$", line):
            indent = len(line) - len(line.lstrip())
            continue
        if indent is not None:
            stripped = line.split(" #")[0].strip()
            if not stripped or stripped.startswith("#"):
                continue
            if len(line) - len(line.lstrip()) <= indent or not stripped.startswith(
                "- "
            ):
                break
            entries.append(stripped[2:].strip())
    return entries


def test_the_hand_parser_agrees_with_yaml():
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "environment.yml").read_text()
    from_yaml = next(
        e["pip"] for e in yaml.safe_load(text)["dependencies"] if isinstance(e, dict)
    )
    assert _pip_entries_by_hand(text) == from_yaml


def test_environment_yml_and_pyproject_name_the_same_packages():
    """environment.yml is make install's set: the runtime packages and the lab."""
    project = _pyproject()["project"]
    pyproject = {_name(r) for r in project["dependencies"]}
    pyproject |= {_name(r) for r in project["optional-dependencies"]["lab"]}
    entries = _environment_pip_entries()
    assert "-e .[lab]" in entries, "environment.yml must install the course (-e .[lab])"
    conda = {_name(e) for e in entries if not e.startswith("-")}
    assert len(pyproject) > 5  # the lists were really read
    assert conda == pyproject, (
        f"only in pyproject.toml: {sorted(pyproject - conda)}; "
        f"only in environment.yml: {sorted(conda - pyproject)}"
    )


def test_environment_yml_pins_the_same_requirements_as_pyproject():
    """Same names is not enough: the same minimum versions too (torch: the pin)."""
    project = _pyproject()["project"]
    wanted = {
        _name(r): Requirement(r).specifier
        for r in project["dependencies"] + project["optional-dependencies"]["lab"]
    }
    for entry in _environment_pip_entries():
        if entry.startswith("-"):
            continue
        name, spec = _name(entry), Requirement(entry).specifier
        if name == "torch":  # a pin (the build the course is tested with)
            (pin,) = spec
            assert pin.operator == "==" and wanted[name].contains(pin.version)
        else:
            assert spec == wanted[name], f"{name}: {spec} here, {wanted[name]} there"


def test_the_runtime_dependencies_leave_colab_alone():
    """Colab pins IPython 7.34 and ipykernel 5.5.6: the runtime set must accept them
    and must not pull the lab, the test or the grading tools."""
    from packaging.version import Version

    runtime = {
        _name(r): Requirement(r) for r in _pyproject()["project"]["dependencies"]
    }
    tools = ("jupyterlab", "ipykernel", "ipywidgets", "nbval", "pytest", "nbgrader")
    for tool in tools:
        assert tool not in runtime, f"{tool} belongs in an extra, not the runtime"
    assert runtime["ipython"].specifier.contains(Version("7.34.0"))


def test_version_check_minimums_match_pyproject():
    minimums = {}
    for requirement in _pyproject()["project"]["dependencies"]:
        req = Requirement(requirement)
        for spec in req.specifier:
            if spec.operator == ">=":
                minimums[canonicalize_name(req.name)] = spec.version
    for name, version in MINIMUM.items():
        assert minimums.get(canonicalize_name(name)) == version, (
            f"course_utils.common.versions.MINIMUM[{name!r}] = {version!r}, "
            f"pyproject.toml says {minimums.get(canonicalize_name(name))!r}"
        )


@each_notebook
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.name}: cells {dirty} have stored outputs or execution counts. "
        "Fix: clear all outputs (Edit > Clear Outputs of All Cells) before committing."
    )


@each_notebook
def test_notebook_kernel_is_python3(path):
    nb = nbformat.read(path, as_version=4)
    kernelspec = nb.metadata.get("kernelspec", {})
    assert kernelspec.get("name") == "python3", (
        f"{path.name}: kernelspec is {kernelspec!r}, expected the name 'python3'"
    )


def test_ci_script_runs_make_test_and_fails_when_it_fails():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    lines = [
        line.strip()
        for line in script.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0].startswith("set -") and "e" in lines[0].split()[1], (
        ".ci/run must start with `set -e...` so that a failing step fails CI"
    )
    assert "make test" in lines, ".ci/run must call `make test` on a line of its own"


def test_student_copies_of_the_course_notebooks(tmp_path):
    if not NOTEBOOKS:
        pytest.skip(NO_NOTEBOOKS)
    written = build(ROOT / "notebooks", tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    for source_path, copy_path in zip(NOTEBOOKS, written, strict=True):
        secret = _solution_only_lines(nbformat.read(source_path, as_version=4))
        copy = nbformat.read(copy_path, as_version=4)
        nbformat.validate(copy)
        copy_lines = {
            ln.strip() for cell in copy.cells for ln in cell.source.splitlines()
        }
        leaked = sorted(secret & copy_lines)
        assert not leaked, (
            f"{source_path.name}: solution lines in the student copy: {leaked}"
        )


def _solution_only_lines(nb) -> set[str]:
    """Lines that appear in solutions or hidden tests (regions or `solution` cells)
    and nowhere else in the notebook."""
    solution, public = set(), set()
    for cell in nb.cells:
        hidden = "solution" in cell.get("metadata", {}).get("tags", [])
        inside = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker in (BEGIN_SOLUTION, BEGIN_HIDDEN):
                inside = True
            elif marker in (END_SOLUTION, END_HIDDEN):
                inside = False
            elif marker:
                (solution if hidden or inside else public).add(marker)
    return solution - public
