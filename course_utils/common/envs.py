"""Environment construction: one function that works headless for every course env."""

from __future__ import annotations

import difflib
import os
import re
from typing import Any

import gymnasium as gym
from gymnasium.wrappers import FrameStackObservation

from course_utils.common.validate import whole_number

CATCH_ID = "course/Catch-v0"
SNAKE_ID = "course/Snake-v0"
SNAKE_EGO_ID = "course/SnakeEgocentric-v0"  # the snake's own view (snake_views)
_OLD_RAM_ID = re.compile(r"^(?:ALE/)?(?P<game>[A-Za-z]+)-ram(?:NoFrameskip)?-v\d+$")
MAX_STACK = 16  # more snapshots than this is a mistake, not a recipe


def _prepare_headless() -> None:
    """Let pygame/SDL render off-screen without warnings (no display needed)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


def register_course_envs() -> None:
    """Register ALE's Atari games and the course's own environments (idempotent)."""
    import ale_py

    gym.register_envs(ale_py)
    if CATCH_ID not in gym.registry:
        gym.register(id=CATCH_ID, entry_point="course_utils.games.catch:CatchEnv")
    if SNAKE_ID not in gym.registry:  # truncates itself: no max_episode_steps here
        gym.register(id=SNAKE_ID, entry_point="course_utils.games.snake:SnakeEnv")
    if SNAKE_EGO_ID not in gym.registry:
        gym.register(
            id=SNAKE_EGO_ID,
            entry_point="course_utils.games.snake:make_egocentric_snake",
        )


def _unknown_id_message(env_id: str, error: Exception) -> str:
    if isinstance(error, gym.error.DeprecatedEnv):
        namespace, name, _ = gym.envs.registration.parse_env_id(env_id)
        versions = [
            spec.version
            for spec in gym.registry.values()
            if (spec.namespace, spec.name) == (namespace, name) and spec.version
        ]
        prefix = f"{namespace}/" if namespace else ""
        newest = f"{prefix}{name}-v{max(versions)}" if versions else None
        fix = f'make_env("{newest}")' if newest else "a current version"
        return (
            f"Environment id {env_id!r} is an old version that this Gymnasium no "
            f"longer provides ({error}). Fix: use {fix}; its dynamics or settings may "
            "differ slightly from the old version's."
        )
    old = _OLD_RAM_ID.match(env_id)
    if old:
        game = old.group("game")
        return (
            f"Unknown environment id {env_id!r}: ale-py >= 0.11 removed the '-ram' "
            "ids. "
            f'Fix: make_env("ALE/{game}-v5", obs_type="ram") gives the 128-byte RAM '
            "observation (frameskip 4, sticky actions 0.25)."
        )
    names = list(gym.registry.keys())
    close = difflib.get_close_matches(env_id, names, n=5, cutoff=0.6)
    bare = env_id.split("/")[-1].lower()
    close += [n for n in names if n.split("/")[-1].lower() == bare and n not in close]
    hint = (
        "Did you mean: " + ", ".join(repr(c) for c in close[:5]) + "?"
        if close
        else "See gymnasium.pprint_registry() for every registered id."
    )
    return f"Unknown environment id {env_id!r} ({error}). {hint}"


def _check_stack(stack: Any) -> int | None:
    """``stack`` as an int in ``[2, MAX_STACK]``, or None; anything else refused."""
    if stack is None:
        return None
    return whole_number(
        "stack",
        stack,
        minimum=2,
        maximum=MAX_STACK,
        why="the last `stack` observations side by side",
        fix="e.g. stack=4, or leave stack out for the single observation (stack=1 "
        "would only add a dimension).",
    )


def make_env(
    env_id: str,
    *,
    seed: int | None = None,
    render_mode: str | None = None,
    stack: int | None = None,
    **kwargs: Any,
) -> gym.Env:
    """Make a Gymnasium environment that runs with no display.

    Registers the Atari games (ale-py ships the ROMs) and the course's Catch game,
    sets SDL's dummy video and audio drivers, then calls ``gym.make``.

    Args:
        env_id: e.g. ``"MountainCar-v0"``, ``"ALE/SpaceInvaders-v5"``,
            ``"course/Catch-v0"``.
        seed: if given, the env is reset with it and its spaces are seeded, so the
            first episode (and ``env.action_space.sample()``) is reproducible.
        render_mode: ``None`` or ``"rgb_array"`` (frames as ``(H, W, 3) uint8``).
        stack: if given (2 to ``MAX_STACK``), each observation is the last ``stack``
            observations, oldest first, as Gymnasium's ``FrameStackObservation``
            gives them (shape ``(stack, *obs_shape)``, the dtype kept: RAM stays
            ``uint8``); after a reset the first observation fills every slot. The
            course's Q-networks flatten it (``obs_shape``); checkpoints record it in
            ``env_kwargs`` so evaluation stacks the same way.
        **kwargs: passed to ``gym.make`` (e.g. ``obs_type="ram"``).

    Raises:
        ValueError: for an unknown id, listing close matches, or an old version
            (``BipedalWalker-v2``), naming the current one; for a ``stack`` that is
            not a whole number from 2 to ``MAX_STACK``.

    Taught in: 02_rl_concepts.ipynb
    """
    if not isinstance(env_id, str):
        raise ValueError(
            f"env_id must be a string such as 'MountainCar-v0', got {env_id!r}."
        )
    stack = _check_stack(stack)
    _prepare_headless()
    register_course_envs()
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except (gym.error.UnregisteredEnv, gym.error.DeprecatedEnv) as error:
        raise ValueError(_unknown_id_message(env_id, error)) from None
    if stack is not None:
        env = FrameStackObservation(env, stack)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        env.observation_space.seed(seed)
    return env
