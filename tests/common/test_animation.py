"""Episodes on screen: frames, mp4 files, embedded videos, filmstrips."""

import base64
import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v2 as imageio
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.common.animation import (
    _even,
    filmstrip,
    record_episode,
    save_video,
    show_video,
)
from course_utils.common.envs import make_env


def _frames(n=10, height=31, width=41):
    """n small odd-sized frames, each a different grey, so they are told apart."""
    return [np.full((height, width, 3), 20 * i, dtype=np.uint8) for i in range(n)]


def _is_mp4(data: bytes) -> bool:
    return len(data) > 100 and data[4:8] == b"ftyp"


@pytest.fixture
def mountaincar_rgb():
    env = make_env("MountainCar-v0", render_mode="rgb_array")
    yield env
    env.close()


def test_record_episode_stops_at_max_steps(mountaincar_rgb):
    frames = record_episode(mountaincar_rgb, lambda obs: 2, max_steps=5, seed=0)
    assert len(frames) == 6  # the reset frame plus one per step
    assert all(f.shape == (400, 600, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[-1])  # the car moved


def test_record_episode_stops_at_the_end_of_the_episode(mountaincar_rgb):
    frames = record_episode(mountaincar_rgb, lambda obs: 1, seed=0)
    assert len(frames) == 201  # MountainCar truncates after 200 steps


def test_record_episode_is_reproducible_with_a_seed(mountaincar_rgb):
    a = record_episode(mountaincar_rgb, lambda obs: 0, max_steps=3, seed=4)
    b = record_episode(mountaincar_rgb, lambda obs: 0, max_steps=3, seed=4)
    c = record_episode(mountaincar_rgb, lambda obs: 0, max_steps=3, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_record_episode_needs_rgb_array():
    env = make_env("MountainCar-v0")
    with pytest.raises(ValueError, match="render_mode='rgb_array'") as info:
        record_episode(env, lambda obs: 1, max_steps=2)
    env.close()
    assert "render_mode=None" in str(info.value)


def test_odd_sized_frames_are_padded_to_even():
    frame = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    (out,) = _even([frame])
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:5, :7], frame)  # the picture is untouched
    np.testing.assert_array_equal(out[5, :7], frame[4])  # edge rows repeat
    np.testing.assert_array_equal(out[:5, 7], frame[:, 6])
    even = np.zeros((4, 6, 3), dtype=np.uint8)
    assert _even([even])[0].shape == (4, 6, 3)


@pytest.mark.parametrize("bad", [np.zeros((4, 6)), np.zeros((4, 6, 4))])
def test_frames_must_be_rgb_images(tmp_path, bad):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        save_video([bad], tmp_path / "x.mp4")


def test_save_video_writes_a_readable_mp4(tmp_path):
    path = save_video(_frames(), tmp_path / "episode.mp4", fps=10)
    assert path == tmp_path / "episode.mp4"
    assert _is_mp4(path.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "episode.mp4"
    ]  # no temp files
    reader = imageio.get_reader(path, "ffmpeg")
    try:
        assert reader.get_meta_data()["fps"] == 10
        decoded = [frame for frame in reader]  # list() trips on len() == inf
    finally:
        reader.close()
    assert len(decoded) == 10
    assert decoded[0].shape == (32, 42, 3)  # 31 x 41 padded to even sizes
    assert decoded[9].mean() > decoded[0].mean() + 100  # grey 180 versus grey 0


def test_save_video_refuses_to_overwrite(tmp_path):
    path = tmp_path / "episode.mp4"
    path.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_video(_frames(), path)
    assert path.read_bytes() == b"keep me"
    save_video(_frames(), path, overwrite=True)
    assert _is_mp4(path.read_bytes())


def test_save_video_never_writes_through_a_planted_link(tmp_path):
    """A link at the temporary name an earlier version used (``.<stem>.tmp<pid>.mp4``,
    predictable in a shared folder) is neither followed nor left as the video."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / f".episode.tmp{os.getpid()}.mp4").symlink_to(victim)
    path = save_video(_frames(), tmp_path / "episode.mp4")
    assert victim.read_text() == "keep"
    assert not path.is_symlink() and _is_mp4(path.read_bytes())


def test_a_failed_video_save_leaves_no_temporary_file(tmp_path, monkeypatch):
    real_get_writer = imageio.get_writer

    def interrupted_writer(*args, **kwargs):
        writer = real_get_writer(*args, **kwargs)
        append = writer.append_data

        def append_then_stop(frame):
            append(frame)
            if frame.mean() >= 40:  # the third frame: Ctrl-C mid-way
                raise KeyboardInterrupt

        writer.append_data = append_then_stop
        return writer

    monkeypatch.setattr(imageio, "get_writer", interrupted_writer)
    with pytest.raises(KeyboardInterrupt):
        save_video(_frames(), tmp_path / "episode.mp4")
    assert list(tmp_path.iterdir()) == []


SLOW_SAVE = """
import sys, time
import imageio.v2 as imageio
import numpy as np
from course_utils.common.animation import save_video

real_get_writer = imageio.get_writer


def slow_writer(*args, **kwargs):
    writer = real_get_writer(*args, **kwargs)
    append = writer.append_data
    writer.append_data = lambda frame: (append(frame), time.sleep(0.1))
    return writer


imageio.get_writer = slow_writer
save_video([np.zeros((32, 32, 3), np.uint8)] * 600, sys.argv[1])
"""


def _kill_writers_of(folder) -> None:
    """Kill every process whose command line names ``folder`` and wait until none is
    left: imageio-ffmpeg starts ffmpeg in a process group of its own (so Ctrl-C
    spares it), and a surviving ffmpeg could still create its output after the next
    save has cleaned up."""
    mine = str(folder).encode()
    for _ in range(200):
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and mine in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
            except OSError:
                continue
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def test_a_killed_video_save_leaves_nothing_after_the_next_save(tmp_path):
    """kill -9 during a save leaves its temporary file (nothing can run then); the
    next save of the same video removes it."""
    path = tmp_path / "episode.mp4"
    # A session of its own, so the kill takes ffmpeg too (as a killed kernel's would):
    # an ffmpeg left running could still open its output after the next save.
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(path)], start_new_session=True
    )
    try:
        for _ in range(600):
            if any(".tmp" in p.name for p in tmp_path.iterdir()):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the saving process made no temporary file within 30 s")
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        _kill_writers_of(tmp_path)
    leftovers = [p for p in tmp_path.iterdir() if ".tmp" in p.name]
    assert leftovers and not path.exists()
    save_video(_frames(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["episode.mp4"]


def test_save_video_refuses_no_frames(tmp_path):
    with pytest.raises(ValueError, match="No frames"):
        save_video([], tmp_path / "x.mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_show_video_embeds_a_base64_mp4():
    html = show_video(_frames(n=6), fps=12, width=320)
    assert type(html).__name__ == "HTML"
    text = html.data
    assert text.startswith('<video width="320"')
    match = re.search(r'src="data:video/mp4;base64,([A-Za-z0-9+/=]+)"', text)
    assert match is not None
    assert _is_mp4(base64.b64decode(match.group(1)))


def test_show_video_refuses_no_frames():
    with pytest.raises(ValueError, match="No frames"):
        show_video([])


def test_filmstrip_picks_evenly_spaced_frames():
    before = plt.get_fignums()
    fig = filmstrip(_frames(n=10), n=4, title="MountainCar")
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    assert [ax.get_title() for ax in fig.axes] == [
        "step 0",
        "step 3",
        "step 6",
        "step 9",
    ]
    # Each panel shows its own frame (frame i is grey 20 * i).
    shown = [ax.get_images()[0].get_array()[0, 0, 0] for ax in fig.axes]
    assert shown == [0, 60, 120, 180]
    assert fig._suptitle.get_text() == "MountainCar"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_filmstrip_with_fewer_frames_than_panels():
    fig = filmstrip(_frames(n=2), n=6)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 1"]
    fig = filmstrip(_frames(n=1), n=6)
    assert [ax.get_title() for ax in fig.axes] == ["step 0"]


def test_filmstrip_refuses_no_frames():
    with pytest.raises(ValueError, match="No frames"):
        filmstrip([])


def test_record_episode_shows_a_bar_over_its_steps_when_asked(mountaincar_rgb, capsys):
    frames = record_episode(mountaincar_rgb, lambda obs: 2, max_steps=5, seed=0,
                            progress=True)  # fmt: skip
    assert len(frames) == 6
    assert "recording" in capsys.readouterr().err
