"""Evaluate a saved agent from the command line.

    python -m course_utils.evaluate data/checkpoints/mountaincar_dqn.pt

Prints ``mean ± std`` and one JSON line. The environment is built from the
checkpoint's metadata alone (only the course's known environments are accepted).
By default it replays the checkpoint's recorded test: the same number of episodes
on the same seeds (``evaluation.seeds`` in the metadata; ``TEST_SEED``+ when it does
not say), so the printed score is the one in the metadata.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from course_utils.agents.selective_memory.resume import FreshWorldEachReset
from course_utils.common.animation import record_episode, save_video
from course_utils.common.checkpoints import load_policy
from course_utils.common.envs import make_env
from course_utils.common.evaluation import evaluate, score_summary
from course_utils.presets import TEST_SEED, check_env_spec


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
    """The first seed of the metadata's test (``evaluation.seeds``, "a..b"), or
    ``TEST_SEED`` when it is missing or not of that form."""
    first = str(meta.get("evaluation", {}).get("seeds", "")).split("..")[0]
    return int(first) if first.isdigit() else TEST_SEED


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
    if args.episodes is not None and args.episodes < 1:
        problems.append(f"--episodes must be at least 1, got {args.episodes}.")
    if args.seed is not None and args.seed < 0:
        problems.append(f"--seed must be a non-negative integer, got {args.seed}.")
    for problem in problems:
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
    try:
        seed = TEST_SEED if args.seed is None else args.seed
        policy, meta = load_policy(args.checkpoint, seed=seed)
        if args.seed is None:  # replay the recorded test: its seeds, its ε draws
            args.seed = recorded_test_seed(meta)
            if args.seed != seed:
                policy, meta = load_policy(args.checkpoint, seed=args.seed)
        env_id, env_kwargs = check_env_spec(meta["env_id"], meta["env_kwargs"])
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    episodes = args.episodes or int(meta["evaluation"].get("episodes", 10))
    env = make_env(env_id, **env_kwargs)
    if meta.get("fresh_world_each_episode"):  # the test was played that way
        env = FreshWorldEachReset(env)
    start = time.perf_counter()
    returns = evaluate(policy, env, n_episodes=episodes, seed=args.seed)
    seconds = time.perf_counter() - start
    print(
        f"{env_id}: {returns.mean():.2f} ± {returns.std():.2f} over {episodes} "
        f"episodes (seeds {args.seed}..{args.seed + episodes - 1}), {seconds:.1f} s"
    )
    summary = score_summary(returns, seed=args.seed)
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "env_id": env_id,
                "seed": args.seed,
                **summary,
            }
        )
    )
    if args.video:
        video_env = make_env(env_id, render_mode="rgb_array", **env_kwargs)
        frames = record_episode(video_env, policy, seed=args.seed)
        save_video(frames, args.video, overwrite=args.overwrite)
        print(f"video: {args.video} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
