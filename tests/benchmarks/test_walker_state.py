"""benchmarks/walker_state.py: the shipped recipe's run, resumed, and a snapshot stored
with metadata complete enough to continue it."""

import json

import numpy as np
import pytest
from benchmark_scripts import load_benchmark

from course_utils.agents.selective_memory.resume import STATE_METADATA, shipped_state


@pytest.fixture(scope="module")
def walker_state():
    return load_benchmark("walker_state")


def test_train_resume_and_store(walker_state, tmp_path, monkeypatch, capsys):
    """One game, then the same command for two resumes at game 1; --store writes the
    compact state and its metadata into the data folder."""
    runs, data = tmp_path / "runs", tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("COURSE_DATA", str(data))
    common = ["--save-every", "1", "--snapshot-every", "1", "--state-dir", str(runs)]
    walker_state.main(["--games", "1", *common])
    assert (runs / "game-1.pt").is_file() and (runs / "run.pt").is_file()
    walker_state.main(["--games", "2", *common])
    assert "resumed at game 1" in capsys.readouterr().out
    walker_state.main(["--games", "2", *common, "--store", "2", "--val-episodes", "1"])
    path, meta = shipped_state("bipedalwalker_sm_game2.pt")
    assert path.stat().st_size < 10e6
    assert all(key in meta for key in STATE_METADATA)
    assert meta["games"] == 2 and meta["seed"] == 0 and meta["cpu_time_s"] > 0
    assert meta["validation"]["episodes"] == 1
    assert meta["validation"]["seeds"].startswith("20000")  # validation, not test
    assert {"torch", "gymnasium", "numpy"} <= set(meta["versions"])
    json.dumps(meta)  # plain data
    assert np.isfinite(meta["validation"]["mean"])


def test_a_snapshot_that_is_not_there_is_named(walker_state, tmp_path):
    with pytest.raises(FileNotFoundError, match="game-7.pt"):
        walker_state.main(["--store", "7", "--state-dir", str(tmp_path)])
