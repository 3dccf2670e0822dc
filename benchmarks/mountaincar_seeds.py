"""Notebook 03's comparisons over several training seeds; the shipped recipe over ten.

    python benchmarks/mountaincar_seeds.py [--variants shipped dqn ...]
        [--seeds 0 1 2 3 4] [--test-seeds 0 1 ... 9] [--jobs 2 | --scheduler ADDRESS]
        [--out runs/studies/mountaincar_seeds]
    python benchmarks/mountaincar_seeds.py --summary \
        --out data/studies/mountaincar_seeds

Every run is ``course_utils.agents.dqn.train_dqn`` with the ``mountaincar`` preset (150
000 steps, the shipped budget) and one change, a ``Variant`` of ``VARIANTS``. Each run
records:

- its evaluation curve: 20 greedy episodes on the *selection* seeds 10 000+ every 5 000
  steps (what model selection sees), and the first step at which it reached -110;
- a *validation* score: 100 greedy episodes on seeds 20 000+ (used by no training and no
  selection) for the best-evaluated network and for the last one. Recipes are compared
  on these, never on test seeds;
- for the ``shipped`` recipe only (seeds ``--seeds`` and ``--test-seeds``): the
  trainer's own test of the best-evaluated network (100 greedy episodes on seeds
  1 000 000+), for the "how many training seeds solve it" report. Nothing is chosen by
  that score.

The study is a folder, one file per run (``benchmarks/studies.py``): running the script
again runs only the missing runs, on local processes (``--jobs``) or a Dask cluster
(``--scheduler``). ``--steps`` (a smoke test) is part of the budget: a study of another
budget is refused. Training seconds are recorded but depend on the machine's load:
compare steps.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch
from studies import (  # beside this script, on Python's path
    Job,
    Variant,
    add_study_flags,
    engine_from,
    print_summary,
    run_or_exit,
    variants_by_name,
)

from course_utils.agents import dqn
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.networks import DuelingQNetwork
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.lessons.studies import interval
from course_utils.presets import TEST_SEED, get_preset

VALIDATION_SEED = 20_000  # neither training (0, 1, ...), selection (10 000+) nor test
VALIDATION_EPISODES = TEST_EPISODES = 100

TESTED = "shipped"  # the one recipe whose selected networks are tested


def online_target(q_net, target_net, batch, gamma):
    """No target network: the online network scores its own next states."""
    return dqn.compute_target(q_net, q_net, batch, gamma)


# notebook 03's core recipe: the DQN target, plain ε-greedy, 3-step returns
CORE = {"td_loss": dqn.DQNLoss(), "hold": dqn.no_hold}
NO_REPLAY_BUFFER = 128  # = the batch size: every batch is drawn from the last 128 steps
VARIANTS = variants_by_name(
    Variant(TESTED, "the shipped recipe: Double DQN, 3-step returns, εz-greedy"),
    Variant(
        "dqn",
        "DQN target instead of Double DQN",
        pieces={"td_loss": dqn.DQNLoss(target=dqn.compute_target)},
    ),
    Variant("dueling", "+ dueling head", pieces={"net_class": DuelingQNetwork}),
    Variant("n1", "one-step targets (n = 1)", config={"n_step": 1}),
    Variant(
        "plain_eps", "plain ε-greedy (no held actions)", pieces={"hold": dqn.no_hold}
    ),
    Variant(
        "zipf_cap200",
        "εz-greedy with holds capped at 200 steps",
        pieces={"hold": dqn.ZipfHold(mu=2.0, max_steps=200)},
    ),
    Variant(
        "core", "notebook 03's core: DQN target, plain ε-greedy, n = 3", pieces=CORE
    ),
    Variant(
        "core_n1",
        "the core with one-step targets (n = 1): plain DQN",
        config={"n_step": 1},
        pieces=CORE,
    ),
    Variant(
        "core_no_target",
        "the core without a target network (the online net scores its targets)",
        pieces={**CORE, "td_loss": dqn.DQNLoss(target=online_target)},
    ),
    Variant(
        "core_double",
        "the core + Double DQN's target",
        pieces={**CORE, "td_loss": dqn.DQNLoss(target=dqn.compute_target_double)},
    ),
    Variant(
        "core_ez",
        "the core + εz-greedy (random actions held n ~ Zipf(2))",
        pieces={**CORE, "hold": dqn.ZipfHold(mu=2.0)},
    ),
    Variant(
        "core_dueling",
        "the core + a dueling head",
        pieces={**CORE, "net_class": DuelingQNetwork},
    ),
    Variant(
        "core_no_replay",
        f"the core without replay: a buffer of the last {NO_REPLAY_BUFFER} steps",
        config={"buffer_size": NO_REPLAY_BUFFER},
        pieces=CORE,
    ),
)

# The variants of data/studies/mountaincar_seeds (the default); the core ones are run
# on their own: data/studies/mountaincar_core_60k (--variants core core_no_target
# core_no_replay --steps 60000) and data/studies/mountaincar_core_upgrades (--variants
# core core_n1 core_double core_ez core_dueling: each upgrade added to the core alone).
SHIPPED_STUDY = [name for name in VARIANTS if not name.startswith("core")]


def greedy_scores(net: torch.nn.Module, seed: int, episodes: int) -> list[float]:
    env = make_env("MountainCar-v0")
    return [
        float(r) for r in evaluate(QPolicy(net), env, n_episodes=episodes, seed=seed)
    ]


def run(job: Job) -> dict:
    """One run, on one torch thread."""
    torch.set_num_threads(1)
    preset = get_preset("mountaincar")
    cfg = replace(preset.config, **job.variant.config)
    steps = job.budget["steps"]
    cfg = replace(cfg, total_steps=steps, eval_every=min(cfg.eval_every, steps))
    result = dqn.train_dqn(
        make_env(preset.env_id),
        cfg,
        rng=set_seed(job.seed),
        seed=job.seed,
        eval_env=make_env(preset.env_id),
        progress=False,
        **{**preset.pieces, **job.variant.pieces},
    )
    episodes = job.budget["validation_episodes"]
    record = {
        "steps": [int(s) for s, _, _ in result.evals],
        "evals": [round(float(m), 2) for _, m, _ in result.evals],
        "first_solved_step": result.first_solved[0] if result.first_solved else None,
        "train_s": round(result.wall_time_s - result.eval_time_s, 1),
        "validation_best": greedy_scores(result.q_net, VALIDATION_SEED, episodes),
        "validation_last": greedy_scores(result.last_q_net, VALIDATION_SEED, episodes),
    }
    if job.variant.name == TESTED:  # the trainer's test: eval_epsilon is 0 here
        record["test_best"] = greedy_scores(
            result.q_net, TEST_SEED, job.budget["test_episodes"]
        )
    return record


def report(job: Job, record: dict) -> str:
    """The line printed when a run is stored."""
    test = record.get("test_best")
    return (
        f"{job.variant.name:12s} seed {job.seed}: first solved at "
        f"{record['first_solved_step']}, validation best "
        f"{np.mean(record['validation_best']):.1f}, last "
        f"{np.mean(record['validation_last']):.1f}"
        + (f", test {np.mean(test):.2f}" if test else "")
        + f" ({record['train_s']:.0f} s)"
    )


def summary(study: dict) -> str:
    """One line per variant: seeds solved, median first solved step, validation of the
    selected network (mean over seeds, 95 % bootstrap interval over seeds)."""
    rng = np.random.default_rng(0)
    lines = [f"{'variant':12s} {'seeds':>5s} {'solved':>6s} {'median':>8s} validation"]
    for name, entry in study["variants"].items():
        runs = list(entry["runs"].values())
        first = [r["first_solved_step"] or np.inf for r in runs]  # never: after all
        validation = [float(np.mean(r["validation_best"])) for r in runs]
        lines.append(
            f"{name:12s} {len(runs):5d} {np.isfinite(first).sum():6d} "
            f"{np.median(first):8.0f} {interval(validation, rng)}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants", nargs="+", choices=list(VARIANTS), default=list(SHIPPED_STUDY)
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--test-seeds",
        type=int,
        nargs="+",
        default=list(range(10)),
        help="more training seeds of the shipped recipe (each is tested)",
    )
    parser.add_argument("--steps", type=int, help="smoke tests only (default: preset)")
    add_study_flags(parser, "mountaincar_seeds")
    args = parser.parse_args(argv)
    if print_summary(parser, args, summary):
        return
    engine = engine_from(parser, args)
    steps = get_preset("mountaincar").config.total_steps
    steps = steps if args.steps is None else args.steps
    if steps < 1 or min(args.seeds + args.test_seeds) < 0:
        parser.error("--steps must be at least 1 and the seeds at least 0")
    budget = {
        "steps": steps,
        "validation_episodes": VALIDATION_EPISODES,
        "test_episodes": TEST_EPISODES,
    }
    variants = [VARIANTS[name] for name in args.variants]
    jobs = [Job(variant, seed, budget) for seed in args.seeds for variant in variants]
    if TESTED in args.variants:
        jobs += [Job(VARIANTS[TESTED], seed, budget) for seed in args.test_seeds]
    header = {
        "budget": budget,
        "note": f"MountainCar-v0, {steps} steps per run; evaluation curves on "
        "selection seeds 10 000+ (20 greedy episodes every 5 000 steps)",
        "protocol": {
            "selection": "20 greedy episodes on seeds 10000+ every 5000 steps",
            "validation": f"{VALIDATION_EPISODES} greedy episodes on seeds "
            f"{VALIDATION_SEED}+ (best-evaluated and last network)",
            "test": f"shipped recipe only: {TEST_EPISODES} greedy episodes on seeds "
            f"{TEST_SEED}+ for the best-evaluated network, as the trainer tests",
        },
    }
    run_or_exit(parser, args.out, header, jobs, run, engine=engine, report=report)


if __name__ == "__main__":
    main()
