"""Save a Selective Memory run and resume it exactly where it stopped.

A long run (FitML's published method on its own schedule, thousands of games) must
survive a killed process. :func:`save_training_state` writes everything the loop
changes (``loop.SMState``: networks, optimizers, both memories, games played,
per-game figures) plus the loop's ``rng``, torch's random state and the
environment's random state, whole (a new temporary file, then a rename).
:func:`load_training_state` puts it back into a fresh state, so the resumed run plays
the same games as an uninterrupted one.

:func:`save_compact_state` writes a smaller file for a state shipped with the course
(notebook 05 continues the shipped recipe from one; a tracked file stays under 5 MB):
the networks in float16, no optimizer moments (Adam starts its averages afresh), only
the newest rows of the every-step memory (observations and actions in float16), no best
actor. A run resumed from it continues the same run, though not bit for bit: the
weights and rows are rounded, Adam's first steps are its start-up steps, and the
critic's and V's first fits see fewer rows.

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
from course_utils.common.data import data_dir
from course_utils.common.files import replacing

FORMAT = "course-sm-state-1"
# What the metadata beside a shipped state (``<name>.json``) must say.
STATE_METADATA = (
    "train_command",
    "seed",
    "games",
    "steps",
    "wall_time_s",
    "cpu_time_s",
    "config",
    "pieces",
    "validation",
    "versions",
)


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


def _newest_rows(memory: SelectiveMemory, rows: int) -> dict:
    """The newest ``rows`` rows of ``memory``, oldest first (``trimmed``: loaded as
    a memory holding only these, the next row written after them), observations and
    actions rounded to float16."""
    order = np.arange(len(memory))
    if memory.full:  # a ring: the oldest row sits at pos
        order = np.roll(order, -memory.pos)
    order = order[-rows:] if rows > 0 else order[:0]
    return {  # observations and actions in float16: loading casts them back
        "obs": torch.from_numpy(memory.obs[order]).half(),
        "action": torch.from_numpy(memory.action[order]).half(),
        "ret": torch.from_numpy(memory.ret[order].copy()),
        "pos": len(order),
        "full": False,
        "trimmed": True,
        "capacity": memory.capacity,
    }


def _load_memory(memory: SelectiveMemory, saved: dict) -> None:
    obs = saved["obs"]
    trimmed = bool(saved.get("trimmed", False))
    fits = (
        obs.shape[1:] == memory.obs.shape[1:] and obs.shape[0] <= memory.capacity
        if trimmed
        else obs.shape == memory.obs.shape
    )
    if not fits:
        raise ValueError(
            f"Saved memory has shape {tuple(obs.shape)}, this run's "
            f"{memory.obs.shape}. Fix: resume with the config that made the file."
        )
    if trimmed:  # the newest rows only: a memory that holds just these
        memory.obs[:] = 0.0
        memory.action[:] = 0.0
        memory.ret[:] = 0.0
    n = obs.shape[0]
    memory.obs[:n] = obs.numpy()
    memory.action[:n] = saved["action"].numpy()
    memory.ret[:n] = saved["ret"].numpy()
    memory.pos, memory.full = int(saved["pos"]), bool(saved["full"])
    if trimmed:
        memory.pos, memory.full = n % memory.capacity, n == memory.capacity


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
    _write(path, _payload(state, rng=rng, env=env, extra=extra))


def save_compact_state(
    path: str | Path,
    state: SMState,
    *,
    rng: np.random.Generator,
    env: gym.Env,
    recent_rows: int = 20_000,
    extra: dict | None = None,
) -> None:
    """Like :func:`save_training_state`, small enough to ship: the networks in
    float16 (loading casts them back to float32), the optimizers' settings without
    their moments (Adam starts its running averages afresh, as at a run's start), the
    actor's memory whole, only the newest ``recent_rows`` rows of the every-step memory
    (observations and actions in float16), and no best actor (a continued run selects
    among its own evaluations). :func:`load_training_state` reads it."""
    if recent_rows < 0:
        raise ValueError(f"recent_rows must be >= 0, got {recent_rows}.")
    payload = _payload(state, rng=rng, env=env, extra=extra)
    for key in ("actor", "critic", "value"):
        if payload[key] is not None:
            payload[key] = {k: _half(v) for k, v in payload[key].items()}
    for key in ("actor_opt", "critic_opt", "value_opt"):
        if payload[key] is not None:  # the settings (learning rate, betas) only
            payload[key] = {**payload[key], "state": {}}
    payload["recent"] = _newest_rows(state.recent, recent_rows)
    payload.update(best_actor=None, best_score=float("-inf"), compact=True)
    _write(path, payload)


def _half(value: torch.Tensor) -> torch.Tensor:
    """A network's floating tensor in float16; anything else as it is."""
    return value.half() if value.is_floating_point() else value


def _write(path: str | Path, payload: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, overwrite=True) as tmp:  # the old file or the new one
        torch.save(payload, tmp)


def _payload(
    state: SMState,
    *,
    rng: np.random.Generator,
    env: gym.Env,
    extra: dict | None,
) -> dict:
    value, best = state.value, state.best_actor
    return {
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


def load_training_state(
    path: str | Path, state: SMState, *, rng: np.random.Generator, env: gym.Env
) -> dict:
    """Restore a file written by :func:`save_training_state` or
    :func:`save_compact_state` into ``state`` (fresh, from
    ``selective_memory.new_state`` with the same config), ``rng`` and ``env``.

    Returns:
        the ``extra`` data saved with it.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not such a state, is damaged, or does not fit
            ``state``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No Selective Memory training state at {path}. Fix: pass the path of a "
            "file written by save_training_state or save_compact_state (the course's "
            "are in data/states/)."
        )
    try:
        saved = torch.load(path, weights_only=True)
    except Exception as error:  # torch raises several kinds for a damaged file
        raise ValueError(
            f"{path} could not be read as a Selective Memory training state "
            f"({type(error).__name__}: {str(error)[:120]}). Fix: restore the file "
            "(git checkout -- data/states, or download it again)."
        ) from error
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(
            f"{path} is not a Selective Memory training state ({FORMAT}). Fix: pass "
            "a file written by save_training_state, or delete it to start afresh."
        )
    try:
        _restore(saved, state, rng=rng, env=env)
    except (KeyError, RuntimeError) as error:  # a missing entry, a network's shape
        raise ValueError(
            f"{path} does not fit this run ({type(error).__name__}: "
            f"{str(error)[:160]}). Fix: resume with the config and pieces that made "
            "the file (its metadata names them)."
        ) from error
    return saved["extra"]


def _restore(
    saved: dict, state: SMState, *, rng: np.random.Generator, env: gym.Env
) -> None:
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


def shipped_state(name: str) -> tuple[Path, dict]:
    """The path and metadata of a training state shipped in ``data/states/`` (a file
    of :func:`save_compact_state`, its metadata in ``<name>.json`` beside it).

    Raises:
        FileNotFoundError: the state or its metadata is missing (named, with the fix).
        ValueError: the metadata is unreadable or lacks one of ``STATE_METADATA``.
    """
    import json  # noqa: PLC0415

    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ValueError(f"name must be a file name such as 'state.pt': {name!r:.60}")
    path = data_dir() / "states" / name
    meta_path = path.with_name(path.name + ".json")
    for file in (path, meta_path):
        if not file.is_file():
            raise FileNotFoundError(
                f"No {file}. Fix: restore data/states/ (git checkout -- data/states), "
                "or make it again with the command benchmarks/README.md gives for it."
            )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{meta_path} is not readable JSON ({error}).") from error
    missing = [key for key in STATE_METADATA if key not in meta]
    if missing:
        raise ValueError(
            f"{meta_path} lacks {missing}: a shipped state says how it was made. Fix: "
            "write it again with benchmarks/walker_state.py --store."
        )
    return path, meta
