"""Where a walker's score goes: forward progress against the motors' cost.

    python benchmarks/walker_gait.py [CHECKPOINT] [--episodes 20] [--seed 20000]

Plays a BipedalWalker checkpoint's actor (default: the shipped one) on ``--episodes``
episodes with seeds ``--seed``, ``--seed`` + 1, ..., every episode in a new Box2D world
(``sm_resume.FreshWorldEachReset``), and prints for each: the return, the steps, whether
the walker crossed the course, and the motors' cost as BipedalWalker-v3 charges it
(0.00035 × 80 × |action| clipped to 1, per joint and step). Then, over the episodes that
crossed: the mean return, steps and cost, the return without the cost (what forward
progress and posture paid), and how many steps a crossing may take at this cost per
step to score 300, Gymnasium's threshold.

The default seeds 20 000+ are validation seeds: no shipped agent is selected or tested
on them (selection uses 10 000+, tests 1 000 000+).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.checkpoints import load_policy
from course_utils.common.data import shipped_checkpoint
from course_utils.common.envs import make_env

TORQUE_COST = 0.00035 * 80  # BipedalWalker-v3: per joint, per step, times |a| <= 1
SOLVED = 300.0  # Gymnasium's reward_threshold for BipedalWalker-v3


@dataclass(frozen=True)
class Episode:
    ret: float
    steps: int
    crossed: bool
    motor_cost: float


def play(policy, env: gym.Env, seed: int) -> Episode:
    """One episode of ``policy`` (obs -> action) from ``env.reset(seed=seed)``."""
    obs, _ = env.reset(seed=seed)
    total, cost, steps, done, fell = 0.0, 0.0, 0, False, False
    while not done:
        action = np.asarray(policy(obs))
        obs, reward, terminated, truncated, _ = env.step(action)
        total, steps = total + float(reward), steps + 1
        cost += TORQUE_COST * float(np.clip(np.abs(action), 0, 1).sum())
        fell = terminated and reward == -100
        done = terminated or truncated
    crossed = not fell and not truncated  # the loop ended: terminated or truncated
    return Episode(total, steps, crossed, cost)


def report(episodes: list[Episode]) -> str:
    """The per-episode lines and the summary over the crossings."""
    lines = [f"{'return':>8s} {'steps':>6s} {'crossed':>8s} {'motor cost':>11s}"]
    lines += [
        f"{e.ret:8.1f} {e.steps:6d} {str(e.crossed):>8s} {e.motor_cost:11.1f}"
        for e in episodes
    ]
    crossed = [e for e in episodes if e.crossed]
    lines.append(
        f"mean return {np.mean([e.ret for e in episodes]):.1f} over {len(episodes)} "
        f"episodes; {len(crossed)} crossed the course"
    )
    if crossed:
        ret = np.mean([e.ret for e in crossed])
        steps = np.mean([e.steps for e in crossed])
        cost = np.mean([e.motor_cost for e in crossed])
        per_step = np.mean([e.motor_cost / e.steps for e in crossed])
        paid = ret + cost
        lines.append(
            f"crossings: return {ret:.1f}, {steps:.0f} steps, motor cost {cost:.1f} "
            f"({per_step:.4f} a step); without the cost {paid:.1f}. To score "
            f"{SOLVED:.0f} at this cost per step a crossing may take at most "
            f"{(paid - SOLVED) / per_step:.0f} steps."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkpoint",
        nargs="?",
        default=str(shipped_checkpoint("bipedalwalker_selective_memory.pt")),
    )
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    torch.set_num_threads(1)
    policy, meta = load_policy(args.checkpoint)
    if meta.get("env_id") != "BipedalWalker-v3":
        parser.error(
            f"{args.checkpoint} is a {meta.get('env_id')} agent; this script reads "
            "BipedalWalker-v3 walkers (e.g. data/checkpoints/"
            "bipedalwalker_selective_memory.pt)"
        )
    env = FreshWorldEachReset(make_env("BipedalWalker-v3"))
    print(report([play(policy, env, args.seed + k) for k in range(args.episodes)]))


if __name__ == "__main__":
    main()
