"""tools/book.py shapes the executed notebooks into the website's pages.

The build itself (execution, Jupyter Book, the pages in Chromium) is proved by
``make book-check`` (``tests/e2e/test_site.py``); these are its pure parts.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("book", ROOT / "tools/book.py")
book = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(book)

REPOSITORY = book.project_urls()["Repository"].rstrip("/")


def code(source: str, outputs: list | None = None, tags: list | None = None) -> dict:
    metadata = {"tags": tags} if tags else {}
    return {
        "cell_type": "code",
        "source": source,
        "metadata": metadata,
        "outputs": outputs or [],
        "execution_count": 1,
    }


def test_model_answers_and_the_setup_cell_are_left_out():
    answer = {
        "cell_type": "markdown",
        "source": "The answer.",
        "metadata": {"tags": ["solution"]},
    }
    question = {"cell_type": "markdown", "source": "Why?", "metadata": {}}
    setup = code("# extra code – setup. Locally there is nothing to do.\nimport sys\n")
    assert book.shape_cell(answer) is None
    assert book.shape_cell(setup) is None
    assert book.shape_cell(question) == question


def test_a_solution_hides_behind_a_toggle_and_the_source_is_untouched():
    cell = code(
        "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    )
    shaped = book.shape_cell(cell)
    assert shaped["metadata"]["tags"] == ["hide-input"]
    assert shaped["source"] == cell["source"]
    assert cell["metadata"] == {}, "the executed notebook itself was modified"
    assert book.shape_cell(code("x = 1"))["metadata"] == {}


def test_banners_and_progress_widgets_are_left_out_other_output_kept():
    widget = {
        "output_type": "display_data",
        "metadata": {},
        "data": {book.WIDGET: {"model_id": "x"}, "text/plain": "  0%|"},
    }
    banner = {
        "output_type": "stream",
        "name": "stdout",
        "text": "FAST MODE is on (COURSE_FAST=1): budgets are tiny\n",
    }
    mixed = {
        "output_type": "stream",
        "name": "stdout",
        "text": "Full mode: budgets are the real ones.\nseed 0: -98.6\n",
    }
    figure = {
        "output_type": "display_data",
        "metadata": {},
        "data": {"image/png": "iVBOR"},
    }
    shaped = book.shape_cell(code("run()", [widget, banner, mixed, figure]))
    assert shaped["outputs"] == [{**mixed, "text": "seed 0: -98.6\n"}, figure]


def test_links_point_where_they_work_on_the_site(tmp_path):
    copied = []

    def copy_media(path: Path) -> str:
        copied.append(path)
        return f"_static/media/{path.name}"

    pages = {"03_dqn_mountaincar.ipynb"}
    text = (
        "[next](03_dqn_mountaincar.ipynb#the-loop), "
        "[data](../benchmarks/README.md#notebook-03), "
        '![car](../docs/media/mountaincar.gif), <img src="../docs/media/snake.gif">, '
        "[web](https://example.org/x), [here](#a-section), "
        "[folder](../data/checkpoints)"
    )
    out = book.rewrite_links(text, book.NOTEBOOKS, pages, copy_media)
    assert "[next](03_dqn_mountaincar.ipynb#the-loop)" in out
    assert f"[data]({REPOSITORY}/blob/main/benchmarks/README.md#notebook-03)" in out
    assert "![car](_static/media/mountaincar.gif)" in out
    assert '<img src="_static/media/snake.gif">' in out
    assert "[web](https://example.org/x)" in out and "[here](#a-section)" in out
    assert f"[folder]({REPOSITORY}/tree/main/data/checkpoints)" in out
    assert [p.name for p in copied] == ["mountaincar.gif", "snake.gif"]


def test_a_link_to_a_missing_file_fails_the_build_with_its_name():
    with pytest.raises(ValueError, match="no_such_file.md"):
        book.rewrite_links("[x](../no_such_file.md)", book.NOTEBOOKS, set(), str)


def test_the_landing_page_is_the_readme_without_the_instructors_section():
    readme = "# Course\n\n## Course map\n\n| 01 |\n\n## For instructors\n\nnbgrader\n"
    page = book.landing_page(readme)
    assert "## Course map" in page and "nbgrader" not in page
    assert REPOSITORY in page


def test_the_cache_key_follows_cells_mode_and_package():
    notebook = {"cells": [code("x = 1")]}
    changed = {"cells": [code("x = 2")]}
    key = book.cache_key(notebook, "fast", "abc")
    assert key == book.cache_key(notebook, "fast", "abc")
    assert key != book.cache_key(changed, "fast", "abc")
    assert key != book.cache_key(notebook, "full", "abc")
    assert key != book.cache_key(notebook, "fast", "abd")


def test_the_readme_links_the_site_at_its_one_address():
    site = book.project_urls()["Documentation"]
    readme = (ROOT / "README.md").read_text()
    assert f"]({site})" in readme, f"the README does not link the website {site}"
