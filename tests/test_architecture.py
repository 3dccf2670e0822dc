"""The package's shape: its folders are its architecture, and imports obey it.

- At most eight entries at the top of ``course_utils``: the two commands, the presets,
  and one folder per concern (``common``, ``agents``, ``games``, ``lessons``).
- Each folder's ``__init__.py`` says what it holds and what it may import.
- Layers: ``common`` imports no other folder; ``games`` only ``common``; ``agents``
  only ``common``; ``lessons`` anything but the two commands; nothing outside
  ``lessons`` imports it.
- No import cycle between modules (imports for type hints and inside functions
  count), and no private name (``_x``) imported from another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "course_utils"
FOLDERS = ("common", "agents", "games", "lessons")
COMMANDS = ("course_utils.train", "course_utils.evaluate")
# folder -> the folders (and top-level modules) its modules may import
ALLOWED = {
    "common": ("common",),
    "games": ("common", "games"),
    "agents": ("common", "agents"),
    "lessons": ("common", "agents", "games", "lessons", "presets"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every course_utils import anywhere in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "course_utils"
        ):
            names = [alias.name for alias in node.names]
            # ``from course_utils.x import y`` may name a module y
            for name in names:
                if f"{node.module}.{name}" in MODULES:
                    out.append((f"{node.module}.{name}", [], node.lineno))
            out.append((node.module, names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("course_utils"):
                    out.append((alias.name, [], node.lineno))
    return out


def folder_of(module: str) -> str:
    """``common`` for ``course_utils.common.buffers``; ``presets`` for the presets."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_top_level_reads_as_the_architecture():
    entries = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert len(entries) <= 8, entries
    for folder in FOLDERS:
        init = PACKAGE / folder / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May import:" in doc, f"{init} must say what it may import"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module):
    folder = folder_of(module)
    for target, _, line in imports_of(MODULES[module]):
        if target == "course_utils" or target not in MODULES:
            continue
        where = f"{MODULES[module].relative_to(ROOT)}:{line} imports {target}"
        assert target not in COMMANDS or module in COMMANDS, where
        if folder in ALLOWED:
            assert folder_of(target) in ALLOWED[folder], where
        else:  # the commands and the presets
            assert folder_of(target) != "lessons", where


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_name_crosses_a_module(module):
    for target, names, line in imports_of(MODULES[module]):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, (
            f"{MODULES[module].relative_to(ROOT)}:{line} imports {private} from "
            f"{target}: make them public (and documented) or move the code."
        )


def test_no_import_cycle():
    graph = {
        m: {t for t, _, _ in imports_of(p) if t in MODULES and t != m}
        for m, p in MODULES.items()
    }
    # a package's __init__ re-exporting its own modules is not a cycle unless one
    # of those modules imports the package itself back
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t) :] + [t]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
