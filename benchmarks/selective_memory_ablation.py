"""Selective Memory on BipedalWalker-v3: the variants over training seeds, at matched
environment steps.

    python benchmarks/selective_memory_ablation.py --steps 1000000
        [--variants faithful noise ...] [--seeds 0 1 2 3 4]
        [--jobs 2 | --scheduler ADDRESS] [--eval-every-steps 50000]
        [--eval-episodes 5] [--validation-episodes 30]
        [--out runs/studies/selective_memory_ablation]
    python benchmarks/selective_memory_ablation.py --summary --out DIR [--compare A B]
    python benchmarks/selective_memory_ablation.py --tiny --steps 150 --out /tmp/t

Every run is ``course_utils.agents.selective_memory.train_selective_memory`` with one of
the variants of ``benchmarks/selective_memory_runs.py`` (its ``VARIANTS``, the one list
of them) and one training seed, stopped after the game during which the run reaches
``--steps`` environment steps (``SMConfig.max_steps``): every run gets the same steps,
whatever the machine's speed and the length of its games; no wall-time cap. Every game
is played in a new Box2D world (``sm_resume.FreshWorldEachReset``), so an evaluation
depends only on the actor and the seeds. Each run records:

- per game: its return and length (to put curves on a common grid of environment
  steps), and the loop's diagnostics (memory rows, keep rate, ...) at most at
  ``DIAGNOSTIC_POINTS`` games, evenly spaced;
- its *selection* curve: each time the run's steps cross a multiple of
  ``--eval-every-steps``, the actor alone (no candidates, no noise) plays
  ``--eval-episodes`` episodes on the selection seeds 10 000+; the best actor is kept;
- a *validation* score: ``--validation-episodes`` episodes on seeds 20 000+ (used by no
  training and no selection) of the final actor and of the best actor of the
  selection curve. Variants are compared on these;
- steps, games, training and selection seconds, the load average before and after.

No test seed (1 000 000 and above) is used anywhere in this script: the test belongs to
the one final report of a shipped agent.

The study is a folder, one file per run (``benchmarks/studies.py``): running the script
again runs only the missing runs, on local processes (``--jobs``) or a Dask cluster
(``--scheduler``), and runs made by several processes come together in the folder. One
folder holds one budget: another ``--steps``, ``--eval-every-steps``,
``--eval-episodes``, ``--validation-episodes`` or ``--tiny`` is refused (use another
``--out``). ``--tiny`` (8-unit networks, games cut at 60 steps) is a smoke test of the
script, its figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from datetime import datetime

import gymnasium as gym
import numpy as np
import torch
from gymnasium.wrappers import TimeLimit
from selective_memory_runs import VARIANTS  # beside this script, on Python's path
from studies import (
    Job,
    Variant,
    add_study_flags,
    engine_from,
    print_summary,
    run_or_exit,
)

from course_utils.agents.selective_memory import SMConfig, train_selective_memory
from course_utils.agents.selective_memory.loop import SMState
from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.agents.services import BestModelKeeper
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.networks import MLPActor
from course_utils.common.policies import ActorPolicy
from course_utils.common.seeding import set_seed
from course_utils.common.stats import curves_on_grid, iqm
from course_utils.lessons.studies import interval, read_study
from course_utils.presets import SELECTION_SEED, piece_name

VALIDATION_SEED = 20_000  # neither training (0, 1, ...), selection (10 000+) nor test
MAX_EPISODES = 10_000  # selection and validation seeds never reach the next range
DIAGNOSTIC_POINTS = 250  # games at which the per-game diagnostics are kept
TINY_GAME = 60  # --tiny: games cut at this many steps


def make_walker(tiny: bool) -> gym.Env:
    """BipedalWalker-v3, a new Box2D world every game (cut at TINY_GAME if tiny)."""
    env = make_env("BipedalWalker-v3")
    return FreshWorldEachReset(TimeLimit(env, TINY_GAME) if tiny else env)


def variant_setup(variant: Variant, budget: dict) -> tuple[SMConfig, dict]:
    """``(cfg, pieces)`` of one variant under ``budget``. ``episodes`` is the step
    budget too: a game has at least one step, so the step budget always stops first."""
    steps = budget["steps"]
    cfg = replace(SMConfig(episodes=steps, max_steps=steps), **variant.config)
    if budget["tiny"]:
        cfg = replace(cfg, random_games=1, fit_every=2, epochs=1)
        cfg = replace(cfg, actor_hidden=(8, 8), critic_hidden=(8, 8))
    return cfg, dict(variant.pieces)


def settings(job: Job) -> dict:
    """For a run's file: the whole config it ran with, and its pieces by name."""
    cfg, pieces = variant_setup(job.variant, job.budget)
    return {
        "config": cfg.to_dict(),
        "pieces": {key: piece_name(piece) for key, piece in pieces.items()},
    }


def seed_ranges(seeds: list[int], budget: dict) -> dict[str, range]:
    """The seeds each part of the study uses: training, selection, validation."""
    return {
        "training": range(min(seeds), max(seeds) + 1),
        "selection": range(SELECTION_SEED, SELECTION_SEED + budget["eval_episodes"]),
        "validation": range(
            VALIDATION_SEED, VALIDATION_SEED + budget["validation_episodes"]
        ),
    }


class SelectionCurve:
    """``on_game`` callback of the loop: after the game during which the run's steps
    cross a multiple of ``every`` (one evaluation when a game crosses several), the
    actor alone plays ``episodes`` episodes on seeds SELECTION_SEED+; the best actor
    is kept (``keeper.best``), and ``keeper.history`` holds ``(steps, mean, std)``."""

    def __init__(self, env: gym.Env, *, every: int, episodes: int) -> None:
        self.every, self.steps = every, 0
        self.keeper = BestModelKeeper(
            env,
            lambda actor, steps: ActorPolicy(actor),
            every=1,  # every call evaluates: this class decides when
            episodes=episodes,
            seed=SELECTION_SEED,
        )

    def __call__(self, state: SMState) -> None:
        steps = int(sum(state.lengths))
        crossed = steps // self.every > self.steps // self.every
        self.steps = steps
        if crossed:
            self.keeper.maybe_evaluate(steps, state.actor)


def validation_scores(actor: MLPActor, env: gym.Env, episodes: int) -> list[float]:
    """Returns of the actor alone on ``episodes`` episodes, seeds VALIDATION_SEED+."""
    scores = evaluate(
        ActorPolicy(actor), env, n_episodes=episodes, seed=VALIDATION_SEED
    )
    return [round(float(r), 2) for r in scores]


def thin(diagnostics: dict, games: int, most: int = DIAGNOSTIC_POINTS) -> dict:
    """Per-game lists kept at ``most`` games at the most, evenly spaced from the first
    to the last; ``"game"`` holds their indices (0 = the first game)."""
    picked = np.linspace(0, games - 1, min(games, most)).round().astype(int)
    games_kept = sorted(set(picked.tolist()))
    out: dict = {"game": games_kept}
    for name, values in diagnostics.items():
        out[name] = [
            v if v is None or name == "memory_rows" else round(v, 4)
            for v in (values[g] for g in games_kept)
        ]
    return out


def run(job: Job) -> dict:
    """One run, on one torch thread."""
    seed, budget = job.seed, job.budget
    torch.set_num_threads(1)
    cfg, pieces = variant_setup(job.variant, budget)
    tiny = budget["tiny"]
    curve = SelectionCurve(
        make_walker(tiny),
        every=budget["eval_every_steps"],
        episodes=budget["eval_episodes"],
    )
    load_before = os.getloadavg()
    result = train_selective_memory(
        make_walker(tiny),
        cfg,
        rng=set_seed(seed),
        seed=seed,
        progress=False,
        on_game=curve,
        **pieces,
    )
    load_after = os.getloadavg()
    keeper, start = curve.keeper, time.perf_counter()
    env, episodes = make_walker(tiny), budget["validation_episodes"]
    record = {
        "steps_done": result.steps,
        "games": len(result.episode_returns),
        "train_s": round(result.wall_time_s - keeper.seconds, 1),
        "eval_s": round(keeper.seconds, 1),
        "load_avg_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "returns": [round(r, 1) for r in result.episode_returns],
        "episode_steps": result.episode_steps,
        "eval_steps": [int(s) for s, _, _ in keeper.history],
        "evals": [round(m, 2) for _, m, _ in keeper.history],
        "eval_stds": [round(sd, 2) for _, _, sd in keeper.history],
        "diagnostics": thin(result.diagnostics.to_dict(), len(result.episode_returns)),
        "validation_last": validation_scores(result.actor, env, episodes),
        "validation_best": None
        if keeper.best is None
        else validation_scores(keeper.best, env, episodes),
    }
    record["validation_s"] = round(time.perf_counter() - start, 1)
    record["finished"] = datetime.now().isoformat(timespec="seconds")
    return record


def selection_iqm(runs: list[dict], grid: np.ndarray) -> np.ndarray | None:
    """IQM over runs of the selection curves on ``grid`` (environment steps)."""
    curves = [(r["eval_steps"], r["evals"]) for r in runs if r["evals"]]
    return iqm(curves_on_grid(curves, grid)) if curves else None


def summary(study: dict) -> str:
    """One line per variant: means over seeds (wall s: training, selection and
    validation); validation as mean [95 % bootstrap interval over seeds] and IQM; the
    selection curves' IQM over seeds at half and at the whole step budget."""
    rng = np.random.default_rng(0)
    budget = study.get("budget", {}).get("steps") or 1
    grid = np.array([budget / 2, budget])
    lines = [
        f"{'variant':28s} {'seeds':>5s} {'steps':>8s} {'games':>6s} {'train s':>7s} "
        f"{'wall s':>6s} "
        f"{'sel. IQM ½ / end':>16s} {'validation, final actor':>24s} {'IQM':>6s} "
        f"{'validation, best actor':>24s} {'IQM':>6s}"
    ]
    for variant, entry in study.get("variants", {}).items():
        runs = list(entry["runs"].values())
        if not runs:
            continue
        last = [float(np.mean(r["validation_last"])) for r in runs]
        best = [
            float(np.mean(r["validation_best"]))
            for r in runs
            if r["validation_best"] is not None
        ]
        train_s = np.mean([r["train_s"] for r in runs])
        wall = np.mean([r["train_s"] + r["eval_s"] + r["validation_s"] for r in runs])
        sel = selection_iqm(runs, grid)
        lines.append(
            f"{variant:28s} {len(runs):5d} "
            f"{np.mean([r['steps_done'] for r in runs]):8.0f} "
            f"{np.mean([r['games'] for r in runs]):6.0f} {train_s:7.0f} {wall:6.0f} "
            + (f"{sel[0]:7.1f} / {sel[1]:6.1f} " if sel is not None else f"{'—':>16s} ")
            + f"{interval(last, rng)} {float(iqm(np.array(last))):6.1f} "
            + f"{interval(best, rng)} "
            + (f"{float(iqm(np.array(best))):6.1f}" if best else f"{'—':>6s}")
        )
    return "\n".join(lines)


def report(job: Job, record: dict) -> str:
    """The line printed when a run is stored."""
    best = record["validation_best"]
    return (
        f"{job.variant.name:28s} seed {job.seed}: {record['steps_done']} steps, "
        f"{record['games']} games in {record['train_s']:.0f} s "
        f"(+{record['eval_s']:.0f} s selection), "
        f"best selection {max(record['evals'], default=float('nan')):.1f}, "
        f"validation final {np.mean(record['validation_last']):.1f}, best "
        + (f"{np.mean(best):.1f}" if best is not None else "—")
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS)
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, help="environment steps of every run")
    parser.add_argument("--eval-every-steps", type=int, default=50_000)
    parser.add_argument("--eval-episodes", type=int, default=5, help="selection")
    parser.add_argument("--validation-episodes", type=int, default=30)
    add_study_flags(parser, "selective_memory_ablation")
    parser.add_argument("--tiny", action="store_true", help="smoke test (see above)")
    args = parser.parse_args(argv)
    if print_summary(parser, args, summary):
        return
    engine = engine_from(parser, args)
    if args.steps is None:
        parser.error("give the budget: --steps (environment steps of every run)")
    for name in ("steps", "eval_every_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("eval_episodes", "validation_episodes"):
        if not 1 <= getattr(args, name) <= MAX_EPISODES:
            parser.error(
                f"--{name.replace('_', '-')} must lie in 1..{MAX_EPISODES} (the "
                "selection and validation seeds must not reach another range)"
            )
    if not all(0 <= seed < SELECTION_SEED for seed in args.seeds):
        parser.error(f"training --seeds must lie in 0..{SELECTION_SEED - 1}")
    budget = {
        "steps": args.steps,
        "eval_every_steps": args.eval_every_steps,
        "eval_episodes": args.eval_episodes,
        "validation_episodes": args.validation_episodes,
        "tiny": args.tiny,
    }
    header = {
        "budget": budget,
        "note": "BipedalWalker-v3, the Selective Memory variants of "
        "benchmarks/selective_memory_runs.py over training seeds, every run to the "
        "same environment-step budget (benchmarks/selective_memory_ablation.py)",
        "protocol": {
            "budget": f"every run stops after the game during which it reaches "
            f"{args.steps} environment steps (SMConfig.max_steps); no wall-time cap",
            "selection": f"the actor alone, {args.eval_episodes} episodes on seeds "
            f"{SELECTION_SEED}+, after the game that crosses every multiple of "
            f"{args.eval_every_steps} steps; the best actor is kept",
            "validation": f"{args.validation_episodes} episodes on seeds "
            f"{VALIDATION_SEED}+, the final actor and the best actor of the "
            "selection curve",
            "test": "none: the test seeds (1 000 000+) are kept for the one final "
            "report of a shipped agent",
        },
    }
    variants = [VARIANTS[name] for name in args.variants]
    jobs = [Job(variant, seed, budget) for seed in args.seeds for variant in variants]
    outcome = run_or_exit(
        parser,
        args.out,
        header,
        jobs,
        run,
        engine=engine,
        report=report,
        about=settings,
    )
    if outcome.stored:
        print(summary(read_study(args.out)))


if __name__ == "__main__":
    main()
