"""The training states shipped in data/states/: complete metadata, small, resumable
with the shipped preset, and evaluated on validation seeds only."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gymnasium.wrappers import TimeLimit

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.resume import (
    STATE_METADATA,
    FreshWorldEachReset,
    load_training_state,
    shipped_state,
)
from course_utils.common.data import data_dir
from course_utils.common.envs import make_env
from course_utils.lessons.notebook_files import read_notebook
from course_utils.presets import TEST_SEED, get_preset

VALIDATION_SEED = 20_000  # the validation seeds: above selection, below test
STATES = sorted(p.name for p in (data_dir() / "states").glob("*.pt"))


def test_the_notebook_names_a_shipped_state():
    path = (
        Path(__file__).parents[1]
        / "notebooks"
        / "05_selective_memory_bipedalwalker.ipynb"
    )
    code = "".join("".join(c["source"]) for c in read_notebook(path)["cells"])
    assert STATES and any(f'shipped_state("{name}")' in code for name in STATES)


@pytest.mark.parametrize("name", STATES)
def test_a_stored_state_says_how_it_was_made(name):
    path, meta = shipped_state(name)
    assert path.stat().st_size < 10e6, "small enough for git"
    assert all(key in meta for key in STATE_METADATA)
    assert meta["train_command"].startswith("python benchmarks/walker_state.py")
    assert meta["steps"] > 0 and meta["games"] > 0 and meta["cpu_time_s"] > 0
    first = int(meta["validation"]["seeds"].split("..")[0])
    assert (
        first >= VALIDATION_SEED and first + meta["validation"]["episodes"] < TEST_SEED
    )
    assert {"torch", "gymnasium", "numpy"} <= set(meta["versions"])
    assert meta["pieces"] == get_preset("bipedalwalker").describe_pieces()


@pytest.mark.parametrize("name", STATES)
def test_a_stored_state_resumes_with_the_shipped_preset(name):
    """Load it into a fresh state of the shipped recipe and play one more (short)
    game: the run goes on from the stored game and steps."""
    path, meta = shipped_state(name)
    preset = get_preset("bipedalwalker")
    cfg = replace(preset.config, max_steps=meta["steps"] + 1, eval_every=0)
    env = FreshWorldEachReset(TimeLimit(make_env("BipedalWalker-v3"), 30))
    rng = np.random.default_rng(12345)
    state = sm.new_state(
        env, cfg, seed=meta["seed"], baseline=preset.pieces["baseline"]
    )
    load_training_state(path, state, rng=rng, env=env)
    assert state.game == meta["games"] and sum(state.lengths) == meta["steps"]
    result = sm.train_selective_memory(
        env, cfg, rng=rng, seed=meta["seed"], state=state, progress=False,
        **preset.pieces,
    )  # fmt: skip
    assert result.state.game == meta["games"] + 1
    assert result.steps == meta["steps"] + result.episode_steps[-1]
