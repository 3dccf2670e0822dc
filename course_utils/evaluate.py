"""Evaluate a saved agent from the command line.

    python -m course_utils.evaluate data/checkpoints/mountaincar_dqn.pt --episodes 100

Prints ``mean ± std`` and one JSON line. The environment is built from the
checkpoint's metadata alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from course_utils.animation import record_episode, save_video
from course_utils.checkpoints import load_policy
from course_utils.envs import make_env
from course_utils.evaluation import evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.evaluate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("checkpoint", help="a .pt file written by the course's trainer")
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes")
    parser.add_argument(
        "--seed",
        type=int,
        default=10_000,
        help="episode i uses seed + i (pick seeds not used in training)",
    )
    parser.add_argument("--video", help="also record the first episode to this .mp4")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing video"
    )
    args = parser.parse_args(argv)

    if args.video and Path(args.video).exists() and not args.overwrite:
        print(
            f"error: {args.video} exists and was left untouched; pass --overwrite to "
            "replace it.",
            file=sys.stderr,
        )
        return 2
    try:
        policy, meta = load_policy(args.checkpoint, seed=args.seed)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    env = make_env(meta["env_id"], **meta["env_kwargs"])
    start = time.perf_counter()
    returns = evaluate(policy, env, n_episodes=args.episodes, seed=args.seed)
    seconds = time.perf_counter() - start
    print(
        f"{meta['env_id']}: {returns.mean():.2f} ± {returns.std():.2f} over "
        f"{args.episodes} episodes "
        f"(seeds {args.seed}..{args.seed + args.episodes - 1}), "
        f"{seconds:.1f} s"
    )
    print(
        json.dumps(
            {
                "checkpoint": args.checkpoint,
                "env_id": meta["env_id"],
                "mean": returns.mean(),
                "std": returns.std(),
                "min": returns.min(),
                "max": returns.max(),
                "episodes": args.episodes,
                "seed": args.seed,
                "returns": returns.tolist(),
            }
        )
    )
    if args.video:
        video_env = make_env(
            meta["env_id"], render_mode="rgb_array", **meta["env_kwargs"]
        )
        frames = record_episode(video_env, policy, seed=args.seed)
        save_video(frames, args.video, overwrite=args.overwrite)
        print(f"video: {args.video} ({len(frames)} frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
