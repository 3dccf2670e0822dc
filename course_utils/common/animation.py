"""Watch episodes: record frames, embed them as a small mp4, or as a PNG filmstrip."""

from __future__ import annotations

import base64
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from matplotlib.figure import Figure

from course_utils.common.files import replacing
from course_utils.common.plotting import new_figure
from course_utils.common.progress import progress_bar


def record_episode(
    env: gym.Env,
    policy: Callable[[Any], Any],
    *,
    max_steps: int = 10_000,
    seed: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Play one episode with ``policy`` and return its frames, ``(H, W, 3) uint8`` each.

    The env must have been made with ``render_mode="rgb_array"``. ``progress``: a bar
    over the steps (out of ``max_steps``), for an episode that takes a while to render.

    Taught in: 02_rl_concepts.ipynb
    """
    if env.render_mode != "rgb_array":
        raise ValueError(
            "record_episode needs an env made with render_mode='rgb_array', this one "
            f"has render_mode={env.render_mode!r}. "
            "Fix: make_env(env_id, render_mode='rgb_array')."
        )
    obs, _ = env.reset(seed=seed)
    frames = [env.render()]
    steps = progress_bar(
        range(max_steps), enabled=progress, desc="recording", unit="step"
    )
    for _ in steps:
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        frames.append(env.render())
        if terminated or truncated:
            break
    steps.close()
    return frames


def _even(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Pad frames to even height and width (H.264 needs it)."""
    out = []
    for frame in frames:
        frame = np.asarray(frame, dtype=np.uint8)
        if frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(
                f"Frames must be (H, W, 3) uint8 images, got shape {frame.shape}."
            )
        pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
        if pad_h or pad_w:
            frame = np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        out.append(frame)
    return out


def save_video(
    frames: Sequence[np.ndarray],
    path: str | Path,
    *,
    fps: int = 30,
    overwrite: bool = False,
) -> Path:
    """Write frames to an mp4 file (imageio-ffmpeg ships its own ffmpeg), whole or
    not at all (``course_utils.common.files.replacing``: a new temporary file,
    removed if the save fails, renamed into place when it succeeds)."""
    import imageio.v2 as imageio

    path = Path(path)
    if not frames:
        raise ValueError("No frames to write: record an episode first.")
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    frames = _even(frames)
    with (
        replacing(path, overwrite=overwrite) as tmp,
        imageio.get_writer(
            tmp,
            fps=fps,
            codec="libx264",
            macro_block_size=2,
            ffmpeg_log_level="error",
            quality=6,
        ) as writer,
    ):
        for frame in frames:
            writer.append_data(frame)
    return path


def show_video(frames: Sequence[np.ndarray], fps: int = 30, width: int = 400):
    """Embed frames in the notebook as a small mp4 ``<video>`` (about 50 KB for one
    MountainCar episode). Returns an ``IPython.display.HTML`` object.

    Taught in: 02_rl_concepts.ipynb
    """
    from IPython.display import HTML

    with tempfile.TemporaryDirectory() as tmp:
        path = save_video(frames, Path(tmp) / "episode.mp4", fps=fps)
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    return HTML(
        f'<video width="{width}" controls loop autoplay muted playsinline>'
        f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
    )


def filmstrip(
    frames: Sequence[np.ndarray], n: int = 6, *, title: str | None = None
) -> Figure:
    """``n`` evenly spaced frames side by side: a PNG that shows in static viewers too.

    Taught in: 02_rl_concepts.ipynb
    """
    if not frames:
        raise ValueError("No frames to show: record an episode first.")
    n = max(1, min(n, len(frames)))
    picks = np.linspace(0, len(frames) - 1, n).round().astype(int)
    height, width = np.asarray(frames[0]).shape[:2]
    fig = new_figure((2.2 * n, 2.2 * height / width + 0.4))
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, i in zip(axes, picks, strict=True):
        ax.imshow(frames[i])
        ax.set_title(f"step {i}", fontsize=9)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
