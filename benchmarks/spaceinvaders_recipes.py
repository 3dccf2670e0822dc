"""Space Invaders from RAM (or Snake, ``--preset snake``): recipe variants of the
preset, one knob at a time, over several training seeds.

    python benchmarks/spaceinvaders_recipes.py --steps 600000 [--max-minutes 40]
        [--preset spaceinvaders | snake]
        [--variants current wide ...] [--seeds 0 1 2] [--jobs 2 | --scheduler ADDRESS]
        [--validation-episodes 30] [--eval-every 100000]
        [--out runs/studies/spaceinvaders_recipes]
    python benchmarks/spaceinvaders_recipes.py --summary --out DIR [--compare A B]
    python benchmarks/spaceinvaders_recipes.py --list                  # the variants

Every run is ``course_utils.agents.dqn.train_dqn`` with the ``spaceinvaders`` preset and
one change, a ``Variant`` of ``VARIANTS`` (config fields, pieces, or ``make_env``
keyword arguments such as ``stack``); names joined by ``+`` (``--variants n5+stack2``)
combine their changes, for the final recipe. The budget is ``--steps`` (the preset's
``total_steps``, so ε's schedule and an ``lr_end`` decay scale with it, as
``course_utils.train --steps`` does) and/or a wall-time cap ``--max-minutes``
(``DQNConfig.max_seconds``, evaluations included). Each run records:

- its evaluation curve on the *selection* seeds 10 000+ (the preset's 20 episodes,
  ε = 0.05, every ``--eval-every`` steps): what train_dqn's model selection sees;
- steps done, training and evaluation seconds, and a clock of (steps, seconds) every
  10 000 steps, from which the learning phase's speed can be read;
- a *validation* score of the selected network and of the last one: the returns of
  ``--validation-episodes`` episodes with the preset's evaluation ε (0.05 for Space
  Invaders) on seeds 20 000+, used by no training and no selection; for a preset that
  scores by an ``info`` entry (Snake: ``"score"``, the apples), that entry at the end
  of each episode. Recipes are compared on these.

No test seed (1 000 000+) is used anywhere in this script: the test belongs to the
one agent finally shipped, once.

The study is a folder, one file per run (``benchmarks/studies.py``): running the script
again runs only the missing runs, on local processes (``--jobs``) or a Dask cluster
(``--scheduler``). One folder holds one budget: a different ``--steps``,
``--max-minutes``, ``--eval-every`` or ``--validation-episodes`` is refused (use
another ``--out``). Seconds depend on the machine's load (the load average is recorded
per run).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from studies import (  # beside this script, on Python's path
    Job,
    Variant,
    add_study_flags,
    combine,
    engine_from,
    print_summary,
    run_or_exit,
    variants_by_name,
)

from course_utils.agents import dqn
from course_utils.agents.dqn.qr import QR_DQN_PIECES
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate_with_info
from course_utils.common.networks import (
    BitsQNetwork,
    DuelingQNetwork,
    LayerNormQNetwork,
)
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.lessons.studies import interval, read_study
from course_utils.presets import SELECTION_SEED, get_preset

PRESETS = ("spaceinvaders", "snake")  # the DQN presets this screen knows
RAM_ONLY = {"bits", "stack2", "stack4"}  # variants of Space Invaders' RAM input
VALIDATION_SEED = 20_000  # neither training (0, 1, ...), selection (10 000+) nor test
CLOCK_EVERY = 10_000  # steps between two marks of the run's clock

# Space Invaders' preset before the shipped agent's screen: the recipe its variants
# change (Snake's variants change its preset as it is)
BASE_CHANGES = {"spaceinvaders": {"lr": 2.5e-4}, "snake": {}}

# One knob each against that recipe; "current" is the recipe itself.
VARIANTS = variants_by_name(
    Variant(
        "current",
        "the preset as screened (MLP 256x256, Double DQN, 3-step, lr 2.5e-4)",
    ),
    Variant("wide", "MLP 512x512", config={"hidden": (512, 512)}),
    Variant("deep", "MLP 256x256x256", config={"hidden": (256, 256, 256)}),
    Variant("dueling", "dueling head", pieces={"net_class": DuelingQNetwork}),
    Variant(
        "layernorm",
        "LayerNorm after every hidden Linear",
        pieces={"net_class": LayerNormQNetwork},
    ),
    Variant("n5", "5-step returns", config={"n_step": 5}),
    Variant(
        "target8k",
        "target copy every 8 000 steps",
        config={"target_update_interval": 8_000},
    ),
    Variant("lr1e-4", "lr 1e-4", config={"lr": 1e-4}),
    Variant(
        "lr_decay", "lr 2.5e-4 falling linearly to 2.5e-5", config={"lr_end": 2.5e-5}
    ),
    Variant(
        "rr_freq2", "replay ratio x2: an update every 2 steps", config={"train_freq": 2}
    ),
    Variant(
        "rr_grad2",
        "replay ratio x2: 2 gradient steps every 4",
        config={"gradient_steps": 2},
    ),
    Variant(
        "bits",
        "every byte's 8 bits as inputs too (the invaders are bit masks)",
        pieces={"net_class": BitsQNetwork},
    ),
    Variant("stack2", "the last 2 RAM snapshots", env_kwargs={"stack": 2}),
    Variant("stack4", "the last 4 RAM snapshots", env_kwargs={"stack": 4}),
    # one knob, four pieces (network, target, loss, batch loss); its net_class
    # clashes with dueling, layernorm and bits, so those combinations are refused
    Variant(
        "qr",
        "QR-DQN: 51 quantiles, quantile Huber loss (Double DQN's choice of a*)",
        pieces=dict(QR_DQN_PIECES),
    ),
    # one knob, two fields: the same algorithm and replay ratio, more steps per second
    Variant(
        "async8",
        "8 environments, each in its own process, stepped while the network learns",
        config={"num_envs": 8, "vector": "async"},
    ),
)
VECTOR_FIELDS = {"num_envs", "vector"}  # a variant with these runs VectorDQNConfig


class StepClock(gym.Wrapper):
    """Pass everything through; note ``(steps, seconds)`` every ``every`` steps."""

    def __init__(self, env: gym.Env, every: int) -> None:
        super().__init__(env)
        self.every, self.steps, self.start = every, 0, time.perf_counter()
        self.marks: list[tuple[int, float]] = []

    def step(self, action: Any) -> tuple:
        self.steps += 1
        if self.steps % self.every == 0:
            self.marks.append((self.steps, round(time.perf_counter() - self.start, 1)))
        return self.env.step(action)


def combined(variant: str) -> Variant:
    """A variant, or several joined by ``+`` (``"n5+stack2"``: both changes).

    Raises:
        ValueError: an unknown name, or two parts that change the same knob.
    """
    parts = variant.split("+")
    unknown = [part for part in parts if part not in VARIANTS]
    if unknown:
        raise ValueError(
            f"unknown variant {unknown[0]!r} in {variant!r}; choose from "
            f"{sorted(VARIANTS)}, or join several with '+' (e.g. n5+stack2)."
        )
    return combine([VARIANTS[part] for part in parts])


def base_config(preset: str = "spaceinvaders") -> dqn.DQNConfig:
    """The recipe every variant changes. Space Invaders: the preset as the screen
    found it, its learning rate 2.5e-4 (the preset took the screen's ``lr1e-4`` for
    the shipped agent, so the stored ``current`` runs stay comparable)."""
    return replace(get_preset(preset).config, **BASE_CHANGES[preset])


def variant_setup(
    variant: Variant, budget: dict
) -> tuple[str, dict, dqn.DQNConfig, dict]:
    """``(env_id, env_kwargs, cfg, pieces)`` of one variant under ``budget``
    (``budget["preset"]``: the preset, Space Invaders when absent).

    Raises:
        ValueError: a variant of Space Invaders' RAM input for another preset.
    """
    name = budget.get("preset", "spaceinvaders")
    if name != "spaceinvaders" and RAM_ONLY & set(variant.name.split("+")):
        raise ValueError(
            f"{variant.name!r} changes Space Invaders' RAM input; {name} has none. "
            f"Fix: leave out {sorted(RAM_ONLY)}."
        )
    preset = get_preset(name)
    base = base_config(name)
    if VECTOR_FIELDS & set(variant.config):  # several environments stepped together
        base = dqn.VectorDQNConfig(**asdict(base) | {"hidden": base.hidden})
    cfg = replace(base, **variant.config)
    if budget["steps"] is not None:
        cfg = replace(cfg, total_steps=budget["steps"])
    if budget["max_minutes"] is not None:
        cfg = replace(cfg, max_seconds=60.0 * budget["max_minutes"])
    if budget["eval_every"] is not None:
        cfg = replace(cfg, eval_every=budget["eval_every"])
    env_kwargs = {**preset.env_kwargs, **variant.env_kwargs}
    return preset.env_id, env_kwargs, cfg, {**preset.pieces, **variant.pieces}


def validation_scores(
    net: torch.nn.Module,
    env: gym.Env,
    episodes: int,
    epsilon: float,
    info_key: str | None = None,
) -> list[float]:
    """Returns of ``episodes`` episodes on seeds VALIDATION_SEED+, with ``epsilon``;
    with ``info_key``, ``info[info_key]`` at each episode's end instead."""
    policy = QPolicy(net, epsilon=epsilon, rng=np.random.default_rng(VALIDATION_SEED))
    returns, final = evaluate_with_info(
        policy, env, info_key=info_key, n_episodes=episodes, seed=VALIDATION_SEED
    )
    return [float(r) for r in (returns if final is None else final)]


def run(job: Job) -> dict:
    """One run, on one torch thread."""
    seed, budget = job.seed, job.budget
    torch.set_num_threads(1)
    env_id, env_kwargs, cfg, pieces = variant_setup(job.variant, budget)
    load_before = os.getloadavg()
    if isinstance(cfg, dqn.VectorDQNConfig):  # no clock: the steps are elsewhere
        env_fn = functools.partial(make_env, env_id, **env_kwargs)
        env = dqn.make_vector_env(env_fn, cfg.num_envs, cfg.vector)
    else:
        env = StepClock(make_env(env_id, **env_kwargs), CLOCK_EVERY)
    try:
        result = dqn.train_dqn(
            env,
            cfg,
            rng=set_seed(seed),
            seed=seed,
            eval_env=make_env(env_id, **env_kwargs),
            progress=False,
            **pieces,
        )
    finally:
        env.close()  # a vector environment's worker processes end here
    load_after = os.getloadavg()
    start = time.perf_counter()
    val_env = make_env(env_id, **env_kwargs)
    preset = get_preset(budget.get("preset", "spaceinvaders"))
    episodes, eps = budget["validation_episodes"], preset.eval_epsilon
    record = {
        "steps_done": result.steps,
        "train_s": round(result.wall_time_s - result.eval_time_s, 1),
        "eval_s": round(result.eval_time_s, 1),
        "clock": [list(mark) for mark in getattr(env, "marks", [])],
        "load_avg_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "eval_steps": [int(s) for s, _, _ in result.evals],
        "evals": [round(float(m), 2) for _, m, _ in result.evals],
        "eval_stds": [round(float(sd), 2) for _, _, sd in result.evals],
        "train_episodes": len(result.episode_returns),
        "train_returns_last100": round(float(np.mean(result.episode_returns[-100:])), 2)
        if result.episode_returns
        else None,
        "validation_best": validation_scores(
            result.q_net, val_env, episodes, eps, preset.info_score
        ),
        "validation_last": validation_scores(
            result.last_q_net, val_env, episodes, eps, preset.info_score
        ),
    }
    record["validation_s"] = round(time.perf_counter() - start, 1)
    record["finished"] = datetime.now().isoformat(timespec="seconds")
    return record


def summary(study: dict) -> str:
    """One line per variant: means over seeds, 95 % bootstrap intervals over seeds."""
    rng = np.random.default_rng(0)
    lines = [
        f"{'variant':10s} {'seeds':>5s} {'steps':>8s} {'train s':>7s} {'steps/s':>7s} "
        f"{'best sel.':>9s} {'validation, selected net':>25s} "
        f"{'validation, last net':>25s}"
    ]
    for variant, entry in study["variants"].items():
        runs = list(entry["runs"].values())
        steps = np.mean([r["steps_done"] for r in runs])
        train_s = np.mean([r["train_s"] for r in runs])
        best_sel = [max(r["evals"]) for r in runs if r["evals"]]
        lines.append(
            f"{variant:10s} {len(runs):5d} {steps:8.0f} {train_s:7.0f} "
            f"{steps / train_s:7.0f} "
            + (f"{np.mean(best_sel):9.1f} " if best_sel else f"{'—':>9s} ")
            + interval([float(np.mean(r["validation_best"])) for r in runs], rng)
            + " "
            + interval([float(np.mean(r["validation_last"])) for r in runs], rng)
        )
    return "\n".join(lines)


def report(job: Job, record: dict) -> str:
    """The line printed when a run is stored."""
    return (
        f"{job.variant.name:10s} seed {job.seed}: {record['steps_done']} steps in "
        f"{record['train_s']:.0f} s, best selection "
        f"{max(record['evals'], default=float('nan')):.1f}, validation "
        f"selected {np.mean(record['validation_best']):.1f}, last "
        f"{np.mean(record['validation_last']):.1f}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=PRESETS, default="spaceinvaders")
    parser.add_argument("--variants", nargs="+", help="default: all of the preset's")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, help="total_steps of every run")
    parser.add_argument("--max-minutes", type=float, help="wall-time cap of every run")
    parser.add_argument("--eval-every", type=int, help="default: the preset's 100 000")
    parser.add_argument("--validation-episodes", type=int, default=30)
    add_study_flags(parser, "spaceinvaders_recipes")
    parser.add_argument("--list", action="store_true", help="list the variants")
    args = parser.parse_args(argv)
    if args.list:
        for name, variant in VARIANTS.items():
            print(f"{name:10s} {variant.description}")
        return
    if print_summary(parser, args, summary):
        return
    engine = engine_from(parser, args)
    if args.steps is None and args.max_minutes is None:
        parser.error("give a budget: --steps and/or --max-minutes")
    if args.validation_episodes < 1 or (
        args.eval_every is not None and args.eval_every < 1
    ):
        parser.error("--validation-episodes and --eval-every must be at least 1")
    budget = {
        "steps": args.steps,
        "max_minutes": args.max_minutes,
        "eval_every": args.eval_every,
        "validation_episodes": args.validation_episodes,
    }
    if args.preset != "spaceinvaders":  # Space Invaders' stored studies have no key
        budget["preset"] = args.preset
    names = args.variants or [
        name
        for name in VARIANTS
        if args.preset == "spaceinvaders" or name not in RAM_ONLY
    ]
    variants = []
    for name in names:  # refuse a broken variant before any training
        try:
            variants.append(combined(name))
            variant_setup(variants[-1], budget)
        except ValueError as error:
            parser.error(str(error))
    preset = get_preset(args.preset)
    header = {
        "budget": budget,
        "note": f"{preset.env_id} {dict(preset.env_kwargs)}, recipe variants of the "
        f"{preset.name} preset, one change each (benchmarks/spaceinvaders_recipes.py)"
        + (
            f"; validation scores are info['{preset.info_score}']"
            if preset.info_score
            else ""
        ),
        "protocol": {
            "selection": f"{preset.config.eval_episodes} episodes, epsilon "
            f"{preset.config.eval_epsilon}, seeds {SELECTION_SEED}+, every "
            f"{args.eval_every or preset.config.eval_every} steps",
            "validation": f"{args.validation_episodes} episodes, epsilon "
            f"{preset.eval_epsilon}, seeds {VALIDATION_SEED}+ (selected and last "
            "network)",
            "test": "none: the test seeds (1 000 000+) are kept for the shipped agent",
        },
    }
    jobs = [Job(variant, seed, budget) for seed in args.seeds for variant in variants]
    outcome = run_or_exit(
        parser, args.out, header, jobs, run, engine=engine, report=report
    )
    if outcome.stored:
        print(summary(read_study(args.out)))


if __name__ == "__main__":
    main()
