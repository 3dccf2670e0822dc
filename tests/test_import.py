"""Importing the course prints nothing and changes no global state."""

import os
import pkgutil
import subprocess
import sys

import course_utils

# Every module of the package; each must be silent and side-effect free on import.
MODULES = sorted(
    info.name.removeprefix("course_utils.")
    for info in pkgutil.walk_packages(course_utils.__path__, "course_utils.")
)


def test_the_list_covers_the_modules_notebooks_import():
    for name in (
        "common.modes",
        "agents.dqn",
        "presets",
        "agents.selective_memory",
        "agents.selective_memory.improvements",
        "agents.services",
        "lessons.checks.dqn",
        "games.snake",
    ):
        assert name in MODULES, name


def _run(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDL_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_import_course_utils_prints_nothing():
    result = _run("import course_utils")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""


def test_importing_the_modules_prints_nothing_and_changes_no_state():
    imports = "\n".join(f"import course_utils.{name}" for name in MODULES)
    code = f"""
import os, random
import gymnasium, matplotlib, numpy as np, sklearn, torch  # third-party effects first
env_before = dict(os.environ)
random_before = random.getstate()
numpy_before = np.random.get_state()[1].copy()
torch_before = torch.random.get_rng_state().clone()
rc_before = dict(matplotlib.rcParams)
backend_before = matplotlib.get_backend()
{imports}
assert dict(os.environ) == env_before, "environment variables changed"
assert random.getstate() == random_before, "random was seeded or used"
assert (np.random.get_state()[1] == numpy_before).all(), "numpy's global RNG changed"
assert torch.equal(torch.random.get_rng_state(), torch_before), "torch's RNG changed"
assert dict(matplotlib.rcParams) == rc_before, "matplotlib style changed"
assert matplotlib.get_backend() == backend_before, "matplotlib backend changed"
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == ""
