"""Notebook 03's comparisons over several training seeds; the shipped recipe over ten.

    python benchmarks/mountaincar_seeds.py [--variants shipped dqn ...]
        [--seeds 0 1 2 3 4] [--test-seeds 0 1 ... 9] [--jobs 2]
        [--out data/mountaincar_seeds.json]

Every run is ``course_utils.agents.dqn.train_dqn`` with the ``mountaincar`` preset (150
000 steps, the shipped budget) and one change, named in ``VARIANTS``. Each run records:

- its evaluation curve: 20 greedy episodes on the *selection* seeds 10 000+ every 5 000
  steps (what model selection sees), and the first step at which it reached -110;
- a *validation* score: 100 greedy episodes on seeds 20 000+ (used by no training and no
  selection) for the best-evaluated network and for the last one. Recipes are compared
  on these, never on test seeds;
- for the ``shipped`` recipe only, on the seeds given by ``--test-seeds``: the trainer's
  own test of the best-evaluated network (100 greedy episodes on seeds 1 000 000+), for
  the "how many training seeds solve it" report. Nothing is chosen by that score.

The results go to ``--out`` after every run (written atomically); running the script
again skips the runs already there, so an interrupted batch resumes where it stopped.
Training seconds are recorded but depend on the machine's load: compare steps.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

from course_utils.agents import dqn
from course_utils.common.checkpoints import data_dir, package_versions
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.networks import DuelingQNetwork
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.lessons.studies import machine, read_study, run_batch, stored_run
from course_utils.presets import TEST_SEED, get_preset

VALIDATION_SEED = 20_000  # neither training (0, 1, ...), selection (10 000+) nor test
VALIDATION_EPISODES = TEST_EPISODES = 100

# name: (what changes against the shipped recipe, config changes, piece changes)
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "shipped": ("the shipped recipe: Double DQN, 3-step returns, εz-greedy", {}, {}),
    "dqn": ("DQN target instead of Double DQN", {}, {"target_fn": dqn.compute_target}),
    "dueling": ("+ dueling head", {}, {"net_class": DuelingQNetwork}),
    "n1": ("one-step targets (n = 1)", {"n_step": 1}, {}),
    "plain_eps": ("plain ε-greedy (no held actions)", {}, {"hold": dqn.one_step}),
    "zipf_cap200": (
        "εz-greedy with holds capped at 200 steps",
        {},
        {"hold": dqn.ZipfHold(mu=2.0, max_steps=200)},
    ),
}


def greedy_scores(net: torch.nn.Module, seed: int, episodes: int) -> list[float]:
    env = make_env("MountainCar-v0")
    return [
        float(r) for r in evaluate(QPolicy(net), env, n_episodes=episodes, seed=seed)
    ]


def run(job: tuple[str, int, bool, int | None]) -> tuple[str, int, dict]:
    """One (variant, seed) run in its own process, on one torch thread."""
    variant, seed, with_test, steps = job
    torch.set_num_threads(1)
    preset = get_preset("mountaincar")
    _, config_changes, piece_changes = VARIANTS[variant]
    cfg = replace(preset.config, **config_changes)
    if steps is not None:  # a smoke test of the script (results not comparable)
        cfg = replace(cfg, total_steps=steps, eval_every=min(cfg.eval_every, steps))
    pieces = {**preset.pieces, **piece_changes}
    result = dqn.train_dqn(
        make_env(preset.env_id),
        cfg,
        rng=set_seed(seed),
        seed=seed,
        eval_env=make_env(preset.env_id),
        progress=False,
        **pieces,
    )
    record = {
        "steps": [int(s) for s, _, _ in result.evals],
        "evals": [round(float(m), 2) for _, m, _ in result.evals],
        "first_solved_step": result.first_solved[0] if result.first_solved else None,
        "train_s": round(result.wall_time_s - result.eval_time_s, 1),
        "validation_best": greedy_scores(
            result.q_net, VALIDATION_SEED, VALIDATION_EPISODES
        ),
        "validation_last": greedy_scores(
            result.last_q_net, VALIDATION_SEED, VALIDATION_EPISODES
        ),
    }
    if with_test:  # the trainer's test: preset.eval_epsilon is 0 for MountainCar
        record["test_best"] = greedy_scores(result.q_net, TEST_SEED, TEST_EPISODES)
    return variant, seed, record


def report(variant: str, seed: int, record: dict) -> str:
    """The line printed when a run is stored."""
    test = record.get("test_best")
    return (
        f"{variant:12s} seed {seed}: first solved at "
        f"{record['first_solved_step']}, validation best "
        f"{np.mean(record['validation_best']):.1f}, last "
        f"{np.mean(record['validation_last']):.1f}"
        + (f", test {np.mean(test):.2f}" if test else "")
        + f" ({record['train_s']:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--test-seeds",
        type=int,
        nargs="+",
        default=list(range(10)),
        help="training seeds of the shipped recipe to run and test",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes)")
    parser.add_argument("--steps", type=int, help="smoke tests only (default: preset)")
    parser.add_argument("--out", default=str(data_dir() / "mountaincar_seeds.json"))
    args = parser.parse_args()
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    out = Path(args.out)
    data = read_study(out)
    data.update(
        note="MountainCar-v0, 150 000 steps per run; evaluation curves on selection "
        "seeds 10 000+ (20 greedy episodes every 5 000 steps)",
        protocol={
            "selection": "20 greedy episodes on seeds 10000+ every 5000 steps",
            "validation": f"{VALIDATION_EPISODES} greedy episodes on seeds "
            f"{VALIDATION_SEED}+ (best-evaluated and last network)",
            "test": f"shipped recipe only: {TEST_EPISODES} greedy episodes on seeds "
            f"{TEST_SEED}+ for the best-evaluated network, as the trainer tests",
        },
        machine=machine(),
        versions=package_versions(),
    )
    jobs = []
    for seed in args.seeds:
        for variant in args.variants:
            jobs.append(
                (variant, seed, variant == "shipped" and seed in args.test_seeds)
            )
    if "shipped" in args.variants:
        jobs += [("shipped", s, True) for s in args.test_seeds if s not in args.seeds]
    todo = []
    for variant, seed, with_test in jobs:
        done = stored_run(data, variant, seed)
        if done is None or (with_test and "test_best" not in done):
            todo.append((variant, seed, with_test, args.steps))
    print(f"{date.today()}: {len(jobs) - len(todo)} runs stored, {len(todo)} to go")
    run_batch(
        out,
        data,
        todo,
        run,
        workers=args.jobs,
        header=lambda variant: {"description": VARIANTS[variant][0]},
        report=report,
    )


if __name__ == "__main__":
    main()
