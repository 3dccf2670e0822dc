"""The trainer's command line: one train-and-save path for every agent, and every
argument checked before training starts (a finished run is never lost)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from gymnasium.vector import SyncVectorEnv

from course_utils import evaluate, train
from course_utils.agents.dqn import VectorDQNConfig
from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.checkpoints import load_network
from course_utils.common.data import data_dir
from course_utils.common.networks import QNetwork
from course_utils.presets import PRESETS, TEST_SEED

# The smallest budget of each agent that still runs its whole path.
TINY = {
    "mountaincar": ["--steps", "300"],
    "snake": ["--steps", "300"],
    "spaceinvaders": ["--steps", "200"],
    "bipedalwalker": ["--episodes", "2"],
}


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if training starts: a validation error must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started although an argument was wrong")

    monkeypatch.setattr(train, "_train_dqn", refuse)
    monkeypatch.setattr(train, "_train_sm", refuse)


@pytest.mark.parametrize("agent", sorted(PRESETS))
def test_every_agent_trains_tests_and_saves(agent, tmp_path, capsys):
    out = tmp_path / f"{agent}.pt"
    args = [agent, *TINY[agent], "--test-episodes", "1", "--quiet", "--out", str(out)]
    assert train.main(args) == 0
    meta = load_network(out)[1]
    assert meta["agent"] == agent and meta["env_id"] == PRESETS[agent].env_id
    assert meta["evaluation"]["episodes"] == 1
    assert meta["evaluation"]["seeds"] == f"{TEST_SEED}..{TEST_SEED}"
    assert meta["pieces"] == PRESETS[agent].describe_pieces()
    assert meta["train_command"].endswith(" ".join(args))
    assert meta["fresh_world_each_episode"] is (agent == "bipedalwalker")
    assert "Test score" in capsys.readouterr().out


def test_evaluate_replays_a_walker_test_in_fresh_worlds(tmp_path, monkeypatch):
    """BipedalWalker's Box2D world keeps history across resets; its test is played
    with a new world every episode, and ``evaluate`` replays it the same way."""
    wrapped = []

    class Recording(FreshWorldEachReset):
        def __init__(self, env):
            wrapped.append(env.spec.id)
            super().__init__(env)

    monkeypatch.setattr(evaluate, "FreshWorldEachReset", Recording)
    for agent in ("bipedalwalker", "mountaincar"):
        out = tmp_path / f"{agent}.pt"
        args = [agent, *TINY[agent], "--test-episodes", "1", "--quiet"]
        assert train.main([*args, "--out", str(out)]) == 0
        assert evaluate.main([str(out), "--episodes", "1"]) == 0
    assert wrapped == ["BipedalWalker-v3"]


def test_the_test_uses_the_seeds_asked_for_and_says_so(tmp_path):
    out = tmp_path / "agent.pt"
    args = ["mountaincar", "--steps", "300", "--test-episodes", "3", "--quiet"]
    assert train.main([*args, "--test-seed", "3000000", "--out", str(out)]) == 0
    meta = load_network(out)[1]
    assert meta["evaluation"]["seeds"] == "3000000..3000002"
    assert "3000000..3000002" in meta["protocol"]
    assert f"{PRESETS['mountaincar'].config.eval_seed}+" in meta["protocol"]


def test_a_second_run_refuses_to_overwrite_before_training(tmp_path, capsys):
    out = tmp_path / "agent.pt"
    args = [
        "mountaincar",
        "--steps",
        "300",
        "--test-episodes",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    assert train.main(args) == 0
    before = out.read_bytes()
    train_dqn, train._train_dqn = train._train_dqn, None  # would crash if called
    try:
        assert train.main(args) == 2
    finally:
        train._train_dqn = train_dqn
    assert "left untouched" in capsys.readouterr().err
    assert out.read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["mountaincar", "--test-episodes", "0"], "--test-episodes must be at least 1"),
        (
            ["mountaincar", "--test-episodes", "-1"],
            "--test-episodes must be at least 1",
        ),
        (["mountaincar", "--steps", "0"], "--steps must be at least 1"),
        (["bipedalwalker", "--episodes", "0"], "--episodes must be at least 1"),
        (["bipedalwalker", "--steps", "0"], "--steps must be at least 1"),
        (["mountaincar", "--episodes", "5"], "--episodes does not apply to mount"),
        (["spaceinvaders", "--episodes", "5"], "--episodes does not apply"),
        (["mountaincar", "--max-minutes", "0"], "--max-minutes must be a finite"),
        (["mountaincar", "--max-minutes", "nan"], "--max-minutes must be a finite"),
        (["mountaincar", "--max-minutes", "inf"], "--max-minutes must be a finite"),
        (["mountaincar", "--max-minutes", "-3"], "--max-minutes must be a finite"),
        (["mountaincar", "--seed", "-1"], "--seed must be an integer in [0, 2**63)"),
        (["mountaincar", "--seed", str(2**64)], "--seed must be an integer in [0"),
        (["spaceinvaders", "--out", "/tmp/x.json"], "ends in .json"),
        (["mountaincar", "--out", "/dev/null", "--overwrite"], "/dev/null"),
        (["mountaincar", "--out", ""], "--out is empty"),
        (["mountaincar", "--out", "  "], "--out is empty"),
        (["mountaincar", "--out", "/no/such/folder/agent.pt"], "does not exist"),
        (["mountaincar", "--out", "/proc/agent.pt"], "cannot write to /proc"),
        # below TEST_SEED lie the seeds that training and selection use
        (["mountaincar", "--test-seed", "10000"], "--test-seed must be in [1000000"),
        (["mountaincar", "--test-seed", "999999"], "--test-seed must be in [1000000"),
        (["mountaincar", "--test-seed", str(2**31)], "--test-seed must be in ["),
    ],
)
def test_bad_arguments_are_refused_before_training(args, message, no_training, capsys):
    assert train.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_steps_is_a_step_budget_for_an_agent_counted_in_games(tmp_path, capsys):
    """bipedalwalker --steps N: SMConfig.max_steps, training stops after the game
    that reaches N steps (games matched in steps with other runs)."""
    out = tmp_path / "walker.pt"
    args = ["bipedalwalker", "--steps", "100", "--episodes", "50"]
    assert (
        train.main([*args, "--test-episodes", "1", "--quiet", "--out", str(out)]) == 0
    )
    meta = load_network(out)[1]
    assert meta["config"]["max_steps"] == 100 and meta["config"]["episodes"] == 50
    lengths = meta["history"]["episode_steps"]
    assert meta["train_steps"] == sum(lengths) >= 100 > sum(lengths[:-1])
    assert "stopping after the game that reaches 100 steps" in capsys.readouterr().out


def test_an_existing_folder_as_out_is_refused(tmp_path, no_training, capsys):
    assert train.main(["mountaincar", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_overwrite_leaves_no_temporary_files(tmp_path):
    out = tmp_path / "agent.pt"
    args = [
        "mountaincar",
        "--steps",
        "300",
        "--test-episodes",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    assert train.main(args) == 0
    assert train.main([*args, "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt", "agent.pt.json"]


def test_default_output_does_not_depend_on_the_current_folder(
    tmp_path, monkeypatch, no_training, capsys
):
    """From any folder the default is the course's data/checkpoints file, which
    exists: without --overwrite it is refused (and nothing is trained)."""
    monkeypatch.chdir(tmp_path)
    assert train.main(["mountaincar"]) == 2
    err = capsys.readouterr().err
    shipped = Path(train.__file__).resolve().parent.parent / "data" / "checkpoints"
    assert str(shipped / "mountaincar_dqn.pt") in err
    assert list(tmp_path.iterdir()) == []


def _fail_first_save(monkeypatch, tmp_path) -> list[Path]:
    """The final save fails once (a full disk); the temporary folder is tmp_path/tmp.
    Returns the paths saved to, in order."""
    real_save, calls = train.save_checkpoint, []

    def flaky_save(path, *args, **kwargs):
        calls.append(Path(path))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(train, "save_checkpoint", flaky_save)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(train.tempfile, "tempdir", str(tmp_path / "tmp"))
    return calls


def test_a_failed_final_write_falls_back_and_says_where(tmp_path, monkeypatch, capsys):
    out = tmp_path / "agent.pt"
    calls = _fail_first_save(monkeypatch, tmp_path)
    args = [
        "mountaincar",
        "--steps",
        "300",
        "--test-episodes",
        "1",
        "--quiet",
        "--out",
        str(out),
    ]
    assert train.main(args) == 1
    assert "saving to" in capsys.readouterr().err
    assert calls[1].parent.parent == tmp_path / "tmp" and calls[1].is_file()


def test_unknown_agents_are_refused():
    with pytest.raises(SystemExit):
        train.main(["pong"])


def test_metadata_the_format_refuses_still_keeps_the_weights(tmp_path, monkeypatch):
    """If even the fallback save refuses (bad metadata), the raw weights are kept."""
    monkeypatch.setattr(train.tempfile, "tempdir", str(tmp_path))
    net = torch.nn.Linear(2, 3)
    written = train.save_or_fall_back(
        tmp_path / "agent.pt", net, {"evaluation": float("nan")}, overwrite=False
    )
    assert written.parent.parent == tmp_path and written.is_file()
    saved = torch.load(written, weights_only=True)
    assert torch.equal(saved["state_dict"]["weight"], net.weight)


@pytest.mark.parametrize("planted", ["file", "link"])
def test_a_fallback_never_meets_an_earlier_file_or_a_planted_link(
    tmp_path, monkeypatch, make_metadata, planted
):
    """Files at the fallback's old name (``<stem>-<pid>.pt`` in the temporary folder:
    an earlier run's, or a link another user planted) neither lose the finished run
    nor get written through."""
    _fail_first_save(monkeypatch, tmp_path)
    tmp = tmp_path / "tmp"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    for name in (f"agent-{os.getpid()}.pt", f"agent-{os.getpid()}.pt.json"):
        if planted == "file":
            (tmp / name).write_text("an earlier run")
        else:
            (tmp / name).symlink_to(victim)
    net = QNetwork(2, 3, hidden=(4,))
    for metadata in (make_metadata(), {"evaluation": float("nan")}):  # the raw path
        written = train.save_or_fall_back(
            tmp_path / "out" / "agent.pt", net, metadata, overwrite=False
        )
        assert written.is_file() and written.parent.parent == tmp
        saved = torch.load(written, weights_only=True)
        assert set(saved["state_dict"]) == set(net.state_dict())
    assert victim.read_text() == "keep"
    assert (tmp / f"agent-{os.getpid()}.pt").is_symlink() == (planted == "link")


@pytest.mark.parametrize("out", ["runs/", "existing", "existing/"])
def test_out_naming_a_folder_is_refused_before_training(
    tmp_path, out, no_training, capsys
):
    """``--out dir/`` must not write a file named ``dir``."""
    (tmp_path / "existing").mkdir()
    assert train.main(["mountaincar", "--out", f"{tmp_path}/{out}"]) == 2
    assert "folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]
    assert list((tmp_path / "existing").iterdir()) == []


def test_out_with_a_tilde_is_in_the_home_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    args = ["mountaincar", "--steps", "300", "--test-episodes", "1", "--quiet"]
    assert train.main([*args, "--out", "~/agent.pt"]) == 0
    assert load_network(tmp_path / "agent.pt")[1]["agent"] == "mountaincar"
    assert f"Wrote {tmp_path / 'agent.pt'}" in capsys.readouterr().out


def test_overwrite_without_out_never_replaces_the_shipped_agent(no_training, capsys):
    shipped = data_dir() / "checkpoints" / PRESETS["mountaincar"].checkpoint
    before = shipped.read_bytes()
    assert train.main(["mountaincar", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert str(shipped) in err and "--out" in err and "shipped agent" in err
    assert shipped.read_bytes() == before


def test_the_trainer_uses_the_vector_loop_for_a_vector_preset(tmp_path, monkeypatch):
    car = PRESETS["mountaincar"]
    preset = dataclasses.replace(
        car,
        config=VectorDQNConfig(
            **asdict(car.config) | {"hidden": car.config.hidden}, num_envs=2
        ),
    )
    monkeypatch.setattr(train, "PRESETS", {**PRESETS, "mountaincar": preset})
    calls = []
    loop = train.train_dqn
    monkeypatch.setattr(
        train, "train_dqn", lambda env, *a, **k: calls.append(env) or loop(env, *a, **k)
    )
    out = tmp_path / "car.pt"
    args = ["mountaincar", "--steps", "400", "--test-episodes", "1", "--quiet"]
    assert train.main([*args, "--out", str(out)]) == 0
    meta = load_network(out)[1]
    assert [type(env) for env in calls] == [SyncVectorEnv]
    assert calls[0].num_envs == 2
    assert meta["config"]["num_envs"] == 2 and meta["config"]["vector"] == "sync"
    assert meta["train_steps"] == 400


def test_num_envs_trains_a_dqn_preset_on_environments_stepped_together(tmp_path):
    out = tmp_path / "car.pt"
    args = ["mountaincar", "--steps", "400", "--num-envs", "4", "--vector", "async"]
    assert (
        train.main([*args, "--test-episodes", "1", "--quiet", "--out", str(out)]) == 0
    )
    meta = load_network(out)[1]
    assert meta["config"]["num_envs"] == 4 and meta["config"]["vector"] == "async"
    assert meta["config"]["train_freq"] == PRESETS["mountaincar"].config.train_freq
    assert meta["train_steps"] == 400


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bipedalwalker", "--num-envs", "2"], "apply to DQN agents"),
        (["mountaincar", "--num-envs", "0"], "num_envs"),
    ],
)
def test_bad_vector_arguments_are_refused_before_training(
    args, message, no_training, capsys
):
    assert train.main(args) == 2
    assert message in capsys.readouterr().err
