"""Train the shipped walker's recipe and keep its state along the way, resumable: the
mid-training state notebook 05 continues from.

    nohup nice -n 5 .venv/bin/python benchmarks/walker_state.py --games 750 \\
        >> runs/walker_state.log 2>&1 &
    python benchmarks/walker_state.py --store 500      # the chosen snapshot -> data/

The run is the shipped walker's (``course_utils.presets`` "bipedalwalker": its config
and pieces, training seed ``--seed``, model selection on the selection seeds every
``eval_every`` games), with a fresh Box2D world every game so that a resumed run plays
the same games as an uninterrupted one. Every ``--save-every`` games its whole state
goes to ``--state-dir/run.pt`` (kill it and run the same command again: it resumes);
at every ``--snapshot-every`` games a copy goes to ``--state-dir/game-<N>.pt``.

``--store N`` writes snapshot N in the compact form the notebook reads
(``resume.save_compact_state``: the networks, Adam's moments in bfloat16, the actor's
memory, the newest rows of the every-step memory, the counters and random states) to
``data/states/bipedalwalker_sm_game<N>.pt``, with a metadata file beside it: the
command, seed, games, steps, wall and CPU time, the snapshot's actor on
``--val-episodes`` validation episodes (seeds 20 000+: neither training, the selection
seeds nor the test seeds), the loop's own selection evaluations, package versions.

``--continue-from NAME`` runs notebook 05's section 8 on the stored state ``NAME``
(in ``data/states/``): ``--walk-steps`` more steps of the shipped recipe (whose keep
rule is Exercise 6's reference), evaluated every 20th game on the selection seeds,
then the best-evaluated actor on ``--val-episodes`` validation episodes; it prints
one JSON line (steps, CPU and wall time, the evaluations, the validation score), the
figure the notebook's full mode should reproduce.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.loop import SMState
from course_utils.agents.selective_memory.resume import (
    FreshWorldEachReset,
    load_training_state,
    save_training_state,
    shipped_state,
)
from course_utils.common.data import data_dir
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate, score_summary
from course_utils.common.policies import ActorPolicy
from course_utils.common.versions import package_versions
from course_utils.presets import SELECTION_SEED, get_preset

VALIDATION_SEED = 20_000  # neither training, selection (10 000+) nor test seeds
RUNS = Path(__file__).resolve().parents[1] / "runs"


def walker() -> FreshWorldEachReset:
    return FreshWorldEachReset(make_env("BipedalWalker-v3"))


def setup(games: int, seed: int) -> tuple:
    """The shipped preset's config (for ``games`` games), pieces, environment, rng
    and a fresh state."""
    preset = get_preset("bipedalwalker")
    cfg = replace(preset.config, episodes=games)
    env = walker()
    rng = np.random.default_rng(seed)
    state = sm.new_state(env, cfg, seed=seed, baseline=preset.pieces["baseline"])
    return preset, cfg, env, rng, state


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    preset, cfg, env, rng, state = setup(args.games, args.seed)
    work = args.state_dir / "run.pt"
    extra: dict = {"cpu_s": 0.0, "seed": args.seed, "games": args.games}
    if work.exists():
        extra = load_training_state(work, state, rng=rng, env=env)
        print(f"resumed at game {state.game}", flush=True)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    cpu0, cpu_before = time.process_time(), extra["cpu_s"]

    def on_game(s: SMState) -> None:
        extra["cpu_s"] = cpu_before + time.process_time() - cpu0
        snap = s.game % args.snapshot_every == 0
        if s.game % args.save_every and not snap and s.game != args.games:
            return
        save_training_state(work, s, rng=rng, env=env, extra=extra)
        if snap:
            save_training_state(
                args.state_dir / f"game-{s.game}.pt", s, rng=rng, env=env, extra=extra
            )
        last = s.evals[-1] if s.evals else None
        print(
            f"game {s.game} steps {sum(s.lengths)} wall {s.wall_time_s:.0f} s cpu "
            f"{extra['cpu_s']:.0f} s last25 {np.mean(s.returns[-25:]):.1f} "
            f"eval {last}" + (" (snapshot)" if snap else ""),
            flush=True,
        )

    sm.train_selective_memory(
        env,
        cfg,
        rng=rng,
        seed=args.seed,
        eval_env=walker(),
        progress=False,
        state=state,
        on_game=on_game,
        **preset.pieces,
    )


def continue_from(args: argparse.Namespace) -> None:
    """Notebook 05's section 8, run as the notebook runs it (see the module's note)."""
    torch.set_num_threads(1)
    path, meta = shipped_state(args.continue_from)
    preset = get_preset("bipedalwalker")
    cfg = replace(
        preset.config, max_steps=meta["steps"] + args.walk_steps, eval_every=20
    )
    env, rng = walker(), np.random.default_rng()  # its state comes from the file
    state = sm.new_state(
        env, cfg, seed=meta["seed"], baseline=preset.pieces["baseline"]
    )
    load_training_state(path, state, rng=rng, env=env)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = sm.train_selective_memory(
        env,
        cfg,
        rng=rng,
        seed=meta["seed"],
        state=state,
        eval_env=walker(),
        progress=False,
        **preset.pieces,
    )
    train_cpu, train_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    actor = result.best_actor if result.best_actor is not None else result.actor
    scores = evaluate(
        ActorPolicy(actor), walker(), n_episodes=args.val_episodes, seed=VALIDATION_SEED
    )
    record = {
        "state": args.continue_from,
        "walk_steps": args.walk_steps,
        "games": result.state.game - meta["games"],
        "steps": result.steps - meta["steps"],
        "train_cpu_s": round(train_cpu, 1),
        "train_wall_s": round(train_wall, 1),
        "selection_evals": [
            [g, round(m, 1)] for g, m, _ in result.evals if g > meta["games"]
        ],
        "actor": "best evaluated" if result.best_actor is not None else "last",
        "validation": score_summary(scores, seed=VALIDATION_SEED),
        "versions": package_versions(),
    }
    print(json.dumps(record), flush=True)


def store(args: argparse.Namespace) -> None:
    from course_utils.agents.selective_memory.resume import save_compact_state

    torch.set_num_threads(1)
    source = args.state_dir / f"game-{args.store}.pt"
    preset, cfg, env, rng, state = setup(args.games, args.seed)
    extra = load_training_state(source, state, rng=rng, env=env)
    start = time.perf_counter()
    state.actor.eval()
    scores = evaluate(
        ActorPolicy(state.actor),
        walker(),
        n_episodes=args.val_episodes,
        seed=VALIDATION_SEED,
    )
    state.actor.train()
    out = data_dir() / "states" / f"bipedalwalker_sm_game{state.game}.pt"
    save_compact_state(out, state, rng=rng, env=env, recent_rows=args.recent_rows)
    validation = score_summary(scores, seed=VALIDATION_SEED)
    validation.update(
        seconds=round(time.perf_counter() - start, 1),
        note="the stored actor (the state's, not a selected one), seeds "
        f"{VALIDATION_SEED}+: neither training, selection ({SELECTION_SEED}+) nor test",
    )
    meta = {
        "what": "A mid-training state of the shipped walker's recipe, to continue "
        "(course_utils.agents.selective_memory.resume.load_training_state).",
        "agent": preset.name,
        "algorithm": preset.algorithm,
        "env_id": preset.env_id,
        "fresh_world_each_episode": True,
        "train_command": f"python benchmarks/walker_state.py --games {args.games} "
        f"--seed {args.seed} --save-every {args.save_every} --snapshot-every "
        f"{args.snapshot_every} --state-dir {args.state_dir}",
        "store_command": "python benchmarks/walker_state.py "
        + shlex.join(sys.argv[1:]),
        "seed": args.seed,
        "games": state.game,
        "steps": int(sum(state.lengths)),
        "wall_time_s": round(state.wall_time_s, 1),
        "cpu_time_s": round(extra["cpu_s"], 1),
        "machine_note": "2-core CPU shared with other jobs: wall time measures the "
        "neighbours too; CPU time is the process's own",
        "config": cfg.to_dict(),
        "pieces": preset.describe_pieces(),
        "selection_evals": {
            "seeds": f"{SELECTION_SEED}+",
            "episodes": cfg.eval_episodes,
            "games_mean_std": [
                [g, round(m, 2), round(sd, 2)] for g, m, sd in state.evals
            ],
        },
        "validation": validation,
        "compact": {
            "recent_rows": args.recent_rows,
            "recent_capacity": cfg.recent_size,
            "recent_obs_actions": "float16",
            "networks": "float16",
            "optimizer_moments": "not stored: Adam starts its averages afresh",
        },
        "versions": package_versions(),
    }
    meta_path = out.with_name(out.name + ".json")
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(
        f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) and {meta_path.name}: game "
        f"{state.game}, {meta['steps']} steps, validation {scores.mean():.1f} ± "
        f"{scores.std():.1f} over {len(scores)} episodes"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=750)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=10, help="games")
    parser.add_argument("--snapshot-every", type=int, default=25, help="games")
    parser.add_argument("--state-dir", type=Path, default=RUNS / "walker_state")
    parser.add_argument("--store", type=int, help="write snapshot N to data/states")
    parser.add_argument("--val-episodes", type=int, default=20)
    parser.add_argument("--recent-rows", type=int, default=20_000)
    parser.add_argument("--continue-from", metavar="NAME", help="a data/states file")
    parser.add_argument("--walk-steps", type=int, default=150_000)
    args = parser.parse_args(argv)
    if args.continue_from is not None:
        continue_from(args)
    elif args.store is not None:
        store(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
