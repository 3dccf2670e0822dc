"""A toy study for the tests of ``benchmarks/studies.py``: each run sleeps a moment,
then records which process ran it (run it with ``benchmarks/`` on PYTHONPATH).

    python tests/benchmarks/toy_study.py --seeds 0 1 2 --seconds 0.2 --out DIR
        [--jobs 2 | --scheduler ADDRESS] [--nan-seed 1]
"""

from __future__ import annotations

import argparse
import os
import time

from studies import (
    Job,
    Variant,
    add_study_flags,
    engine_from,
    print_summary,
    run_or_exit,
    variants_by_name,
)

VARIANTS = variants_by_name(
    Variant("a", "the toy recipe"),
    Variant("b", "the toy recipe, x changed", config={"x": 2}),
)


def run(job: Job) -> dict:
    """Sleep the budget's seconds; a NaN where the budget asks for one."""
    time.sleep(job.budget["seconds"])
    value = 10.0 * job.seed + job.variant.config.get("x", 1)
    if job.seed == job.budget["nan_seed"]:
        value = float("nan")
    return {"pid": os.getpid(), "validation_best": [value, value + 1.0]}


def report(job: Job, record: dict) -> str:
    return f"{job.variant.name} seed {job.seed}: done by process {record['pid']}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--nan-seed", type=int, default=None)
    add_study_flags(parser, "toy")
    args = parser.parse_args(argv)
    if print_summary(parser, args, lambda study: str(sorted(study["variants"]))):
        return
    engine = engine_from(parser, args)
    budget = {"seconds": args.seconds, "nan_seed": args.nan_seed}
    jobs = [
        Job(VARIANTS[name], seed, budget)
        for seed in args.seeds
        for name in args.variants
    ]
    header = {"budget": budget, "note": "a toy study (tests)"}
    run_or_exit(parser, args.out, header, jobs, run, engine=engine, report=report)


if __name__ == "__main__":
    main()
