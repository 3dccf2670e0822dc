#!/usr/bin/env python3
"""The README's pictures of the trained agents, made by the course's own code.

For every shipped agent in ``data/checkpoints/`` this script loads the checkpoint with
``course_utils.common.checkpoints.load_policy``, plays the first episode of its recorded
test (the metadata's first test seed, the same exploration draws) with
``course_utils.common.animation.record_episode``, and writes a small looping GIF to
``docs/media/<agent>.gif``: every ``stride``-th frame, scaled down, at most
``max_steps`` steps. It prints each file's size and the episode's return; every file
stays well under 1 MB (a README test checks it).

Usage: ``.venv/bin/python tools/readme_media.py [--only mountaincar] [--out DIR]``
(about a minute on 2 cores). Run it again after ``make checkpoints``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image

from course_utils.common.animation import record_episode
from course_utils.common.checkpoints import load_policy
from course_utils.common.data import shipped_checkpoint
from course_utils.common.envs import make_env
from course_utils.presets import check_env_spec

REPO = Path(__file__).resolve().parent.parent
LIMIT = 1_000_000  # bytes: a README picture must stay well under this


@dataclass(frozen=True)
class Clip:
    """How one agent's episode becomes a GIF."""

    checkpoint: str  # file name in data/checkpoints/
    width: int  # pixels of the GIF
    stride: int  # keep every stride-th frame
    max_steps: int  # at most this many steps of the episode
    fps: int  # frames per second of the GIF


CLIPS = {
    "mountaincar": Clip(
        "mountaincar_dqn.pt", width=240, stride=2, max_steps=200, fps=15
    ),
    "spaceinvaders": Clip("spaceinvaders_ram_dqn.pt", 160, 3, max_steps=900, fps=15),
    "snake": Clip("snake_dqn.pt", width=160, stride=1, max_steps=300, fps=12),
    "bipedalwalker": Clip("bipedalwalker_selective_memory.pt", 240, 8, 1600, fps=15),
}


class ReturnCounter(gym.Wrapper):
    """Adds up the rewards of the episode being played."""

    def reset(self, **kwargs):
        self.episode_return, self.steps = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        self.steps += 1
        return obs, reward, terminated, truncated, info


def first_test_seed(meta: dict) -> int:
    """The first seed of the checkpoint's recorded test (``evaluation.seeds``)."""
    return int(str(meta["evaluation"]["seeds"]).split("..")[0])


def episode_frames(clip: Clip) -> tuple[list[np.ndarray], float, int]:
    """The first test episode's frames, its return and its length in steps."""
    path = shipped_checkpoint(clip.checkpoint)
    _, meta = load_policy(path)
    seed = first_test_seed(meta)
    policy, meta = load_policy(path, seed=seed)  # the test's exploration draws
    env_id, env_kwargs = check_env_spec(meta["env_id"], meta["env_kwargs"])
    env = ReturnCounter(make_env(env_id, render_mode="rgb_array", **env_kwargs))
    frames = record_episode(env, policy, max_steps=clip.max_steps, seed=seed)
    env.close()
    return frames, env.episode_return, env.steps


def write_gif(frames: list[np.ndarray], clip: Clip, path: Path) -> int:
    """Write the kept frames, scaled to ``clip.width``, as a looping GIF; its bytes."""
    kept = frames[:: clip.stride] + (
        [frames[-1]] if (len(frames) - 1) % clip.stride else []
    )
    height, width = kept[0].shape[:2]
    size = (clip.width, round(clip.width * height / width))
    images = [Image.fromarray(f).resize(size, Image.Resampling.BOX) for f in kept]
    palette = images[len(images) // 2].quantize(
        colors=64, method=Image.Quantize.MEDIANCUT
    )
    images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        path,
        save_all=True,
        append_images=images[1:],
        duration=round(1000 / clip.fps),
        loop=0,
        optimize=True,
    )
    return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(CLIPS), action="append")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "media")
    args = parser.parse_args(argv)
    too_big = []
    for name in args.only or CLIPS:
        clip = CLIPS[name]
        start = time.perf_counter()
        frames, episode_return, steps = episode_frames(clip)
        path = args.out / f"{name}.gif"
        size = write_gif(frames, clip, path)
        print(
            f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
            f"{size / 1000:.0f} kB, {steps} steps shown, return {episode_return:.1f}, "
            f"{time.perf_counter() - start:.0f} s"
        )
        too_big += [path] if size >= LIMIT else []
    if too_big:
        print(f"error: over {LIMIT} bytes: {too_big}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
