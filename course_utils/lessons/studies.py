"""Reading the course's recorded studies: a study is a folder, one JSON file per run.

A study compares variants of a recipe over several training seeds, every run with the
same budget. On disk::

    <study>/study.json                 the budget every run shares, the protocol, notes
    <study>/<variant>/seed-<k>.json    one finished run: its budget and its record

A run's file appears only when the run has finished (written whole, then renamed into
place), so "which runs are left" is "which files are missing", and runs made by several
processes or machines come together by being read from the same folder. This module is
the reading half, for the notebooks and the benchmark tables: :func:`read_study` gives
the folder as one dict, :func:`interval` a table cell with its bootstrap interval, and
:func:`compare` the difference of two variants over seeds. Every file is checked as it
is read (strict JSON, the study's budget), and a bad one is named in the error. The
running half (the runs themselves, through joblib on local processes or a Dask
cluster) is ``benchmarks/studies.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from course_utils.common.files import read_bounded
from course_utils.common.stats import bootstrap_ci, bootstrap_diff_ci, mean

STUDY_FILE = "study.json"
RUN_FILE = re.compile(r"seed-(0|[1-9][0-9]*)\.json\Z")
# variant and study names become folder names: letters, digits and _ . + - only
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*\Z")
MAX_FILE_BYTES = 64 * 2**20  # the largest run so far is 0.2 MB
RUN_KEYS = ("variant", "seed", "budget", "description", "record")
# what a variant's entry in read_study carries, from its first run's file
VARIANT_KEYS = ("description", "config", "pieces", "changes")


def check_name(name: Any, what: str) -> str:
    """``name`` if it can be a study's or a variant's folder name, else ValueError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(
            f"{what} {name!r} cannot name a folder of a study: use letters, digits "
            "and _ . + - only, starting with a letter or a digit (e.g. 'n5+stack2')."
        )
    return name


def run_file(folder: str | Path, variant: str, seed: int) -> Path:
    """Where the run ``(variant, seed)`` of the study in ``folder`` is stored."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"a training seed is an int >= 0, got {seed!r}.")
    return Path(folder) / check_name(variant, "The variant") / f"seed-{seed}.json"


def same_json(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` are equal once stored as JSON (tuples as lists)."""
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


def refuse_constant(name: str) -> None:
    """``json.loads``'s hook for NaN and Infinity, which strict JSON does not have."""
    raise ValueError(f"{name} is not valid JSON (strict JSON has no NaN or Infinity)")


def read_json(path: Path) -> dict:
    """The JSON object stored at ``path``, read with checks: a regular file of at most
    MAX_FILE_BYTES, strict JSON (no NaN or Infinity), an object at the top.

    Raises:
        ValueError: naming the file, what is wrong with it and the fix.
    """
    fix = (
        "Fix: restore it (git checkout, or a copy), or delete it: a deleted run is run "
        "again by the study's script."
    )
    try:
        raw = read_bounded(path, MAX_FILE_BYTES, what="a study file", fix=fix)
    except OSError as error:
        raise ValueError(f"Cannot read {path}: {error.strerror}.") from None
    try:
        data = json.loads(raw, parse_constant=refuse_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is corrupt ({error}). {fix}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, not an object. {fix}")
    return data


def read_run(path: str | Path, *, budget: Any = None) -> dict:
    """The run stored at ``path``, checked: its keys, its place (``<variant>/seed-<k>``
    must match what it says) and, when ``budget`` is given, its budget.

    Raises:
        ValueError: naming the file and what is wrong.
    """
    path = Path(path)
    data = read_json(path)
    missing = [key for key in RUN_KEYS if key not in data]
    if missing:
        raise ValueError(f"{path} is not a run of a study: it has no {missing}.")
    try:
        place = run_file(path.parent.parent, data["variant"], data["seed"])
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if place != path:
        raise ValueError(
            f"{path} holds the run of {data['variant']!r} seed {data['seed']!r}: a run "
            "file belongs in <study>/<variant>/seed-<seed>.json. Move it there."
        )
    if budget is not None and not same_json(data["budget"], budget):
        raise ValueError(
            f"{path} was run with the budget {data['budget']}, but its study's is "
            f"{budget}: runs of different budgets are not comparable. Move it to a "
            "study of its budget."
        )
    return data


def read_study_header(folder: str | Path) -> dict:
    """The study's ``study.json``: its budget, protocol and notes."""
    path = Path(folder) / STUDY_FILE
    if not path.exists():
        raise ValueError(
            f"{Path(folder)} is not a study: it has no {STUDY_FILE}. A study script "
            "creates it with the first run; give the folder of a study."
        )
    header = read_json(path)
    if "budget" not in header:
        raise ValueError(f"{path} has no budget: it is not a study's {STUDY_FILE}.")
    return header


def run_paths(folder: str | Path) -> list[Path]:
    """Every run file of the study, variant by variant (sorted), seeds in order."""
    paths = []
    folders = (p for p in Path(folder).iterdir() if p.is_dir())
    for variant in sorted(p for p in folders if not p.name.startswith(".")):
        runs = [p for p in variant.iterdir() if RUN_FILE.match(p.name)]
        paths += sorted(runs, key=lambda p: int(RUN_FILE.match(p.name)[1]))
    return paths


def read_study(folder: str | Path) -> dict:
    """The study stored in ``folder`` as one dict: ``study.json``'s entries (``budget``,
    ``protocol``, notes) and ``variants``, ``{name: {"description": ..., "runs":
    {"0": record, "1": record, ...}}}``, variants sorted by name, seeds in order (a
    variant also carries its ``config``, ``pieces`` and ``changes`` when its runs
    recorded them). Temporary files of runs being written are ignored.

    Raises:
        ValueError: no such study; a corrupt file, a run of another budget or a run
            in the wrong place (each named, with the fix).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    header = read_study_header(folder)
    variants: dict[str, dict] = {}
    for path in run_paths(folder):
        run = read_run(path, budget=header["budget"])
        if run["variant"] not in variants:
            about = {key: run[key] for key in VARIANT_KEYS if key in run}
            variants[run["variant"]] = {**about, "runs": {}}
        variants[run["variant"]]["runs"][str(run["seed"])] = run["record"]
    return {**header, "variants": variants}


def run_score(run: dict) -> float:
    """The mean greedy evaluation over a run: learning earlier scores higher.

    ``run`` is a stored run's record (``evals``: one mean return per evaluation, their
    steps in ``steps``) or the dict notebook 03's ``train`` returns (``evals``:
    ``(step, mean return)`` pairs): the returns are taken, never the steps. Anything
    else, or a run without evaluations, is refused.

    Taught in: 03_dqn_mountaincar.ipynb
    """
    evals = run.get("evals") if isinstance(run, dict) else None
    if evals is None:
        raise ValueError(
            f"run_score takes a run with an 'evals' entry (a stored run's record, or "
            f"what train returns), got {type(run).__name__}"
            + (f" with keys {sorted(run)}" if isinstance(run, dict) else "")
            + ". Fix: pass the run itself, e.g. run_score(train(cfg)) or "
            "run_score(study['variants'][name]['runs']['0'])."
        )
    try:
        values = np.asarray(evals, dtype=float)
    except (TypeError, ValueError):
        values = np.empty((0, 0))  # ragged: refused below
    if values.ndim == 2 and values.shape[1] == 2:  # train's (step, mean) pairs
        values = values[:, 1]
    if values.ndim != 1 or not values.size or not np.isfinite(values).all():
        raise ValueError(
            "run_score expected the run's evaluations as mean returns (a stored "
            "record) or (step, mean return) pairs (what train returns), at least one, "
            f"all finite; got {str(evals)[:80]}. Fix: train for at least eval_every "
            "steps, and pass the run as train returned it."
        )
    return float(values.mean())


def interval(values: list[float], rng: np.random.Generator) -> str:
    """``mean [low, high]`` over runs (95 % bootstrap over runs), the mean alone for
    one run, a dash for none: a table cell 24 characters wide."""
    if len(values) < 2:
        pad = " " * 17
        return f"{values[0]:7.1f}{pad}" if values else f"{'—':>7s}{pad}"
    point, low, high = bootstrap_ci(np.array(values), mean, rng=rng)
    return f"{float(point):7.1f} [{float(low):6.1f}, {float(high):6.1f}]"


def compare(study: dict, a: str, b: str) -> str:
    """``a`` minus ``b`` on the validation means (selected networks), with a 95 %
    bootstrap interval that resamples each variant's training seeds.

    Args:
        study: as :func:`read_study` returns it.
        a, b: variant names, each with at least 2 runs recording ``validation_best``.
    """
    scores = {}
    for variant in (a, b):
        runs = study.get("variants", {}).get(variant, {}).get("runs", {})
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
