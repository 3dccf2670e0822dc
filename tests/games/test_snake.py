"""The Snake environment: rules, limits, seeding, rendering, errors, Gymnasium API."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from course_utils.common.envs import SNAKE_ID, make_env
from course_utils.games.snake import APPLE, BODY, HEAD, MOVES, STEPS_TO_FREE, SnakeEnv

UP, RIGHT, DOWN, LEFT = range(4)


def _snake_cells(obs: np.ndarray) -> set[tuple[int, int]]:
    return {(int(r), int(c)) for r, c in np.argwhere(obs[STEPS_TO_FREE] > 0)}


def _one(plane: np.ndarray) -> tuple[int, int]:
    cells = np.argwhere(plane)
    assert len(cells) == 1
    return int(cells[0][0]), int(cells[0][1])


def _check_planes(obs: np.ndarray) -> None:
    """The planes agree with each other: one head, body = snake minus head."""
    snake = obs[STEPS_TO_FREE] > 0
    assert obs[HEAD].sum() == 1 and snake[obs[HEAD] == 1].all()
    assert np.array_equal(obs[BODY] | obs[HEAD], snake.astype(np.uint8))
    assert not (obs[APPLE].astype(bool) & snake).any()  # never on the snake
    assert obs[STEPS_TO_FREE].max() == snake.sum()  # the head frees last


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes(render_mode):
    env = make_env(SNAKE_ID, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a check_env warning fails the test too
        check_env(env.unwrapped, skip_render_check=False)


def test_spaces_and_first_observation():
    env = make_env(SNAKE_ID)
    obs, info = env.reset(seed=0)
    assert env.action_space == gym.spaces.Discrete(4)
    assert obs.shape == (4, 10, 10) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs) and info == {"score": 0}
    assert env.observation_space.high[STEPS_TO_FREE].max() == 100
    assert env.observation_space.high[:3].max() == 1
    _check_planes(obs)
    assert _one(obs[HEAD]) == (5, 5) and len(_snake_cells(obs)) == 3
    assert sorted(obs[STEPS_TO_FREE][obs[STEPS_TO_FREE] > 0]) == [1, 2, 3]
    assert make_env(SNAKE_ID, size=7).reset(seed=0)[0].shape == (4, 7, 7)


def test_eating_grows_the_snake_by_one_and_scores():
    env = SnakeEnv()
    snake = [(5, 5), (5, 4), (5, 3)]
    obs, _ = env.reset(seed=0, options={"snake": snake, "apple": (5, 6)})
    assert obs[APPLE][5, 6] == 1
    obs, reward, terminated, truncated, info = env.step(RIGHT)
    assert (reward, terminated, truncated, info) == (1.0, False, False, {"score": 1})
    assert _snake_cells(obs) == {(5, 6), (5, 5), (5, 4), (5, 3)}  # the tail stayed
    assert obs[STEPS_TO_FREE][5, 3] == 1 and obs[STEPS_TO_FREE][5, 6] == 4
    _check_planes(obs)
    obs, reward, *_ = env.step(RIGHT)  # no apple: the length stays 4
    assert reward == 0.0 and _snake_cells(obs) == {(5, 7), (5, 6), (5, 5), (5, 4)}


def test_moving_into_the_cell_the_tail_just_left_is_legal():
    env = SnakeEnv()
    snake = [(2, 2), (2, 3), (3, 3), (3, 2)]  # a 2x2 square; the tail is below the head
    obs, _ = env.reset(seed=0, options={"snake": snake, "apple": (8, 8)})
    for action in (DOWN, RIGHT, UP, LEFT) * 3:  # chase the tail around the square
        obs, reward, terminated, truncated, _ = env.step(action)
        assert (reward, terminated, truncated) == (0.0, False, False)
        assert _snake_cells(obs) == {(2, 2), (2, 3), (3, 3), (3, 2)}
        _check_planes(obs)


def test_hitting_the_body_kills():
    env = SnakeEnv()
    snake = [(2, 2), (2, 3), (3, 3), (3, 2), (3, 1)]  # (3, 2) is body, not the tail
    env.reset(seed=0, options={"snake": snake, "apple": (8, 8)})
    _, reward, terminated, truncated, info = env.step(DOWN)
    assert (reward, terminated, truncated, info) == (-1.0, True, False, {"score": 0})
    with pytest.raises(RuntimeError, match="reset"):
        env.step(UP)


@pytest.mark.parametrize(
    "snake, action",
    [
        ([(0, 4), (1, 4)], UP),
        ([(9, 4), (8, 4)], DOWN),
        ([(4, 0), (4, 1)], LEFT),
        ([(4, 9), (4, 8)], RIGHT),
    ],
)
def test_leaving_the_board_kills(snake, action):
    env = SnakeEnv()
    env.reset(seed=0, options={"snake": snake})
    _, reward, terminated, truncated, _ = env.step(action)
    assert (reward, terminated, truncated) == (-1.0, True, False)


def test_the_reverse_move_keeps_the_snake_going_straight():
    env = SnakeEnv()
    env.reset(seed=0, options={"snake": [(5, 5), (5, 6), (5, 7)], "apple": (0, 0)})
    obs, reward, terminated, *_ = env.step(RIGHT)  # heading left: right is reverse
    assert (reward, terminated) == (0.0, False) and _one(obs[HEAD]) == (5, 4)


def test_apple_is_never_on_the_snake_and_covers_the_free_cells():
    env = SnakeEnv(size=6)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    for _ in range(5000):
        _check_planes(obs)  # includes: the apple is not on the snake
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        if terminated or truncated:
            obs, _ = env.reset()
    starts = {_one(env.reset()[0][APPLE]) for _ in range(2000)}
    assert starts == {(r, c) for r in range(6) for c in range(6)} - {(3, 3)}
    # with two free cells left, the next apple must go on the last one
    order = [(r, c if r % 2 == 0 else 5 - c) for r in range(6) for c in range(6)]
    snake = order[:34][::-1]  # a boustrophedon body, head at (5, 2)
    for seed in range(5):
        env.reset(seed=seed, options={"snake": snake, "apple": (5, 1)})
        assert _one(env.step(LEFT)[0][APPLE]) == (5, 0)


def test_a_full_board_is_a_win():
    env = SnakeEnv(size=5)
    order = [(r, c if r % 2 == 0 else 4 - c) for r in range(5) for c in range(5)]
    snake = order[:24][::-1]  # every cell but the last one, head at (4, 3)
    env.reset(seed=0, options={"snake": snake})
    obs, reward, terminated, truncated, info = env.step(RIGHT)  # the only apple
    assert (reward, terminated, truncated, info) == (1.0, True, False, {"score": 1})
    assert obs[APPLE].sum() == 0 and (obs[STEPS_TO_FREE] > 0).all()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)


def test_touring_the_board_eats_every_apple():
    """A snake that follows a Hamiltonian cycle fills the 6x6 board and wins."""
    cycle = [(0, c) for c in range(6)]
    for r in range(1, 6):
        cols = range(5, 0, -1) if r % 2 else range(1, 6)
        cycle += [(r, c) for c in cols]
    cycle += [(5, 0)] + [(r, 0) for r in range(4, 0, -1)]
    assert len(set(cycle)) == 36
    nxt = {cell: cycle[(i + 1) % 36] for i, cell in enumerate(cycle)}
    env = SnakeEnv(size=6)
    obs, _ = env.reset(seed=0, options={"snake": [(3, 3), (3, 4), (3, 5)]})
    total, terminated, truncated, steps = 0.0, False, False, 0
    while not (terminated or truncated) and steps < 33 * 36:  # each apple < 36 away
        (r, c), (nr, nc) = _one(obs[HEAD]), nxt[_one(obs[HEAD])]
        action = MOVES.index((nr - r, nc - c))
        obs, reward, terminated, truncated, info = env.step(action)
        total, steps = total + reward, steps + 1
    assert terminated and not truncated and info["score"] == 33 and total == 33.0


def test_no_apple_for_too_long_truncates_and_an_apple_resets_the_clock():
    env = SnakeEnv(max_steps_since_apple=4)
    env.reset(seed=0, options={"snake": [(5, 5), (5, 4)], "apple": (5, 7)})
    assert env.step(RIGHT)[1:4] == (0.0, False, False)
    assert env.step(RIGHT)[1:4] == (1.0, False, False)  # the apple: clock back to 0
    env.reset(seed=0, options={"snake": [(5, 5), (5, 4)], "apple": (0, 0)})
    for _ in range(3):
        assert env.step(DOWN if _ == 0 else LEFT)[1:4] == (0.0, False, False)
    _, reward, terminated, truncated, info = env.step(LEFT)  # the 4th step
    assert (reward, terminated, truncated, info) == (0.0, False, True, {"score": 0})
    with pytest.raises(RuntimeError, match="reset"):
        env.step(LEFT)
    assert SnakeEnv(size=7).max_steps_since_apple == 49  # default: size**2


def test_seeding_is_reproducible():
    def play(seed: int) -> list[np.ndarray]:
        env = make_env(SNAKE_ID)
        rng = np.random.default_rng(0)  # the same actions for every seed
        observations = [env.reset(seed=seed)[0]]
        for _ in range(300):
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
            observations.append(obs)
            if terminated or truncated:
                observations.append(env.reset()[0])
        return observations

    first, again, other = play(7), play(7), play(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=False))


def test_rendering():
    env = make_env(SNAKE_ID, render_mode="rgb_array", size=8)
    env.reset(seed=0, options={"snake": [(4, 4), (4, 3)], "apple": (1, 6)})
    frame = env.render()
    assert frame.shape == (160, 160, 3) and frame.dtype == np.uint8
    apple, head, body = frame[1 * 20 + 10, 6 * 20 + 10], frame[90, 90], frame[90, 70]
    assert apple[0] > 200 and apple[1] < 100  # the apple is red
    assert body[1] > body[0] and head[1] > 200  # green body, light-green head
    assert SnakeEnv().render() is None  # no render_mode, no picture


def test_bad_actions_and_stepping_before_reset_raise_clear_errors():
    env = SnakeEnv()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(UP)
    with pytest.raises(gym.error.ResetNeeded):  # make_env's OrderEnforcing wrapper
        make_env(SNAKE_ID).step(UP)
    env.reset(seed=0)
    for bad in (4, -1, 1.5, "up"):
        with pytest.raises(ValueError, match="0 \\(up\\), 1 \\(right\\)"):
            env.step(bad)
    assert env.step(np.int64(UP))[0].shape == (4, 10, 10)  # NumPy ints are fine


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="size must be a whole number >= 5"):
        SnakeEnv(size=4)
    with pytest.raises(ValueError, match="max_steps_since_apple"):
        SnakeEnv(max_steps_since_apple=0)
    with pytest.raises(ValueError, match="rgb_array"):
        SnakeEnv(render_mode="human")
    env = SnakeEnv()
    with pytest.raises(ValueError, match="next to the"):
        env.reset(options={"snake": [(0, 0), (0, 2)]})
    with pytest.raises(ValueError, match="free"):
        env.reset(options={"snake": [(0, 0), (0, 1)], "apple": (0, 1)})


def test_a_bool_is_no_action():
    env = SnakeEnv()
    env.reset(seed=0)
    for bad in (True, False, np.bool_(True)):
        with pytest.raises(ValueError, match="0 \\(up\\), 1 \\(right\\)"):
            env.step(bad)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"snak": [(0, 0), (0, 1)]}, r"unknown reset options \['snak'\].*'apple'"),
        ({"aple": (3, 3)}, r"unknown reset options \['aple'\]"),
        ([(0, 0), (0, 1)], "options must be a dict"),
        ({"snake": [(0, 0), (0, 1.5)]}, "options\\['snake'\\]"),
        ({"snake": [(0, 0), (0, True)]}, "options\\['snake'\\]"),
        ({"snake": 5}, "options\\['snake'\\]"),
        ({"apple": (3, 3, 3)}, "options\\['apple'\\]"),
        ({"apple": (3.7, 3)}, "options\\['apple'\\]"),
        ({"apple": 3}, "options\\['apple'\\]"),
    ],
)
def test_reset_options_are_checked_not_ignored_or_truncated(options, message):
    with pytest.raises(ValueError, match=message):
        SnakeEnv().reset(options=options)


def test_a_board_too_big_for_memory_is_refused_before_allocating():
    """size=10**5 would allocate 37 GiB for the board's step counters."""
    with pytest.raises(ValueError, match=r"size must be .*at most 64"):
        SnakeEnv(size=10**5)
    assert SnakeEnv(size=64).reset(seed=0)[0].shape == (4, 64, 64)
