"""Notebook 04's RAM detective work and its own training run.

Which bytes of Space Invaders' RAM hold what (record an episode's RAM beside its
frames, correlate bytes with what is on screen, find the byte that tracks the
player); the network of the notebook's run, whose first step is the student's RAM
preprocessing, and a wrapper that logs the actions it took; and which bytes a
trained Q-network reads: permutation importance (Breiman, 2001: shuffle one byte
across the states so it keeps its distribution but loses its link to the rest, and
measure how much the output changes; a byte constant over the states cannot be
tested this way, which the result says with ``constant``) and gradient importance;
and the published scores the agent is set against (:func:`read_peers`). Over 200
lines because these lesson helpers belong to one notebook and are read together.

Taught in: 04_dqn_space_invaders_ram.ipynb
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from course_utils.common.data import data_dir
from course_utils.common.networks import QNetwork


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


Preprocess = Callable[[np.ndarray], np.ndarray]


class PreprocessLayer(nn.Module):
    """Applies a NumPy preprocessing function (``uint8`` bytes in, ``float32`` out)
    to a batch of observations inside the network. No gradient flows into it.

    Args:
        fn: maps ``(batch, 128) uint8`` to ``(batch, 128) float32``.
    """

    def __init__(self, fn: Preprocess) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        out = self.fn(obs.detach().cpu().numpy())
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise ValueError(
                "The preprocessing must return a float32 NumPy array, got "
                f"{type(out).__name__} {getattr(out, 'dtype', '')}. Fix: "
                "np.asarray(obs, dtype=np.float32) before any arithmetic."
            )
        return torch.as_tensor(out).to(obs.device)


class RamQNetwork(QNetwork):
    """A ``QNetwork`` whose input step is ``preprocess`` instead of the ``Normalize``
    layer: ``(batch, 128) uint8 -> (batch, n_actions)``.

    The layers and their initial weights are those of a ``QNetwork`` of the same
    widths (the preprocessing has no weights), so with the course's
    ``preprocess_ram`` it computes what the shipped agent's network computes.
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        hidden: tuple[int, ...] = (256, 256),
        preprocess: Preprocess,
    ) -> None:
        super().__init__(obs_dim, n_actions, hidden=hidden)
        self.normalize = PreprocessLayer(preprocess)


def ram_q_network(preprocess: Preprocess) -> Callable[..., RamQNetwork]:
    """The ``net_class`` piece for ``train_dqn``: builds a :class:`RamQNetwork` that
    uses ``preprocess``. Use it with ``DQNConfig(normalize_obs=False)``."""
    return functools.partial(RamQNetwork, preprocess=preprocess)


class ActionLog(gym.Wrapper):
    """Records every action the agent sends to the environment, in order
    (``self.actions``), without changing anything else."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.actions: list[int] = []

    def step(self, action: int) -> tuple:
        self.actions.append(int(action))
        return self.env.step(action)


def action_shares(
    actions: Sequence[int], n_actions: int, *, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Share of each action in consecutive windows of ``window`` steps.

    Returns:
        ``(ends, shares)``: ``ends (W,)`` the last step of each full window (1-based),
        ``shares (W, n_actions) float64``, each row summing to 1.
    """
    actions = np.asarray(actions, dtype=np.int64)
    if window < 1:
        raise ValueError(f"window must be >= 1 step, got {window}.")
    n_windows = len(actions) // window
    blocks = actions[: n_windows * window].reshape(n_windows, window)
    shares = np.zeros((n_windows, n_actions))
    for i, block in enumerate(blocks):
        shares[i] = np.bincount(block, minlength=n_actions)[:n_actions] / window
    return window * np.arange(1, n_windows + 1), shares


class ByteImportance(NamedTuple):
    """Per-byte results, each ``(n_bytes,) float64``.

    Fields: ``action_change`` share of states whose greedy action changes when the
    byte is shuffled (mean over repeats); ``q_change`` mean ``|ΔQ|`` over states and
    actions; ``gradient`` mean ``|∂ max_a Q / ∂ byte|`` per byte value (Q per unit of
    the raw byte, 0-255); ``constant`` (bool) bytes with one value over the states.
    """

    action_change: np.ndarray
    q_change: np.ndarray
    gradient: np.ndarray
    constant: np.ndarray


@torch.no_grad()
def q_values(q_net: nn.Module, states: np.ndarray, *, batch: int = 4096) -> np.ndarray:
    """``Q(s, ·)`` for every state: ``states (T, obs_dim)`` raw -> ``(T, n_actions)``
    float64."""
    out = [
        q_net(torch.as_tensor(states[i : i + batch])).double().numpy()
        for i in range(0, len(states), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, 0))


def gradient_importance(q_net: nn.Module, states: np.ndarray) -> np.ndarray:
    """Mean over states of ``|∂ max_a Q(s, a) / ∂ s_j|``, ``s_j`` the raw byte value
    (so it includes the network's rescaling): ``(obs_dim,) float64``. A network whose
    first step leaves torch (a NumPy preprocessing, as notebook 04's run uses) has no
    gradient with respect to its input: all NaN then."""
    x = torch.as_tensor(np.asarray(states, dtype=np.float32)).requires_grad_(True)
    q_net.zero_grad(set_to_none=True)
    q_net(x).max(dim=1).values.sum().backward()
    q_net.zero_grad(set_to_none=True)
    if x.grad is None:
        return np.full(x.shape[1], np.nan)
    return x.grad.abs().mean(dim=0).double().numpy()


def byte_importance(
    q_net: nn.Module,
    states: np.ndarray,
    rng: np.random.Generator,
    *,
    repeats: int = 3,
) -> ByteImportance:
    """Permutation and gradient importance of every byte of ``states``.

    Args:
        q_net: maps raw ``(batch, obs_dim)`` observations to Q-values.
        states: ``(T, obs_dim)`` observations the agent met (e.g. ``uint8`` RAM).
        rng: draws the shuffles.
        repeats: shuffles per byte; the results are their mean.
    """
    states = np.asarray(states)
    if states.ndim != 2 or len(states) < 2:
        raise ValueError(
            f"states must be (T, obs_dim) with T >= 2, got shape {states.shape}."
        )
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}.")
    base = q_values(q_net, states)
    greedy = base.argmax(axis=1)
    n_bytes = states.shape[1]
    action_change, q_change = np.zeros(n_bytes), np.zeros(n_bytes)
    for j in range(n_bytes):
        for _ in range(repeats):
            shuffled = states.copy()
            shuffled[:, j] = rng.permutation(states[:, j])
            q = q_values(q_net, shuffled)
            action_change[j] += np.mean(q.argmax(axis=1) != greedy) / repeats
            q_change[j] += np.mean(np.abs(q - base)) / repeats
    constant = (states == states[0]).all(axis=0)
    return ByteImportance(
        action_change, q_change, gradient_importance(q_net, states), constant
    )


def rank_of(scores: np.ndarray, indices: list[int]) -> dict[int, int]:
    """Rank (1 = most important) of each byte in ``indices`` by ``scores``."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(1, len(order) + 1)
    return {int(i): int(ranks[i]) for i in indices}


def read_peers(name: str = "spaceinvaders") -> dict:
    """Published scores of ``data/peers/<name>.json``, each with its source and its
    protocol: for Space Invaders, Dopamine's pixel DQN per 1M-frame iteration
    (``dopamine_dqn``: ``values`` is ``(runs, iterations)``) and the Hugging Face
    course's pass mark (``hugging_face_pass``).

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    path = data_dir() / "peers" / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json"))
        raise ValueError(f"No peer scores {path}; known: {known}.")
    return json.loads(path.read_text(encoding="utf-8"))
