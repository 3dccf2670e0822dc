"""Running a study: its runs through joblib, on local processes or on a Dask cluster.

Every study script of ``benchmarks/`` describes its variants (:class:`Variant`), its
budget and one function that makes one run, ``run(job) -> record``; this module does
the rest. A study is a folder (``course_utils.lessons.studies`` reads it)::

    <study>/study.json                 the budget every run shares, the protocol, notes
    <study>/<variant>/seed-<k>.json    one finished run

- **One file per run.** A run's file is written when the run has finished, by the
  process that started the study, as strict JSON (NaN and infinities become null and
  the file lists where), to an exclusively created temporary file in the same folder
  that is then renamed over the name (``os.replace``): a reader sees the whole file or
  none. A run whose file exists is neither run nor written again (two processes that
  finish the same run at the same instant both write a whole file, and the last one
  stays). So resuming is running what has no file, several processes or machines can
  add to one study without losing each other's runs, and merging parts is reading the
  folder. A killed write leaves a
  ``.seed-<k>.json.<host>.<pid>.*.tmp`` file that the next run of the study removes.
- **One budget per study.** ``study.json`` is created once with the budget; a run of
  another budget is refused with the reason, and so is a study of another budget in
  the same folder (a 300-step smoke test never enters a 150 000-step study).
- **Checked before any training**: the folder can be created and written to, the
  budget matches, every stored file reads; a bad file is named in the error.
- **The engine.** The runs go through ``joblib`` (``batch_size=1``, results handed
  back as they finish): local processes by default (``--jobs N``), or with
  ``--scheduler tcp://HOST:8786`` the workers of a Dask cluster, through joblib's
  built-in ``"dask"`` backend. Dask rather than Ray, measured on the course's 2-core
  machine (Python 3.11, joblib 1.6.0): Dask's ``distributed`` 2026.8.0 is pure-Python
  wheels (46 MB installed with its dependencies against Ray 2.60.0's 262 MB), its
  ``LocalCluster`` of two worker processes started in 0.7 to 1.6 s and stopped in 0.2
  to 0.5 s (Ray's ``ray.init(num_cpus=2)``: 3.9 to 4.9 s and 1.4 to 2.1 s), eight
  0.2 s tasks took 0.87 to 0.92 s on it (Ray 1.06 to 1.15 s), and the whole cluster
  peaked at 0.37 GB of memory (Ray's 1.0 GB). Both would do the job; Dask's cluster
  is light enough for a laptop and for a unit test, and joblib supports it natively.

On a cluster (every machine with the course installed, ``pip install -e ".[studies]"``,
the same package versions)::

    dask scheduler                                          # on one machine
    dask worker tcp://HOST:8786 --nthreads 1 --nworkers 2   # on each: one run a process
    python benchmarks/mountaincar_seeds.py --scheduler tcp://HOST:8786 --out ...

The workers need no copy of ``benchmarks/``: the study script's run function travels
with each task and this module (with the script's sibling modules) is uploaded to the
workers. Runs are written by the process that started the study, on its own disk.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

import joblib
import numpy as np

from course_utils.lessons.studies import (
    STUDY_FILE,
    check_name,
    compare,
    read_study,
    read_study_header,
    run_file,
    same_json,
)

BENCHMARKS = Path(__file__).resolve().parent
RUNS = BENCHMARKS.parent / "runs" / "studies"  # default outputs; runs/ is not in git
STALE_AFTER_S = 3600.0  # a temporary file this old is a killed write's, whoever made it
TEMPORARY = re.compile(r"\.(?P<target>.+)\.(?P<host>[^.]+)\.(?P<pid>\d+)\.[^.]+\.tmp\Z")


def frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """A read-only copy of ``mapping`` (an empty one for None)."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Variant:
    """One variant of a study: what it changes against the study's base recipe.

    Like ``course_utils.presets.Preset``: data, read by name, the pieces being the
    functions (or callable dataclasses) the training loop receives. Pass plain dicts;
    they are stored read-only.

    Attributes:
        name: the variant's name, also its folder's (letters, digits, ``_ . + -``).
        description: what it changes, for a reader of the results.
        config: changes to the algorithm's config (``DQNConfig``/``SMConfig`` fields).
        pieces: changes to the pieces the loop receives (keyword arguments of
            ``train_dqn`` or ``train_selective_memory``).
        env_kwargs: changes to ``make_env``'s keyword arguments (``stack=2``).
    """

    name: str
    description: str
    config: Mapping[str, Any] = field(default_factory=frozen)
    pieces: Mapping[str, Any] = field(default_factory=frozen)
    env_kwargs: Mapping[str, Any] = field(default_factory=frozen)

    def __post_init__(self) -> None:
        check_name(self.name, "The variant")
        for name in ("config", "pieces", "env_kwargs"):
            object.__setattr__(self, name, frozen(getattr(self, name)))

    def __reduce__(self) -> tuple:
        # a read-only mapping does not pickle: rebuild from plain dicts (the runs go
        # to other processes)
        parts = (dict(self.config), dict(self.pieces), dict(self.env_kwargs))
        return (Variant, (self.name, self.description, *parts))

    def changes(self) -> dict[str, Any]:
        """The changes as a run's file records them (pieces by name)."""
        out = {
            "config": dict(self.config),
            "pieces": piece_names(self.pieces),
            "env_kwargs": dict(self.env_kwargs),
        }
        return {key: value for key, value in out.items() if value}


def piece_names(pieces: Mapping[str, Any]) -> dict[str, str]:
    """``{"keep": "keep_whole_game", ...}``: pieces by the names a reader finds in
    ``course_utils`` (``course_utils.presets.piece_name``)."""
    if not pieces:
        return {}
    # imported here: the presets bring PyTorch, which a study without pieces (and a
    # cluster worker that only unpickles this module) does not need
    from course_utils.presets import piece_name

    return {key: piece_name(piece) for key, piece in pieces.items()}


def variants_by_name(*variants: Variant) -> dict[str, Variant]:
    """``{variant.name: variant}``, refusing two variants of one name."""
    out: dict[str, Variant] = {}
    for variant in variants:
        if variant.name in out:
            raise ValueError(f"Two variants are named {variant.name!r}: rename one.")
        out[variant.name] = variant
    return out


def combine(parts: Sequence[Variant]) -> Variant:
    """One variant made of several (``n5`` and ``stack2`` give ``n5+stack2``).

    Raises:
        ValueError: two parts change the same knob.
    """
    merged: dict[str, dict] = {"config": {}, "pieces": {}, "env_kwargs": {}}
    owner: dict[tuple[str, str], str] = {}  # which part changed each knob
    for part in parts:
        for kind, into in merged.items():
            changes = getattr(part, kind)
            clash = sorted(set(changes) & set(into))
            if clash:
                raise ValueError(
                    f"{'+'.join(p.name for p in parts)!r} changes {clash} twice "
                    f"({owner[kind, clash[0]]} and {part.name}); keep one."
                )
            into.update(changes)
            owner.update({(kind, key): part.name for key in changes})
    return Variant(
        "+".join(part.name for part in parts),
        " + ".join(part.description for part in parts),
        **merged,
    )


@dataclass(frozen=True)
class Job:
    """One run of a study: a variant, a training seed, the study's budget (JSON data:
    numbers, strings, lists)."""

    variant: Variant
    seed: int
    budget: dict


@dataclass(frozen=True)
class Engine:
    """Where the runs go: ``workers`` local processes, or a Dask cluster's workers.

    Attributes:
        workers: runs at once on this machine (1: one after the other, in this
            process). Unused with a scheduler.
        scheduler: a Dask scheduler's address (``tcp://host:8786``), or None.
    """

    workers: int = 1
    scheduler: str | None = None

    def map(self, fn: Callable, items: Sequence) -> Iterator:
        """``fn(item)`` for every item, results in the order the runs finish."""
        if not items:
            return
        calls = (joblib.delayed(fn)(item) for item in items)
        if self.scheduler is None:
            parallel = joblib.Parallel(
                n_jobs=self.workers, batch_size=1, return_as="generator_unordered"
            )
            yield from parallel(calls)
            return
        from distributed import Client  # only for a cluster: local runs need no Dask

        try:
            client = Client(self.scheduler, timeout="20s")
        except (OSError, TimeoutError) as error:
            raise ValueError(
                f"Cannot reach the Dask scheduler at {self.scheduler} ({error}). Fix: "
                "start it (`dask scheduler`) and its workers, or check the address."
            ) from None
        with client:
            for path in benchmark_modules():
                client.upload_file(str(path), load=False)
            with joblib.parallel_config(backend="dask"):
                parallel = joblib.Parallel(
                    n_jobs=-1, batch_size=1, return_as="generator_unordered"
                )
                yield from parallel(calls)


def benchmark_modules() -> list[Path]:
    """This module and the other ``benchmarks/`` modules the script imported: what a
    cluster's workers must import to run its tasks (the script itself travels by
    value with each task)."""
    paths = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        name = getattr(module, "__name__", "")
        if path and name != "__main__" and Path(path).resolve().parent == BENCHMARKS:
            paths.append(Path(path).resolve())
    return sorted(set(paths))


# ------------------------------------------------------------------ strict JSON files


def strict_json(value: Any, where: str = "record") -> tuple[Any, list[str]]:
    """``value`` as strict JSON data, and the places of its NaN and infinities.

    Numbers, strings, None, lists, tuples, NumPy scalars and arrays, and dicts with
    string (or int) keys are kept; a NaN or an infinity becomes None and its place
    (``"record.evals[3]"``) is listed.

    Raises:
        ValueError: a value JSON cannot hold, named by its place.
    """
    places: list[str] = []

    def convert(item: Any, place: str) -> Any:
        if item is None or isinstance(item, (bool, str)):
            return item
        if isinstance(item, np.bool_):
            return bool(item)
        if isinstance(item, (int, np.integer)):
            return int(item)
        if isinstance(item, (float, np.floating)):
            if math.isfinite(item):
                return float(item)
            places.append(place)
            return None
        if isinstance(item, np.ndarray):
            return convert(item.tolist(), place)
        if isinstance(item, Mapping):
            out = {}
            for key, sub in item.items():
                if isinstance(key, bool) or not isinstance(key, (str, int)):
                    raise ValueError(
                        f"{place} has the key {key!r}: JSON keys are text."
                    )
                out[str(key)] = convert(sub, f"{place}.{key}")
            return out
        if isinstance(item, (list, tuple)):
            return [convert(sub, f"{place}[{i}]") for i, sub in enumerate(item)]
        raise ValueError(
            f"{place} is a {type(item).__name__} ({item!r:.60}), which a study's JSON "
            "cannot store: record numbers, strings, lists or dicts."
        )

    return convert(value, where), places


def this_host() -> str:
    """This machine's name, as temporary file names carry it."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def temporary_in(folder: Path, target: str) -> tuple[int, Path]:
    """An exclusively created temporary file in ``folder`` for ``target``: its name
    says which host and process made it (for :func:`remove_stale_temporaries`)."""
    fd, name = tempfile.mkstemp(
        dir=folder, prefix=f".{target}.{this_host()}.{os.getpid()}.", suffix=".tmp"
    )
    return fd, Path(name)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """``data`` as strict JSON text (NaN refused), with a final newline."""
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"


def temporary_copy(path: Path, text: str) -> Path:
    """``text`` in an exclusively created temporary file beside ``path``, flushed to
    disk (removed again if writing fails)."""
    fd, tmp = temporary_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o644)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def write_json_atomically(path: Path, data: Any, *, indent: int | None = None) -> None:
    """Write ``data`` (strict JSON data) to ``path``: an exclusively created temporary
    file in the same folder, then renamed over ``path`` (``os.replace``). A killed
    process leaves the old file or the new one, never half of one."""
    tmp = temporary_copy(path, json_text(data, indent=indent))
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def publish_new(path: Path, data: Any) -> bool:
    """Write ``path`` only if it does not exist, whole: False when another process
    made it first (its file is kept)."""
    tmp = temporary_copy(path, json_text(data, indent=1))
    try:
        os.link(tmp, path)  # fails if path exists: exclusive
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: replace, if still missing
        if path.exists():
            return False
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that killed writes left in the study's folder and
    its variants' folders: this machine's of a process that no longer runs, and any
    older than STALE_AFTER_S. Returns what was removed."""
    host, removed = this_host(), []
    places = [folder, *(p for p in folder.iterdir() if p.is_dir())]
    for place in places:
        for path in place.iterdir():
            match = TEMPORARY.match(path.name)
            if not match:
                continue
            try:
                age = time.time() - path.lstat().st_mtime
            except FileNotFoundError:
                continue
            mine = match["host"] == host
            if (mine and not pid_alive(int(match["pid"]))) or age > STALE_AFTER_S:
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed


# ------------------------------------------------------------------ a study's folder


def open_study(folder: Path, header: dict, variants: Iterable[str]) -> None:
    """Make ``folder`` ready for runs of ``header["budget"]``, or refuse, before any
    training: the folder and its variants' folders are created and written to,
    ``study.json`` is created with ``header`` (or must hold the same budget), every
    stored run must read and share the budget, and stale temporary files go.

    Raises:
        ValueError: with the reason and the fix.
    """
    places = [folder, *(folder / check_name(v, "The variant") for v in variants)]
    for place in places:
        try:
            place.mkdir(parents=True, exist_ok=True)
            fd, probe = temporary_in(place, "probe")
            os.close(fd)
            probe.unlink()
        except OSError as error:
            raise ValueError(
                f"Cannot write the study's runs in {place} ({error.strerror}). Fix: "
                "give --out a folder you can write to."
            ) from None
    remove_stale_temporaries(folder)
    header, _ = strict_json({"study": folder.name, **header}, "the study's header")
    if not (folder / STUDY_FILE).exists():
        publish_new(folder / STUDY_FILE, header)
    stored = read_study_header(folder)
    if not same_json(stored["budget"], header["budget"]):
        raise ValueError(
            f"{folder} holds runs made with the budget {stored['budget']}, not "
            f"{header['budget']}: give the same flags to resume it, or another --out "
            "for a new study."
        )
    read_study(folder)  # every stored run reads, and has the budget


def store_run(folder: Path, job: Job, record: dict, about: Mapping[str, Any]) -> bool:
    """Write the run's file, unless it exists (then False: the file another process
    stored first is kept). ``about``: where and how it ran, for the file.

    Raises:
        ValueError: the job's budget is not the study's, or the record holds
            something JSON cannot store.
    """
    budget = read_study_header(folder)["budget"]
    if not same_json(job.budget, budget):
        raise ValueError(
            f"The run {job.variant.name} seed {job.seed} has the budget {job.budget}, "
            f"the study in {folder} has {budget}: the run is refused."
        )
    path = run_file(folder, job.variant.name, job.seed)
    if path.exists():
        return False
    run = {
        "variant": job.variant.name,
        "seed": job.seed,
        "budget": job.budget,
        "description": job.variant.description,
        "changes": job.variant.changes(),
        **about,
        "record": record,
    }
    data, places = strict_json(run, "run")
    if places:
        data["non_finite"] = places
    write_json_atomically(path, data)
    return True


# ------------------------------------------------------------------ running


@dataclass
class Outcome:
    """What :func:`run_study` did: runs stored, stopped early, failed."""

    stored: list[tuple[str, int]] = field(default_factory=list)
    stopped: list[tuple[str, int]] = field(default_factory=list)
    failed: list[tuple[str, int, str]] = field(default_factory=list)


def machine() -> str:
    """What a run ran on: ``"x86_64, 2 cores, one torch thread a run"``."""
    return f"{platform.machine()}, {os.cpu_count()} cores, one torch thread a run"


def attempt(run: Callable[[Job], dict | None], job: Job) -> tuple:
    """``run(job)`` on a worker: ``(job, record, about, error)``. An error is returned
    as its traceback's text, so one failed run does not stop the others; a record of
    None is a run that stopped before its end (resumable) and stores nothing."""
    # imported here, like piece_names: the versions module brings PyTorch
    from course_utils.common.versions import package_versions

    try:
        record = run(job)
    except Exception:
        return job, None, None, traceback.format_exc()
    about = {
        "machine": machine(),
        "versions": package_versions(),
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    return job, record, about, None


def run_study(
    folder: Path,
    header: dict,
    jobs: Sequence[Job],
    run: Callable[[Job], dict | None],
    *,
    engine: Engine,
    report: Callable[[Job, dict], str],
    about: Callable[[Job], Mapping[str, Any]] | None = None,
) -> Outcome:
    """Run every job whose file is missing, and store each run as it finishes.

    Args:
        folder: the study's folder.
        header: ``study.json``'s content: ``budget`` (every job's) and the protocol,
            notes, ... of the study.
        jobs: the runs the study wants (duplicates are dropped).
        run: makes one run, ``run(job) -> record`` (a dict of JSON data, or None for
            a run stopped early); a module-level function, since it travels to other
            processes or machines.
        engine: where the runs go.
        report: the line printed when a run is stored.
        about: more for a run's file (its full config, say), computed here.

    Raises:
        ValueError: the study cannot be written or resumed (before any training).
    """
    unique: dict[tuple[str, int], Job] = {}
    for job in jobs:
        unique.setdefault((job.variant.name, job.seed), job)
        if not same_json(job.budget, header["budget"]):
            raise ValueError(
                f"The run {job.variant.name} seed {job.seed} has the budget "
                f"{job.budget}, not the study's {header['budget']}."
            )
    jobs = list(unique.values())
    open_study(folder, header, {job.variant.name for job in jobs})
    todo = [j for j in jobs if not run_file(folder, j.variant.name, j.seed).exists()]
    print(
        f"{datetime.now():%Y-%m-%d %H:%M}: {len(jobs) - len(todo)} runs stored, "
        f"{len(todo)} to go ({folder})",
        flush=True,
    )
    outcome = Outcome()
    for job, record, where, error in engine.map(partial(attempt, run), todo):
        name, seed = job.variant.name, job.seed
        if error is not None:
            print(f"{name} seed {seed} FAILED:\n{error}", flush=True)
            outcome.failed.append((name, seed, error))
        elif record is None:
            print(f"{name} seed {seed}: stopped before its end, nothing stored")
            outcome.stopped.append((name, seed))
        else:
            extra = {**(about(job) if about else {}), **where}
            try:
                kept = store_run(folder, job, record, extra)
            except ValueError as why:  # a record JSON cannot hold: say so, go on
                print(f"{name} seed {seed} NOT STORED: {why}", flush=True)
                outcome.failed.append((name, seed, str(why)))
                continue
            outcome.stored.append((name, seed))
            note = "" if kept else " (another process stored it first: kept its file)"
            print(report(job, record) + note, flush=True)
    if outcome.failed:
        print(f"{len(outcome.failed)} run(s) failed: run the script again to retry.")
    return outcome


# ------------------------------------------------------------------ command lines


def default_out(study: str) -> Path:
    """Where a study script writes by default: ``runs/studies/<study>``, never the
    course's shipped ``data/`` (which a script writes only when named by --out)."""
    return RUNS / check_name(study, "The study")


def add_study_flags(parser: argparse.ArgumentParser, study: str | None) -> None:
    """Every study script's ``--out``, ``--jobs``, ``--scheduler``, ``--summary`` and
    ``--compare``. ``--out`` defaults to ``default_out(study)``; for a study of None
    (a name made of the budget) to None, which the script replaces."""
    where = f"runs/studies/{study}" if study else "runs/studies/..."
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out(study) if study else None,
        help=f"the study's folder (default: {where}; the course's recorded studies "
        "are in data/studies/, written only when named here)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, locally")
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786): the runs go to its workers",
    )
    parser.add_argument("--summary", action="store_true", help="print the table only")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="--summary: A minus B over training seeds, with a bootstrap interval",
    )


def engine_from(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Engine:
    """The engine the flags ask for (``--jobs`` must be at least 1)."""
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return Engine(workers=args.jobs, scheduler=args.scheduler)


def print_summary(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    summary: Callable[[dict], str],
) -> bool:
    """With ``--summary``: print ``summary`` of the study in ``--out`` and the
    ``--compare`` line, then return True; without it return False (``--compare``
    alone is refused)."""
    if args.compare and not args.summary:
        parser.error("--compare goes with --summary")
    if not args.summary:
        return False
    try:
        study = read_study(args.out)
        print(summary(study))
        if args.compare:
            print(compare(study, *args.compare))
    except ValueError as error:
        parser.error(str(error))
    return True


def run_or_exit(
    parser: argparse.ArgumentParser, folder: Path, header: dict, jobs, run, **kw
) -> Outcome:
    """:func:`run_study`, with a refused study reported as the command's error and a
    failed run as exit status 1."""
    try:
        outcome = run_study(folder, header, jobs, run, **kw)
    except ValueError as error:
        parser.error(str(error))
    if outcome.failed:
        raise SystemExit(1)
    return outcome
