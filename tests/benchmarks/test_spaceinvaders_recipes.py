"""benchmarks/spaceinvaders_recipes.py: one knob per variant, every variant trains."""

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.agents import dqn
from course_utils.agents.dqn.qr import QR_DQN_PIECES
from course_utils.common.envs import make_env
from course_utils.presets import get_preset

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "spaceinvaders_recipes.py"
BUDGET = {
    "steps": 300,
    "max_minutes": None,
    "eval_every": None,
    "validation_episodes": 1,
}


def _load():
    """The script as a module; it imports its sibling studies, so benchmarks/ is on
    the path while it loads, as when it runs."""
    spec = importlib.util.spec_from_file_location("spaceinvaders_recipes", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(SCRIPT.parent))
        spec.loader.exec_module(module)
    return module


recipes = _load()
# knobs made of several pieces that only work together
BUNDLES = {"qr": sorted(QR_DQN_PIECES), "async8": ["num_envs", "vector"]}


@pytest.mark.parametrize("name", sorted(recipes.VARIANTS))
def test_each_variant_changes_one_knob_and_trains(name):
    preset = get_preset("spaceinvaders")
    env_id, env_kwargs, cfg, pieces = recipes.variant_setup(
        recipes.combined(name), BUDGET
    )
    budget_only = replace(recipes.base_config(), total_steps=300)
    base = budget_only.to_dict() | {"num_envs": 1, "vector": "sync"}  # one env
    changed = [k for k, v in cfg.to_dict().items() if base[k] != v] + [
        k for k, v in pieces.items() if preset.pieces.get(k) is not v
    ]
    changed += [k for k, v in env_kwargs.items() if preset.env_kwargs.get(k) != v]
    if name in BUNDLES:
        assert sorted(changed) == BUNDLES[name]
    else:
        assert len(changed) == (0 if name == "current" else 1), changed
    # the loop accepts it: 200 learning steps of the variant (evaluation off), on one
    # thread as the script runs it (two threads on a busy machine are ~5x slower)
    torch.set_num_threads(1)
    cfg = replace(cfg, learning_starts=100, batch_size=8, buffer_size=500, eval_every=0)
    env = make_env(env_id, **env_kwargs)
    if isinstance(cfg, dqn.VectorDQNConfig):
        env = dqn.make_vector_env(lambda: make_env(env_id, **env_kwargs), 2, "sync")
        cfg = replace(cfg, num_envs=2, vector="sync")  # the loop; 2 envs, in process
    result = dqn.train_dqn(
        env,
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        **pieces,
    )
    assert result.steps == 300 and len(result.losses) == 200 // cfg.train_freq * (
        cfg.gradient_steps
    )


def test_the_step_clock_passes_everything_through():
    env = recipes.StepClock(make_env("MountainCar-v0"), every=50)
    plain = make_env("MountainCar-v0")
    assert env.reset(seed=1)[0].tolist() == plain.reset(seed=1)[0].tolist()
    for _ in range(120):
        a, b = env.step(2), plain.step(2)
        assert a[0].tolist() == b[0].tolist() and a[1:4] == b[1:4]
    assert [steps for steps, _ in env.marks] == [50, 100]


def test_the_script_never_touches_the_test_seeds():
    source = SCRIPT.read_text()
    assert "TEST_SEED" not in source and "1_000_000" not in source.split('"""')[2]
    assert recipes.VALIDATION_SEED == 20_000


def test_variants_combine_with_a_plus_and_refuse_clashes():
    preset = get_preset("spaceinvaders")
    both = recipes.combined("n5+stack2+dueling")
    env_id, env_kwargs, cfg, pieces = recipes.variant_setup(both, BUDGET)
    assert cfg.n_step == 5 and env_kwargs == {"obs_type": "ram", "stack": 2}
    assert pieces["net_class"].__name__ == "DuelingQNetwork"
    assert cfg.hidden == preset.config.hidden
    described = recipes.combined("n5+stack2").description
    assert "5-step returns + the last 2 RAM snapshots" in described
    with pytest.raises(ValueError, match="changes \\['hidden'\\] twice"):
        recipes.combined("wide+deep")
    with pytest.raises(ValueError, match="unknown variant 'n7'"):
        recipes.combined("n5+n7")


def test_qr_combines_with_config_changes_and_refuses_other_networks():
    _, _, cfg, pieces = recipes.variant_setup(recipes.combined("qr+n5"), BUDGET)
    assert cfg.n_step == 5 and pieces["td_loss"] is QR_DQN_PIECES["td_loss"]
    assert pieces["net_class"].__name__ == "QuantileQNetwork"
    for other in ("dueling", "layernorm", "bits"):
        with pytest.raises(
            ValueError, match=rf"\['net_class'\] twice \(qr and {other}"
        ):
            recipes.combined(f"qr+{other}")


def test_snake_screens_the_same_variants_but_not_the_ram_ones(tmp_path, capsys):
    """--preset snake: the RAM variants are refused, validation counts apples."""
    snake = {**BUDGET, "preset": "snake"}
    with pytest.raises(ValueError, match="RAM input"):
        recipes.variant_setup(recipes.combined("bits"), snake)
    env_id, _, cfg, _ = recipes.variant_setup(recipes.combined("wide"), snake)
    assert env_id == get_preset("snake").env_id and cfg.hidden == (512, 512)
    assert cfg.lr == get_preset("snake").config.lr  # Snake's own recipe
    out = tmp_path / "snake"
    recipes.main(["--preset", "snake", "--steps", "300", "--eval-every", "300",
                  "--variants", "current", "--seeds", "0", "--validation-episodes",
                  "2", "--jobs", "1", "--out", str(out)])  # fmt: skip
    (run,) = recipes.read_study(out)["variants"]["current"]["runs"].values()
    assert len(run["validation_best"]) == 2
    assert all(float(a).is_integer() and a >= 0 for a in run["validation_best"])
    assert recipes.read_study(out)["budget"]["preset"] == "snake"
