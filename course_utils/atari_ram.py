"""Space Invaders from its 128 bytes of RAM: preprocessing, the bytes that matter,
and the helpers that find them. Reference answers for notebook 04's exercises.

Over 200 lines because notebook 04's RAM detective work, its exercises' answers and
the Atari transition shaping belong to one topic.

Taught in: 04_dqn_space_invaders_ram.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from course_utils.tabular import epsilon_greedy

# Discrete(6), in the order ALE numbers them (env.unwrapped.get_action_meanings()).
SPACE_INVADERS_ACTIONS = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
# Bytes found in notebook 04 (they agree with the AtariARI annotations).
SPACE_INVADERS_BYTES = {
    "player_x": 28,  # the cannon's horizontal position
    "lives": 73,  # lives left, equal to info["lives"]
    "score_hundreds": 102,  # score // 100, binary-coded decimal
    "score_ones": 104,  # score % 100, binary-coded decimal
}


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


class RamTrace(NamedTuple):
    """One recorded episode. ``T`` is the number of steps.

    Fields: ``ram`` (T+1, 128) uint8 (the reset snapshot first), ``actions`` (T,)
    int64, ``rewards`` (T,) float64, ``lives`` (T+1,) int64 from ``info["lives"]``,
    ``score`` (T+1,) float64 (rewards so far), ``frames`` list of (210, 160, 3) uint8
    images if the env renders, else empty.
    """

    ram: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lives: np.ndarray
    score: np.ndarray
    frames: list[np.ndarray]


def record_ram_episode(
    env: gym.Env,
    policy: Callable[[np.ndarray], int],
    *,
    seed: int,
    max_steps: int = 10_000,
) -> RamTrace:
    """Play one episode and keep every RAM snapshot, action, reward and life count.

    Frames are kept too when ``env`` was made with ``render_mode="rgb_array"``.
    """
    obs, info = env.reset(seed=seed)
    rendering = env.render_mode == "rgb_array"
    ram, lives, actions, rewards = [obs], [info["lives"]], [], []
    frames = [env.render()] if rendering else []
    for _ in range(max_steps):
        action = int(policy(obs))
        obs, reward, terminated, truncated, info = env.step(action)
        ram.append(obs)
        lives.append(info["lives"])
        actions.append(action)
        rewards.append(float(reward))
        if rendering:
            frames.append(env.render())
        if terminated or truncated:
            break
    rewards_arr = np.asarray(rewards, dtype=np.float64)
    return RamTrace(
        ram=np.asarray(ram, dtype=np.uint8),
        actions=np.asarray(actions, dtype=np.int64),
        rewards=rewards_arr,
        lives=np.asarray(lives, dtype=np.int64),
        score=np.concatenate([[0.0], np.cumsum(rewards_arr)]),
        frames=frames,
    )


def byte_correlations(ram: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson correlation of each RAM byte's values with ``signal`` over time.

    Args:
        ram: ``(T, n_bytes)`` values (uint8 snapshots, or their changes).
        signal: ``(T,)`` numbers, e.g. ``info["lives"]`` at each step.

    Returns:
        ``(n_bytes,) float64``; a byte (or a signal) that never changes gets 0.
    """
    x = np.asarray(ram, dtype=np.float64)
    y = np.asarray(signal, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(
            f"Expected ram (T, n_bytes) and signal (T,), got {x.shape} and {y.shape}."
        )
    x = x - x.mean(axis=0)
    y = y - y.mean()
    denom = np.sqrt((x**2).sum(axis=0) * (y**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (x * y[:, None]).sum(axis=0) / denom
    return np.where(denom > 0, corr, 0.0)


def find_tracking_byte(ram: np.ndarray, signal: np.ndarray) -> int:
    """Index of the byte whose values follow ``signal`` most closely: the largest
    absolute correlation; a constant byte never wins.

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    return int(np.argmax(np.abs(byte_correlations(ram, signal))))


def joystick_direction(actions: np.ndarray) -> np.ndarray:
    """+1 for RIGHT/RIGHTFIRE, -1 for LEFT/LEFTFIRE, 0 otherwise: ``(T,) int64``."""
    actions = np.asarray(actions)
    return np.isin(actions, (2, 4)).astype(np.int64) - np.isin(actions, (3, 5))


def player_x_from_frame(frame: np.ndarray) -> float:
    """The cannon's x position in pixels, read from a rendered ``(210, 160, 3)`` frame
    (mean column of the cannon's green pixels in rows 185-195); NaN if not visible."""
    rows = np.asarray(frame)[185:195].astype(np.int64)
    green = (rows[..., 1] > 100) & (rows[..., 0] < 100) & (rows[..., 2] < 100)
    cols = np.nonzero(green)[1]
    return float(cols.mean()) if len(cols) else float("nan")


@torch.no_grad()
def epsilon_greedy_action(
    q_net: nn.Module, obs: np.ndarray, epsilon: float, rng: np.random.Generator
) -> int:
    """ε-greedy on a Q-network, for a raw observation.

    With probability ``epsilon`` a uniform action among *all* the network's outputs
    (6 for Space Invaders: never hard-code 2), else ``argmax_a Q(obs, a)``: this is
    ``course_utils.tabular.epsilon_greedy`` on the network's Q-values.

    Args:
        q_net: maps ``(batch, obs_dim)`` to ``(batch, n_actions)``; it rescales raw
            bytes itself.
        obs: ``(obs_dim,)``, e.g. ``(128,) uint8``.

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    q_values = q_net(torch.as_tensor(np.asarray(obs)).unsqueeze(0))[0]
    return epsilon_greedy(q_values.numpy(), epsilon, rng)


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
