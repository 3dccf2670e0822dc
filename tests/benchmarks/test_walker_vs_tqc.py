"""benchmarks/walker_vs_tqc.py: refuses clearly without sb3-contrib, and stops the
Selective Memory learner at its CPU budget."""

import sys

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture
def script():
    return load_benchmark("walker_vs_tqc")


def test_refuses_tqc_without_sb3_contrib(script, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "sb3_contrib", None)  # import fails
    with pytest.raises(SystemExit, match=r"pip install -e \"\.\[bench\]\""):
        script.main(["--agents", "tqc", "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # refused before any training


def test_refuses_a_bad_budget(script, tmp_path):
    with pytest.raises(SystemExit):
        script.main(["--agents", "sm", "--cpu-minutes", "0", "--out", str(tmp_path)])


def test_selective_memory_stops_at_its_cpu_budget(script):
    policy, steps = script.run_selective_memory(seed=0, cpu_seconds=0.01)
    assert 0 < steps <= 1_600  # one game: the budget is checked after every game
    assert callable(policy)
