"""The course's DQN against Stable-Baselines3's DQN on MountainCar-v0, side by side.

    pip install -e ".[bench]"
    python benchmarks/mountaincar_vs_sb3.py --seeds 0 1 2 [--jobs 6] [--agents ...]

Three agents: ``SB3`` runs with rl-baselines3-zoo's tuned MountainCar-v0 settings; the
``course`` runs its shipped preset (``course_utils.presets``); ``SB3-course`` is SB3
with the course's recipe wherever SB3 supports it (3-step returns, ε from 0.2, inputs
rescaled to [-1, 1] by a wrapper; SB3 has no Double-DQN target and no held random
actions), which separates what the recipe buys from what the implementation buys.
All: the same training seeds, one torch
thread, 120k steps, a greedy evaluation of 20 episodes (seeds 10_000+) every 5k
steps. Wall times count training only (evaluation time is measured and removed). The
final score is over 100 greedy episodes on unseen seeds 1_000_000+, for the network at
the end of training and for the best-evaluated one. With ``--jobs N`` the runs go in N
processes at once, so both agents share the same machine load (fair on a busy machine).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import multiprocessing
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import torch

from course_utils.agents.dqn import train_dqn
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.common.versions import package_versions
from course_utils.presets import SELECTION_SEED, TEST_SEED, get_preset

ENV_ID, SOLVED = "MountainCar-v0", -110.0
EVAL_EVERY, EVAL_EPISODES, EVAL_SEED = 5_000, 20, SELECTION_SEED
ZOO = dict(  # rl-baselines3-zoo hyperparams/dqn.yml, MountainCar-v0
    learning_rate=4e-3,
    batch_size=128,
    buffer_size=10_000,
    learning_starts=1_000,
    gamma=0.98,
    target_update_interval=600,
    train_freq=16,
    gradient_steps=8,
    exploration_fraction=0.2,
    exploration_final_eps=0.07,
    policy_kwargs=dict(net_arch=[256, 256]),
)


# SB3 with the course's recipe where SB3 supports it: everything of the zoo's settings
# that the course shares, plus 3-step returns, ε 0.2 -> 0.07 and rescaled inputs.
COURSE_RECIPE = dict(ZOO, exploration_initial_eps=0.2, n_steps=3)


def sb3_env(agent: str):
    env = make_env(ENV_ID)
    if agent == "SB3-course":  # the course's network rescales inside; SB3 needs this
        from gymnasium.wrappers import RescaleObservation

        ones = np.ones(env.observation_space.shape, dtype=np.float32)
        env = RescaleObservation(env, -ones, ones)
    return env


def test_scores(policy, env=None) -> np.ndarray:
    env = make_env(ENV_ID) if env is None else env
    return evaluate(policy, env, n_episodes=100, seed=TEST_SEED)


def run_course(seed: int, steps: int) -> dict:
    preset = get_preset("mountaincar")
    cfg = replace(
        preset.config,
        total_steps=steps,
        eval_every=EVAL_EVERY,
        eval_episodes=EVAL_EPISODES,
        eval_seed=EVAL_SEED,
        solved_at=SOLVED,
    )
    result = train_dqn(
        make_env(ENV_ID),
        cfg,
        rng=set_seed(seed),
        seed=seed,
        eval_env=make_env(ENV_ID),
        progress=False,
        **preset.pieces,
    )
    return {
        "train_s": result.wall_time_s - result.eval_time_s,
        "solved": result.first_solved,
        "final": test_scores(QPolicy(result.last_q_net)),
        "best": test_scores(QPolicy(result.q_net)),
    }


def run_sb3(seed: int, steps: int, agent: str = "SB3") -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    def greedy(model):
        return lambda obs: int(model.predict(obs, deterministic=True)[0])

    class Evaluations(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.eval_env, self.eval_s, self.start = sb3_env(agent), 0.0, None
            self.solved, self.best, self.best_state = None, -np.inf, None

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps % EVAL_EVERY == 0:
                t0 = time.perf_counter()
                mean = evaluate(
                    greedy(self.model),
                    self.eval_env,
                    n_episodes=EVAL_EPISODES,
                    seed=EVAL_SEED,
                ).mean()
                self.eval_s += time.perf_counter() - t0
                if mean >= SOLVED and self.solved is None:
                    elapsed = time.perf_counter() - self.start - self.eval_s
                    self.solved = (self.num_timesteps, elapsed)
                if mean > self.best:
                    self.best = mean
                    self.best_state = copy.deepcopy(self.model.policy.state_dict())
            return True

    set_seed(seed)
    settings = COURSE_RECIPE if agent == "SB3-course" else ZOO
    model = DQN(
        "MlpPolicy", sb3_env(agent), seed=seed, device="cpu", verbose=0, **settings
    )
    callback = Evaluations()
    start = time.perf_counter()
    model.learn(total_timesteps=steps, callback=callback)
    train_s = time.perf_counter() - start - callback.eval_s
    final = test_scores(greedy(model), sb3_env(agent))
    model.policy.load_state_dict(callback.best_state)
    return {
        "train_s": train_s,
        "solved": callback.solved,
        "final": final,
        "best": test_scores(greedy(model), sb3_env(agent)),
    }


AGENTS = ("course", "SB3", "SB3-course")


def run_job(job: tuple[str, int, int]) -> tuple[str, int, dict]:
    """One (agent, seed) run in its own process, on one torch thread."""
    name, seed, steps = job
    torch.set_num_threads(1)
    if name == "course":
        return name, seed, run_course(seed, steps)
    return name, seed, run_sb3(seed, steps, name)


def row(name: str, seed: int, r: dict) -> str:
    solved = (
        f"{r['solved'][1]:7.0f} s {r['solved'][0]:>8,d}"
        if r["solved"]
        else "    never         -"
    )
    return (
        f"| {name:10s} | {seed:4d} | {r['train_s']:7.0f} s | {solved} | "
        f"{r['final'].mean():7.1f} ± {r['final'].std():4.1f} | "
        f"{r['best'].mean():7.1f} ± {r['best'].std():4.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=120_000)
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (processes)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument(
        "--agents", nargs="+", default=list(AGENTS), choices=AGENTS, metavar="AGENT"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    versions = package_versions()
    import stable_baselines3

    versions["stable-baselines3"] = stable_baselines3.__version__
    print(
        f"{date.today()} · {platform.processor() or platform.machine()} · "
        f"{torch.get_num_threads()} torch thread · "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    print(
        "| agent  | seed | train time | first solved (time, steps) | "
        "final greedy (100 ep.) | best-evaluated (100 ep.) |"
    )
    print("|---|---|---|---|---|---|")
    jobs = [(name, seed, args.steps) for seed in args.seeds for name in args.agents]
    results = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        for name, seed, r in pool.map(run_job, jobs):
            print(row(name, seed, r), flush=True)
            results.append(
                {
                    "agent": name,
                    "seed": seed,
                    "train_s": r["train_s"],
                    "solved": r["solved"],
                    "final_mean": r["final"].mean(),
                    "final_std": r["final"].std(),
                    "best_mean": r["best"].mean(),
                    "best_std": r["best"].std(),
                }
            )
    for name in args.agents:
        mine = [r for r in results if r["agent"] == name]
        times = [r["solved"][1] for r in mine if r["solved"]]
        print(
            f"{name}: solved {len(times)}/{len(mine)} seeds; median time to solved "
            f"{np.median(times) if times else float('nan'):.0f} s; best-evaluated "
            f"networks ≥ −110 on the test: "
            f"{sum(r['best_mean'] >= SOLVED for r in mine)}/{len(mine)}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"date": str(date.today()), "versions": versions, "results": results},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
