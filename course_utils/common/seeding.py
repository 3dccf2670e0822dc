"""One call seeds Python, NumPy and PyTorch, and hands back a NumPy generator."""

from __future__ import annotations

import random

import numpy as np
import torch

from course_utils.common.validate import whole_number


def set_seed(seed: int) -> np.random.Generator:
    """Seed ``random``, NumPy's legacy global state and torch; return a fresh Generator.

    Pass the returned ``rng`` to every helper that draws random numbers (buffers,
    ε-greedy) instead of relying on global state.

    Args:
        seed: a non-negative integer.

    Returns:
        ``np.random.Generator`` seeded with ``seed``.

    Taught in: 02_rl_concepts.ipynb
    """
    seed = whole_number(
        "seed",
        seed,
        minimum=0,
        maximum=2**63 - 1,
        why="below 2**63",
        fix="pass e.g. set_seed(42).",
    )
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
