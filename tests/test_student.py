"""Student copies: solutions out, hidden tests out, outputs cleared, still runnable."""

import warnings

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.student import build, main, make_student_copy

DOUBLE_STUB = '''def double(x):
    """Return 2 * x."""
    ### BEGIN SOLUTION
    secret_value = 2 * x  # SECRET-1
    return secret_value
    ### END SOLUTION
'''
DOUBLE_SOLUTION = "def double(x):\n    return x * 2  # SECRET-2\n"
CHECK = """checked = "double is defined"
### BEGIN HIDDEN TESTS
assert double(21) == 42  # SECRET-3
### END HIDDEN TESTS
after_hidden = True
"""
HALVER = """class Halver:
    def halve(self, x):
        ### BEGIN SOLUTION
        return x / 2  # SECRET-4
        ### END SOLUTION
"""
LAST = """%matplotlib inline
def last(x):
    ### BEGIN SOLUTION
    return x  # SECRET-5
    ### END SOLUTION
"""


def course_notebook() -> nbformat.NotebookNode:
    solution = new_code_cell(DOUBLE_SOLUTION)
    solution.metadata["tags"] = ["solution"]
    printed = new_code_cell("print('hello')", execution_count=7)
    printed.outputs = [new_output("stream", name="stdout", text="hello\n")]
    stub = new_code_cell(DOUBLE_STUB, execution_count=3)
    stub.outputs = [
        new_output("execute_result", {"text/plain": "SECRET-6"}, execution_count=3)
    ]
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Title\n\nWhat you will learn."),
            new_markdown_cell("### Exercise 1: double a number\n\nWrite `double`."),
            stub,
            solution,
            new_code_cell(CHECK),
            new_markdown_cell("## Exercise 2: halve it"),
            new_code_cell(HALVER),
            printed,
            new_markdown_cell("Some text, no new exercise."),
            new_code_cell(LAST),
        ],
        metadata={
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        },
    )
    nbformat.validate(nb)
    return nb


@pytest.fixture
def student():
    return make_student_copy(course_notebook(), "course.ipynb")


def _code(nb):
    return [cell.source for cell in nb.cells if cell.cell_type == "code"]


def _exec_all(nb) -> dict:
    namespace: dict = {}
    for source in _code(nb):
        python = "\n".join(ln for ln in source.splitlines() if not ln.startswith("%"))
        exec(compile(python, "<student cell>", "exec"), namespace)
    return namespace


def test_solution_cells_are_dropped_and_the_rest_kept_in_order(student):
    original = course_notebook()
    kept = [
        c.source for c in original.cells if "solution" not in c.metadata.get("tags", [])
    ]
    assert len(student.cells) == len(original.cells) - 1 == len(kept)
    for mine, theirs in zip(student.cells, kept, strict=True):
        if "BEGIN" not in theirs:  # cells without markers are copied as they are
            assert mine.source.rstrip("\n") == theirs.rstrip("\n")


def test_no_solution_or_hidden_text_leaks(student):
    text = nbformat.writes(student)
    assert "SECRET" not in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "HIDDEN TESTS" not in text


def test_solution_region_becomes_not_implemented_with_the_exercise_name(student):
    stub = _code(student)[0]
    assert stub.splitlines() == [
        "def double(x):",
        '    """Return 2 * x."""',
        "    raise NotImplementedError('Exercise 1: double a number')",
    ]
    namespace = _exec_all(student)
    with pytest.raises(NotImplementedError, match=r"^Exercise 1: double a number$"):
        namespace["double"](3)
    with pytest.raises(NotImplementedError, match=r"^Exercise 2: halve it$"):
        namespace["Halver"]().halve(4)
    # No new heading: the last exercise named above still applies.
    with pytest.raises(NotImplementedError, match=r"^Exercise 2: halve it$"):
        namespace["last"](1)


def test_raise_keeps_the_marker_indentation(student):
    halver = _code(student)[2]
    assert (
        "        raise NotImplementedError('Exercise 2: halve it')"
        in halver.splitlines()
    )


def test_hidden_tests_vanish_and_the_rest_of_the_cell_stays(student):
    check = _code(student)[1]
    assert check.splitlines() == [
        'checked = "double is defined"',
        "after_hidden = True",
    ]
    namespace = _exec_all(student)
    assert (
        namespace["checked"] == "double is defined"
        and namespace["after_hidden"] is True
    )


def test_outputs_and_execution_counts_are_cleared(student):
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_the_original_notebook_is_left_alone():
    original = course_notebook()
    make_student_copy(original)
    assert original.cells[2].outputs and original.cells[2].execution_count == 3
    assert "SECRET-1" in original.cells[2].source
    assert original.cells[3].metadata["tags"] == ["solution"]


def test_the_copy_is_a_valid_notebook_with_cell_ids(student):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing cell id is only a warning today
        nbformat.validate(student)
    ids = [cell.get("id") for cell in student.cells]
    assert all(ids) and len(set(ids)) == len(ids)
    again = nbformat.reads(nbformat.writes(student), as_version=4)
    assert [c.source for c in again.cells] == [c.source for c in student.cells]
    assert again.metadata.kernelspec.name == "python3"


def test_an_old_notebook_without_cell_ids_gives_a_valid_copy():
    nb = course_notebook()
    nb.nbformat_minor = 4
    for cell in nb.cells:
        del cell["id"]
    copy = make_student_copy(nb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nbformat.validate(copy)
    assert all(cell.get("id") for cell in copy.cells)


def test_the_copy_does_not_share_metadata_with_the_original():
    original = course_notebook()
    copy = make_student_copy(original)
    copy.metadata["kernelspec"]["name"] = "changed"
    assert original.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize(
    "source, match",
    [
        (
            "def f():\n    ### BEGIN SOLUTION\n    return 1\n",
            "solution region is never closed",
        ),
        ("def f():\n    return 1\n    ### END SOLUTION\n", "closes no open region"),
        ("### BEGIN HIDDEN TESTS\nassert True\n", "hidden region is never closed"),
        ("assert True\n### END HIDDEN TESTS\n", "closes no open region"),
        (
            "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n",
            "inside an open region",
        ),
        ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n", "inside an open region"),
        ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION\n", "closes no open region"),
    ],
)
def test_unbalanced_markers_are_a_value_error(source, match):
    nb = new_notebook(
        cells=[new_markdown_cell("### Exercise 1: f"), new_code_cell(source)]
    )
    with pytest.raises(ValueError, match=match) as info:
        make_student_copy(nb, "broken.ipynb")
    assert "broken.ipynb, cell 1" in str(info.value)


def test_a_stub_that_no_longer_parses_is_a_value_error():
    source = "if True:\n### BEGIN SOLUTION\n    x = 1\n### END SOLUTION\n"
    nb = new_notebook(cells=[new_code_cell(source)])
    with pytest.raises(ValueError, match="does not parse"):
        make_student_copy(nb, "bad.ipynb")


def test_build_writes_valid_copies(tmp_path):
    src, dest = tmp_path / "notebooks", tmp_path / "build" / "student"
    src.mkdir()
    nbformat.write(course_notebook(), src / "01_first.ipynb")
    nbformat.write(course_notebook(), src / "02_second.ipynb")
    written = build(src, dest)
    assert written == [dest / "01_first.ipynb", dest / "02_second.ipynb"]
    for path in written:
        text = path.read_text()
        assert "SECRET" not in text
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert len(nb.cells) == 9
    assert "SECRET-1" in (src / "01_first.ipynb").read_text()  # sources untouched


def test_build_refuses_dest_equal_to_src(tmp_path):
    nbformat.write(course_notebook(), tmp_path / "a.ipynb")
    before = (tmp_path / "a.ipynb").read_text()
    with pytest.raises(ValueError, match="another folder"):
        build(tmp_path, tmp_path / ".")
    assert (tmp_path / "a.ipynb").read_text() == before


def test_build_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="No notebooks found"):
        build(tmp_path, tmp_path / "out")


def test_main_reports_errors_with_exit_code_2(tmp_path, capsys):
    nbformat.write(course_notebook(), tmp_path / "a.ipynb")
    assert main([str(tmp_path), str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main([str(tmp_path), str(tmp_path / "out")]) == 0
    assert f"wrote {tmp_path / 'out' / 'a.ipynb'}" in capsys.readouterr().out
