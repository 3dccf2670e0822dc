"""Selective Memory on BipedalWalker-v3: the published settings and our variants.

    python benchmarks/selective_memory_runs.py faithful --seconds 1200
    python benchmarks/selective_memory_runs.py noise --seconds 420

Each run trains ``course_utils.selective_memory.train_selective_memory`` (seed 0, one
torch thread) until ``--seconds`` of wall time, then tests the actor alone on
``--test-episodes`` episodes with seeds 1_000_000+. Runs stop on wall time, so the
number of games depends on the machine. Writes ``OUT/NAME.json`` (config, per-game
returns, test scores) and prints a progress line after every fit.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from course_utils.envs import make_env
from course_utils.evaluation import evaluate
from course_utils.policies import ActorPolicy
from course_utils.seeding import set_seed
from course_utils.selective_memory import SMConfig, train_selective_memory

OURS = {"random_prob": 0.0, "noise": 0.2, "n_candidates": 0}
VARIANTS: dict[str, dict] = {
    "faithful": {},  # the published method
    "keep_all": {"keep_rule": "all"},
    "top_k": {"keep_rule": "top_k", "top_k": 0.2},
    # ours: Gaussian noise around the actor instead of random actions and candidates
    "noise": OURS,
    # ours: + a longer horizon (gamma 0.99) and the keep rule on (R - avg) / std
    "noise_gamma": {**OURS, "gamma": 0.99, "scale_by_std": True},
    # ours: + the keep rule on the advantage R - V(s) (self-imitation learning's idea)
    "noise_gamma_adv": {**OURS, "gamma": 0.99, "scale_by_std": True, "advantage": True},
    # ours: + the fall's -100 clipped to -1 in the returns the memory ranks
    "noise_gamma_adv_floor": {
        **OURS,
        "gamma": 0.99,
        "scale_by_std": True,
        "advantage": True,
        "reward_floor": -1.0,
    },
    # ours: + AR(1) noise correlated over ~10 steps (a push lasts long enough to matter)
    "noise_gamma_adv_corr": {
        **OURS,
        "gamma": 0.99,
        "scale_by_std": True,
        "advantage": True,
        "noise_corr": 0.9,
    },
    # ours: + the critic at work again: fitted on every recent step, it picks the best
    # of 16 candidates drawn around the actor's action (then a little noise)
    "noise_gamma_adv_critic": {
        **OURS,
        "noise": 0.1,
        "gamma": 0.99,
        "scale_by_std": True,
        "advantage": True,
        "n_candidates": 16,
        "candidate_noise": 0.3,
        "critic_on_all": True,
        "value_memory_size": 100_000,
    },
    # ours: + a 10x larger memory, fitted with the same number of gradient steps
    "noise_gamma_mem": {
        **OURS,
        "gamma": 0.99,
        "scale_by_std": True,
        "memory_size": 20_000,
        "max_updates": 500,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--seconds", type=float, default=420.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-episodes", type=int, default=10)
    parser.add_argument("--out", default="/tmp/sm")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = replace(
        SMConfig(episodes=100_000, max_seconds=args.seconds), **VARIANTS[args.variant]
    )
    rng = set_seed(args.seed)
    start = time.perf_counter()

    def on_fit(game: int, returns: list[float]) -> None:
        print(
            f"game {game} t {time.perf_counter() - start:.0f} s "
            f"last10 {np.mean(returns[-10:]):.1f}",
            flush=True,
        )

    result = train_selective_memory(
        make_env("BipedalWalker-v3"),
        cfg,
        rng=rng,
        seed=args.seed,
        progress=False,
        on_fit=on_fit,
    )
    scores = evaluate(
        ActorPolicy(result.actor),
        make_env("BipedalWalker-v3"),
        n_episodes=args.test_episodes,
        seed=1_000_000,
    )
    out = Path(args.out) / f"{args.variant}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "name": args.variant,
                "config": cfg.to_dict(),
                "seed": args.seed,
                "games": len(result.episode_returns),
                "steps": result.steps,
                "wall_s": round(result.wall_time_s, 1),
                "memory_rows": len(result.memory),
                "eval_mean": float(scores.mean()),
                "eval_std": float(scores.std()),
                "eval_episodes": args.test_episodes,
                "eval_seeds": "1000000+",
                "eval_scores": scores.round(2).tolist(),
                "returns": [round(r, 1) for r in result.episode_returns],
            }
        )
    )
    print(
        f"{args.variant}: {len(result.episode_returns)} games, {result.steps} steps, "
        f"{result.wall_time_s:.0f} s, {len(result.memory)} rows in memory, "
        f"test {scores.mean():.1f} ± {scores.std():.1f}"
    )


if __name__ == "__main__":
    main()
