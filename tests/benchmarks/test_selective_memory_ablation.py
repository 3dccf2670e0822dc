"""benchmarks/selective_memory_ablation.py: matched steps, seeds apart, resumable."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.envs import make_env
from course_utils.common.networks import MLPActor
from course_utils.lessons.studies import read_study
from course_utils.presets import SELECTION_SEED, TEST_SEED

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
SCRIPT = BENCHMARKS / "selective_memory_ablation.py"
TINY = ["--tiny", "--steps", "150", "--eval-every-steps", "50"]
TINY += ["--eval-episodes", "1", "--validation-episodes", "2"]
TINY_BUDGET = {
    "steps": 150,
    "eval_every_steps": 50,
    "eval_episodes": 1,
    "validation_episodes": 2,
    "tiny": True,
}


@pytest.fixture(scope="module")
def ablation():
    """The script as a module. It imports its siblings selective_memory_runs (the
    variants) and studies, so benchmarks/ is on the path while it loads, as when it
    runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location("sm_ablation", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def test_the_variants_are_those_of_selective_memory_runs(ablation):
    runs = sys.modules["selective_memory_runs"]
    assert ablation.VARIANTS is runs.VARIANTS and "faithful" in ablation.VARIANTS
    noise_gamma = ablation.VARIANTS["noise_gamma"]
    cfg, pieces = ablation.variant_setup(noise_gamma, {**TINY_BUDGET, "tiny": False})
    assert cfg.max_steps == cfg.episodes == 150 and cfg.gamma == 0.99
    assert cfg.actor_hidden == (1024, 512) and cfg.eval_every == 0
    assert set(pieces) == {"act", "keep"}


def test_the_script_never_touches_the_test_seeds():
    source = SCRIPT.read_text()
    code = source.split('"""', 2)[2]  # after the module's docstring
    assert "TEST_SEED" not in source and "1_000_000" not in code
    assert "1000000" not in code


@pytest.mark.parametrize("episodes", [1, 30, 10_000])
def test_selection_validation_and_test_seeds_are_disjoint(ablation, episodes):
    budget = {**TINY_BUDGET, "eval_episodes": episodes, "validation_episodes": episodes}
    ranges = ablation.seed_ranges([0, 1, 2, 3, 4, 9_999], budget)
    ranges["test"] = range(TEST_SEED, TEST_SEED + 1_000)
    names = list(ranges)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not set(ranges[a]) & set(ranges[b]), (a, b)
    assert ranges["selection"].start == SELECTION_SEED
    assert ablation.VALIDATION_SEED == 20_000


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--eval-episodes", "10001"], "--eval-episodes must lie in 1..10000"),
        (["--validation-episodes", "0"], "--validation-episodes must lie in"),
        (["--seeds", "0", "10000"], "training --seeds must lie in 0..9999"),
        (["--eval-every-steps", "0"], "--eval-every-steps must be at least 1"),
    ],
)
def test_flags_that_would_mix_seed_ranges_are_refused(
    ablation, flags, message, tmp_path, capsys
):
    out = tmp_path / "study"
    with pytest.raises(SystemExit):
        ablation.main(["--steps", "100", *flags, "--out", str(out)])
    assert message in capsys.readouterr().err and not out.exists()


def test_the_selection_curve_fires_after_the_game_that_crosses_a_mark(ablation):
    env = FreshWorldEachReset(TimeLimit(make_env("BipedalWalker-v3"), 10))
    curve = ablation.SelectionCurve(env, every=100, episodes=1)
    state = SimpleNamespace(lengths=[], actor=MLPActor(24, 4, hidden=(8,)))
    for length in (60, 39, 1, 60, 250, 10, 80):  # steps 60 99 100 160 410 420 500
        state.lengths.append(length)
        curve(state)
    # 100 is reached exactly; 410 crosses 200, 300 and 400 (one evaluation)
    assert [steps for steps, _, _ in curve.keeper.history] == [100, 410, 500]
    assert curve.keeper.best is not None and curve.keeper.seconds > 0


def test_thin_keeps_the_first_and_last_games(ablation):
    diagnostics = {"memory_rows": list(range(1000)), "keep_rate": [0.123456] * 1000}
    diagnostics["critic_corr"] = [None] * 1000
    out = ablation.thin(diagnostics, 1000, most=11)
    assert out["game"][0] == 0 and out["game"][-1] == 999 and len(out["game"]) == 11
    assert out["memory_rows"] == out["game"] and out["keep_rate"][0] == 0.1235
    assert out["critic_corr"] == [None] * 11
    assert ablation.thin(diagnostics, 3, most=11)["game"] == [0, 1, 2]


def fake_run(seed: int, validation: float, best: float | None) -> dict:
    """A stored run's record, as run() writes it (only what the table reads)."""
    return {
        "steps_done": 1000 + seed,
        "games": 10,
        "train_s": 100.0,
        "eval_s": 5.0,
        "validation_s": 2.0,
        "eval_steps": [500, 1000] if best is not None else [],
        "evals": [best - 1, best] if best is not None else [],
        "validation_last": [validation, validation + 2],
        "validation_best": None if best is None else [best, best],
    }


def test_summary_with_one_and_several_seeds(ablation):
    study = {
        "budget": {**TINY_BUDGET, "steps": 1000},
        "variants": {
            "faithful": {"runs": {"0": fake_run(0, -100.0, -90.0)}},
            "noise": {
                "runs": {str(s): fake_run(s, 10.0 * s, 5.0 * s) for s in range(5)}
            },
            "top_k": {"runs": {"0": fake_run(0, -50.0, None)}},
            "keep_all": {"runs": {}},
        },
    }
    lines = ablation.summary(study).splitlines()
    assert len(lines) == 4 and "keep_all" not in lines[0]
    one, several, no_eval = lines[1:]
    assert one.split()[:2] == ["faithful", "1"] and "[" not in one
    assert "-99.0" in one  # validation of the final actor: mean of -100 and -98
    assert several.split()[:2] == ["noise", "5"] and several.count("[") == 2
    assert "21.0" in several  # mean over seeds of 1, 11, 21, 31, 41
    assert "—" in no_eval  # no selection curve, no best actor
    assert ablation.summary({}).count("\n") == 0  # the header alone


def stored_study(folder: Path, budget: dict, runs: dict) -> Path:
    """A study folder as the runner writes it; ``runs``: ``{(variant, seed): run}``."""
    folder.mkdir(parents=True)
    study = {"study": folder.name, "budget": budget}
    (folder / "study.json").write_text(json.dumps(study))
    for (variant, seed), record in runs.items():
        path = folder / variant / f"seed-{seed}.json"
        path.parent.mkdir(exist_ok=True)
        run = {"variant": variant, "seed": seed, "budget": budget}
        run |= {"description": variant, "record": record}
        path.write_text(json.dumps(run))
    return folder


def test_resume_skips_stored_runs_and_another_budget_is_refused(
    ablation, tmp_path, capsys
):
    out = stored_study(
        tmp_path / "study", TINY_BUDGET, {("faithful", 0): fake_run(0, -1.0, -1.0)}
    )
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    ablation.main([*TINY, "--variants", "faithful", "--seeds", "0", "--out", str(out)])
    assert "1 runs stored, 0 to go" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files
    with pytest.raises(SystemExit):
        ablation.main(["--tiny", "--steps", "300", "--out", str(out)])
    err = capsys.readouterr().err
    assert "holds runs made with the budget" in err and "'steps': 300" in err
    with pytest.raises(SystemExit):  # a real study cannot resume a tiny one
        ablation.main([*TINY[1:], "--out", str(out)])
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files


def test_summary_reads_the_folder_and_compares(ablation, tmp_path, capsys):
    """Runs made by separate processes are one study: the folder holds them all."""
    budget = {**TINY_BUDGET, "steps": 1000}
    runs = {("new", s): fake_run(s, 0.0, 100.0 + s) for s in range(3)}
    runs |= {("old", s): fake_run(s, 0.0, 50.0 + s) for s in range(3)}
    out = stored_study(tmp_path / "study", budget, runs)
    ablation.main(["--summary", "--out", str(out), "--compare", "new", "old"])
    shown = capsys.readouterr().out
    assert "new (3 seeds) minus old (3 seeds)" in shown and "+50.0" in shown
    with pytest.raises(SystemExit):  # comparing needs --summary
        ablation.main(["--steps", "1000", "--out", str(out), "--compare", "new", "old"])
    assert "--compare goes with --summary" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        ablation.main(["--summary", "--out", str(tmp_path / "none")])
    assert "is not a study" in capsys.readouterr().err


def test_a_tiny_run_end_to_end(tmp_path):
    """The script as launched: one tiny run in its own process, stored, the table."""
    out = tmp_path / "study"
    args = [*TINY, "--variants", "faithful", "--seeds", "0", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "0 runs stored, 1 to go" in done.stdout
    study = read_study(out)
    assert study["budget"] == TINY_BUDGET and study["protocol"]["test"].startswith(
        "none"
    )
    entry = study["variants"]["faithful"]
    assert entry["config"]["max_steps"] == 150 and entry["pieces"] == {}
    run = entry["runs"]["0"]
    lengths = run["episode_steps"]
    assert run["steps_done"] == sum(lengths) >= 150 > sum(lengths[:-1])
    assert run["games"] == len(run["returns"]) == len(lengths)
    ends = np.cumsum(lengths)  # one evaluation per game end that crossed a mark
    starts = ends - np.array(lengths)
    crossed = [int(e) for e, s in zip(ends, starts, strict=True) if e // 50 > s // 50]
    assert run["eval_steps"] == crossed
    assert len(run["validation_last"]) == len(run["validation_best"]) == 2
    assert run["diagnostics"]["game"] == list(range(run["games"]))
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    stored = json.loads((out / "faithful" / "seed-0.json").read_text())
    assert stored["machine"].endswith("one torch thread a run")
    assert stored["versions"]["torch"] and stored["budget"] == TINY_BUDGET
