"""FitML's published Selective Memory on its own schedule, resumable: the seed's claims.

The seed (FitML, DeepDeterministicSeletiveMemory/README.md) says the agent "is able to
crawl, stand up, walk, run, jump after 500 episodes" and, "after 3000 iterations", "is
able to advance fast and be very stable on its feet". This script runs the published
method (``SMConfig()``'s defaults: random actions 0.15 * (1 - game / 6000), FitML's
acting rule, keep rule and fits) for ``--games`` games on each training seed, and tests
both claims.

    nohup .venv/bin/python benchmarks/selective_memory_long.py --games 3000 \\
        >> runs/sm_published_long.log 2>&1 &
    python benchmarks/selective_memory_long.py --summary \\
        --out data/studies/selective_memory_published_long

Kill it at any time and run the same command again: each run resumes from its state in
``--state-dir`` (saved atomically every ``--save-every`` games, outside git; on a
cluster, on the disk of the worker that runs it) and plays the same games as an
uninterrupted run. The seeds run through ``benchmarks/studies.py`` (``--jobs`` or
``--scheduler``). A run's file in ``--out`` is written
when it has played its games: per-game return and steps, per-game diagnostics, and at
games ``--eval-every``, 2 * ``--eval-every``, ... the test of the actor alone and of the
acting rule (the critic's pick among the actor's action and 9 random ones, without the
random actions) on ``--eval-episodes`` validation episodes, seeds 10 000+. Notebook 05
reads the course's run in ``data/studies/selective_memory_published_long``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from gymnasium.wrappers import TimeLimit
from studies import (  # beside this script, on Python's path
    RUNS,
    Job,
    Variant,
    add_study_flags,
    engine_from,
    print_summary,
    run_or_exit,
)

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
PUBLISHED = Variant(
    "faithful", "the published method (FitML's settings), on its own schedule"
)
STUDY = "selective_memory_published_long"


class Stop(Exception):
    """Raised by the callback to stop cleanly after a save (``stop_after``)."""


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


def summary_record(state: SMState, cfg: sm.SMConfig, job: Job, extra: dict) -> dict:
    """The run's record: per-game returns, steps and diagnostics, the evaluations."""
    d, budget = state.diagnostics, job.budget
    r4 = lambda xs: [None if x is None else round(x, 4) for x in xs]  # noqa: E731
    return {
        "name": "published_long",
        "how": "python benchmarks/selective_memory_long.py "
        f"--games {budget['games']} --seeds {job.seed} --eval-every "
        f"{budget['eval_every']} --eval-episodes {budget['eval_episodes']} (published "
        "settings, one torch thread, a fresh Box2D world every game)",
        "config": cfg.to_dict(),
        "seed": job.seed,
        "games_planned": budget["games"],
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


def run(job: Job, *, state_dir: Path, save_every: int, stop_after: float | None):
    """One seed's run, resumed from ``state_dir/seed-<k>.pt`` if it is there; its
    record, or None when ``stop_after`` minutes have passed (after a save)."""
    torch.set_num_threads(1)
    budget = job.budget
    cfg = sm.SMConfig(episodes=budget["games"])  # the published settings
    max_steps = None
    if budget["tiny"]:
        cfg = replace(cfg, random_games=1, fit_every=2, epochs=1)
        cfg = replace(cfg, actor_hidden=(8, 8), critic_hidden=(8, 8))
        max_steps = 60
    env, eval_env = make_walker(max_steps), make_walker(max_steps)
    rng = np.random.default_rng(job.seed)
    state = sm.new_state(env, cfg, seed=job.seed)
    state_path = state_dir / f"seed-{job.seed}.pt"
    extra: dict = {"evals": [], "saves": [], "budget": budget}
    if state_path.exists():
        extra = load_training_state(state_path, state, rng=rng, env=env)
        if extra.get("budget") != budget:
            raise ValueError(
                f"{state_path} is the state of a run of the budget "
                f"{extra.get('budget')}, not {budget}: delete it, or give another "
                "--state-dir."
            )
        print(f"seed {job.seed}: resumed at game {state.game}", flush=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    def on_game(s: SMState) -> None:
        if s.game % budget["eval_every"] == 0:
            extra["evals"].append(
                evaluate_both(s, eval_env, budget["eval_episodes"], s.game)
            )
            e = extra["evals"][-1]
            print(
                f"seed {job.seed}: eval game {s.game}: actor {e['actor']['mean']}, "
                f"acting rule {e['acting_rule']['mean']}",
                flush=True,
            )
        if s.game % save_every and s.game != budget["games"]:
            return
        extra["saves"].append([s.game, int(sum(s.lengths)), round(s.wall_time_s, 1)])
        save_training_state(state_path, s, rng=rng, env=env, extra=extra)
        print(
            f"seed {job.seed}: game {s.game} steps {sum(s.lengths)} train "
            f"{s.wall_time_s:.0f} s last25 {np.mean(s.returns[-25:]):.1f} memory "
            f"{len(s.memory)} (saved)",
            flush=True,
        )
        if stop_after is not None and time.perf_counter() - start > 60 * stop_after:
            raise Stop

    if state.game < budget["games"]:
        try:
            sm.train_selective_memory(
                env,
                cfg,
                rng=rng,
                seed=job.seed,
                progress=False,
                state=state,
                on_game=on_game,
            )
        except Stop:
            print(f"seed {job.seed}: stopped after a save at game {state.game}")
            return None
    return summary_record(state, cfg, job, extra)


def report(job: Job, record: dict) -> str:
    """The line printed when a run is stored."""
    last = record["evals"][-1] if record["evals"] else None
    return f"seed {job.seed}: {record['games']} games, {record['steps']} steps" + (
        f", actor at game {last['game']}: {last['actor']['mean']}" if last else ""
    )


def summary(study: dict) -> str:
    """One block per run: its evaluations, with the claims they test."""
    claims = study.get("claims", {})
    lines = []
    for name, entry in study["variants"].items():
        for seed, r in entry["runs"].items():
            lines.append(
                f"{name} seed {seed}: {r['games']} of {r['games_planned']} games, "
                f"{r['steps']:,} steps"
            )
            for e in r["evals"]:
                claim = claims.get(str(e["game"]))
                lines.append(
                    f"  game {e['game']:5d}: actor alone {e['actor']['mean']:7.1f} ± "
                    f"{e['actor']['std']:5.1f}, acting rule "
                    f"{e['acting_rule']['mean']:7.1f} ± {e['acting_rule']['std']:5.1f}"
                    + (f'  (claim: "{claim}")' if claim else "")
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--save-every", type=int, default=25, help="games")
    parser.add_argument("--eval-every", type=int, default=500, help="games")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=RUNS.parent / "state" / STUDY,
        help="where each run's state is saved (seed-<k>.pt), to resume it",
    )
    parser.add_argument(
        "--stop-after", type=float, default=None, help="minutes; resume later"
    )
    parser.add_argument("--tiny", action="store_true", help="smoke test: tiny nets")
    add_study_flags(parser, STUDY)
    args = parser.parse_args(argv)
    if print_summary(parser, args, summary):
        return
    engine = engine_from(parser, args)
    if min(args.games, args.save_every, args.eval_every, args.eval_episodes) < 1:
        parser.error("--games, --save-every, --eval-every, --eval-episodes: >= 1")
    budget = {
        "games": args.games,
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "tiny": args.tiny,
    }
    header = {
        "budget": budget,
        "note": "FitML's published Selective Memory on its own schedule (random "
        "actions with probability 0.15 * (1 - game / 6000)), to test the seed's "
        "claims (benchmarks/selective_memory_long.py)",
        "canonical": CANONICAL,
        "claims": {str(k): v for k, v in CLAIMS.items()},
        "protocol": {
            "evaluation": f"every {args.eval_every} games, the actor alone and the "
            "acting rule (the critic's pick among the actor's action and 9 random "
            f"ones, no random actions), {args.eval_episodes} episodes on seeds "
            f"{SELECTION_SEED}+"
        },
    }
    jobs = [Job(PUBLISHED, seed, budget) for seed in args.seeds]
    one_run = partial(
        run,
        state_dir=args.state_dir.resolve(),
        save_every=args.save_every,
        stop_after=args.stop_after,
    )
    run_or_exit(parser, args.out, header, jobs, one_run, engine=engine, report=report)


if __name__ == "__main__":
    main()
