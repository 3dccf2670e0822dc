"""Files written whole or not at all, never through a planted link."""

import fcntl
import os
import secrets

import pytest

from course_utils.common.files import read_bounded, remove_leftovers, replacing


def leftover(path, body=b"partial"):
    """A temporary file as a killed save of ``path`` leaves it."""
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(8)}.tmp{path.suffix}")
    tmp.write_bytes(body)
    return tmp


def test_a_file_is_written_whole(tmp_path):
    path = tmp_path / "agent.pt"
    with replacing(path) as tmp:
        assert (
            tmp.parent == tmp_path and tmp.suffix == ".pt" and tmp.stat().st_size == 0
        )
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["agent.pt"]


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    path = tmp_path / "agent.pt"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with replacing(path) as tmp:
            tmp.write_bytes(b"new")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["agent.pt"]
    with replacing(path, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new"


def test_a_file_that_appears_during_the_write_is_kept(tmp_path):
    path = tmp_path / "agent.pt"
    with pytest.raises(FileExistsError, match="appeared"):
        with replacing(path) as tmp:
            tmp.write_bytes(b"new")
            path.write_bytes(b"another process's")
    assert path.read_bytes() == b"another process's"
    assert os.listdir(tmp_path) == ["agent.pt"]


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, error):
    path = tmp_path / "agent.pt"
    path.write_bytes(b"old")
    with pytest.raises(error):
        with replacing(path, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise error
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["agent.pt"]


def test_a_link_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    path = tmp_path / "agent.pt"
    path.symlink_to(victim)
    with pytest.raises(FileExistsError):  # a link is a file in the way
        with replacing(path) as tmp:
            tmp.write_bytes(b"new")
    with replacing(path, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert victim.read_text() == "keep"
    assert not path.is_symlink() and path.read_bytes() == b"new"


def test_temporary_names_are_new_each_time(tmp_path):
    names = set()
    for _ in range(20):
        with replacing(tmp_path / "a.pt", overwrite=True) as tmp:
            names.add(tmp.name)
    assert len(names) == 20


def test_leftovers_of_killed_saves_are_removed_by_the_next_save(tmp_path):
    path = tmp_path / "agent.pt"
    dead = leftover(path)
    running = leftover(path)  # a save under way holds a lock on its file
    other = leftover(tmp_path / "other.pt")  # another target's: not ours
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    link = path.with_name(f".agent.{'0' * 16}.tmp.pt")
    link.symlink_to(victim)  # a link: never one of ours, never followed
    pipe = path.with_name(f".agent.{'1' * 16}.tmp.pt")
    os.mkfifo(pipe)  # opening it must not hang
    fd = os.open(running, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with replacing(path) as tmp:
            tmp.write_bytes(b"new")
    finally:
        os.close(fd)
    names = set(os.listdir(tmp_path))
    assert dead.name not in names and pipe.name not in names
    assert {running.name, other.name, link.name, "agent.pt"} <= names
    assert victim.read_text() == "keep"
    assert remove_leftovers(path) == [running]  # its save has ended


def test_read_bounded_reads_a_regular_file_within_its_bound(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"12345")
    assert read_bounded(path, 5, what="a test file") == b"12345"
    with pytest.raises(ValueError, match=r"a test file.*at most 4 bytes.*over 4.*Fix"):
        read_bounded(path, 4, what="a test file", fix="Fix: cut it.")
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 5, what="a test file")


@pytest.mark.parametrize("kind", ["folder", "dev-zero", "pipe"])
def test_read_bounded_refuses_special_files_without_reading(tmp_path, kind):
    path = tmp_path / "special"
    if kind == "folder":
        path.mkdir()
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        os.mkfifo(path)  # no writer: reading it would wait forever
    with pytest.raises(ValueError, match="not a regular file"):
        read_bounded(path, 10**9, what="a test file")
