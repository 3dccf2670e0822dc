"""The version check every notebook runs in its first cells, and the versions a
trained agent records in its metadata."""

from __future__ import annotations

import platform
import sys
from importlib import metadata as importlib_metadata

from packaging.version import Version

# Minimum versions, the same as pyproject.toml.
MINIMUM = {
    "numpy": "1.24",
    "torch": "2.2",
    "gymnasium": "1.3",
    "scikit-learn": "1.3",
    "matplotlib": "3.7",
}


def check_versions(minimum: dict[str, str] | None = None) -> str:
    """Return a one-line summary of the key versions; raise if one is too old.

    Raises:
        ImportError: naming the package, the version found, the one needed and the fix.
    """
    minimum = MINIMUM if minimum is None else minimum
    found = {}
    for name, needed in minimum.items():
        try:
            have = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            raise ImportError(
                f"{name} is not installed in this kernel's Python ({sys.executable}). "
                "Fix: run `make lab` from the course folder (it installs everything), "
                "or "
                "pick the course's kernel (.venv) in Kernel > Change Kernel."
            ) from None
        if Version(have) < Version(needed):
            raise ImportError(
                f"{name} {have} is too old: the course needs {name} >= {needed}. "
                "Fix: `make install` (or `pip install -e .` in the course folder)."
            )
        found[name] = have
    return (
        "Python "
        + sys.version.split()[0]
        + " | "
        + " | ".join(f"{k} {v}" for k, v in found.items())
    )


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape a trained agent."""
    versions = {"python": platform.python_version()}
    for name in ("course-utils", "torch", "gymnasium", "ale-py", "box2d", "numpy"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
