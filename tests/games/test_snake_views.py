"""The egocentric Snake view: the head at the centre, heading up, relative actions."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from course_utils.common.envs import SNAKE_EGO_ID, make_env
from course_utils.games.snake import EgocentricView, SnakeEnv


def _env(snake, apple):
    env = EgocentricView(SnakeEnv(size=6))
    obs, _ = env.reset(seed=0, options={"snake": snake, "apple": apple})
    return env, obs


def test_the_view_turns_with_the_snake():
    """The same situation seen heading up and heading right looks the same."""
    up, obs_up = _env([(3, 3), (4, 3), (5, 3)], (1, 3))  # apple 2 ahead, heading up
    right, obs_right = _env([(3, 3), (3, 2), (3, 1)], (3, 5))  # apple 2 ahead, right
    assert obs_up.shape == (3, 11, 11)
    centre = 5
    assert obs_up[1, centre - 2, centre] == 1  # the apple two cells "ahead" (up)
    np.testing.assert_array_equal(obs_up[1], obs_right[1])  # same apple plane
    assert obs_up[0, centre + 1, centre] == 1  # the neck is behind the head
    assert obs_right[0, centre + 1, centre] == 1


def test_outside_the_board_is_an_obstacle():
    _, obs = _env([(0, 0), (1, 0), (2, 0)], (5, 5))  # corner, heading up
    assert obs[0, 4, 5] == 1  # the cell above the head is off the board
    assert obs[0, 5, 4] == 1  # so is the cell to its left


def test_relative_actions_turn_left_go_straight_turn_right():
    env, _ = _env([(3, 3), (4, 3), (5, 3)], (0, 0))  # heading up
    env.step(0)  # turn left: now heading left
    assert env.unwrapped.heading == 3 and env.unwrapped.head == (3, 2)
    env.step(1)  # straight on
    assert env.unwrapped.head == (3, 1)
    env.step(2)  # turn right: heading up again
    assert env.unwrapped.heading == 0 and env.unwrapped.head == (2, 1)
    with pytest.raises(ValueError, match="0 \\(turn left\\)"):
        env.step(3)


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_registered_and_clean_under_gymnasiums_checker():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any other checker warning fails the test
        warnings.filterwarnings("ignore", message=".*different from the unwrapped")
        check_env(EgocentricView(SnakeEnv()), skip_render_check=True)
    env = make_env(SNAKE_EGO_ID)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs) and info["score"] == 0
    with pytest.raises(ValueError, match="wraps a SnakeEnv"):
        EgocentricView(make_env("MountainCar-v0"))


def test_a_bool_is_no_relative_action():
    env = EgocentricView(SnakeEnv(size=6))
    env.reset(seed=0)
    with pytest.raises(ValueError, match="turn left"):
        env.step(True)
