"""Catch: the 10x10 fruit-catching game of the qlearning4k project, as a Gymnasium env.

A fruit falls one row per step from a random column of the top row; a 3-cell basket
slides along the bottom row. When the fruit reaches the bottom row the episode ends
with +1 if the basket is under it and -1 if not; every other step gives 0. An episode
always lasts 9 steps, and every fruit can be caught: the best win rate is 1.0.

Make it with ``make_env("course/Catch-v0")`` (``course_utils.common.envs`` registers the
id) or directly with ``CatchEnv()``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

GRID_SIZE = 10
EMPTY, FRUIT, BASKET = 0, 1, 2
# fruit row (0..9) x fruit column (0..9) x basket centre (1..8)
N_STATES = GRID_SIZE * GRID_SIZE * (GRID_SIZE - 2)
ACTION_NAMES = ("left", "stay", "right")
_CELL_PX = 20
_COLOURS = np.array([[30, 30, 40], [230, 60, 50], [240, 240, 240]], dtype=np.uint8)


class CatchEnv(gym.Env):
    """Catch the falling fruit with a 3-cell basket.

    Observation: ``(10, 10) uint8`` picture of the board (row 0 at the top):
    0 empty, 1 fruit, 2 basket; when the fruit lands in the basket its cell shows 1.
    A network can read it as it is (``float()``, divide by 2); a table needs a
    number: :func:`state_index` turns the picture into ``0 <= index < N_STATES``.

    Actions: ``Discrete(3)``: 0 left, 1 stay, 2 right (the basket stops at the walls).

    Rewards: +1 when the fruit reaches the bottom row inside the basket, -1 when it
    lands beside it (both end the episode: ``terminated=True``), 0 otherwise.

    Differences from qlearning4k: the fruit may start in any of the 10 columns and the
    basket centre anywhere in 1..8 (the original drew 0..8 and 1..7), so the board is
    symmetric. Randomness comes only from ``reset(seed=...)`` / ``self.np_random``.

    02_rl_concepts.ipynb plays it through ``make_env("course/Catch-v0")``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                "CatchEnv supports render_mode None or 'rgb_array', "
                f"got {render_mode!r}."
            )
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(
            0, BASKET, shape=(GRID_SIZE, GRID_SIZE), dtype=np.uint8
        )
        self.action_space = gym.spaces.Discrete(3)
        self._fruit_row, self._fruit_col, self._basket = 0, 0, 1
        self._started = False  # step() needs a reset() first

    def _obs(self) -> np.ndarray:
        board = np.zeros((GRID_SIZE, GRID_SIZE), dtype=np.uint8)
        board[-1, self._basket - 1 : self._basket + 2] = BASKET
        board[self._fruit_row, self._fruit_col] = FRUIT
        return board

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new fruit at the top row, above a random column."""
        super().reset(seed=seed)
        self._fruit_row = 0
        self._fruit_col = int(self.np_random.integers(0, GRID_SIZE))
        self._basket = int(self.np_random.integers(1, GRID_SIZE - 1))
        self._started = True
        return self._obs(), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the basket (0 left, 1 stay, 2 right), then drop the fruit one row."""
        if not self.action_space.contains(action):
            raise ValueError(
                f"Catch actions are 0 (left), 1 (stay), 2 (right); got {action!r}."
            )
        if not self._started:
            raise RuntimeError(
                "CatchEnv has no fruit yet: call reset() before step(), e.g. "
                "obs, info = env.reset(seed=0)."
            )
        if self._fruit_row >= GRID_SIZE - 1:
            raise RuntimeError("The episode is over: call reset() before step().")
        self._basket = min(max(self._basket + int(action) - 1, 1), GRID_SIZE - 2)
        self._fruit_row += 1
        terminated = self._fruit_row == GRID_SIZE - 1
        reward = 0.0
        if terminated:
            reward = 1.0 if abs(self._fruit_col - self._basket) <= 1 else -1.0
        return self._obs(), reward, terminated, False, {}

    def render(self) -> np.ndarray | None:
        """``(200, 200, 3) uint8`` picture (20 px per cell) in ``rgb_array`` mode."""
        if self.render_mode != "rgb_array":
            return None
        image = _COLOURS[self._obs()]
        image = image.repeat(_CELL_PX, axis=0).repeat(_CELL_PX, axis=1)
        image[::_CELL_PX, :] = image[:, ::_CELL_PX] = 60  # faint grid lines
        return image


def state_index(obs: np.ndarray) -> int:
    """Number a Catch observation for a Q-table: ``0 <= index < N_STATES`` (800).

    ``index = (fruit_row * 10 + fruit_col) * 8 + (basket_centre - 1)``, so two
    observations get the same index exactly when they show the same board.

    Args:
        obs: ``(10, 10) uint8`` observation from :class:`CatchEnv`.

    Taught in: 02_rl_concepts.ipynb
    """
    obs = np.asarray(obs)
    if obs.shape != (GRID_SIZE, GRID_SIZE):
        raise ValueError(
            "state_index expects a Catch observation of shape (10, 10), "
            f"got {obs.shape}."
        )
    fruit = np.argwhere(obs == FRUIT)
    if len(fruit) != 1:
        raise ValueError("This board has no single fruit: is it a Catch observation?")
    fruit_row, fruit_col = (int(v) for v in fruit[0])
    cells = set(np.flatnonzero(obs[-1] == BASKET).tolist())
    if fruit_row == GRID_SIZE - 1 and len(cells) == 2:
        cells.add(fruit_col)  # the fruit landed in the basket and hides one cell
    if len(cells) != 3 or max(cells) - min(cells) != 2:
        raise ValueError("This board has no 3-cell basket: is it a Catch observation?")
    basket = sorted(cells)[1]  # the middle of the three basket cells
    return (fruit_row * GRID_SIZE + fruit_col) * (GRID_SIZE - 2) + basket - 1
