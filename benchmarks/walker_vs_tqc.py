"""TQC (sb3-contrib, rl-baselines3-zoo's tuned settings) against the shipped Selective
Memory recipe on BipedalWalker-v3, for the same **process CPU time** each.

    pip install -e ".[bench]"            # brings stable-baselines3 and sb3-contrib
    python benchmarks/walker_vs_tqc.py --cpu-minutes 60 --seed 0 [--agents tqc sm]

Why CPU time: the two learners spend it differently (TQC a gradient step per
environment step, Selective Memory a fit every tenth game), and on a shared machine
wall time measures the neighbours as much as the learner. Each agent runs in this
process with one torch thread, and stops at the first check after its budget of
``time.process_time()``: TQC after any environment step, Selective Memory after a game.
Both are then scored on the validation seeds (20 000+; neither training, the selection
seeds 10 000+ nor the test seeds see them), Selective Memory with its best actor on the
selection seeds, as the shipped walker is. One JSON record per agent and seed goes to
``--out``. Notebook 05 names TQC as the fair peer and quotes no score until this has
run; benchmarks/README.md says what was run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.resume import fresh_world_if_box2d
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate, score_summary
from course_utils.common.policies import ActorPolicy
from course_utils.common.versions import package_versions
from course_utils.presets import get_preset

ENV_ID = "BipedalWalker-v3"
VALIDATION_SEED = 20_000  # neither training (0, 1, ...), selection (10 000+) nor test
ZOO_TQC = dict(  # rl-baselines3-zoo hyperparams/tqc.yml, BipedalWalker-v3
    learning_rate=7.3e-4,
    buffer_size=300_000,
    batch_size=256,
    ent_coef="auto",
    gamma=0.98,
    tau=0.02,
    train_freq=64,
    gradient_steps=64,
    learning_starts=10_000,
    use_sde=True,
    policy_kwargs=dict(log_std_init=-3, net_arch=[400, 300]),
)
INSTALL_HINT = (
    'TQC needs sb3-contrib, which is not installed. Fix: pip install -e ".[bench]" '
    "(or pip install sb3-contrib), then run this script again."
)


class OutOfBudget(Exception):
    """Raised after a game once the process has spent its CPU budget."""


def import_tqc():
    """sb3-contrib's TQC, or a clear SystemExit naming the install command."""
    try:
        from sb3_contrib import TQC  # noqa: PLC0415 (optional: the bench extra)
    except ImportError as error:
        raise SystemExit(INSTALL_HINT) from error
    return TQC


def run_tqc(seed: int, cpu_seconds: float) -> tuple[object, int]:
    """Train TQC until the process has spent ``cpu_seconds`` more CPU time."""
    TQC = import_tqc()
    from stable_baselines3.common.callbacks import BaseCallback  # noqa: PLC0415

    start = time.process_time()

    class StopAtBudget(BaseCallback):
        def _on_step(self) -> bool:
            return time.process_time() - start < cpu_seconds

    model = TQC("MlpPolicy", make_env(ENV_ID), seed=seed, verbose=0, **ZOO_TQC)
    model.learn(total_timesteps=10**9, callback=StopAtBudget())
    policy = lambda obs: model.predict(obs, deterministic=True)[0]  # noqa: E731
    return policy, int(model.num_timesteps)


def run_selective_memory(seed: int, cpu_seconds: float) -> tuple[object, int]:
    """The shipped preset's recipe until ``cpu_seconds`` more CPU time is spent."""
    preset = get_preset("bipedalwalker")
    cfg = preset.config
    env = fresh_world_if_box2d(make_env(ENV_ID))
    eval_env = fresh_world_if_box2d(make_env(ENV_ID))
    state = sm.new_state(env, cfg, seed=seed, baseline=preset.pieces.get("baseline"))
    start = time.process_time()

    def stop_when_spent(_: object) -> None:
        if time.process_time() - start >= cpu_seconds:
            raise OutOfBudget

    pieces = dict(preset.pieces)
    try:
        sm.train_selective_memory(
            env,
            cfg,
            rng=np.random.default_rng(seed),
            seed=seed,
            progress=False,
            eval_env=eval_env,
            state=state,
            on_game=stop_when_spent,
            **pieces,
        )
    except OutOfBudget:
        pass
    actor = state.best_actor if state.best_actor is not None else state.actor
    return ActorPolicy(actor.eval()), int(sum(state.lengths))


AGENTS = {"tqc": run_tqc, "sm": run_selective_memory}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-minutes", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--agents", nargs="+", choices=sorted(AGENTS), default=["tqc", "sm"]
    )
    parser.add_argument("--validation-episodes", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("runs/walker_vs_tqc"))
    args = parser.parse_args(argv)
    if args.cpu_minutes <= 0 or args.validation_episodes < 1:
        parser.error("--cpu-minutes must be > 0 and --validation-episodes >= 1.")
    if "tqc" in args.agents:
        import_tqc()  # refuse before any training, not after the first agent's hour
    torch.set_num_threads(1)
    for name in args.agents:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        policy, steps = AGENTS[name](args.seed, args.cpu_minutes * 60)
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
        env = fresh_world_if_box2d(make_env(ENV_ID))
        returns = evaluate(
            policy, env, n_episodes=args.validation_episodes, seed=VALIDATION_SEED
        )
        record = {
            "agent": name,
            "seed": args.seed,
            "cpu_budget_s": args.cpu_minutes * 60,
            "train_cpu_s": round(cpu_s, 1),
            "train_wall_s": round(wall_s, 1),
            "steps": steps,
            "load_avg_1min": os.getloadavg()[0],
            "validation": score_summary(returns, seed=VALIDATION_SEED),
            "settings": ZOO_TQC if name == "tqc" else "preset bipedalwalker",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, 1 torch thread",
            "versions": package_versions(),
        }
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"{name}-seed-{args.seed}.json"
        path.write_text(json.dumps(record, indent=1, default=str) + "\n")
        print(
            f"{name}: {steps:,} steps in {cpu_s / 60:.1f} CPU min "
            f"({wall_s / 60:.1f} wall min); validation {returns.mean():.1f} ± "
            f"{returns.std():.1f} over {len(returns)} episodes -> {path}"
        )


if __name__ == "__main__":
    main()
