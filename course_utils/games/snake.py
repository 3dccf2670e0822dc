"""Snake: the qlearning4k project's second game, as a Gymnasium environment.

The snake moves one cell per step on a ``size x size`` board (10 x 10 by default). It
grows by one cell when its head reaches the apple (+1), and a new apple appears on a
free cell drawn uniformly with ``self.np_random``. It dies (-1, ``terminated``) when its
head leaves the board or hits its own body; the cell the tail leaves on this very step
is free, so following your own tail is legal. Every other step gives 0.

Choices, and why:

* **Observation: four ``(size, size)`` planes, ``(4, size, size) uint8``** - head (1),
  body without the head (1), apple (1), and *steps until free*: on every snake cell,
  how many steps until it empties if no apple is eaten (tail 1, neck ``length - 1``,
  head ``length``; capped at 255). One-hot planes suit a small network better than one
  plane of codes (no fake order "apple > head > body"); a CNN reads them as channels,
  an MLP as ``4 * size * size`` numbers. The fourth plane gives what a picture of the
  board lacks: the heading (the neck is next to the head) and which cells free up
  in time, so one frame is enough (``nb_frames = 1``). Its ``high`` in
  ``observation_space`` is ``min(size**2, 255)``; the other planes' ``high`` is 1, so
  ``Normalize(space.low, space.high)`` scales every plane to ``[-1, 1]``.
* **Actions: absolute, ``Discrete(4)``: 0 up, 1 right, 2 down, 3 left.** On a board
  picture "go towards the apple" is then the same action wherever the snake points
  (relative left/straight/right would make the right action depend on the heading).
  The reverse move (down while heading up) is ignored: the snake keeps going straight,
  as in the arcade game, so no action is a pointless suicide into the neck.
* **Time limit:** ``max_steps_since_apple`` steps (default ``size**2``) without an
  apple end the episode as a *truncation* (the state is not terminal: bootstrap
  through it). ``size**2`` steps let a snake that tours the whole board reach any
  apple, so the limit only cuts loops.
* **A full board is a win**: when the snake fills every cell the episode terminates
  with the +1 of the last apple and no bonus, so the return is always the number of
  apples minus 1 if the snake died.

``info["score"]`` is the number of apples eaten so far. The snake starts with 3 cells
in the middle of the board, heading in a random direction; ``reset(options=...)`` can
place it (and the apple) yourself, e.g. for tests or puzzles. Make it with
``make_env("course/Snake-v0", size=8)`` or ``SnakeEnv()``.

The egocentric view (:class:`EgocentricView`, ``course/SnakeEgocentric-v0``) at the
bottom of this file:

:class:`EgocentricView` wraps :class:`course_utils.snake.SnakeEnv`. Its observation
is the board cut out around the head and turned so that the snake always heads
*up*, and its actions are relative: 0 turn left, 1 straight on, 2 turn right. The
same situation (an apple two cells to the left, a wall ahead) then looks the same
wherever it happens on the board and whichever way the snake goes, so what the
network learns in one corner serves everywhere: measured in the course's runs, an
MLP over this view passed 25 apples per game in 300 000 steps, where the same MLP
over the plain board learned far slower (see the README's Snake row).

Observation: ``(3, 2 * size - 1, 2 * size - 1) uint8`` planes, the head at the centre:

* obstacles: 1 on the snake's body and on every cell outside the board;
* apple: 1 on the apple;
* steps until free: the base env's fourth plane (when each body cell empties).

Make it with ``make_env("course/SnakeEgocentric-v0")`` (size and step limit as in
``course/Snake-v0``); ``info["score"]`` and the rewards are the base env's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from course_utils.common.validate import index, refuse, whole_number

HEAD, BODY, APPLE, STEPS_TO_FREE = 0, 1, 2, 3  # the observation's planes
ACTION_NAMES = ("up", "right", "down", "left")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # (row, column) change per action
ABSOLUTE_ACTIONS = ("up", "right", "down", "left")
START_LENGTH = 3
MAX_SIZE = 64  # the widest board: 4 * 64 * 64 numbers an observation
_CELL_PX = 20
_COLOURS = np.array(  # empty, body, head, apple
    [[30, 30, 40], [60, 170, 80], [170, 240, 120], [230, 60, 50]], dtype=np.uint8
)
_NEVER = -(2**40)  # "entered" time of a cell no snake has ever been on


class SnakeEnv(gym.Env):
    """Eat apples, grow, and do not hit a wall or yourself.

    Observation: ``(4, size, size) uint8`` planes head, body, apple, steps-until-free
    (see the module docstring). Actions: ``Discrete(4)`` 0 up, 1 right, 2 down, 3 left.
    Rewards: +1 per apple, -1 on death, 0 otherwise.

    Args:
        size: board side, at least 5 (the 3-cell snake starts in the middle).
        max_steps_since_apple: steps without an apple before truncation; default
            ``size**2``.
        render_mode: ``None`` or ``"rgb_array"``.

    Internally the snake is the ``length`` most recent head positions:
    ``self._entered[r, c]`` is the step at which the head last entered ``(r, c)``,
    so a cell frees ``entered - (t - length)`` steps from now (0 or less: empty).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        size: int = 10,
        *,
        max_steps_since_apple: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        size = whole_number(
            "size",
            size,
            minimum=5,
            why="the 3-cell snake starts in the middle",
            fix="SnakeEnv(size=10).",
        )
        if size > MAX_SIZE:
            refuse(
                "size",
                f"at most {MAX_SIZE}",
                size,
                why="the board's planes take 4 * size**2 numbers",
                fix="SnakeEnv(size=10).",
            )
        limit = size * size
        if max_steps_since_apple is not None:
            limit = whole_number(
                "max_steps_since_apple",
                max_steps_since_apple,
                why=f"or None for size**2 = {size * size}",
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                "SnakeEnv supports render_mode None or 'rgb_array', "
                f"got {render_mode!r}."
            )
        self.size, self.max_steps_since_apple = int(size), int(limit)
        self.render_mode = render_mode
        high = np.ones((4, size, size), dtype=np.uint8)
        high[STEPS_TO_FREE] = min(size * size, 255)
        self.observation_space = gym.spaces.Box(0, high, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self._entered = np.full((size, size), _NEVER, dtype=np.int64)
        self._t = self._length = self._score = self._since_apple = 0
        self._head, self._heading, self._apple = (0, 0), 0, (-1, -1)
        self._over = True  # no episode yet: step() needs reset() first

    @property
    def head(self) -> tuple[int, int]:
        """``(row, col)`` of the snake's head."""
        return self._head

    @property
    def heading(self) -> int:
        """The way the snake moves: 0 up, 1 right, 2 down, 3 left."""
        return self._heading

    def _remaining(self) -> np.ndarray:
        """``(size, size) int64``: steps until each cell is free (<= 0: free now)."""
        return self._entered - (self._t - self._length)

    def _obs(self) -> np.ndarray:
        remaining = self._remaining()
        obs = np.zeros((4, self.size, self.size), dtype=np.uint8)
        np.clip(remaining, 0, 255, out=remaining)
        obs[STEPS_TO_FREE] = remaining
        obs[BODY] = remaining > 0
        obs[BODY][self._head] = 0
        obs[HEAD][self._head] = 1
        if self._apple[0] >= 0:
            obs[APPLE][self._apple] = 1
        return obs

    def _info(self) -> dict[str, Any]:
        return {"score": self._score}

    def _place_apple(self) -> None:
        free = np.flatnonzero(self._remaining() <= 0)
        if len(free) == 0:
            self._apple = (-1, -1)  # full board: no apple left to place
        else:
            cell = int(free[self.np_random.integers(len(free))])
            self._apple = divmod(cell, self.size)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a 3-cell snake in the middle, heading a random way, and one apple.

        Args:
            seed: seeds ``self.np_random`` (start heading and every apple).
            options: optional ``{"snake": [(row, col), ...], "apple": (row, col)}``:
                the snake's cells from head to tail (at least 2, each next to the
                previous one); without ``"apple"`` the apple goes on a random
                free cell.
        """
        super().reset(seed=seed)
        options = {} if options is None else options
        if not isinstance(options, dict):
            refuse(
                "options", "a dict such as {'snake': [...], 'apple': (r, c)}", options
            )
        if unknown := sorted(map(str, options.keys() - {"snake", "apple"})):
            raise ValueError(
                f"unknown reset options {unknown}; Snake knows 'snake' (its cells, "
                "head first) and 'apple' (a cell). Fix: check the spelling."
            )
        if "snake" in options:
            cells = self._check_snake(options["snake"])
        else:
            heading = int(self.np_random.integers(4))
            dr, dc = MOVES[heading]
            mid = self.size // 2
            cells = [(mid - k * dr, mid - k * dc) for k in range(START_LENGTH)]
        self._entered.fill(_NEVER)
        self._t, self._length = 0, len(cells)
        for age, cell in enumerate(cells):
            self._entered[cell] = -age
        self._head = cells[0]
        neck = cells[1]
        self._heading = MOVES.index((cells[0][0] - neck[0], cells[0][1] - neck[1]))
        self._score = self._since_apple = 0
        self._over = False
        if "apple" in options:
            self._apple = self._check_apple(options["apple"], cells)
        else:
            self._place_apple()
        return self._obs(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the head one cell: 0 up, 1 right, 2 down, 3 left (reverse: straight)."""
        action = _action(action, self.action_space, ABSOLUTE_ACTIONS)
        if self._over:
            raise RuntimeError(
                "No episode is running (never reset, or it ended): call reset() "
                "before step()."
            )
        if action != (self._heading + 2) % 4:  # the reverse move is ignored
            self._heading = action
        dr, dc = MOVES[self._heading]
        row, col = self._head[0] + dr, self._head[1] + dc
        self._since_apple += 1
        if not (0 <= row < self.size and 0 <= col < self.size) or (
            self._remaining()[row, col] > 1  # a body cell that is not the tail
        ):
            self._over = True
            return self._obs(), -1.0, True, False, self._info()
        self._t += 1
        self._entered[row, col] = self._t
        self._head = (row, col)
        reward, terminated = 0.0, False
        if self._head == self._apple:
            self._length += 1  # the tail stays where it is: the snake grows
            self._score += 1
            self._since_apple = 0
            reward = 1.0
            self._place_apple()
            terminated = self._apple[0] < 0  # full board: a win
        truncated = not terminated and self._since_apple >= self.max_steps_since_apple
        self._over = terminated or truncated
        return self._obs(), reward, terminated, truncated, self._info()

    def render(self) -> np.ndarray | None:
        """``(20 * size, 20 * size, 3) uint8`` picture in ``rgb_array`` mode."""
        if self.render_mode != "rgb_array":
            return None
        obs = self._obs()
        codes = obs[BODY] + 2 * obs[HEAD] + 3 * obs[APPLE]
        image = _COLOURS[codes].repeat(_CELL_PX, axis=0).repeat(_CELL_PX, axis=1)
        image[::_CELL_PX, :] = image[:, ::_CELL_PX] = 60  # faint grid lines
        return image

    def _check_snake(self, snake: Any) -> list[tuple[int, int]]:
        if not isinstance(snake, (list, tuple, np.ndarray)):
            refuse("options['snake']", "a list of (row, col) cells, head first", snake)
        cells = [self._cell(f"options['snake'][{i}]", c) for i, c in enumerate(snake)]
        inside = all(0 <= r < self.size and 0 <= c < self.size for r, c in cells)
        steps = zip(cells, cells[1:], strict=False)
        joined = all(abs(a - c) + abs(b - d) == 1 for (a, b), (c, d) in steps)
        if len(cells) < 2 or not inside or not joined or len(set(cells)) < len(cells):
            raise ValueError(
                "options['snake'] must list at least 2 distinct (row, col) cells on "
                f"the {self.size}x{self.size} board, head first, each next to the "
                f"previous one; got {snake!r}."
            )
        return cells

    def _check_apple(self, apple: Any, cells: list[tuple[int, int]]) -> tuple[int, int]:
        row, col = self._cell("options['apple']", apple)
        if not (0 <= row < self.size and 0 <= col < self.size) or (row, col) in cells:
            raise ValueError(
                f"options['apple'] must be a free (row, col) cell on the board, got "
                f"{apple!r}. Fix: leave it out for a random free cell."
            )
        return row, col

    def _cell(self, name: str, cell: Any) -> tuple[int, int]:
        """``cell`` as a ``(row, col)`` of whole numbers on the board."""
        if not isinstance(cell, (tuple, list, np.ndarray)) or len(cell) != 2:
            refuse(name, "a (row, col) cell", cell)
        return index(f"{name} row", cell[0], self.size), index(
            f"{name} col", cell[1], self.size
        )


RELATIVE_ACTIONS = ("turn left", "straight on", "turn right")


class EgocentricView(gym.Wrapper):
    """Snake seen from the head, heading up; actions left / straight / right.

    Args:
        env: a :class:`SnakeEnv` (or an env whose ``unwrapped`` is one).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, SnakeEnv):
            raise ValueError(
                f"EgocentricView wraps a SnakeEnv, got {type(base).__name__}. Fix: "
                'make_env("course/SnakeEgocentric-v0").'
            )
        size = base.size
        self._width = 2 * size - 1
        high = np.ones((3, self._width, self._width), dtype=np.uint8)
        high[2] = min(size * size, 255)
        self.observation_space = gym.spaces.Box(0, high, dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(3)
        pad = size - 1
        self._big = np.zeros((3, size + 2 * pad, size + 2 * pad), dtype=np.uint8)
        self._inner = (slice(pad, pad + size), slice(pad, pad + size))

    def _view(self, obs: np.ndarray) -> np.ndarray:
        base = self.env.unwrapped
        big = self._big
        big[0], big[1:] = 1, 0  # outside the board: an obstacle
        big[0][self._inner] = obs[BODY]
        big[1][self._inner] = obs[APPLE]
        big[2][self._inner] = obs[STEPS_TO_FREE]
        row, col = base.head
        crop = big[:, row : row + self._width, col : col + self._width]
        return np.ascontiguousarray(np.rot90(crop, k=base.heading, axes=(1, 2)))

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        return self._view(obs), info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """0 turns left, 1 goes straight on, 2 turns right."""
        action = _action(action, self.action_space, RELATIVE_ACTIONS)
        absolute = (self.env.unwrapped.heading + action - 1) % 4
        obs, reward, terminated, truncated, info = self.env.step(absolute)
        return self._view(obs), reward, terminated, truncated, info


def _action(action: Any, space: gym.spaces.Discrete, names: tuple[str, ...]) -> int:
    """``action`` as an ``int`` of ``space`` (a bool is none), or a ``ValueError``
    listing ``names``, the meaning of each action."""
    if isinstance(action, (bool, np.bool_)) or not space.contains(action):
        listed = ", ".join(f"{i} ({name})" for i, name in enumerate(names))
        raise ValueError(
            f"Snake's actions here are {listed}; got {action!r}. Fix: pass an int, "
            "e.g. int(q_values.argmax())."
        )
    return int(action)


def make_egocentric_snake(**kwargs: Any) -> EgocentricView:
    """Entry point of ``course/SnakeEgocentric-v0``: ``SnakeEnv(**kwargs)``, wrapped."""
    return EgocentricView(SnakeEnv(**kwargs))
