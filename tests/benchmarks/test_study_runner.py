"""benchmarks/studies.py: one file per run, written whole, checked before any training;
the variants' one shape; several processes on one study."""

import importlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course_utils.common.data import data_dir
from course_utils.lessons.studies import read_study, run_file

ROOT = Path(__file__).parents[2]
BENCHMARKS = ROOT / "benchmarks"
TOY = Path(__file__).parent / "toy_study.py"
BUDGET = {"steps": 150_000}
SCRIPTS = {  # the study scripts, and the fewest arguments that start a study
    "mountaincar_seeds": [],
    "spaceinvaders_recipes": ["--steps", "1"],
    "selective_memory_ablation": ["--steps", "1"],
    "selective_memory_runs": ["faithful"],
    "selective_memory_long": [],
}


@pytest.fixture(scope="module")
def studies():
    """benchmarks/studies.py, imported as the scripts import it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        yield importlib.import_module("studies")


def script_env() -> dict:
    """The environment a study script runs in: benchmarks/ (and the tests' toy) on
    Python's path, as for a script started from its folder."""
    paths = [str(BENCHMARKS), str(ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def toy(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOY), *args],
        env=script_env(),
        capture_output=True,
        text=True,
        check=check,
    )


def never(job):
    raise AssertionError(f"{job} should not have run")


def test_a_variant_is_read_only_data_that_travels(studies):
    noise = studies.Variant("noise", "Gaussian noise", config={"noise": 0.2})
    with pytest.raises(TypeError):
        noise.config["noise"] = 0.5  # read-only
    copy = pickle.loads(pickle.dumps(noise))
    assert copy == noise and copy.config["noise"] == 0.2
    assert noise.changes() == {"config": {"noise": 0.2}}
    with pytest.raises(ValueError, match="cannot name a folder"):
        studies.Variant("a/b", "a path, not a name")
    with pytest.raises(ValueError, match="Two variants are named 'noise'"):
        studies.variants_by_name(noise, noise)


def test_variants_combine_and_refuse_changing_a_knob_twice(studies):
    n5 = studies.Variant("n5", "5-step", config={"n_step": 5})
    stack = studies.Variant("stack2", "2 snapshots", env_kwargs={"stack": 2})
    both = studies.combine([n5, stack])
    assert both.name == "n5+stack2" and both.description == "5-step + 2 snapshots"
    assert dict(both.config) == {"n_step": 5} and dict(both.env_kwargs) == {"stack": 2}
    n3 = studies.Variant("n3", "3-step", config={"n_step": 3})
    with pytest.raises(ValueError, match=r"changes \['n_step'\] twice \(n5 and n3\)"):
        studies.combine([n5, n3])


def test_strict_json_turns_nan_into_null_and_says_where(studies):
    record = {"evals": [1.0, float("nan")], "x": np.float32(2.5), "n": np.int64(3)}
    record |= {"arr": np.array([1, 2]), "t": (1, 2), "ok": np.bool_(True)}
    record["inf"] = float("-inf")
    data, places = studies.strict_json(record)
    assert data == {
        "evals": [1.0, None],
        "x": 2.5,
        "n": 3,
        "arr": [1, 2],
        "t": [1, 2],
        "ok": True,
        "inf": None,
    }
    assert places == ["record.evals[1]", "record.inf"]
    json.dumps(data, allow_nan=False)  # strict
    with pytest.raises(ValueError, match=r"record.net is a object"):
        studies.strict_json({"net": object()})


def test_a_run_is_stored_whole_once_and_never_in_another_budgets_study(
    studies, tmp_path
):
    folder = tmp_path / "study"
    variant = studies.Variant("a", "A")
    studies.open_study(folder, {"budget": BUDGET}, ["a"])
    job = studies.Job(variant, 0, BUDGET)
    assert studies.store_run(folder, job, {"score": float("nan")}, {"machine": "m"})
    path = run_file(folder, "a", 0)
    stored = json.loads(path.read_text())  # strict JSON: no NaN in the text
    assert "NaN" not in path.read_text() and stored["record"] == {"score": None}
    assert stored["non_finite"] == ["run.record.score"] and stored["budget"] == BUDGET
    before = path.stat().st_mtime_ns, path.read_bytes()
    assert not studies.store_run(folder, job, {"score": 1.0}, {})  # kept as it was
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    smoke = studies.Job(variant, 1, {"steps": 300})
    with pytest.raises(ValueError, match="budget .*300.*is refused"):
        studies.store_run(folder, smoke, {"score": 1.0}, {})
    assert not run_file(folder, "a", 1).exists()
    assert sorted(p.name for p in folder.rglob("*")) == [
        "a",
        "seed-0.json",
        "study.json",
    ]


def test_a_study_of_another_budget_is_refused_before_any_training(studies, tmp_path):
    folder = tmp_path / "study"
    job = studies.Job(studies.Variant("a", "A"), 0, BUDGET)
    studies.run_study(
        folder, {"budget": BUDGET}, [], never, engine=studies.Engine(), report=str
    )
    smoke = studies.Job(job.variant, 0, {"steps": 300})
    with pytest.raises(ValueError, match="holds runs made with the budget"):
        studies.run_study(
            folder,
            {"budget": {"steps": 300}},
            [smoke],
            never,
            engine=studies.Engine(),
            report=str,
        )


def test_the_shipped_mountaincar_study_refuses_a_300_step_run(tmp_path, capsys):
    """A smoke test never enters the 150 000-step study (a copy of data/'s)."""
    copy = tmp_path / "mountaincar_seeds"
    shutil.copytree(data_dir() / "studies" / "mountaincar_seeds", copy)
    files = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        script = importlib.import_module("mountaincar_seeds")
        with pytest.raises(SystemExit):
            script.main(["--steps", "300", "--variants", "n1", "--out", str(copy)])
    assert "holds runs made with the budget" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == files


def test_the_scripts_default_study_matches_the_shipped_one(studies, monkeypatch):
    """Run with --out data/studies/mountaincar_seeds, the script would resume it."""
    seen = {}

    def capture(parser, folder, header, jobs, run, **kw):
        seen.update(folder=folder, header=header, jobs=jobs)

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    script = importlib.import_module("mountaincar_seeds")
    monkeypatch.setattr(script, "run_or_exit", capture)
    shipped = data_dir() / "studies" / "mountaincar_seeds"
    script.main(["--out", str(shipped)])
    stored = read_study(shipped)
    assert seen["header"]["budget"] == stored["budget"]
    wanted = {(j.variant.name, str(j.seed)) for j in seen["jobs"]}
    have = {(v, s) for v, e in stored["variants"].items() for s in e["runs"]}
    assert wanted == have  # nothing left to run


@pytest.mark.parametrize(
    "name, flags, study",
    [
        ("spaceinvaders_recipes", ["--steps", "500000"], "spaceinvaders_recipes_500k"),
        (
            "spaceinvaders_recipes",
            ["--steps", "3000000", "--max-minutes", "2", "--eval-every", "1000000"]
            + ["--validation-episodes", "1"],
            "spaceinvaders_recipes_speed",
        ),
        (
            "selective_memory_ablation",
            ["--steps", "750000"],
            "selective_memory_ablation_750k",
        ),
        ("selective_memory_runs", ["faithful"], "selective_memory_runs_420s"),
        (
            "selective_memory_runs",
            ["noise", "--seconds", "900"],
            "selective_memory_runs_900s",
        ),
        (
            "selective_memory_runs",
            ["noise", "--seconds", "1200"],
            "selective_memory_runs_1200s",
        ),
        ("selective_memory_long", [], "selective_memory_published_long"),
    ],
)
def test_the_documented_flags_give_the_shipped_studys_budget(
    studies, name, flags, study, monkeypatch
):
    """The flags benchmarks/README.md gives can add runs to the shipped study."""
    seen = {}

    def capture(parser, folder, header, *args, **kw):
        seen.update(folder=Path(folder), budget=header["budget"])
        return studies.Outcome()

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    script = importlib.import_module(name)
    monkeypatch.setattr(script, "run_or_exit", capture)
    script.main(flags)
    shipped = read_study(data_dir() / "studies" / study)
    assert seen["budget"] == shipped["budget"]
    if name in ("selective_memory_runs", "selective_memory_long"):  # named as data's
        assert seen["folder"].name == study


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_a_study_scripts_default_output_is_never_the_shipped_data(
    studies, name, monkeypatch
):
    seen = {}

    def capture(parser, folder, *args, **kw):
        seen["folder"] = Path(folder).resolve()
        return studies.Outcome()

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    script = importlib.import_module(name)
    monkeypatch.setattr(script, "run_or_exit", capture)
    script.main(SCRIPTS[name])
    assert seen["folder"].is_relative_to(studies.RUNS)
    assert not seen["folder"].is_relative_to(data_dir().resolve())


def test_an_unwritable_output_is_found_before_any_training(studies, tmp_path):
    in_the_way = tmp_path / "a_file"
    in_the_way.write_text("not a folder")
    job = studies.Job(studies.Variant("a", "A"), 0, BUDGET)
    for folder in (in_the_way / "study", tmp_path / "study"):
        if folder.parent == tmp_path:  # the variant's folder is a file
            folder.mkdir()
            (folder / "a").write_text("in the way")
        with pytest.raises(ValueError, match="Cannot write the study's runs in"):
            studies.run_study(
                folder,
                {"budget": BUDGET},
                [job],
                never,
                engine=studies.Engine(),
                report=str,
            )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_read_only_folder_is_found_before_any_training(studies, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    folder.chmod(0o500)
    job = studies.Job(studies.Variant("a", "A"), 0, BUDGET)
    try:
        with pytest.raises(ValueError, match="Cannot write the study's runs in"):
            studies.run_study(
                folder,
                {"budget": BUDGET},
                [job],
                never,
                engine=studies.Engine(),
                report=str,
            )
    finally:
        folder.chmod(0o700)


def test_the_command_reports_an_unwritable_output_without_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    done = toy("--seconds", "60", "--out", str(blocker / "study"), check=False)
    assert done.returncode == 2 and "Cannot write the study's runs" in done.stderr
    assert "Traceback" not in done.stderr and "to go" not in done.stdout


def test_a_corrupt_run_file_is_named_and_nothing_runs(tmp_path):
    out = tmp_path / "study"
    toy("--seeds", "0", "--out", str(out))
    bad = out / "a" / "seed-0.json"
    bad.write_text('{"variant": "a", "se')  # a copy cut short
    for flags in ([], ["--summary"]):
        done = toy("--seeds", "0", "1", "--out", str(out), *flags, check=False)
        assert done.returncode == 2 and str(bad) in done.stderr, done.stderr
        assert "corrupt" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "a" / "seed-1.json").exists()


def test_a_killed_write_leaves_a_temporary_that_the_next_run_removes(studies, tmp_path):
    folder = tmp_path / "study"
    studies.open_study(folder, {"budget": BUDGET}, ["a"])
    killed = subprocess.run(  # makes its temporary file, then dies before the rename
        [
            sys.executable,
            "-c",
            "import os, signal, sys, studies; from pathlib import Path; "
            "studies.temporary_in(Path(sys.argv[1]), 'seed-0.json'); "
            "os.kill(os.getpid(), signal.SIGKILL)",
            str(folder / "a"),
        ],
        env=script_env(),
    )
    assert killed.returncode == -signal.SIGKILL
    left = list((folder / "a").glob(".seed-0.json.*.tmp"))
    assert len(left) == 1
    old_foreign = folder / "a" / ".seed-1.json.otherhost.4242.abcdefgh.tmp"
    old_foreign.write_text("{")
    os.utime(old_foreign, (time.time() - 7200, time.time() - 7200))
    fd, mine = studies.temporary_in(folder / "a", "seed-2.json")  # a live writer's
    os.close(fd)
    studies.open_study(folder, {"budget": BUDGET}, ["a"])
    assert sorted((folder / "a").iterdir()) == [mine]


def test_a_run_that_fails_or_stops_does_not_stop_the_others(studies, tmp_path):
    def run(job):
        if job.seed == 1:
            raise RuntimeError("boom")
        if job.seed == 4:
            return {"net": object()}  # not JSON: reported, not stored
        return None if job.seed == 2 else {"seed": job.seed}

    variant = studies.Variant("a", "A")
    jobs = [studies.Job(variant, seed, BUDGET) for seed in (0, 1, 2, 3, 4, 0)]
    outcome = studies.run_study(
        tmp_path / "s",
        {"budget": BUDGET},
        jobs,
        run,
        engine=studies.Engine(),
        report=lambda job, record: f"stored {job.seed}",
    )
    assert sorted(outcome.stored) == [("a", 0), ("a", 3)]
    assert outcome.stopped == [("a", 2)]
    assert [failed[:2] for failed in outcome.failed] == [("a", 1), ("a", 4)]
    assert "RuntimeError: boom" in outcome.failed[0][2]
    assert "run.record.net is a object" in outcome.failed[1][2]
    runs = read_study(tmp_path / "s")["variants"]["a"]["runs"]
    assert runs == {"0": {"seed": 0}, "3": {"seed": 3}}
    again = studies.run_study(  # resume: only the missing runs are tried
        tmp_path / "s",
        {"budget": BUDGET},
        jobs,
        run,
        engine=studies.Engine(),
        report=str,
    )
    assert again.stored == [] and len(again.failed) == 2 and len(again.stopped) == 1


def test_a_nan_result_is_stored_as_null_in_strict_json(tmp_path):
    out = tmp_path / "study"
    toy("--seeds", "0", "1", "--nan-seed", "1", "--jobs", "2", "--out", str(out))
    text = (out / "a" / "seed-1.json").read_text()
    run = json.loads(text, parse_constant=lambda name: pytest.fail(name))
    assert run["record"]["validation_best"] == [None, None]
    assert run["non_finite"] == [
        "run.record.validation_best[0]",
        "run.record.validation_best[1]",
    ]


@pytest.mark.parametrize("split", ["halves", "the same runs"])
def test_two_processes_on_one_study_keep_every_run(tmp_path, split):
    """Two processes add to one study at once: all 60 runs are kept (the study file
    that each process rewrote whole kept 30 of 60)."""
    out = tmp_path / "study"
    seeds = [str(s) for s in range(30)]
    parts = [seeds[:15], seeds[15:]] if split == "halves" else [seeds, seeds]
    procs = [
        subprocess.Popen(
            [sys.executable, str(TOY), "--seconds", "0.01", "--out", str(out)]
            + ["--seeds", *part],
            env=script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    study = read_study(out)
    assert {name: len(e["runs"]) for name, e in study["variants"].items()} == {
        "a": 30,
        "b": 30,
    }
    assert not list(out.rglob("*.tmp"))
