"""FitML's published Selective Memory on its own schedule, resumable: the seed's claims.

The seed (FitML, DeepDeterministicSeletiveMemory/README.md) says the agent "is able to
crawl, stand up, walk, run, jump after 500 episodes" and, "after 3000 iterations", "is
able to advance fast and be very stable on its feet". This script runs the published
method (``SMConfig()``'s defaults: random actions 0.15 * (1 - game / 6000), FitML's
acting rule, keep rule and fits) for ``--games`` games, and tests both claims.

    nohup .venv/bin/python benchmarks/selective_memory_long.py --games 3000 \\
        >> runs/sm_published_seed0.log 2>&1 &

Kill it at any time and run the same command again: it resumes from ``--state`` (saved
atomically every ``--save-every`` games, outside git) and plays the same games as an
uninterrupted run. Every save also rewrites ``--out`` (a small JSON in ``data/``, read
by notebook 05): per-game return and steps, per-game diagnostics, and at games
``--eval-every``, 2 * ``--eval-every``, ... the test of the actor alone and of the
acting rule (the critic's pick among the actor's action and 9 random ones, without the
random actions) on ``--eval-episodes`` validation episodes, seeds 10 000+.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from gymnasium.wrappers import TimeLimit

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.loop import SMState
from course_utils.agents.selective_memory.resume import (
    FreshWorldEachReset,
    load_training_state,
    save_training_state,
)
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.policies import ActorPolicy
from course_utils.presets import SELECTION_SEED

CANONICAL = (
    "FitMachineLearning/FitML Experimental/BipedalWalker_Selective_Memory.py, "
    "version of commit 8597c8cd763c63d219846d6840f53511a7a7d034 (2017-11-22; moved "
    "unchanged to Experimental/ by 3c2f709 on 2018-01-11)"
)
CLAIMS = {
    500: "is able to crawl, stand up, walk, run, jump after 500 episodes",
    3000: "After 3000 iterations, our agent is able to advance fast and be very "
    "stable on its feet.",
}


class Stop(Exception):
    """Raised by the callback to stop cleanly after a save (``--stop-after``)."""


def make_walker(max_steps: int | None) -> FreshWorldEachReset:
    env = make_env("BipedalWalker-v3")
    if max_steps is not None:  # --tiny only: a shorter game for a smoke test
        env = TimeLimit(env, max_steps)
    return FreshWorldEachReset(env)


def evaluate_both(state: SMState, env, episodes: int, game: int) -> dict:
    """The actor alone and the acting rule (no random actions), seeds 10 000+."""
    act, rng = sm.CriticChoice(), np.random.default_rng(SELECTION_SEED + game)
    policies = {
        "actor": ActorPolicy(state.actor),
        "acting_rule": lambda obs: act(obs, state.actor, state.critic, rng),
    }
    out: dict = {"game": game, "steps": int(sum(state.lengths))}
    state.actor.eval()
    for name, policy in policies.items():
        scores = evaluate(policy, env, n_episodes=episodes, seed=SELECTION_SEED)
        out[name] = {
            "mean": round(float(scores.mean()), 1),
            "std": round(float(scores.std()), 1),
            "scores": scores.round(1).tolist(),
        }
    state.actor.train()
    return out


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def summary(state: SMState, cfg: sm.SMConfig, args, extra: dict) -> dict:
    d = state.diagnostics
    r4 = lambda xs: [None if x is None else round(x, 4) for x in xs]  # noqa: E731
    return {
        "name": "published_long",
        "canonical": CANONICAL,
        "claims": {str(k): v for k, v in CLAIMS.items()},
        "how": "python benchmarks/selective_memory_long.py "
        f"--games {args.games} --seed {args.seed} --eval-every {args.eval_every} "
        f"--eval-episodes {args.eval_episodes} (published settings, one torch "
        "thread, a fresh Box2D world every game)",
        "config": cfg.to_dict(),
        "seed": args.seed,
        "games_planned": args.games,
        "games": state.game,
        "steps": int(sum(state.lengths)),
        "wall_s": round(state.wall_time_s, 1),
        "returns": [round(r, 1) for r in state.returns],
        "episode_steps": list(state.lengths),
        "diagnostics": {
            "memory_rows": d.memory_rows,
            "keep_rate": r4(d.keep_rate),
            "override_rate": r4(d.override_rate),
            "critic_pred": r4(d.critic_pred),
            "return_mean": r4(d.return_mean),
            "critic_corr": r4(d.critic_corr),
        },
        "eval_seeds": f"{SELECTION_SEED}+",
        "evals": extra["evals"],
        "saves": extra["saves"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=25, help="games")
    parser.add_argument("--eval-every", type=int, default=500, help="games")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--state", default="runs/sm_published_seed0.pt")
    parser.add_argument("--out", default="data/selective_memory_published_long.json")
    parser.add_argument(
        "--stop-after", type=float, default=None, help="minutes; resume later"
    )
    parser.add_argument("--tiny", action="store_true", help="smoke test: tiny nets")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = sm.SMConfig(episodes=args.games)  # the published settings
    max_steps = None
    if args.tiny:
        cfg = replace(cfg, random_games=1, fit_every=2, epochs=1)
        cfg = replace(cfg, actor_hidden=(8, 8), critic_hidden=(8, 8))
        max_steps = 60
    env, eval_env = make_walker(max_steps), make_walker(max_steps)
    rng = np.random.default_rng(args.seed)
    state = sm.new_state(env, cfg, seed=args.seed)
    state_path, out = Path(args.state), Path(args.out)
    extra: dict = {"evals": [], "saves": []}
    if state_path.exists():
        extra = load_training_state(state_path, state, rng=rng, env=env)
        print(f"resumed at game {state.game} from {state_path}", flush=True)
    start = time.perf_counter()

    def on_game(s: SMState) -> None:
        if s.game % args.eval_every == 0:
            extra["evals"].append(
                evaluate_both(s, eval_env, args.eval_episodes, s.game)
            )
            e = extra["evals"][-1]
            print(
                f"eval game {s.game}: actor {e['actor']['mean']}, acting rule "
                f"{e['acting_rule']['mean']}",
                flush=True,
            )
        if s.game % args.save_every and s.game != args.games:
            return
        extra["saves"].append([s.game, int(sum(s.lengths)), round(s.wall_time_s, 1)])
        save_training_state(state_path, s, rng=rng, env=env, extra=extra)
        write_json(out, summary(s, cfg, args, extra))
        print(
            f"game {s.game} steps {sum(s.lengths)} train {s.wall_time_s:.0f} s "
            f"last25 {np.mean(s.returns[-25:]):.1f} memory {len(s.memory)} "
            f"(saved)",
            flush=True,
        )
        stop = args.stop_after
        if stop is not None and time.perf_counter() - start > 60 * stop:
            raise Stop

    try:
        sm.train_selective_memory(
            env,
            cfg,
            rng=rng,
            seed=args.seed,
            progress=False,
            state=state,
            on_game=on_game,
        )
    except Stop:
        print(f"stopped after a save at game {state.game}; run again to resume")


if __name__ == "__main__":
    main()
