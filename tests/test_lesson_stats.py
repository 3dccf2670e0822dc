"""tools/lesson_stats.py counts what STYLE.md's "Writing a lesson" budgets."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location(
    "lesson_stats", ROOT / "tools/lesson_stats.py"
)
lesson_stats = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(lesson_stats)


def test_typed_numbers_count_figures_not_names():
    text = (
        "## 3. Gradient descent\n\n"
        "1. With `alpha=1e-4` and 1,797 digits of 8×8 pixels, the loss fell to 0.031.\n"
        "2. See Section 4, Exercise 5 and notebook 02; `W1` and float64 are names.\n"
        "[a link](https://example.org/page2024) and $\\frac{\\alpha}{2B}$.\n\n"
        "```python\nx = 12345\n```\n"
    )
    assert lesson_stats.typed_numbers(text) == ["1e-4", "1,797", "8×8", "0.031"]


def test_words_skip_code_blocks_and_comments():
    assert (
        lesson_stats.count_words("One two `three`.\n```\nfour five\n```\n<!-- x y -->")
        == 3
    )


def test_stats_leave_out_instructor_answers_and_count_student_lines(tmp_path):
    cells = [
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": "## 1. Core\n\nFour words here.",
        },
        {
            "cell_type": "code",
            "metadata": {},
            "source": "def f(x):\n    ### BEGIN SOLUTION\n    # a comment\n\n"
            "    y = x + 1\n    return y\n    ### END SOLUTION\n",
            "outputs": [],
            "execution_count": None,
        },
        {
            "cell_type": "markdown",
            "metadata": {},
            "source": "## 2. Extra (optional)\n\nSix.",
        },
        {
            "cell_type": "markdown",
            "metadata": {"tags": ["solution"]},
            "source": "1. 42",
        },
    ]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}))
    result = lesson_stats.stats(path)
    assert result["words"] == 9 and result["core words"] == 5  # "1." is a word
    assert result["student lines"] == 2
    assert result["numbers"] == []
