"""Files written whole or not at all, never through a planted link; files read
within a bound, never from a device or a pipe.

Every writer of the course (checkpoints, videos, the walker's resume state) writes a
new temporary file beside its target and renames it into place: a reader sees the
old file or the new one, never half of one. The temporary file is created
exclusively under an unpredictable name, so a link planted in a shared folder is
never written through; the rename replaces a link at the target, it does not follow
it. A save that fails removes its temporary file; one killed outright leaves it, and
the next save of the same target removes it. A running save holds a lock on its
temporary file, so only the leftovers of dead saves are removed (no process ids, no
ages).

A reader checks what it opened before reading it: a regular file (a link to a device
or a pipe is refused, and opening a pipe does not wait for a writer) of at most the
bytes its caller allows.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers of killed saves stay there
    fcntl = None


def _leftover_name(path: Path) -> re.Pattern[str]:
    return re.compile(
        rf"\.{re.escape(path.stem)}\.[0-9a-f]{{16}}\.tmp{re.escape(path.suffix)}"
    )


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove the temporary files that killed saves of ``path`` left beside it
    (those no running save holds); links and other files are left alone.

    Returns:
        the files removed.
    """
    path, removed = Path(path), []
    pattern = _leftover_name(path)
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return removed
    for name in names if fcntl is not None else []:
        tmp = path.with_name(name)
        try:  # O_NOFOLLOW: a link is not ours; O_NONBLOCK: a pipe does not hang
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while a save runs
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def replacing(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Write ``path`` whole: yields a new, empty temporary file beside it (same
    suffix, so writers that go by the suffix still work) for the caller to fill;
    when the block ends without error it is synced to disk and renamed to ``path``.

    On any error (Ctrl-C included) the temporary file is removed and ``path`` is left
    as it was. The folder must exist.

    Raises:
        FileExistsError: ``path`` exists (a link counts) and ``overwrite`` is False;
            checked again just before the rename.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(
            f"{path} already exists and was left untouched. Fix: choose another "
            "path, or pass overwrite=True."
        )
    remove_leftovers(path)
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(8)}.tmp{path.suffix}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # O_EXCL: never an existing file or link
    try:
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield tmp
            os.fsync(fd)
        finally:
            os.close(fd)  # before the rename: Windows renames no open file
        if not overwrite and os.path.lexists(path):
            raise FileExistsError(
                f"{path} appeared while it was being written and was left untouched. "
                "Fix: choose another path, or pass overwrite=True."
            )
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_bounded(path: str | Path, limit: int, *, what: str, fix: str = "") -> bytes:
    """The bytes of the regular file at ``path``, which must hold at most ``limit``.

    Raises:
        ValueError: ``<path> is not <what>: expected a regular file of at most <limit>
            bytes, ... <fix>``: a special file before anything is read, a bigger one
            after ``limit + 1`` bytes.
        OSError: from opening it (``FileNotFoundError``, ``PermissionError``, ...).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a pipe: no wait
    try:
        data, regular = b"", stat.S_ISREG(os.fstat(fd).st_mode)
        if regular:
            with open(fd, "rb", closefd=False) as file:
                data = file.read(limit + 1)
    finally:
        os.close(fd)
    if not regular or len(data) > limit:
        found = "is not a regular file (a folder, a device, a pipe)"
        found = f"holds over {limit:,} bytes" if regular else found
        raise ValueError(
            f"{path} is not {what}: expected a regular file of at most {limit:,} "
            f"bytes, this one {found}. {fix}".rstrip()
        )
    return data
