"""The browser test's pure parts (lab_driver.py): no browser, no server, no kernel.

A planted error must fail the test with its text; widgets, warnings and progress
bars must not.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import lab_driver
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def e2e() -> ModuleType:
    """The driver module (beside this file)."""
    return lab_driver


def executed(*cells_outputs: list) -> dict:
    """A notebook JSON with one code cell per list of outputs."""
    nb = new_notebook(cells=[new_markdown_cell("# title")])
    for i, outputs in enumerate(cells_outputs, 1):
        cell = new_code_cell(f"step_{i}()", execution_count=i)
        cell.outputs = outputs
        nb.cells.append(cell)
    return json.loads(json.dumps(nb))


PNG = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}
TQDM_WIDGET = {
    "application/vnd.jupyter.widget-view+json": {
        "model_id": "abc",
        "version_major": 2,
        "version_minor": 0,
    },
    "text/plain": "epochs:   0%|          | 0/5 [00:00<?, ?it/s]",
}


def test_planted_error_is_reported_with_its_text(e2e: ModuleType) -> None:
    nb = executed(
        [new_output("stream", name="stdout", text="fine\n")],
        [
            new_output(
                "error",
                ename="RuntimeError",
                evalue="planted",
                traceback=["\x1b[0;31mRuntimeError\x1b[0m: planted"],
            )
        ],
    )
    assert e2e.errors_in_notebook(nb) == ["code cell 2: RuntimeError: planted"]


def test_a_bare_assert_shows_the_failing_line(e2e: ModuleType) -> None:
    traceback = [
        "\x1b[0;31m---------------------------------------------------------\x1b[0m",
        "\x1b[0;31mAssertionError\x1b[0m    Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[35], line 8\x1b[0m\n      7 x = 1\n"
        "\x1b[0;32m----> 8\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m score >= -110\n",
        "\x1b[0;31mAssertionError\x1b[0m: ",
    ]
    error = new_output("error", ename="AssertionError", evalue="", traceback=traceback)
    assert e2e.errors_in_notebook(executed([error])) == [
        "code cell 1: AssertionError at `assert score >= -110`"
    ]


def test_stderr_with_error_or_traceback_fails(e2e: ModuleType) -> None:
    nb = executed(
        [new_output("stream", name="stderr", text="Traceback (most recent call)\n")],
        [new_output("stream", name="stderr", text="note\nValueError: bad shape\n")],
    )
    errors = e2e.errors_in_notebook(nb)
    assert errors == [
        "code cell 1: stderr: Traceback (most recent call)",
        "code cell 2: stderr: ValueError: bad shape",
    ]


def test_widgets_warnings_plots_and_progress_bars_are_fine(e2e: ModuleType) -> None:
    nb = executed(
        [new_output("display_data", data=TQDM_WIDGET)],
        [new_output("stream", name="stderr", text="x.py:3: UserWarning: careful\n")],
        [new_output("stream", name="stderr", text="100%|####| 50/50 [00:01<00:00]\n")],
        [new_output("display_data", data=PNG)],
        [new_output("execute_result", data={"text/plain": "'Error' is a word"})],
        [new_output("stream", name="stdout", text="AssertionError would be a hint\n")],
    )
    assert e2e.errors_in_notebook(nb) == []
    assert e2e.png_outputs(nb) == 1


def test_a_figure_shown_as_text_fails(e2e: ModuleType) -> None:
    text_only = {"text/plain": "<Figure size 600x400 with 2 Axes>"}
    nb = executed([new_output("execute_result", data=text_only, execution_count=1)])
    [error] = e2e.errors_in_notebook(nb)
    assert "figure shows as text" in error
    assert e2e.png_outputs(nb) == 0


@pytest.mark.parametrize(
    ("mime", "text", "bad"),
    [
        ("application/vnd.jupyter.error", "RuntimeError: planted", True),
        ("application/vnd.jupyter.stderr", "Traceback (most recent call last)", True),
        ("application/vnd.jupyter.stderr", "UserWarning: careful", False),
        ("application/vnd.jupyter.stdout", "KeyError is explained below", False),
        (
            "application/vnd.jupyter.widget-view+json",
            "Error displaying widget: model not found",
            True,
        ),
        ("application/vnd.jupyter.widget-view+json", "epochs: 100% 5/5", False),
        ("image/png", "", False),
        ("text/html", "", False),
    ],
)
def test_rendered_outputs(e2e: ModuleType, mime: str, text: str, bad: bool) -> None:
    errors = e2e.errors_in_rendered([{"mime": mime, "text": text}])
    assert bool(errors) is bad
    if bad:
        assert text.split(":")[0] in errors[0]


def test_notebooks_that_show_episodes_are_recognised(e2e: ModuleType) -> None:
    def nb(source: str) -> dict:
        return {"cells": [{"cell_type": "code", "source": source, "outputs": []}]}

    assert e2e.shows_video(nb("show_video(frames, fps=30)"))
    assert e2e.shows_video(nb("x = 1\nanimation.show_video (frames)"))
    assert not e2e.shows_video(
        nb("from course_utils.common.animation import show_video")
    )
    assert not e2e.shows_video(nb("# show_video(frames) is slow"))
    assert not e2e.shows_video(nb("def show_video(frames):\n    pass"))
    markdown = {"cells": [{"cell_type": "markdown", "source": "show_video(frames)"}]}
    assert not e2e.shows_video(markdown)


def test_course_notebooks_with_videos_are_the_episode_ones(e2e: ModuleType) -> None:
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text())
        if path.name.startswith(("02", "03", "04", "05")):
            assert e2e.shows_video(nb), f"{path.name} shows no episode video"
        if path.name.startswith("01"):
            assert not e2e.shows_video(nb)


def test_screenshot_names(e2e: ModuleType) -> None:
    assert e2e.screenshot_name("notebooks/02_rl.ipynb") == "02_rl.png"
    assert e2e.screenshot_name("build/student/02_rl.ipynb") == "student_02_rl.png"
    assert e2e.Result("x.ipynb").ok
    assert not e2e.Result("x.ipynb", errors=["code cell 2: RuntimeError"]).ok


def test_shipped_jupyterlab_settings_remove_first_run_prompts() -> None:
    overrides = json.loads((REPO / "jupyter/overrides.json").read_text())
    notification = overrides["@jupyterlab/apputils-extension:notification"]
    assert notification["fetchNews"] == "false"  # a string enum in JupyterLab 4
    assert notification["checkForUpdates"] is False
    # A notebook whose kernel name is unknown starts the default kernel, no dialog.
    assert overrides["@jupyterlab/notebook-extension:tracker"]["autoStartDefaultKernel"]


def _lab_page(installed: list[str], disabled) -> str:
    config = {
        "federated_extensions": [{"name": name} for name in installed],
        "disabledExtensions": disabled,
    }
    return (
        '<html><script id="jupyter-config-data" type="application/json">'
        f"{json.dumps(config)}</script></html>"
    )


def test_no_grading_tools_in_a_students_lab(e2e):
    page = _lab_page(["@jupyter-widgets/jupyterlab-manager"], [])
    assert e2e.grading_tools_shown(page, "[I ServerApp] jupyterlab | loaded") == []
    off = _lab_page(["@jupyter/nbgrader"], ["@jupyter/nbgrader"])
    assert e2e.grading_tools_shown(off, "") == []
    off_as_dict = _lab_page(["@jupyter/nbgrader"], {"@jupyter/nbgrader": True})
    assert e2e.grading_tools_shown(off_as_dict, "") == []


def test_grading_tools_are_reported(e2e):
    on = _lab_page(["@jupyter/nbgrader"], [])
    assert e2e.grading_tools_shown(on, "") == [
        "the @jupyter/nbgrader lab extension is enabled"
    ]
    log = "[I ServerApp] nbgrader.server_extensions.formgrader | extension was loaded"
    assert e2e.grading_tools_shown(_lab_page([], []), log) == [log]
