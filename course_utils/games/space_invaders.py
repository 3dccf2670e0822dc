"""Space Invaders as the agent sees it: 128 bytes of RAM, preprocessed for a network,
the score read from its BCD bytes, and the reward and life bookkeeping of a step
(clipped rewards, a lost life as a terminal for learning only).

Taught in: 04_dqn_space_invaders_ram.ipynb
"""

from __future__ import annotations

import numpy as np

# Discrete(6), in the order ALE numbers them (env.unwrapped.get_action_meanings()).
SPACE_INVADERS_ACTIONS = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
# Bytes found in notebook 04 (they agree with the AtariARI annotations).
SPACE_INVADERS_BYTES = {
    "player_x": 28,  # the cannon's horizontal position
    "lives": 73,  # lives left, equal to info["lives"]
    "score_hundreds": 102,  # score // 100, binary-coded decimal
    "score_ones": 104,  # score % 100, binary-coded decimal
}
# The invaders alive, one row of six per byte as bit masks; byte 17 (invaders left) is
# the number of bits set in them, so it repeats what they hold.
INVADER_MASKS = (18, 19, 20, 21, 22, 23)
INVADERS_LEFT = 17


def preprocess_ram(obs: np.ndarray) -> np.ndarray:
    """Bytes to floats in ``[-1, 1]``: ``obs * (2 / 255) - 1`` as ``float32``.

    The same numbers as the course's ``networks.Normalize`` layer on RAM (bounds 0
    and 255), computed with the same float32 operations, so a network that uses this
    function in place of that layer sees exactly the same input.

    Args:
        obs: ``(..., 128) uint8`` RAM snapshot(s), any leading batch shape.

    Returns:
        an array of the same shape, ``float32``, with 0 -> -1.0 and 255 -> 1.0.

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    scale = np.float32(2.0) / np.float32(255.0)
    return np.asarray(obs, dtype=np.float32) * scale - np.float32(1.0)


def bcd_to_int(byte: int | np.ndarray) -> int | np.ndarray:
    """Decode binary-coded decimal: the high nibble holds tens, the low nibble ones.

    ``0x35`` (53) -> 35. Works elementwise on arrays.
    """
    byte = np.asarray(byte).astype(np.int64)
    value = (byte >> 4) * 10 + (byte & 0x0F)
    return int(value) if value.ndim == 0 else value


def score_from_ram(ram: np.ndarray) -> int | np.ndarray:
    """The score shown on screen, read from RAM bytes 102 (hundreds) and 104 (ones).

    Args:
        ram: ``(128,)`` or ``(T, 128) uint8``.
    """
    ram = np.asarray(ram)
    hundreds = bcd_to_int(ram[..., SPACE_INVADERS_BYTES["score_hundreds"]])
    ones = bcd_to_int(ram[..., SPACE_INVADERS_BYTES["score_ones"]])
    return 100 * hundreds + ones


def atari_transition(
    reward: float, terminated: bool, info: dict, prev_info: dict
) -> tuple[float, bool]:
    """The Atari habits of DQN (Mnih et al., 2015), as a transition shaping.

    The agent learns from the reward clipped to ``[-1, 1]`` (one scale for every
    game) and from a lost life stored as terminal (``info["lives"]`` fell since
    ``prev_info``): dying then costs the value of the future, although the game goes
    on. The episode's score is unchanged.

    Returns:
        ``(reward to store, terminal flag to store)``.

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    lives_before = prev_info.get("lives", 0)
    life_lost = info.get("lives", lives_before) < lives_before
    return float(np.clip(reward, -1.0, 1.0)), bool(terminated or life_lost)
