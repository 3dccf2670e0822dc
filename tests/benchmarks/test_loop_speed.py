"""benchmarks/loop_speed.py: the loops' speeds beside the environment's."""

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def loop_speed():
    return load_benchmark("loop_speed")


def test_quick_run_prints_every_row_side_by_side(loop_speed, capsys):
    loop_speed.main(["--quick", "--games", "snake", "--envs", "2", "--steps", "100"])
    out = capsys.readouterr().out
    assert "replay ratio 0.25" in out and "load average at start" in out
    assert "CPU ms per gradient step" in out and "Adam" in out
    rows = [line.split() for line in out.splitlines() if "steps/s" not in line]
    named = {" ".join(r[:-2]): r[-2:] for r in rows if len(r) > 2}
    for what in (
        "environment alone (random)",
        "train_dqn (one env)",
        "train_dqn sync N=2",
        "train_dqn async N=2",
    ):
        wall, cpu = (float(x.replace(",", "")) for x in named[what])
        assert wall > 0 and cpu > 0, what


def test_the_clock_reads_steps_per_second_between_its_first_and_last_marks(loop_speed):
    clock = loop_speed.Clock()
    clock.marks = [(100, 10.0, 5.0), (150, 11.0, 5.5), (300, 12.0, 6.0)]
    assert clock.speed() == (100.0, 200.0)
