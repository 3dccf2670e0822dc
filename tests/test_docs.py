"""The package's docstrings tell the truth: every "Taught in:" line names a notebook
that really uses the helper."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
TAUGHT = re.compile(r"Taught in:\s*(\S+\.ipynb)")
MODULES = sorted(PACKAGE.rglob("*.py"))


def _taught_claims(path: Path) -> list[tuple[str, str]]:
    """(name the claim is about, notebook) for every "Taught in:" line of a module."""
    tree = ast.parse(path.read_text())
    claims = []
    nodes = [(path.stem, tree)] + [
        (node.name, node)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    ]
    for name, node in nodes:
        for notebook in TAUGHT.findall(ast.get_docstring(node) or ""):
            claims.append((name, notebook))
    return claims


CLAIMS = [(path, name, nb) for path in MODULES for name, nb in _taught_claims(path)]


def test_there_are_claims_to_check():
    assert len(CLAIMS) > 30


@pytest.mark.parametrize(
    "path, name, notebook", CLAIMS, ids=[f"{p.stem}.{n}" for p, n, _ in CLAIMS]
)
def test_taught_in_names_a_notebook_that_uses_the_name(path, name, notebook):
    source = ROOT / "notebooks" / notebook
    assert source.is_file(), (
        f"{path.name}: {name} claims a notebook {notebook} that does not exist"
    )
    assert name in source.read_text(), (
        f"{path.relative_to(ROOT)}: {name!r} says 'Taught in: {notebook}', but that "
        "notebook never mentions it. Teach it there, or correct the line."
    )
