"""The command line: python -m course_utils.evaluate CHECKPOINT ..."""

import json

import pytest
import torch

from course_utils.checkpoints import save_checkpoint
from course_utils.evaluate import main
from course_utils.networks import QNetwork


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
