"""set_seed: Python, NumPy and torch become deterministic; a Generator comes back."""

import random

import numpy as np
import pytest
import torch

from course_utils.common.seeding import set_seed


def _draws(rng: np.random.Generator) -> tuple:
    return (
        random.random(),
        random.randint(0, 10**9),
        float(np.random.rand()),
        torch.rand(3).tolist(),
        torch.randint(0, 10**6, (2,)).tolist(),
        rng.random(3).tolist(),
    )


def test_same_seed_same_numbers_everywhere():
    first = _draws(set_seed(123))
    second = _draws(set_seed(123))
    assert first == second


def test_other_seed_other_numbers_everywhere():
    first = _draws(set_seed(123))
    other = _draws(set_seed(124))
    # Every source of randomness changes, not just one of them.
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_returns_a_generator_seeded_with_seed():
    rng = set_seed(7)
    assert isinstance(rng, np.random.Generator)
    np.testing.assert_array_equal(rng.random(5), np.random.default_rng(7).random(5))


def test_returned_generator_is_independent_of_global_numpy_state():
    rng = set_seed(7)
    np.random.rand(100)  # global draws must not shift the returned generator
    np.testing.assert_array_equal(
        rng.integers(0, 100, 10), np.random.default_rng(7).integers(0, 100, 10)
    )


def test_numpy_integer_and_large_seeds_are_accepted():
    assert isinstance(set_seed(np.int64(5)), np.random.Generator)
    a = set_seed(2**40).random()
    b = set_seed(2**40).random()
    assert a == b


@pytest.mark.parametrize("seed", [-1, 1.5, "42", None, True, [1]])
def test_bad_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be a whole number from 0"):
        set_seed(seed)
