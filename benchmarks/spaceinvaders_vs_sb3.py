"""The course's DQN against Stable-Baselines3's DQN on Space Invaders RAM.

    pip install -e ".[bench]"
    python benchmarks/spaceinvaders_vs_sb3.py [--steps 200000] [--seeds 0 1] [--jobs 2]

Both learners train on ``ALE/SpaceInvaders-v5`` with ``obs_type="ram"``, for the same
number of steps, from the same seeds, with one torch thread each, and with the same
hyperparameters, read from the course's "spaceinvaders" preset (at the time of
writing: lr 2.5e-4, batch 64, buffer 200k, learning starts 10k, 3-step returns, target
copy every 2k steps, ε 1 -> 0.01 over the first 5 % of the steps, reward clipping, a
lost life as terminal, MLP 256x256, Huber loss). The
differences are the implementations and two choices of each library: SB3 sees
``RAM / 255`` in [0, 1] and uses the plain DQN target; the course's network rescales
raw bytes to [-1, 1] itself and uses the Double-DQN target. SB3 gets the Atari habits
from its own wrappers (``EpisodicLifeEnv``, ``ClipRewardEnv``).

Each final network (no model selection) then plays ``--eval-episodes`` episodes on
the seeds ``course_utils.presets.TEST_SEED + i``, with ε = 0.05 (the Atari protocol)
and greedily. Runs go in parallel (``--jobs``, one process each); wall time is that
of training alone, so it depends on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from importlib import metadata

import numpy as np

ENV_ID = "ALE/SpaceInvaders-v5"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _scaled(obs: np.ndarray) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32) / np.float32(255.0)


def _eval_both(act, seed: int, episodes: int) -> dict[str, list[float]]:
    """Scores with ε = 0.05 and greedy; ``act(obs) -> greedy action``."""
    from course_utils.common.envs import make_env
    from course_utils.common.evaluation import evaluate
    from course_utils.presets import TEST_SEED

    env = make_env(ENV_ID, obs_type="ram")
    rng = np.random.default_rng(seed)

    def eps_policy(obs):
        if rng.random() < 0.05:
            return int(rng.integers(env.action_space.n))
        return act(obs)

    return {
        "eps": evaluate(eps_policy, env, n_episodes=episodes, seed=TEST_SEED).tolist(),
        "greedy": evaluate(act, env, n_episodes=episodes, seed=TEST_SEED).tolist(),
    }


def run_course(seed: int, steps: int, episodes: int) -> dict:
    import torch

    from course_utils.agents.dqn import train_dqn
    from course_utils.common.envs import make_env
    from course_utils.common.seeding import set_seed
    from course_utils.presets import get_preset

    torch.set_num_threads(1)
    preset = get_preset("spaceinvaders")
    cfg = replace(preset.config, total_steps=steps, eval_every=0)
    rng = set_seed(seed)
    env = make_env(ENV_ID, **preset.env_kwargs)
    start = time.perf_counter()
    result = train_dqn(env, cfg, rng=rng, seed=seed, progress=False, **preset.pieces)
    wall = time.perf_counter() - start
    q_net = result.last_q_net

    @torch.no_grad()
    def act(obs):
        return int(q_net(torch.as_tensor(obs).unsqueeze(0)).argmax(dim=1).item())

    return {
        "learner": "course DQN",
        "seed": seed,
        "steps": result.steps,
        "wall_s": wall,
        **_eval_both(act, seed, episodes),
    }


def run_sb3(seed: int, steps: int, episodes: int) -> dict:
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.atari_wrappers import ClipRewardEnv, EpisodicLifeEnv

    from course_utils.common.envs import make_env
    from course_utils.presets import get_preset

    torch.set_num_threads(1)
    preset = get_preset("spaceinvaders")
    cfg = preset.config
    env = EpisodicLifeEnv(make_env(ENV_ID, **preset.env_kwargs))
    env = ClipRewardEnv(env)
    env = gym.wrappers.TransformObservation(
        env, _scaled, gym.spaces.Box(0.0, 1.0, (128,), np.float32)
    )
    model = DQN(
        "MlpPolicy",
        env,
        learning_rate=cfg.lr,
        buffer_size=cfg.buffer_size,
        learning_starts=cfg.learning_starts,
        batch_size=cfg.batch_size,
        tau=cfg.tau,
        gamma=cfg.gamma,
        n_steps=cfg.n_step,
        train_freq=cfg.train_freq,
        gradient_steps=cfg.gradient_steps,
        target_update_interval=cfg.target_update_interval,
        exploration_fraction=cfg.exploration_fraction,
        exploration_initial_eps=cfg.epsilon_start,
        exploration_final_eps=cfg.epsilon_end,
        max_grad_norm=cfg.max_grad_norm,
        policy_kwargs={"net_arch": list(cfg.hidden)},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    wall = time.perf_counter() - start

    def act(obs):
        return int(model.predict(_scaled(obs), deterministic=True)[0])

    return {
        "learner": "SB3 DQN",
        "seed": seed,
        "steps": steps,
        "wall_s": wall,
        **_eval_both(act, seed, episodes),
    }


def _run(job: tuple[str, int, int, int]) -> dict:
    kind, seed, steps, episodes = job
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return (run_course if kind == "course" else run_sb3)(seed, steps, episodes)


def _fmt(scores: list[float]) -> str:
    return f"{np.mean(scores):6.1f} ± {np.std(scores):5.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes")
    parser.add_argument("--only", choices=["course", "sb3"], help="run one learner")
    args = parser.parse_args(argv)

    kinds = [args.only] if args.only else ["course", "sb3"]
    jobs = [(k, s, args.steps, args.eval_episodes) for s in args.seeds for k in kinds]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(_run, jobs))
    total = time.perf_counter() - start

    versions = {
        name: metadata.version(name)
        for name in ("torch", "gymnasium", "ale-py", "stable-baselines3", "numpy")
    }
    print(
        f"Space Invaders RAM ({ENV_ID}, obs_type='ram'), {args.steps:,} steps, "
        f"seeds {args.seeds}, {args.jobs} parallel job(s)"
    )
    print(
        f"date {datetime.date.today()} | {_cpu_model()}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at start | Python {platform.python_version()} | "
        + " | ".join(f"{k} {v}" for k, v in versions.items())
    )
    print(
        f"test: {args.eval_episodes} episodes per agent on seeds 1000000+, final "
        "network"
    )
    print()
    print(
        "| learner | seed | train wall time (s) | steps/s | score ε=0.05 "
        "| score greedy |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['learner']} | {r['seed']} | {r['wall_s']:.0f} | "
            f"{r['steps'] / r['wall_s']:.0f} | {_fmt(r['eps'])} "
            f"| {_fmt(r['greedy'])} |"
        )
    print(f"\nTotal {total:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
