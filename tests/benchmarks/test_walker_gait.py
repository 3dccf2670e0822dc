"""benchmarks/walker_gait.py: the motors' cost as BipedalWalker-v3 charges it."""

from pathlib import Path

import numpy as np
import pytest
from benchmark_scripts import load_benchmark
from gymnasium.wrappers import TimeLimit

from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.envs import make_env


@pytest.fixture(scope="module")
def gait():
    return load_benchmark("walker_gait")


@pytest.mark.parametrize("level", [0.0, 0.5, 2.0])
def test_motor_cost_is_the_envs_own_charge(gait, level):
    """|a| clipped to 1, 0.00035 × 80 = 0.028 per joint and step."""
    env = FreshWorldEachReset(TimeLimit(make_env("BipedalWalker-v3"), 30))
    episode = gait.play(lambda obs: np.full(4, level, np.float32), env, seed=20_000)
    assert episode.steps == 30 and not episode.crossed
    assert episode.motor_cost == pytest.approx(30 * 4 * 0.028 * min(level, 1.0))


def test_report_says_how_fast_a_crossing_must_be(gait):
    episodes = [
        gait.Episode(ret=280.0, steps=1600, crossed=True, motor_cost=80.0),
        gait.Episode(ret=-100.0, steps=90, crossed=False, motor_cost=3.0),
    ]
    text = gait.report(episodes)
    assert "mean return 90.0 over 2 episodes; 1 crossed" in text
    assert "without the cost 360.0" in text and "at most 1200 steps" in text


def test_a_checkpoint_of_another_game_is_refused(gait, capsys):
    car = Path(__file__).parents[2] / "data" / "checkpoints" / "mountaincar_dqn.pt"
    with pytest.raises(SystemExit):
        gait.main([str(car), "--episodes", "1"])
    assert "MountainCar-v0 agent" in capsys.readouterr().err
