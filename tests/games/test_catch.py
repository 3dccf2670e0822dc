"""The Catch environment: Gymnasium API, rules, rendering, seeding, table index."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from course_utils.common.envs import CATCH_ID, make_env
from course_utils.games.catch import BASKET, FRUIT, N_STATES, CatchEnv, state_index


def _fruit_and_basket(obs: np.ndarray) -> tuple[int, int, int]:
    index = state_index(obs)
    cell, basket = divmod(index, 8)
    row, col = divmod(cell, 10)
    return row, col, basket + 1


def _tracker(obs: np.ndarray) -> int:
    """Move the basket towards the fruit's column: catches every fruit."""
    _, col, basket = _fruit_and_basket(obs)
    return 1 + int(np.sign(col - basket))


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_check_env_passes(render_mode):
    env = make_env(CATCH_ID, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a check_env warning fails the test too
        check_env(env.unwrapped, skip_render_check=False)


def test_spaces_and_first_observation():
    env = make_env(CATCH_ID, seed=0)
    obs, info = env.reset(seed=3)
    assert env.action_space.n == 3
    assert obs.shape == (10, 10) and obs.dtype == np.uint8
    assert env.observation_space.contains(obs) and info == {}
    assert (obs[0] == FRUIT).sum() == 1  # the fruit starts on the top row
    assert (obs[-1] == BASKET).sum() == 3 and obs[1:-1].sum() == 0


def test_episode_lasts_nine_steps_and_only_the_last_reward_counts():
    env = make_env(CATCH_ID)
    for seed in range(20):
        env.reset(seed=seed)
        rewards, terminated = [], False
        while not terminated:
            obs, reward, terminated, truncated, _ = env.step(1)
            assert not truncated
            rewards.append(reward)
        assert len(rewards) == 9
        assert rewards[:-1] == [0.0] * 8 and rewards[-1] in (1.0, -1.0)


def test_catch_and_miss():
    env = make_env(CATCH_ID)
    wins = losses = 0
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        _, col, basket = _fruit_and_basket(obs)
        terminated = False
        while not terminated:  # stand still: a win exactly when the fruit is above
            obs, reward, terminated, _, _ = env.step(1)
        assert reward == (1.0 if abs(col - basket) <= 1 else -1.0)
        wins, losses = wins + (reward == 1), losses + (reward == -1)
    assert wins > 0 and losses > 0


def test_every_fruit_can_be_caught():
    env = make_env(CATCH_ID)
    for seed in range(200):
        obs, _ = env.reset(seed=seed)
        terminated = False
        while not terminated:
            obs, reward, terminated, _, _ = env.step(_tracker(obs))
        assert reward == 1.0


def test_basket_stops_at_the_walls_and_moves_one_cell():
    env = CatchEnv()
    obs, _ = env.reset(seed=0)
    for _ in range(8):
        obs, *_ = env.step(0)
    assert obs[-1, :3].tolist() in ([2, 2, 2], [1, 2, 2], [2, 1, 2], [2, 2, 1])
    obs, _ = env.reset(seed=0)
    basket = _fruit_and_basket(obs)[2]
    obs, *_ = env.step(2)
    assert _fruit_and_basket(obs)[2] == min(basket + 1, 8)
    assert _fruit_and_basket(obs)[0] == 1


def test_bad_actions_and_stepping_after_the_end_raise():
    env = CatchEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="0 \\(left\\)"):
        env.step(3)
    for _ in range(9):
        env.step(1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)
    with pytest.raises(ValueError, match="rgb_array"):
        CatchEnv(render_mode="human")


def test_rendering():
    env = make_env(CATCH_ID, render_mode="rgb_array")
    obs, _ = env.reset(seed=1)
    frame = env.render()
    assert frame.shape == (200, 200, 3) and frame.dtype == np.uint8
    assert frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0
    row, col = np.argwhere(obs == FRUIT)[0]
    centre = frame[row * 20 + 10, col * 20 + 10]
    assert centre[0] > 200 and centre[1] < 100  # the fruit is red
    assert CatchEnv().render() is None  # no render_mode, no picture


def test_seeding_is_deterministic():
    def play(seed: int) -> list[np.ndarray]:
        env = make_env(CATCH_ID)
        observations = []
        for episode in range(5):
            obs, _ = env.reset(seed=seed if episode == 0 else None)
            observations.append(obs)
        return observations

    first, again, other = play(7), play(7), play(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_start_positions_cover_the_board():
    env = CatchEnv()
    env.reset(seed=0)
    starts = {_fruit_and_basket(env.reset()[0]) for _ in range(2000)}
    assert {col for _, col, _ in starts} == set(range(10))
    assert {basket for _, _, basket in starts} == set(range(1, 9))


def _board(row: int, col: int, basket: int) -> np.ndarray:
    board = np.zeros((10, 10), dtype=np.uint8)
    board[-1, basket - 1 : basket + 2] = BASKET
    board[row, col] = FRUIT
    return board


def test_state_index_numbers_every_board_once():
    indices = {
        state_index(_board(row, col, basket))
        for row in range(10)
        for col in range(10)
        for basket in range(1, 9)
    }
    assert indices == set(range(N_STATES))
    q_table = np.arange(N_STATES * 3).reshape(N_STATES, 3)
    grid = q_table.reshape(10, 10, 8, 3)  # [fruit_row, fruit_col, basket - 1, action]
    assert np.array_equal(grid[4, 7, 2], q_table[state_index(_board(4, 7, 3))])


def test_state_index_refuses_other_arrays():
    with pytest.raises(ValueError, match="shape"):
        state_index(np.zeros((8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match="fruit"):
        state_index(np.zeros((10, 10), dtype=np.uint8))


def test_step_before_reset_is_a_clear_error():
    env = CatchEnv()
    with pytest.raises(RuntimeError, match=r"call reset\(\) before") as info:
        env.step(1)
    assert "env.reset(seed=" in str(info.value)
    env.reset(seed=0)
    env.step(1)  # fine once reset
    # Through make_env, Gymnasium's order check already says so.
    with pytest.raises(Exception, match=r"before calling env.reset\(\)"):
        make_env(CATCH_ID).step(1)
