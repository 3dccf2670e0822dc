"""The course's own games and what an agent needs to play the Atari one: Catch,
Snake (and the snake's egocentric view), Space Invaders' RAM preprocessing and its
reward and life bookkeeping.

May import: ``common``; never ``agents`` or ``lessons``.
"""

from course_utils.games.catch import CatchEnv, state_index
from course_utils.games.snake import EgocentricView, SnakeEnv, make_egocentric_snake
from course_utils.games.space_invaders import (
    INVADER_MASKS,
    INVADERS_LEFT,
    SPACE_INVADERS_ACTIONS,
    SPACE_INVADERS_BYTES,
    atari_transition,
    bcd_to_int,
    preprocess_ram,
    score_from_ram,
)

__all__ = [
    "INVADER_MASKS",
    "INVADERS_LEFT",
    "SPACE_INVADERS_ACTIONS",
    "SPACE_INVADERS_BYTES",
    "CatchEnv",
    "EgocentricView",
    "SnakeEnv",
    "atari_transition",
    "bcd_to_int",
    "make_egocentric_snake",
    "preprocess_ram",
    "score_from_ram",
    "state_index",
]
