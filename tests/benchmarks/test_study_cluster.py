"""A study on a Dask cluster: a local two-worker cluster started here (loopback only),
a toy study run to the end through it, then a study process killed mid-way and run
again: the finished runs are not redone, the missing ones run on the cluster."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.lessons.studies import read_study

distributed = pytest.importorskip("distributed", reason="the studies extra")

ROOT = Path(__file__).parents[2]
TOY = Path(__file__).parent / "toy_study.py"


@pytest.fixture(scope="module")
def cluster():
    """``(scheduler address, the workers' process ids)`` of a local two-worker
    cluster, one thread a worker (one run at a time each), no dashboard."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as local,
        distributed.Client(local) as client,
    ):
        yield local.scheduler_address, set(client.run(os.getpid).values())


def toy_command(address: str, out: Path, seeds: int, seconds: float) -> list[str]:
    seed_args = [str(seed) for seed in range(seeds)]
    return [sys.executable, str(TOY), "--seconds", str(seconds), "--out", str(out)] + [
        "--scheduler",
        address,
        "--seeds",
        *seed_args,
    ]


def env() -> dict:
    """benchmarks/ on Python's path for the study process only: the workers get
    ``studies`` from the study process (uploaded), the toy's run function by value."""
    paths = [str(ROOT / "benchmarks"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def pids(out: Path) -> set[int]:
    study = read_study(out)
    return {r["pid"] for e in study["variants"].values() for r in e["runs"].values()}


def test_a_study_runs_to_the_end_on_the_cluster(cluster, tmp_path):
    address, workers = cluster
    out = tmp_path / "toy"
    done = subprocess.run(
        toy_command(address, out, seeds=4, seconds=0.3),
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "0 runs stored, 8 to go" in done.stdout
    assert len(list(out.glob("*/seed-*.json"))) == 8
    assert pids(out) == workers  # both workers ran runs, the study process none


def test_a_killed_study_resumes_without_redoing_finished_runs(cluster, tmp_path):
    address, workers = cluster
    out = tmp_path / "toy"
    command = toy_command(address, out, seeds=6, seconds=0.5)  # 12 runs, ~3 s
    study = subprocess.Popen(
        command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob("*/seed-*.json"))) < 3:  # mid-way: some runs stored
        assert study.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    study.kill()
    study.wait()
    finished = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.glob("*/*.json")}
    assert 3 <= len(finished) < 12

    again = subprocess.run(
        command, env=env(), capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert f"{len(finished)} runs stored, {12 - len(finished)} to go" in again.stdout
    runs = list(out.glob("*/seed-*.json"))
    assert len(runs) == 12
    for path, (mtime, content) in finished.items():  # not redone, not rewritten
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content
    assert pids(out) <= workers
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
