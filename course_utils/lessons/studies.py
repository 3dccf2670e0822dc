"""Resumable batches of (variant, training seed) runs: the benchmarks' studies.

A study compares variants of a recipe over several training seeds; its runs take
hours, so it must survive being stopped. Every finished run is stored at once in one
JSON file, written atomically (a temporary file, then a rename)::

    {"budget": {...}, "variants": {name: {"description": ..., "runs": {"0": {...}}}}}

and running the script again skips the runs already there (resume at run
granularity). One file holds one budget: :func:`budget_mismatch` says why another
must not be mixed in. Each run goes to a process of its own (spawn context: no torch
or simulator state is inherited), several at once with ``workers``; the script's run
function sets one torch thread. Used by ``benchmarks/mountaincar_seeds.py``,
``spaceinvaders_recipes.py`` and ``selective_memory_ablation.py``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.common.stats import bootstrap_ci, bootstrap_diff_ci, mean

Run = Callable[[Any], tuple[str, int, dict]]  # job -> (variant, seed, record)


def read_study(path: Path) -> dict:
    """The study stored at ``path``, or ``{}`` when there is none yet."""
    return json.loads(path.read_text()) if path.is_file() else {}


def write_atomically(path: Path, data: dict, *, indent: int | None = 1) -> None:
    """Write ``data`` as JSON: a temporary file in the same folder, then a rename, so
    that a killed process leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=indent) + "\n")
    tmp.replace(path)


def budget_mismatch(data: dict, budget: dict, path: Path) -> str | None:
    """Why the runs of ``data`` (read from ``path``) cannot be resumed with
    ``budget``, or None: runs made with other budgets are not comparable."""
    wanted = json.loads(json.dumps(budget))  # as stored (tuples become lists)
    if data.get("budget", wanted) == wanted:
        return None
    return (
        f"{path} holds runs made with the budget {data['budget']}, not {wanted}: "
        "give the same flags to resume it, or another --out for a new study"
    )


def merge_studies(paths: list[Path]) -> dict:
    """One study from several files of the same budget (runs made by separate
    processes, which must not share a file). Refused, with the reason: files of
    different budgets, and a (variant, seed) run stored twice."""
    merged: dict = {}
    for path in paths:
        data = read_study(path)
        if not data:
            raise ValueError(f"{path} holds no study (missing or empty).")
        if "budget" in merged and data.get("budget") != merged["budget"]:
            raise ValueError(
                f"{path} holds runs of the budget {data.get('budget')}, "
                f"{paths[0]} of {merged['budget']}: not comparable."
            )
        merged.setdefault("budget", data.get("budget"))
        for variant, entry in data.get("variants", {}).items():
            into = merged.setdefault("variants", {}).setdefault(
                variant, {**entry, "runs": {}}
            )
            for seed, record in entry["runs"].items():
                if seed in into["runs"]:
                    raise ValueError(
                        f"{variant!r} seed {seed} is stored twice ({path} and an "
                        "earlier file): keep one."
                    )
                into["runs"][seed] = record
    return merged


def stored_run(data: dict, variant: str, seed: int) -> dict | None:
    """The record of ``(variant, seed)`` in the study, or None."""
    return data.get("variants", {}).get(variant, {}).get("runs", {}).get(str(seed))


def stored_runs(data: dict) -> list[tuple[str, list[dict]]]:
    """``(variant, its records)`` for every variant with stored runs, for a table."""
    variants = data.get("variants", {}).items()
    return [(name, list(e["runs"].values())) for name, e in variants if e["runs"]]


def pending(data: dict, variants: Iterable[str], seeds: Iterable[int]) -> list:
    """The ``(variant, seed)`` pairs not stored yet, seed by seed (all variants of
    the first seed come first, so a stopped batch compares like with like)."""
    variants = list(variants)
    return [
        (variant, seed)
        for seed in seeds
        for variant in variants
        if stored_run(data, variant, seed) is None
    ]


def store_run(data: dict, variant: str, seed: int, record: dict, header: dict) -> None:
    """Put ``record`` under ``data["variants"][variant]["runs"][str(seed)]``, seeds in
    order; a new variant's entry starts with ``header`` (its description, ...)."""
    entry = data.setdefault("variants", {}).setdefault(variant, {**header, "runs": {}})
    entry["runs"][str(seed)] = record
    entry["runs"] = dict(sorted(entry["runs"].items(), key=lambda kv: int(kv[0])))


def run_batch(
    path: Path,
    data: dict,
    jobs: list,
    run: Run,
    *,
    workers: int,
    header: Callable[[str], dict],
    report: Callable[[str, int, dict], str],
    indent: int | None = 1,
) -> None:
    """Run ``run(job)`` for every job in ``workers`` processes; store every record as
    it comes (:func:`store_run` with ``header(variant)``), write the whole study to
    ``path`` and print ``report(variant, seed, record)``.

    ``run`` must be a module-level function of the script (spawned processes import
    it by name); ``jobs`` and records must pickle.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [pool.submit(run, job) for job in jobs]
        for future in concurrent.futures.as_completed(futures):
            variant, seed, record = future.result()
            store_run(data, variant, seed, record, header(variant))
            write_atomically(path, data, indent=indent)
            print(report(variant, seed, record), flush=True)


def run_pending(
    path: Path,
    data: dict,
    variants: Iterable[str],
    seeds: Iterable[int],
    budget: dict,
    run: Run,
    **batch: Any,
) -> int:
    """Say how many of the ``variants x seeds`` runs are stored and how many to go,
    then :func:`run_batch` the missing ones as jobs ``(variant, seed, budget)``
    (``batch``: its keyword arguments). Returns how many ran."""
    variants, seeds = list(dict.fromkeys(variants)), list(dict.fromkeys(seeds))
    todo = pending(data, variants, seeds)
    print(
        f"{datetime.now():%Y-%m-%d %H:%M}: {len(variants) * len(seeds) - len(todo)} "
        f"runs stored, {len(todo)} to go",
        flush=True,
    )
    run_batch(path, data, [(v, seed, budget) for v, seed in todo], run, **batch)
    return len(todo)


def machine() -> str:
    """What the study ran on, for its JSON: ``"x86_64, 2 cores, ..."``."""
    return f"{platform.machine()}, {os.cpu_count()} cores, one torch thread a run"


def interval(values: list[float], rng: np.random.Generator) -> str:
    """``mean [low, high]`` over runs (95 % bootstrap over runs), the mean alone for
    one run, a dash for none: a table cell 24 characters wide."""
    if len(values) < 2:
        pad = " " * 17
        return f"{values[0]:7.1f}{pad}" if values else f"{'—':>7s}{pad}"
    point, low, high = bootstrap_ci(np.array(values), mean, rng=rng)
    return f"{float(point):7.1f} [{float(low):6.1f}, {float(high):6.1f}]"


def compare(data: dict, a: str, b: str) -> str:
    """``a`` minus ``b`` on the validation means (selected networks), with a 95 %
    bootstrap interval that resamples each variant's training seeds."""
    scores = {}
    for variant in (a, b):
        runs = data.get("variants", {}).get(variant, {}).get("runs", {})
        if len(runs) < 2:
            raise ValueError(
                f"{variant!r} has {len(runs)} stored run(s); a comparison needs at "
                "least 2 training seeds each."
            )
        scores[variant] = [float(np.mean(r["validation_best"])) for r in runs.values()]
    diff, low, high = bootstrap_diff_ci(
        scores[a], scores[b], rng=np.random.default_rng(0)
    )
    verdict = "differ" if low > 0 or high < 0 else "cannot be told apart"
    return (
        f"{a} ({len(scores[a])} seeds) minus {b} ({len(scores[b])} seeds), validation "
        f"of the selected networks: {diff:+.1f}, 95 % bootstrap interval over seeds "
        f"[{low:+.1f}, {high:+.1f}]: at this budget they {verdict}"
    )


def add_summary_flags(parser: argparse.ArgumentParser) -> None:
    """A study script's ``--summary``, ``--also FILES`` and ``--compare A B``."""
    parser.add_argument("--summary", action="store_true", help="print the table only")
    parser.add_argument(
        "--also",
        nargs="+",
        default=[],
        help="--summary: add the runs of these files (same budget) to --out's",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="--summary: A minus B over training seeds, with a bootstrap interval",
    )


def print_summary(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    out: Path,
    summary: Callable[[dict], str],
) -> bool:
    """Handle :func:`add_summary_flags`: with ``--summary``, print ``summary`` of
    ``out`` (merged with ``--also``) and the ``--compare`` line, then return True;
    without it return False (``--also`` or ``--compare`` alone is refused)."""
    if (args.also or args.compare) and not args.summary:
        parser.error("--also and --compare go with --summary")
    if not args.summary:
        return False
    try:
        data = (
            merge_studies([out, *map(Path, args.also)])
            if args.also
            else read_study(out)
        )
        print(summary(data))
        if args.compare:
            print(compare(data, *args.compare))
    except ValueError as error:
        parser.error(str(error))
    return True
