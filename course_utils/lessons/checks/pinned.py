"""NumPy and PyTorch for the checks, as they were when the checks were imported.

A notebook cell can rebind a library's functions (``np.allclose = lambda *a, **k:
True``) before a wrong answer. The checks compute and compare through copies of the
libraries' namespaces, taken when the notebook's (locked) import cell first imports
the checks, before any answer cell runs, so such a cell does not reach them. Only the
namespaces are copied: a cell that rewrites a library's internals or a class's methods
is beyond what a check running in the student's kernel can stop (INSTRUCTORS.md,
"What autograding can and cannot guarantee").
"""

from __future__ import annotations

import types
from typing import Any

import numpy
import torch as _torch
import torch.nn as _nn
import torch.nn.functional as _functional

__all__ = ["F", "nn", "np", "pin", "torch"]


def pin(module: types.ModuleType) -> types.ModuleType:
    """A module holding ``module``'s names as they are now. A name it lacks (a
    submodule the library loads on first use) is looked up in ``module``."""
    pinned = types.ModuleType(module.__name__, module.__doc__)
    pinned.__dict__.update(vars(module))

    def __getattr__(name: str) -> Any:  # noqa: N807 (a module's __getattr__)
        return getattr(module, name)

    pinned.__getattr__ = __getattr__  # type: ignore[method-assign]
    return pinned


np = pin(numpy)
torch = pin(_torch)
nn = pin(_nn)
F = pin(_functional)
