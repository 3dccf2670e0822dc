"""Train the course's agents and write checkpoints with full metadata.

    python -m course_utils.train mountaincar [--seed S] [--steps N] [--out PATH]
    python -m course_utils.train spaceinvaders [--seed S] [--steps N] [--out PATH]
    python -m course_utils.train bipedalwalker [--seed S] [--episodes N] [--steps N]
        [--out PATH]

The settings come from ``course_utils.presets``. Training uses seed S; model
selection evaluates on seeds ``SELECTION_SEED``+; the final score written to the
metadata comes from ``--test-episodes`` episodes on seeds ``TEST_SEED``+ (or
``--test-seed``+: a range no earlier test used), which neither training nor
selection ever saw. Every argument is checked before training
starts, so a finished run is never lost to a bad flag. ``--steps`` is a DQN agent's
length (its schedules scale with it); for an agent counted in games (bipedalwalker)
it is a step budget, ``SMConfig.max_steps``: training stops after the game that
reaches it, or at ``--episodes`` games, whichever comes first. ``--num-envs N``
(with ``--vector sync|async``) trains a DQN agent on N environments stepped together
(``train_dqn`` on a vector environment; the same replay ratio, steps counted over all
environments),
as a preset whose config is a ``VectorDQNConfig`` does by itself.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.agents.dqn import (
    DQNConfig,
    VectorDQNConfig,
    make_vector_env,
    train_dqn,
)
from course_utils.agents.selective_memory import train_selective_memory
from course_utils.agents.selective_memory.resume import (
    FreshWorldEachReset,
    fresh_world_if_box2d,
)
from course_utils.common.checkpoints import check_save_path, save_checkpoint
from course_utils.common.data import data_dir
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate_with_info, score_summary
from course_utils.common.policies import ActorPolicy, QPolicy
from course_utils.common.seeding import set_seed
from course_utils.common.versions import package_versions
from course_utils.presets import PRESETS, TEST_SEED, Preset

_BUDGET_FLAGS = {"total_steps": "--steps", "episodes": "--episodes"}
_STEP_CAP = "max_steps"  # what --steps sets for an agent counted in games


@dataclass
class Trained:
    """What any agent's training hands to the saving code."""

    model: nn.Module  # the selected network (best evaluation, else the last)
    steps: int
    episodes: int
    wall_time_s: float
    selected: str
    history: dict[str, Any]
    extra: dict[str, Any]


def _train_dqn(preset: Preset, cfg: Any, seed: int, quiet: bool) -> Trained:
    """``train_dqn`` on one environment, or on a vector environment for a preset
    whose config is a ``VectorDQNConfig`` (several environments stepped together)."""
    env_id, kwargs = preset.env_id, dict(preset.env_kwargs)
    rng = set_seed(seed)
    if isinstance(cfg, VectorDQNConfig):
        env_fn = functools.partial(make_env, env_id, **kwargs)
        env = make_vector_env(env_fn, cfg.num_envs, cfg.vector)
    else:
        env = make_env(env_id, **kwargs)
    try:
        result = train_dqn(
            env,
            cfg,
            rng=rng,
            seed=seed,
            eval_env=make_env(env_id, **kwargs),
            progress=not quiet,
            on_eval=lambda s, m: print(f"step {s}: eval {m:.1f}", flush=True),
            **preset.pieces,
        )
    finally:
        env.close()
    return Trained(
        result.q_net,
        result.steps,
        len(result.episode_returns),
        result.wall_time_s,
        "best periodic evaluation" if result.evals else "last network",
        {
            "episode_returns": [round(r, 2) for r in result.episode_returns],
            "episode_end_steps": result.episode_end_steps,
            "evals": [[s, round(m, 2), round(sd, 2)] for s, m, sd in result.evals],
        },
        {"first_solved": result.first_solved},
    )


def _train_sm(preset: Preset, cfg: Any, seed: int, quiet: bool) -> Trained:
    rng = set_seed(seed)
    result = train_selective_memory(
        make_env(preset.env_id, **preset.env_kwargs),
        cfg,
        rng=rng,
        seed=seed,
        eval_env=fresh_world_if_box2d(make_env(preset.env_id, **preset.env_kwargs)),
        progress=not quiet,
        **preset.pieces,
    )
    for game, mean, _ in result.evals or []:
        print(f"game {game}: eval {mean:.1f}", flush=True)
    best = result.best_actor
    return Trained(
        best if best is not None else result.actor,
        result.steps,
        len(result.episode_returns),
        result.wall_time_s,
        "best periodic evaluation" if best is not None else "last actor",
        {
            "episode_returns": [round(r, 2) for r in result.episode_returns],
            "episode_steps": result.episode_steps,
            "evals": [
                [g, round(m, 2), round(sd, 2)] for g, m, sd in result.evals or []
            ],
        },
        {},
    )


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _destination(out: str | None, overwrite: bool, preset: Preset) -> Path | str:
    """Where the checkpoint goes (``~`` expanded), or why it cannot go there:
    checked before training, so a finished run always has somewhere to go."""
    if out is None:
        shipped = data_dir() / "checkpoints" / preset.checkpoint
        if overwrite or shipped.exists():
            return (
                f"without --out the checkpoint goes to the course's shipped agent "
                f"{shipped}, which the notebooks load; "
                + ("--overwrite would replace it" if overwrite else "it exists")
                + " and was left untouched. Fix: give --out a path of yours (to "
                f"regenerate the shipped agent on purpose: --out {shipped} "
                "--overwrite)."
            )
        out = str(shipped)
    if not out.strip():
        return "--out is empty; give a file name, or leave --out out for the default."
    path = Path(out).expanduser()
    if path.is_dir() or out.endswith(("/", os.sep)):
        what = "is a folder" if path.is_dir() else "ends in '/', so it names a folder"
        return f"--out {out} {what}; give a file name such as {path / 'agent.pt'}."
    if not path.parent.is_dir():
        return (
            f"the folder {path.parent} does not exist. Fix: create it "
            f"(mkdir -p {path.parent}) or choose another --out."
        )
    try:  # every rule save_checkpoint applies, and the folder writable
        return check_save_path(path, overwrite=overwrite)
    except (OSError, ValueError) as error:
        return str(error)


def validate(args: argparse.Namespace, preset: Preset) -> tuple[Path, Any] | str:
    """Check every argument against ``preset``; return ``(out, config)`` or why not."""
    capped = hasattr(preset.config, _STEP_CAP)  # counted in games, --steps a cap
    for flag, unit in _BUDGET_FLAGS.items():
        if capped and unit == "--steps":
            continue
        if getattr(args, unit.lstrip("-")) is not None and flag != preset.budget:
            return (
                f"{unit} does not apply to {preset.name} (its budget is "
                f"{_BUDGET_FLAGS[preset.budget]}); it would be ignored."
            )
    for name in ("steps", "episodes", "test_episodes"):
        value = getattr(args, name)
        if value is not None and value < 1:
            return f"--{name.replace('_', '-')} must be at least 1, got {value}."
    if not 0 <= args.seed < 2**63:
        return f"--seed must be an integer in [0, 2**63), got {args.seed}."
    if not TEST_SEED <= args.test_seed < 2**31:
        return (
            f"--test-seed must be in [{TEST_SEED}, 2**31) (below {TEST_SEED} lie the "
            f"training, selection and validation seeds), got {args.test_seed}."
        )
    cfg = preset.config
    if args.max_minutes is not None:
        if not (math.isfinite(args.max_minutes) and args.max_minutes > 0):
            return f"--max-minutes must be a finite number > 0, got {args.max_minutes}."
        cfg = replace(cfg, max_seconds=60.0 * args.max_minutes)
    if args.num_envs is not None or args.vector is not None:
        if not isinstance(cfg, DQNConfig):
            return (
                f"--num-envs and --vector apply to DQN agents; {preset.name} is "
                "trained one game at a time."
            )
        fields = dataclasses.asdict(cfg) | {"hidden": cfg.hidden}
        for name, default in (("num_envs", 1), ("vector", "sync")):
            given = getattr(args, name)
            fields[name] = getattr(cfg, name, default) if given is None else given
        try:
            cfg = VectorDQNConfig(**fields)
        except ValueError as error:
            return f"{error} (from --num-envs/--vector)"
    budget = args.steps if preset.budget == "total_steps" else args.episodes
    if budget is not None:
        try:
            cfg = replace(cfg, **{preset.budget: budget})
        except ValueError as error:
            return str(error)
    if capped and args.steps is not None:
        cfg = replace(cfg, **{_STEP_CAP: args.steps})
    out = _destination(args.out, args.overwrite, preset)
    return out if isinstance(out, str) else (out, cfg)


def save_or_fall_back(
    path: Path, model: nn.Module, metadata: dict, overwrite: bool
) -> Path:
    """Save; if that fails after all (a full disk, a folder removed during training,
    metadata the checkpoint format refuses), save in a new folder of the temporary
    folder instead (created for this run alone: no earlier file or planted link is
    in the way) and say where. A finished run is never lost."""
    try:
        return save_checkpoint(path, model, metadata=metadata, overwrite=overwrite)
    except (OSError, ValueError) as error:
        fallback = Path(tempfile.mkdtemp(prefix=f"{path.stem}-")) / path.name
        print(
            f"error: could not write {path} ({error}); saving to {fallback} instead.",
            file=sys.stderr,
        )
        try:
            return save_checkpoint(fallback, model, metadata=metadata)
        except ValueError as refused:  # the metadata itself: keep the weights anyway
            raw = {"state_dict": model.state_dict(), "metadata": repr(metadata)}
            torch.save(raw, fallback)
            print(
                f"error: {refused}; wrote the raw weights to {fallback}.",
                file=sys.stderr,
            )
            return fallback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("agent", choices=sorted(PRESETS))
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument(
        "--steps",
        type=int,
        help="environment steps (bipedalwalker: stop after the game that reaches it)",
    )
    parser.add_argument("--episodes", type=int, help="bipedalwalker: training games")
    parser.add_argument("--max-minutes", type=float, help="stop training after this")
    parser.add_argument("--out", help="checkpoint path (default: the shipped one)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing checkpoint"
    )
    parser.add_argument(
        "--test-episodes",
        type=int,
        default=None,
        help="final test episodes on unseen seeds (default: preset)",
    )
    parser.add_argument(
        "--test-seed",
        type=int,
        default=TEST_SEED,
        help=f"test episode i uses seed S + i (default {TEST_SEED}); give a range no "
        "earlier test used, at or above the default",
    )
    parser.add_argument(
        "--num-envs", type=int, help="DQN: environments stepped together"
    )
    parser.add_argument(
        "--vector",
        choices=("sync", "async"),
        help="DQN with --num-envs: one process (sync) or one per environment (async)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    preset = PRESETS[args.agent]
    checked = validate(args, preset)
    if isinstance(checked, str):
        return _error(checked)
    out, cfg = checked
    test_episodes = args.test_episodes or preset.test_episodes

    torch.set_num_threads(1)  # small networks train faster on one thread
    cap = getattr(cfg, _STEP_CAP, None)
    print(
        f"Training {preset.algorithm} on {preset.env_id} "
        f"({preset.budget} {getattr(cfg, preset.budget)}"
        + (f", stopping after the game that reaches {cap} steps" if cap else "")
        + f"), seed {args.seed}",
        flush=True,
    )
    trainer = _train_dqn if isinstance(cfg, DQNConfig) else _train_sm
    trained = trainer(preset, cfg, args.seed, args.quiet)
    print(
        f"Trained {trained.episodes} episodes ({trained.steps} steps) in "
        f"{trained.wall_time_s:.0f} s; testing on {test_episodes} episodes "
        f"(seeds {args.test_seed}+)",
        flush=True,
    )
    if preset.policy_kind == "q":
        policy = QPolicy(
            trained.model,
            epsilon=preset.eval_epsilon,
            rng=np.random.default_rng(args.test_seed),
        )
    else:
        policy = ActorPolicy(trained.model)
    start = time.perf_counter()
    test_env = fresh_world_if_box2d(make_env(preset.env_id, **preset.env_kwargs))
    scores, info_scores = evaluate_with_info(
        policy,
        test_env,
        n_episodes=test_episodes,
        seed=args.test_seed,
        info_key=preset.info_score,
    )
    evaluation = score_summary(scores, seed=args.test_seed)
    if info_scores is not None:  # e.g. Snake's apples per episode
        evaluation[preset.info_score] = score_summary(info_scores, seed=args.test_seed)
    evaluation.update(
        epsilon=preset.eval_epsilon, seconds=round(time.perf_counter() - start, 1)
    )
    metadata = {
        "agent": preset.name,
        "algorithm": preset.algorithm,
        "env_id": preset.env_id,
        "env_kwargs": dict(preset.env_kwargs),
        "fresh_world_each_episode": isinstance(test_env, FreshWorldEachReset),
        "policy": {"kind": preset.policy_kind, "eval_epsilon": preset.eval_epsilon},
        "train_command": "python -m course_utils.train "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "seed": args.seed,
        "train_steps": trained.steps,
        "train_episodes": trained.episodes,
        "wall_time_s": round(trained.wall_time_s, 1),
        "config": cfg.to_dict(),
        "pieces": preset.describe_pieces(),
        "selected": trained.selected,
        "protocol": (
            f"model selection on seeds {cfg.eval_seed}+ only; one test after "
            f"training, on seeds {evaluation['seeds']}, reported whatever it scores"
        ),
        "evaluation": evaluation,
        "history": trained.history,
        "versions": package_versions(),
        **trained.extra,
    }
    written = save_or_fall_back(out, trained.model, metadata, args.overwrite)
    extra = ""
    if info_scores is not None:
        extra = f" ({preset.info_score} {info_scores.mean():.2f} per episode)"
    print(
        f"Test score {evaluation['mean']:.2f} ± {evaluation['std']:.2f}{extra} over "
        f"{test_episodes} episodes. Wrote {written} (metadata readable in "
        f"{written.name}.json)"
    )
    return 0 if written == out else 1


if __name__ == "__main__":
    raise SystemExit(main())
