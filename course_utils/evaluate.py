"""Evaluate a saved agent from the command line.

    python -m course_utils.evaluate data/checkpoints/mountaincar_dqn.pt

Prints ``mean ± std`` and one JSON line. The environment is built from the
checkpoint's metadata alone (only the course's known environments are accepted), and
the network must fit it (observation size, actions) before an episode is played.
By default it replays the checkpoint's recorded test: the same number of episodes
on the same seeds (``evaluation.seeds`` in the metadata; ``TEST_SEED``+ when it does
not say), so the printed score is the one in the metadata. A recorded test on seeds
below ``TEST_SEED`` (where training and model selection play) is replayed only when
``--seed`` asks for those seeds explicitly.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.animation import record_episode, save_video
from course_utils.common.checkpoints import load_policy
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate, score_summary
from course_utils.presets import TEST_SEED, check_env_spec

MAX_EPISODES = 10_000  # a recorded test or --episodes; the course's tests use 100
MAX_SEED = 2**31 - 1  # the trainer's --test-seed stays below it too


def _video_problem(video: str | None, overwrite: bool) -> str | None:
    if not video:
        return None
    path = Path(video)
    if path.suffix.lower() != ".mp4":
        return (
            f"--video writes MP4 data: give a file name ending in .mp4, not {video!r}."
        )
    if not path.parent.is_dir():
        return f"--video: the folder {path.parent} does not exist; create it first."
    if path.exists() and not overwrite:
        return f"{video} exists and was left untouched; pass --overwrite to replace it."
    return None


def recorded_test_seed(meta: dict) -> int:
    """The first seed of the metadata's test (``evaluation.seeds``: "a..b" as the
    trainer writes it, or a list of seeds), or ``TEST_SEED`` when it is missing or of
    another form."""
    seeds = meta.get("evaluation", {}).get("seeds", "")
    first = seeds[0] if isinstance(seeds, list) and seeds else str(seeds).split("..")[0]
    return int(first) if str(first).isdigit() else TEST_SEED


def _test_plan(args: argparse.Namespace, meta: dict) -> tuple[int, int]:
    """``(episodes, first seed)`` to play, or a ``ValueError`` saying why not."""
    episodes = args.episodes
    if episodes is None:
        episodes = meta["evaluation"]["episodes"]
        if type(episodes) is not int or not 1 <= episodes <= MAX_EPISODES:
            raise ValueError(
                f"the checkpoint records a test of {episodes!r:.40} episodes; expected "
                f"a whole number from 1 to {MAX_EPISODES:,}. Fix: pass --episodes N."
            )
    seed = recorded_test_seed(meta) if args.seed is None else args.seed
    if args.seed is None and seed < TEST_SEED:
        raise ValueError(
            f"the checkpoint's recorded test played seeds {meta['evaluation']['seeds']}"
            f", below the test range ({TEST_SEED}+) where training and model "
            "selection play: its score is not a test. Fix: pass --seed "
            f"{TEST_SEED} (unseen episodes), or --seed {seed} to replay it anyway."
        )
    if seed + episodes - 1 > MAX_SEED:
        raise ValueError(
            f"seeds {seed}..{seed + episodes - 1} go past {MAX_SEED}. Fix: a smaller "
            "--seed."
        )
    return episodes, seed


def _check_fits(meta: dict[str, Any], env: gym.Env, env_id: str) -> None:
    """Refuse a network whose inputs or outputs do not fit ``env``'s spaces."""
    kwargs = meta["network"]["kwargs"]
    obs_size = math.prod(env.observation_space.shape or (-1,))
    space = env.action_space
    if meta["policy"]["kind"] == "q":
        wanted, outputs = "a discrete action space of", kwargs["n_actions"]
        fits = isinstance(space, gym.spaces.Discrete) and space.n == outputs
    else:
        wanted, outputs = "a continuous action space of", kwargs["act_dim"]
        fits = isinstance(space, gym.spaces.Box) and math.prod(space.shape) == outputs
    if obs_size != kwargs["obs_dim"] or not fits:
        raise ValueError(
            f"the network in the checkpoint does not fit {env_id}: it reads "
            f"observations of {kwargs['obs_dim']} numbers and needs {wanted} "
            f"{outputs} actions; {env_id} gives observations of shape "
            f"{env.observation_space.shape} and the action space {space}. Fix: the "
            "metadata's env_id or env_kwargs were edited, or the file belongs to "
            "another environment; use the checkpoint as the trainer wrote it."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("checkpoint", help="a .pt file written by the course's trainer")
    parser.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="evaluation episodes (default: as many as the recorded test)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="episode i uses seed + i (default: the first seed of the recorded test, "
        f"{TEST_SEED} when the metadata does not say)",
    )
    parser.add_argument("--video", help="also record the first episode to this .mp4")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing video"
    )
    args = parser.parse_args(argv)

    problems = [_video_problem(args.video, args.overwrite)]
    if args.episodes is not None and not 1 <= args.episodes <= MAX_EPISODES:
        problems.append(
            f"--episodes must be at least 1 and at most {MAX_EPISODES:,}, got "
            f"{args.episodes}."
        )
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        problems.append(
            f"--seed must be a non-negative integer up to {MAX_SEED}, got {args.seed}."
        )
    for problem in problems:
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    try:
        policy, meta = load_policy(args.checkpoint, seed=TEST_SEED)
        env_id, env_kwargs = check_env_spec(meta["env_id"], meta["env_kwargs"])
        episodes, seed = _test_plan(args, meta)
        if seed != TEST_SEED:  # the policy's ε draws are seeded like the test's
            policy, meta = load_policy(args.checkpoint, seed=seed)
        env = make_env(env_id, **env_kwargs)
        _check_fits(meta, env, env_id)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if meta.get("fresh_world_each_episode"):  # the test was played that way
        env = FreshWorldEachReset(env)
    start = time.perf_counter()
    returns = evaluate(policy, env, n_episodes=episodes, seed=seed)
    seconds = time.perf_counter() - start
    print(
        f"{env_id}: {returns.mean():.2f} ± {returns.std():.2f} over {episodes} "
        f"episodes (seeds {seed}..{seed + episodes - 1}), {seconds:.1f} s"
    )
    summary = score_summary(returns, seed=seed)
    print(
        json.dumps(
            {"checkpoint": args.checkpoint, "env_id": env_id, "seed": seed, **summary}
        )
    )
    if args.video:
        video_env = make_env(env_id, render_mode="rgb_array", **env_kwargs)
        frames = record_episode(video_env, policy, seed=seed)
        save_video(frames, args.video, overwrite=args.overwrite)
        print(f"video: {args.video} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
