"""The command line: python -m course_utils.evaluate CHECKPOINT ..."""

import json

import pytest
import torch

from course_utils.common.checkpoints import save_checkpoint
from course_utils.common.networks import MLPActor, QNetwork
from course_utils.evaluate import main, recorded_test_seed
from course_utils.presets import TEST_SEED, check_env_spec


@pytest.fixture
def checkpoint(tmp_path, make_metadata):
    """A tiny MountainCar agent that never pushes (action 1): -200 every episode."""
    net = QNetwork(2, 3, hidden=(4,))
    with torch.no_grad():
        for param in net.parameters():
            param.zero_()
        net.body[-1].bias.copy_(torch.tensor([0.0, 1.0, 0.0]))
    return save_checkpoint(
        tmp_path / "car.pt", net, metadata=make_metadata("MountainCar-v0")
    )


def _json_line(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_prints_mean_std_and_a_json_line(checkpoint, capsys):
    assert main([str(checkpoint), "--episodes", "3", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "MountainCar-v0: -200.00 ± 0.00 over 3 episodes (seeds 5..7)" in out
    result = _json_line(out)
    assert result["mean"] == -200.0 and result["std"] == 0.0
    assert result["returns"] == [-200.0, -200.0, -200.0]
    assert result["episodes"] == 3 and result["seed"] == 5
    assert result["env_id"] == "MountainCar-v0"
    assert result["checkpoint"] == str(checkpoint)


def test_corrupt_checkpoint_exits_2_with_a_clear_message(tmp_path, capsys):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"\x00garbage" * 50)
    assert main([str(path), "--episodes", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ")
    assert "not a readable course checkpoint" in captured.err
    assert captured.out == ""


def test_missing_checkpoint_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nope.pt")]) == 2
    assert "No checkpoint" in capsys.readouterr().err


def test_video_is_written(checkpoint, tmp_path, capsys):
    video = tmp_path / "episode.mp4"
    assert main([str(checkpoint), "--episodes", "1", "--video", str(video)]) == 0
    data = video.read_bytes()
    assert len(data) > 1000 and data[4:8] == b"ftyp"
    assert f"video: {video} (201 frames)" in capsys.readouterr().out


def test_video_refuses_to_overwrite(checkpoint, tmp_path, capsys):
    video = tmp_path / "episode.mp4"
    video.write_bytes(b"keep")
    assert main([str(checkpoint), "--episodes", "1", "--video", str(video)]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert video.read_bytes() == b"keep"


def test_defaults_replay_the_recorded_test(checkpoint, capsys):
    """No flags: as many episodes as the metadata's test, on the test seeds."""
    assert main([str(checkpoint)]) == 0
    result = _json_line(capsys.readouterr().out)
    assert result["seed"] == TEST_SEED and result["episodes"] == 2  # make_metadata
    assert result["seeds"] == f"{TEST_SEED}..{TEST_SEED + 1}"


def test_defaults_replay_a_test_made_on_another_range(tmp_path, make_metadata, capsys):
    """A test run on --test-seed 3000000 is replayed there, not on TEST_SEED+."""
    evaluation = {**make_metadata("MountainCar-v0")["evaluation"]}
    evaluation.update(episodes=2, seeds="3000000..3000001")
    path = _agent_with(tmp_path, make_metadata, evaluation=evaluation)
    assert main([str(path)]) == 0
    result = _json_line(capsys.readouterr().out)
    assert result["seed"] == 3_000_000 and result["seeds"] == "3000000..3000001"
    assert recorded_test_seed({"evaluation": {}}) == TEST_SEED
    assert recorded_test_seed({"evaluation": {"seeds": "junk"}}) == TEST_SEED
    assert recorded_test_seed({"evaluation": {"seeds": [5, 6]}}) == 5


def _agent_with(tmp_path, make_metadata, **changes):
    net = QNetwork(2, 3, hidden=(4,))
    meta = {**make_metadata("MountainCar-v0"), **changes}
    return save_checkpoint(tmp_path / "odd.pt", net, metadata=meta)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"env_id": "os:MountainCar-v0"}, "Unknown environment 'os:MountainCar-v0'"),
        ({"env_id": "CartPole-v1"}, "Unknown environment 'CartPole-v1'"),
        ({"env_kwargs": {"max_episode_steps": 3}}, "max_episode_steps=3"),
    ],
)
def test_metadata_is_data_never_code(tmp_path, make_metadata, changes, message, capsys):
    path = _agent_with(tmp_path, make_metadata, **changes)
    assert main([str(path), "--episodes", "1"]) == 2
    assert message in capsys.readouterr().err


def test_known_envs_accept_only_their_own_kwargs():
    assert check_env_spec("ALE/SpaceInvaders-v5", {"obs_type": "ram"})
    with pytest.raises(ValueError, match="obs_type='rgb'"):
        check_env_spec("ALE/SpaceInvaders-v5", {"obs_type": "rgb"})
    with pytest.raises(ValueError, match="Unknown environment"):
        check_env_spec(None, {})


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--episodes", "0"], "--episodes must be at least 1"),
        (["--episodes", "-2"], "--episodes must be at least 1"),
        (["--episodes", "10001"], "at most 10,000"),
        (["--episodes", str(10**9)], "at most 10,000"),
        (["--seed", "-1"], "--seed must be a non-negative"),
        (["--seed", str(2**40)], "--seed must be a non-negative integer up to"),
        (["--video", "episode.avi"], "ending in .mp4"),
        (["--video", "no/such/folder/e.mp4"], "does not exist"),
    ],
)
def test_bad_flags_are_refused_before_evaluating(checkpoint, extra, message, capsys):
    assert main([str(checkpoint), *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def _test_recorded_as(tmp_path, make_metadata, **evaluation):
    metadata = make_metadata("MountainCar-v0")
    metadata["evaluation"].update(evaluation)
    return _agent_with(tmp_path, make_metadata, evaluation=metadata["evaluation"])


@pytest.mark.parametrize("seeds", ["0..1", "999998..999999", [10_000, 10_001]])
def test_a_recorded_test_below_the_test_seeds_is_not_replayed(
    tmp_path, make_metadata, capsys, seeds
):
    """Below TEST_SEED lie the training and selection seeds: replaying a "test" there
    would report a score on seeds the agent may have learned or been chosen on."""
    path = _test_recorded_as(tmp_path, make_metadata, seeds=seeds, episodes=2)
    assert main([str(path)]) == 2
    captured = capsys.readouterr()
    assert "below the test range" in captured.err and "--seed" in captured.err
    assert captured.out == ""
    first = seeds[0] if isinstance(seeds, list) else int(seeds.split("..")[0])
    assert main([str(path), "--seed", str(first)]) == 0  # asked for explicitly
    assert _json_line(capsys.readouterr().out)["seed"] == first


@pytest.mark.parametrize("episodes", [10**9, 0, -3, 2.5, "100", True, None])
def test_a_bad_recorded_episode_count_is_a_clear_error(
    tmp_path, make_metadata, capsys, episodes
):
    path = _test_recorded_as(tmp_path, make_metadata, episodes=episodes)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "from 1 to 10,000" in err
    assert "--episodes" in err
    assert main([str(path), "--episodes", "1"]) == 0  # a count given explicitly


@pytest.mark.parametrize(
    "net, env_id, kind, message",
    [
        (QNetwork(3, 3, hidden=(4,)), "MountainCar-v0", "q", "observations of 3"),
        (QNetwork(2, 4, hidden=(4,)), "MountainCar-v0", "q", "4 actions"),
        (MLPActor(2, 3, hidden=(4,)), "MountainCar-v0", "actor", "continuous"),
        (MLPActor(24, 3, hidden=(4,)), "BipedalWalker-v3", "actor", "3 actions"),
        (QNetwork(24, 4, hidden=(4,)), "BipedalWalker-v3", "q", "discrete"),
    ],
    ids=["obs-size", "n-actions", "actor-on-discrete", "act-dim", "q-on-box"],
)
def test_weights_that_do_not_fit_the_environment_fail_at_load(
    tmp_path, make_metadata, capsys, net, env_id, kind, message
):
    path = save_checkpoint(
        tmp_path / "odd.pt", net, metadata=make_metadata(env_id, kind=kind)
    )
    assert main([str(path), "--episodes", "1"]) == 2
    captured = capsys.readouterr()
    assert f"does not fit {env_id}" in captured.err and message in captured.err
    assert captured.out == ""  # refused before an episode was played
