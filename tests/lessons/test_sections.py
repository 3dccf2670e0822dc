"""Optional sections: the convention that lets a test run a notebook's core path."""

from __future__ import annotations

import pytest

from course_utils.lessons.sections import core_path, optional_cells


def _md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text: str) -> dict:
    return {"cell_type": "code", "metadata": {}, "source": text, "outputs": []}


def _notebook(*cells: dict) -> dict:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4}


def test_an_optional_section_runs_to_the_next_level_2_heading():
    notebook = _notebook(
        _md("## 1. Core"),
        _code("a = 1"),
        _md("## 2. Extra (optional)\n\nText."),
        _code("b = 2"),
        _md("### A sub-heading stays inside"),
        _code("c = b"),
        _md("## 3. Core again"),
        _code("d = a"),
    )
    assert optional_cells(notebook) == [2, 3, 4, 5]
    assert [c["source"] for c in core_path(notebook)["cells"]] == [
        "## 1. Core",
        "a = 1",
        "## 3. Core again",
        "d = a",
    ]
    assert len(notebook["cells"]) == 8  # the original is untouched


def test_a_notebook_without_optional_sections_has_none():
    assert optional_cells(_notebook(_md("## 1. Core"), _code("a = 1"))) == []


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_md("Some text.\n\n## 2. Extra (optional)")], "first line of its cell"),
        ([_md("## 2. Extra (optional)"), _md("Text.\n\n## 3. Core")], "first line"),
        ([_md("## 2. Extra (optional)\n\n## 3. Core")], "split the cell"),
    ],
)
def test_headings_that_open_or_close_a_section_start_their_cell(cells, message):
    with pytest.raises(ValueError, match=message):
        optional_cells(_notebook(*cells), "nb.ipynb")
