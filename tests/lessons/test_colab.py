"""Open in Colab: badges and setup cells from one address, and the setup cell proved
in a simulated fresh Colab.

The simulation (marker ``colab``, a few minutes, run by ``make test``): a fresh virtual
environment with Colab's pinned kernel packages (IPython 7.34.0, ipykernel 5.5.6), torch
(Colab ships it; here pip's configured CPU build) and a stand-in ``google.colab``
module, no course folder, and the course's address pointing at a local clone of this
working tree (a ``file://`` URL). The setup cell runs there as Colab runs it, in the
working folder ``content/``; then every notebook's imports run, a shipped agent loads
from the clone's ``data/``, and no package that was there before changed version
(IPython and ipykernel included), nor did the lab, test or grading tools arrive.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.lessons.colab import (
    BADGE_IMAGE,
    SETUP_MARKER,
    apply,
    badge,
    colab_url,
    main,
    repository,
    setup_cell,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
REPO = repository(ROOT)
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^\s)\"']+")
PINNED = {"ipython": "7.34.0", "ipykernel": "5.5.6"}  # what Colab's runtime pins
PREINSTALLED = ("torch==2.13.0",)  # Colab ships torch (here pip's CPU build)
NOT_ON_COLAB = ("jupyterlab", "notebook", "nbval", "pytest", "nbgrader", "ruff")


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return (
        "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    )


def test_the_address_is_a_github_repository():
    assert REPO.startswith("https://github.com/")
    assert colab_url(REPO, "notebooks/x.ipynb").endswith("/blob/main/notebooks/x.ipynb")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_its_badge_and_the_setup_cell(path):
    notebook = _read(path)
    assert not apply(notebook, f"notebooks/{path.name}", REPO), (
        f"{path.name}: its Colab badge or setup cell is out of date. "
        "Fix: python -m course_utils.lessons.colab"
    )
    title = _source(notebook["cells"][0])
    assert badge(REPO, f"notebooks/{path.name}") in title
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert _source(code[0]) == setup_cell(REPO)
    assert sum(SETUP_MARKER in _source(c) for c in code) == 1


def test_the_readme_links_every_notebook_to_colab():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert badge(REPO, f"notebooks/{path.name}") in text, path.name
    assert f"git clone {REPO}.git" in text, "the README's clone command"


def test_every_colab_link_uses_the_one_address():
    wanted = {colab_url(REPO, f"notebooks/{p.name}") for p in NOTEBOOKS}
    files = [ROOT / "README.md", *NOTEBOOKS, *sorted(ROOT.glob("*.md"))]
    for path in files:
        for link in COLAB_LINK.findall(path.read_text(encoding="utf-8")):
            assert link in wanted, f"{path.name}: {link} is not built from {REPO}"


def test_apply_puts_the_badge_under_the_title_and_replaces_an_old_one():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Title\n", "\n", "Text."]},
            {"cell_type": "code", "source": SETUP_MARKER + ". old"},
        ]
    }
    assert apply(notebook, "notebooks/n.ipynb", REPO)
    title = _source(notebook["cells"][0]).split("\n")
    assert title[:3] == ["# Title", "", badge(REPO, "notebooks/n.ipynb")]
    assert not apply(notebook, "notebooks/n.ipynb", REPO)  # idempotent
    other = "https://github.com/someone/fork"
    assert apply(notebook, "notebooks/n.ipynb", other)
    text = _source(notebook["cells"][0])
    assert text.count(BADGE_IMAGE) == 1 and "someone/fork" in text
    assert f'COURSE_REPO = "{other}"' in _source(notebook["cells"][1])


def test_apply_refuses_a_notebook_without_its_setup_cell():
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# Title"},
            {"cell_type": "code", "source": "import numpy"},
        ]
    }
    with pytest.raises(ValueError, match="setup cell"):
        apply(notebook, "notebooks/n.ipynb", REPO)


def test_repository_refuses_an_address_colab_cannot_open(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[project.urls]\nRepository = "https://example.org/x"\n'
    )
    with pytest.raises(ValueError, match="github"):
        repository(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    with pytest.raises(ValueError, match="names no repository"):
        repository(tmp_path)


# --- the simulated fresh Colab ------------------------------------------------------


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    """Run a command outside this test's Python: no PYTHONPATH (it would show the
    course to the simulated Colab) and no COURSE_DATA."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "COURSE_DATA", "VIRTUAL_ENV")
    }
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, **kwargs
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))[:300]} failed ({done.returncode}):\n"
        f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def _local_clone(tmp_path: Path) -> str:
    """This working tree as a git repository (tracked and new files, edits included),
    and its file:// address."""
    listed = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
    ).stdout
    origin = tmp_path / "origin"
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (origin / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, origin / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    _run([*git, "init", "-q", "-b", "main"], cwd=origin)
    _run([*git, "add", "-A"], cwd=origin)
    _run([*git, "commit", "-q", "-m", "snapshot"], cwd=origin)
    return origin.as_uri()


def _versions(python: Path) -> dict[str, str]:
    listed = _run([python, "-m", "pip", "list", "--format", "json"]).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(listed)}


@pytest.mark.colab
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_setup_cell_in_a_fresh_colab_leaves_its_kernel_packages_alone(tmp_path):
    start = time.perf_counter()
    url = _local_clone(tmp_path)
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", venv])
    python = venv / "bin" / "python"
    pins = [f"{name}=={version}" for name, version in PINNED.items()]
    _run([python, "-m", "pip", "install", "-q", *pins, *PREINSTALLED])
    purelib = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    stand_in = Path(purelib) / "google" / "colab"
    stand_in.mkdir(parents=True)
    (stand_in.parent / "__init__.py").write_text("")
    (stand_in / "__init__.py").write_text('"""A stand-in for Colab\'s module."""\n')
    before = _versions(python)
    assert {k: before[k] for k in PINNED} == PINNED

    content = tmp_path / "content"  # Colab's working folder, /content
    content.mkdir()
    cell = setup_cell(REPO)
    assert cell.count(f'"{REPO}"') == 1
    run_cell = "import google.colab\n" + cell.replace(f'"{REPO}"', repr(url))
    ready = time.perf_counter()
    _run([python, "-c", run_cell], cwd=content, timeout=1500)
    installed = time.perf_counter()
    assert (content / "course" / "data" / "checkpoints").is_dir()
    again = _run([python, "-c", run_cell + "\nprint('ran again')"], cwd=content)
    assert again.stdout.strip() == "ran again"  # installed: no clone, no pip this time

    after = _versions(python)
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    assert not changed, f"the setup cell changed preinstalled packages: {changed}"
    assert not [name for name in NOT_ON_COLAB if name in after]
    assert "course-utils" in after
    added = sorted(set(after) - set(before))

    imports = [
        _source(next(c for c in _read(p)["cells"][2:] if c["cell_type"] == "code"))
        for p in NOTEBOOKS
    ]
    check = "\n".join(
        [
            *imports,
            "from course_utils.common import checkpoints, data",
            "from course_utils.common.animation import show_video",
            "import numpy as np",
            "path = data.shipped_checkpoint('mountaincar_dqn.pt')",
            "policy, meta = checkpoints.load_policy(path)",
            "video = show_video([np.zeros((64, 64, 3), np.uint8)] * 4, fps=4)",
            "assert '<video' in video.data",
            "import IPython, ipykernel",
            "print('versions', IPython.__version__, ipykernel.__version__)",
        ]
    )
    env_cwd = content / "course" / "notebooks"  # where Colab's kernel would run them
    done = _run([python, "-c", check], cwd=env_cwd, timeout=600)
    assert f"versions {PINNED['ipython']} {PINNED['ipykernel']}" in done.stdout
    print(
        f"\nsimulated Colab: setup {ready - start:.0f} s, the cell's install "
        f"{installed - ready:.0f} s, checks {time.perf_counter() - installed:.0f} s; "
        f"the cell added {len(added)} packages: {', '.join(added)}"
    )


def test_a_write_that_fails_half_way_leaves_the_notebook_whole(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n\n[project.urls]\nRepository = "{REPO}"\n'
    )
    notebook = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
            {"cell_type": "code", "metadata": {}, "source": SETUP_MARKER + ". old"},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "notebooks" / "n.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(notebook), encoding="utf-8")
    before = path.read_bytes()
    real = Path.write_text

    def half_then_full(self, data, *args, **kwargs):
        real(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", half_then_full)
    assert main(["--root", str(tmp_path)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["n.ipynb"]
    monkeypatch.undo()
    assert main(["--root", str(tmp_path)]) == 0
    assert main(["--root", str(tmp_path), "--check"]) == 0
