"""Save a Selective Memory run and resume it exactly where it stopped.

A long run (FitML's published method on its own schedule, thousands of games) must
survive a killed process. :func:`save_training_state` writes everything the loop
changes (``loop.SMState``: networks, optimizers, both memories, games played,
per-game figures) plus the loop's ``rng``, torch's random state and the
environment's random state, whole (a new temporary file, then a rename).
:func:`load_training_state` puts it back into a fresh state, so the resumed run plays
the same games as an uninterrupted one.

One catch, measured: BipedalWalker reuses one Box2D world across resets, and the
world's history changes the physics in the last digits (the same seed and actions
gave different rewards after 3 earlier games). :class:`FreshWorldEachReset` gives
every game a new world, so a game depends only on the random state, which is saved.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from course_utils.agents.selective_memory import SelectiveMemory
from course_utils.agents.selective_memory.loop import SMDiagnostics, SMState
from course_utils.common.files import replacing

FORMAT = "course-sm-state-1"


class FreshWorldEachReset(gym.Wrapper):
    """BipedalWalker with a new Box2D world at every reset (see the module's note)."""

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        import Box2D  # noqa: PLC0415 (only BipedalWalker needs it)

        walker = self.env.unwrapped
        if not hasattr(walker, "world"):
            raise ValueError(
                f"FreshWorldEachReset is for Box2D environments with a .world, got "
                f"{type(walker).__name__}. Fix: use it on BipedalWalker-v3 only."
            )
        walker._destroy()  # remove the last game's bodies from the old world ...
        walker.world = Box2D.b2World()  # ... then start from an empty one
        return self.env.reset(**kwargs)


def fresh_world_if_box2d(env: gym.Env) -> gym.Env:
    """``env`` in :class:`FreshWorldEachReset` if it is a Box2D world (BipedalWalker),
    else ``env`` unchanged: an evaluation episode then depends only on its seed and
    the policy, not on the episodes played before it."""
    return FreshWorldEachReset(env) if hasattr(env.unwrapped, "world") else env


def _memory_dict(memory: SelectiveMemory) -> dict:
    return {
        "obs": torch.from_numpy(memory.obs.copy()),
        "action": torch.from_numpy(memory.action.copy()),
        "ret": torch.from_numpy(memory.ret.copy()),
        "pos": memory.pos,
        "full": memory.full,
    }


def _load_memory(memory: SelectiveMemory, saved: dict) -> None:
    if saved["obs"].shape != memory.obs.shape:
        raise ValueError(
            f"Saved memory has shape {tuple(saved['obs'].shape)}, this run's "
            f"{memory.obs.shape}. Fix: resume with the config that made the file."
        )
    memory.obs[:] = saved["obs"].numpy()
    memory.action[:] = saved["action"].numpy()
    memory.ret[:] = saved["ret"].numpy()
    memory.pos, memory.full = int(saved["pos"]), bool(saved["full"])


def _rng_state(rng: np.random.Generator) -> dict:
    state = rng.bit_generator.state
    return {**state, "state": {k: str(v) for k, v in state["state"].items()}}


def _set_rng_state(rng: np.random.Generator, saved: dict) -> None:
    state = {**saved, "state": {k: int(v) for k, v in saved["state"].items()}}
    rng.bit_generator.state = state


def save_training_state(
    path: str | Path,
    state: SMState,
    *,
    rng: np.random.Generator,
    env: gym.Env,
    extra: dict | None = None,
) -> None:
    """Write ``state``, ``rng``'s, torch's and ``env``'s random states (and ``extra``,
    plain data) to ``path`` whole (``course_utils.common.files.replacing``)."""
    value, best = state.value, state.best_actor
    payload = {
        "format": FORMAT,
        "game": state.game,
        "actor": state.actor.state_dict(),
        "critic": state.critic.state_dict(),
        "actor_opt": state.actor_opt.state_dict(),
        "critic_opt": state.critic_opt.state_dict(),
        "value": None if value is None else value.net.state_dict(),
        "value_opt": None if value is None else value.optimizer.state_dict(),
        "memory": _memory_dict(state.memory),
        "recent": _memory_dict(state.recent),
        "returns": list(state.returns),
        "lengths": list(state.lengths),
        "wall_time_s": state.wall_time_s,
        "diagnostics": state.diagnostics.to_dict(),
        "evals": [list(e) for e in state.evals],
        "best_actor": None if best is None else best.state_dict(),
        "best_score": float(state.best_score),
        "rng": _rng_state(rng),
        "env_rng": _rng_state(env.unwrapped.np_random),
        "torch_rng": torch.get_rng_state(),
        "extra": extra or {},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, overwrite=True) as tmp:  # the old file or the new one
        torch.save(payload, tmp)


def load_training_state(
    path: str | Path, state: SMState, *, rng: np.random.Generator, env: gym.Env
) -> dict:
    """Restore a file written by :func:`save_training_state` into ``state`` (fresh,
    from ``selective_memory.new_state`` with the same config), ``rng`` and ``env``.

    Returns:
        the ``extra`` data saved with it.
    """
    saved = torch.load(Path(path), weights_only=True)
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a Selective Memory training state ({FORMAT}). Fix: pass "
            "a file written by save_training_state, or delete it to start afresh."
        )
    state.actor.load_state_dict(saved["actor"])
    state.critic.load_state_dict(saved["critic"])
    state.actor_opt.load_state_dict(saved["actor_opt"])
    state.critic_opt.load_state_dict(saved["critic_opt"])
    if (saved["value"] is None) != (state.value is None):
        raise ValueError(
            "The saved run and this one differ in the baseline V(s). Fix: resume "
            "with the same pieces (baseline=...) as the run that made the file."
        )
    if state.value is not None:
        state.value.net.load_state_dict(saved["value"])
        state.value.optimizer.load_state_dict(saved["value_opt"])
    _load_memory(state.memory, saved["memory"])
    _load_memory(state.recent, saved["recent"])
    state.game = int(saved["game"])
    state.returns[:] = saved["returns"]
    state.lengths[:] = saved["lengths"]
    state.wall_time_s = float(saved["wall_time_s"])
    state.diagnostics = SMDiagnostics(**saved["diagnostics"])
    state.evals[:] = [tuple(e) for e in saved["evals"]]
    if saved["best_actor"] is not None:
        state.best_actor = copy.deepcopy(state.actor).eval()
        state.best_actor.load_state_dict(saved["best_actor"])
    state.best_score = float(saved["best_score"])
    _set_rng_state(rng, saved["rng"])
    _set_rng_state(env.unwrapped.np_random, saved["env_rng"])
    torch.set_rng_state(saved["torch_rng"])
    return saved["extra"]
