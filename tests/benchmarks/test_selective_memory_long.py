"""benchmarks/selective_memory_long.py: stopped after a save and run again, a run
stores the same record as an uninterrupted one (tiny networks, 60-step games)."""

import subprocess
import sys
from pathlib import Path

from course_utils.lessons.studies import read_study

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "selective_memory_long.py"
TINY = ["--tiny", "--games", "4", "--save-every", "2", "--eval-every", "2"]


def long_run(tmp_path: Path, name: str, *more: str) -> subprocess.CompletedProcess:
    args = [*TINY, "--eval-episodes", "1", "--state-dir", str(tmp_path / "state")]
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / name), *more],
        capture_output=True,
        text=True,
    )


def stored(folder: Path) -> dict:
    return read_study(folder)["variants"]["faithful"]["runs"]["0"]


def test_long_run_script_resumes(tmp_path):
    assert long_run(tmp_path / "a", "straight").returncode == 0
    straight = stored(tmp_path / "a" / "straight")
    stopped = long_run(tmp_path / "b", "killed", "--stop-after", "0")
    assert (
        stopped.returncode == 0 and "stopped after a save at game 2" in stopped.stdout
    )
    assert not (tmp_path / "b" / "killed" / "faithful" / "seed-0.json").exists()
    assert (tmp_path / "b" / "state" / "seed-0.pt").exists()
    assert long_run(tmp_path / "b", "killed").returncode == 0
    resumed = stored(tmp_path / "b" / "killed")
    assert straight["games"] == resumed["games"] == 4
    for key in ("returns", "episode_steps", "diagnostics", "evals"):
        assert straight[key] == resumed[key], key
    assert [e["game"] for e in resumed["evals"]] == [2, 4]
    assert set(resumed["evals"][0]) == {"game", "steps", "actor", "acting_rule"}
    assert read_study(tmp_path / "b" / "killed")["claims"]["500"].startswith("is able")


def test_a_state_of_another_budget_is_not_resumed(tmp_path):
    long_run(tmp_path, "first", "--stop-after", "0")
    other = long_run(tmp_path, "other", "--eval-episodes", "2")
    assert other.returncode == 1 and "is the state of a run of the budget" in (
        other.stdout
    )
    assert not (tmp_path / "other" / "faithful" / "seed-0.json").exists()
