"""The evidence behind notebook 02's Exercise 6 threshold: the share of greedy test
episodes that reach MountainCar's flag, for several grids, with the check's own code.

``python benchmarks/grid_exercise.py`` (several minutes on one core) prints one line per
grid: the share for each of the check's three training seeds and their mean, which the
check compares with ``GRID_PASS``. ``--seeds N`` trains on seeds 0..N-1 instead (one
generator for all of them, so seeds 0-2 then draw differently from the check's run).
"""

from __future__ import annotations

import argparse
import time

from course_utils.agents.tabular import GridDiscretizer
from course_utils.lessons.checks.rl_basics import (
    GRID_PASS,
    GRID_SEEDS,
    mountaincar_flag_rate,
)

GRIDS = [  # (position cells, velocity cells, velocity bound)
    (1, 2, 0.07),
    (2, 2, 0.07),
    (3, 3, 0.07),
    (4, 16, 0.07),
    (6, 6, 0.07),
    (6, 12, 0.07),
    (8, 16, 0.07),
    (10, 10, 0.07),
    (12, 12, 0.05),
    (16, 16, 0.05),
    (20, 20, 0.07),
    (40, 40, 0.07),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, help="train on seeds 0..N-1")
    args = parser.parse_args()
    seeds = GRID_SEEDS if args.seeds is None else tuple(range(args.seeds))
    print(f"pass: mean share >= {GRID_PASS:.0%}")
    for n_position, n_velocity, bound in GRIDS:
        grid = GridDiscretizer(
            [-1.2, -bound], [0.6, bound], bins=(n_position, n_velocity)
        )
        start = time.perf_counter()
        rate = mountaincar_flag_rate(grid, grid.n_states, seeds=seeds)
        verdict = "pass" if rate.mean() >= GRID_PASS else "fail"
        print(
            f"{n_position:>3} x {n_velocity:<3} velocity ±{bound}: "
            f"{' '.join(f'{r:4.0%}' for r in rate)}  mean {rate.mean():4.0%}  {verdict}"
            f"  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
