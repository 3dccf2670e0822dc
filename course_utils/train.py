"""Train the course's agents and write checkpoints with full metadata.

    python -m course_utils.train mountaincar [--seed S] [--steps N] [--out PATH]
    python -m course_utils.train spaceinvaders [--seed S] [--steps N] [--out PATH]
    python -m course_utils.train bipedalwalker [--seed S] [--episodes N] [--out PATH]

Training uses seed S; model selection evaluates on seeds 10_000+; the final score
written to the metadata comes from ``--test-episodes`` episodes on seeds 1_000_000+,
which neither training nor selection ever saw.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from course_utils.checkpoints import package_versions, save_checkpoint
from course_utils.dqn import DQNConfig, train_dqn
from course_utils.envs import make_env
from course_utils.evaluation import evaluate
from course_utils.policies import ActorPolicy, QPolicy
from course_utils.seeding import set_seed
from course_utils.selective_memory import SMConfig, train_selective_memory

TEST_SEED = 1_000_000

# name: (env_id, env_kwargs, config, eval_epsilon for the saved policy, default output)
PRESETS: dict[str, tuple[str, dict, DQNConfig, float, str]] = {
    "mountaincar": (
        "MountainCar-v0",
        {},
        DQNConfig(
            total_steps=150_000,
            lr=4e-3,
            batch_size=128,
            buffer_size=10_000,
            learning_starts=1_000,
            gamma=0.98,
            n_step=3,  # 3-step returns: the hill-top reward travels back 3x sooner
            train_freq=16,
            gradient_steps=8,
            target_update_interval=600,
            tau=1.0,
            epsilon_start=0.2,
            epsilon_end=0.07,
            exploration_fraction=0.2,
            repeat_mu=2.0,  # εz-greedy: a random action is held for Zipf(2) steps
            hidden=(256, 256),
            double=True,
            dueling=False,
            loss="huber",
            max_grad_norm=10.0,
            normalize_obs=True,
            eval_every=5_000,
            eval_episodes=20,
            eval_seed=10_000,
            solved_at=-110.0,
        ),
        0.0,
        "data/checkpoints/mountaincar_dqn.pt",
    ),
    # Space Invaders from the 128 RAM bytes (notebook 04). Atari habits: clipped
    # rewards, a lost life stored as terminal, evaluation with ε = 0.05. Test it
    # with --test-episodes 30 (see the Makefile's checkpoints target).
    "spaceinvaders": (
        "ALE/SpaceInvaders-v5",
        {"obs_type": "ram"},
        DQNConfig(
            total_steps=3_000_000,
            lr=2.5e-4,
            batch_size=64,
            buffer_size=200_000,
            learning_starts=10_000,
            gamma=0.99,
            n_step=3,  # 3-step returns: rewards reach the Q-values 3x sooner
            train_freq=4,
            target_update_interval=2_000,
            tau=1.0,
            epsilon_end=0.01,
            exploration_fraction=0.05,
            hidden=(256, 256),
            double=True,
            loss="huber",
            normalize_obs=True,
            clip_reward=True,
            terminal_on_life_loss=True,
            eval_every=100_000,
            eval_episodes=20,
            eval_epsilon=0.05,
        ),
        0.05,
        "data/checkpoints/spaceinvaders_ram_dqn.pt",
    ),
}


# Selective Memory (notebook 05): FitML's method with the improvements our
# measurements kept (see the notebook's "Improvements" section).
SM_PRESETS: dict[str, tuple[str, SMConfig, str]] = {
    "bipedalwalker": (
        "BipedalWalker-v3",
        SMConfig(
            episodes=4_000,
            random_prob=0.0,  # ours: no uniform random actions; instead ...
            n_candidates=16,  # ... the critic picks the best of 16 candidates ...
            candidate_noise=0.3,  # ... drawn around the actor's action (ours) ...
            critic_on_all=True,  # ... fitted on every recent step (ours) ...
            value_memory_size=100_000,  # ... of the last 100 000
            noise=0.1,  # ours: then a little Gaussian noise on the chosen action
            gamma=0.99,  # ours: a ~100-step horizon (published: 0.95)
            scale_by_std=True,  # ours: keep rule on (R - avg) / std
            advantage=True,  # ours: keep rule on R - V(s)
            eval_every=50,  # ours: keep the best actor of periodic evaluations
            eval_episodes=5,
        ),
        "data/checkpoints/bipedalwalker_selective_memory.pt",
    ),
}


def dqn_preset(name: str) -> tuple[str, dict, DQNConfig, float, str]:
    """The settings the shipped agent ``name`` was trained with."""
    if name not in PRESETS:
        raise ValueError(f"Unknown agent {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]


def refuses_overwrite(out: Path, overwrite: bool) -> bool:
    """True (after saying why) when ``out`` exists and ``--overwrite`` was not given:
    checked before training, so an hour of training is never lost to a refusal."""
    if out.exists() and not overwrite:
        print(
            f"error: {out} exists and was left untouched; pass --overwrite to replace "
            "it or --out to write elsewhere.",
            file=sys.stderr,
        )
        return True
    return False


def run_dqn(args: argparse.Namespace) -> int:
    env_id, env_kwargs, cfg, eval_epsilon, default_out = dqn_preset(args.agent)
    out = Path(args.out or default_out)
    if refuses_overwrite(out, args.overwrite):
        return 2
    if args.steps is not None:
        cfg = replace(cfg, total_steps=args.steps)
    if args.max_minutes is not None:
        cfg = replace(cfg, max_seconds=60.0 * args.max_minutes)
    torch.set_num_threads(1)  # small networks train faster on one thread
    rng = set_seed(args.seed)
    env = make_env(env_id, **env_kwargs)
    eval_env = make_env(env_id, **env_kwargs)
    print(
        f"Training DQN on {env_id} {env_kwargs or ''} for {cfg.total_steps} steps, "
        f"seed {args.seed}",
        flush=True,
    )
    result = train_dqn(
        env,
        cfg,
        rng=rng,
        seed=args.seed,
        eval_env=eval_env,
        progress=not args.quiet,
        on_eval=lambda s, m: print(f"step {s}: eval {m:.1f}", flush=True),
    )
    print(
        f"Trained in {result.wall_time_s:.0f} s; testing on {args.test_episodes} "
        f"episodes (seeds {TEST_SEED}+)",
        flush=True,
    )
    policy = QPolicy(result.q_net, epsilon=eval_epsilon, rng=set_seed(TEST_SEED))
    start = time.perf_counter()
    scores = evaluate(
        policy,
        make_env(env_id, **env_kwargs),
        n_episodes=args.test_episodes,
        seed=TEST_SEED,
    )
    metadata = {
        "agent": args.agent,
        "algorithm": "DQN"
        + (" (double)" if cfg.double else "")
        + (" (dueling)" if cfg.dueling else ""),
        "env_id": env_id,
        "env_kwargs": env_kwargs,
        "policy": {"kind": "q", "eval_epsilon": eval_epsilon},
        "train_command": "python -m course_utils.train " + shlex.join(sys.argv[1:]),
        "seed": args.seed,
        "train_steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 1),
        "first_solved": result.first_solved,
        "config": cfg.to_dict(),
        "evaluation": {
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            "min": float(scores.min()),
            "max": float(scores.max()),
            "episodes": args.test_episodes,
            "seeds": f"{TEST_SEED}..{TEST_SEED + args.test_episodes - 1}",
            "epsilon": eval_epsilon,
            "seconds": round(time.perf_counter() - start, 1),
        },
        "history": {
            "episode_returns": [round(r, 2) for r in result.episode_returns],
            "episode_end_steps": result.episode_end_steps,
            "evals": [[s, round(m, 2), round(sd, 2)] for s, m, sd in result.evals],
        },
        "versions": package_versions(),
    }
    save_checkpoint(out, result.q_net, metadata=metadata, overwrite=args.overwrite)
    print(
        f"Test score {scores.mean():.2f} ± {scores.std():.2f} over "
        f"{args.test_episodes} episodes. Wrote {out} and {out}.json"
    )
    return 0


def run_selective_memory(args: argparse.Namespace) -> int:
    env_id, cfg, default_out = SM_PRESETS[args.agent]
    out = Path(args.out or default_out)
    if refuses_overwrite(out, args.overwrite):
        return 2
    if args.episodes is not None:
        cfg = replace(cfg, episodes=args.episodes)
    if args.max_minutes is not None:
        cfg = replace(cfg, max_seconds=60.0 * args.max_minutes)
    torch.set_num_threads(1)  # small networks train faster on one thread
    rng = set_seed(args.seed)
    env = make_env(env_id)
    print(
        f"Training Selective Memory on {env_id} for {cfg.episodes} episodes, "
        f"seed {args.seed}",
        flush=True,
    )

    def on_fit(game: int, returns: list[float]) -> None:
        if game % 50 == 0:
            recent = sum(returns[-50:]) / len(returns[-50:])
            print(f"episode {game}: mean of last 50 returns {recent:.1f}", flush=True)

    result = train_selective_memory(
        env,
        cfg,
        rng=rng,
        seed=args.seed,
        progress=not args.quiet,
        on_fit=on_fit,
        eval_env=make_env(env_id),
    )
    # Model selection (ours): the best actor of the periodic evaluations on seeds
    # 10_000+, if any; the test below uses seeds neither training nor selection saw.
    actor = result.best_actor if result.best_actor is not None else result.actor
    print(
        f"Trained {len(result.episode_returns)} episodes ({result.steps} steps) in "
        f"{result.wall_time_s:.0f} s; testing on {args.test_episodes} episodes "
        f"(seeds {TEST_SEED}+)",
        flush=True,
    )
    start = time.perf_counter()
    scores = evaluate(
        ActorPolicy(actor),
        make_env(env_id),
        n_episodes=args.test_episodes,
        seed=TEST_SEED,
    )
    metadata = {
        "agent": args.agent,
        "algorithm": "Selective Memory (FitML) with our improvements",
        "env_id": env_id,
        "env_kwargs": {},
        "policy": {"kind": "actor", "eval_epsilon": 0.0},
        "train_command": "python -m course_utils.train " + shlex.join(sys.argv[1:]),
        "seed": args.seed,
        "train_episodes": len(result.episode_returns),
        "train_steps": result.steps,
        "wall_time_s": round(result.wall_time_s, 1),
        "config": cfg.to_dict(),
        "selected": "best periodic evaluation"
        if result.best_actor is not None
        else "last actor",
        "evaluation": {
            "mean": float(scores.mean()),
            "std": float(scores.std()),
            "min": float(scores.min()),
            "max": float(scores.max()),
            "episodes": args.test_episodes,
            "seeds": f"{TEST_SEED}..{TEST_SEED + args.test_episodes - 1}",
            "returns": [round(float(r), 2) for r in scores],
            "seconds": round(time.perf_counter() - start, 1),
        },
        "history": {
            "episode_returns": [round(r, 2) for r in result.episode_returns],
            "episode_steps": result.episode_steps,
            "evals": [[g, round(m, 2)] for g, m in result.evals],
        },
        "versions": package_versions(),
    }
    save_checkpoint(out, actor, metadata=metadata, overwrite=args.overwrite)
    print(
        f"Test score {scores.mean():.2f} ± {scores.std():.2f} over "
        f"{args.test_episodes} episodes. Wrote {out} and {out}.json"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.train", description=__doc__.splitlines()[0]
    )
    parser.add_argument("agent", choices=sorted([*PRESETS, *SM_PRESETS]))
    parser.add_argument("--seed", type=int, default=0, help="training seed")
    parser.add_argument("--steps", type=int, help="environment steps (default: preset)")
    parser.add_argument("--episodes", type=int, help="bipedalwalker: training episodes")
    parser.add_argument(
        "--max-minutes", type=float, help="stop training after this many minutes"
    )
    parser.add_argument("--out", help="checkpoint path (default: the shipped one)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing checkpoint"
    )
    parser.add_argument(
        "--test-episodes",
        type=int,
        default=None,
        help="final evaluation episodes on unseen seeds (default 100; 20 for "
        "bipedalwalker)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.agent in SM_PRESETS:
        if args.test_episodes is None:
            args.test_episodes = 20
        return run_selective_memory(args)
    if args.test_episodes is None:
        args.test_episodes = 100
    return run_dqn(args)


if __name__ == "__main__":
    raise SystemExit(main())
