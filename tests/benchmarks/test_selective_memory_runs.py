"""benchmarks/selective_memory_runs.py: the Selective Memory variants (every study's
one list of them) are Variants the loop accepts, and a run records what notebook 05
reads."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.envs import make_env

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "selective_memory_runs.py"


@pytest.fixture(scope="module")
def runs():
    """The script as a module (it imports its sibling studies, so benchmarks/ is on
    the path while it loads, as when it runs)."""
    spec = importlib.util.spec_from_file_location("sm_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPT.parent))
        spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["whole_game", "noise_gamma_adv_critic_trunc"])
def test_benchmark_variants_run(runs, name, tiny_sm):
    """The ablation's newer variants are pieces the loop accepts (2 tiny games)."""
    variant = runs.VARIANTS[name]
    cfg = replace(tiny_sm, episodes=2, random_games=1, fit_every=1, **variant.config)
    cfg = replace(cfg, recent_size=500)
    result = sm.train_selective_memory(
        FreshWorldEachReset(TimeLimit(make_env("BipedalWalker-v3"), 40)),
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        **variant.pieces,
    )
    assert len(result.episode_returns) == 2
    assert result.diagnostics.memory_rows[-1] == len(result.memory)


def test_a_run_records_what_the_notebook_reads(runs):
    budget = {"seconds": 60.0, "games": 2, "eval_every": 0, "test_episodes": 1}
    record = runs.run(runs.Job(runs.VARIANTS["faithful"], 0, budget))
    assert record["games"] == len(record["returns"]) == 2
    assert record["steps"] == sum(record["episode_steps"])
    assert record["eval_episodes"] == len(record["eval_scores"]) == 1
    assert record["eval_seeds"] == "1000000+" and record["config"]["episodes"] == 2
    for key in ("wall_s", "eval_mean", "eval_std", "diagnostics"):
        assert key in record
