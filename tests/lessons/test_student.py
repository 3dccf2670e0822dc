"""Student copies: solutions out, hidden tests out, outputs cleared, still runnable."""

import base64
import warnings

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_utils.lessons.student import RECORD, build, main, make_student_copy

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


def test_solution_code_cells_are_dropped_and_the_rest_kept_in_order(student):
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
    with pytest.raises(ValueError, match="outside the source folder"):
        build(tmp_path, tmp_path / ".")
    assert (tmp_path / "a.ipynb").read_text() == before


def test_build_refuses_an_empty_folder(tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError, match="No notebooks found"):
        build(tmp_path / "src", tmp_path / "out")


def test_main_reports_errors_with_exit_code_2(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(course_notebook(), src / "a.ipynb")
    assert main([str(src), str(src)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main([str(src), str(tmp_path / "out")]) == 0
    assert f"wrote {tmp_path / 'out' / 'a.ipynb'}" in capsys.readouterr().out


# ------------------------------------------------------------------ hostile input
# The builder must never destroy the instructor's work and never leak a solution.


def _write_sources(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("01_first.ipynb", "02_second.ipynb"):
        nbformat.write(course_notebook(), folder / name)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _one_cell(cell, heading="### Exercise 1: f"):
    return new_notebook(cells=[new_markdown_cell(heading), cell])


def test_swapped_arguments_leave_the_sources_alone(tmp_path, capsys):
    src, dest = tmp_path / "notebooks", tmp_path / "build" / "student"
    before = _write_sources(src)
    assert main([str(src), str(dest)]) == 0
    capsys.readouterr()
    assert main([str(dest), str(src)]) == 2  # swapped: the sources are the target
    err = capsys.readouterr().err
    assert "01_first.ipynb" in err and "SOLUTION" in err and "swap" in err
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


@pytest.mark.parametrize("kind", ["marker", "tag", "hidden", "lowercase marker"])
def test_build_refuses_to_overwrite_a_notebook_with_solutions(tmp_path, kind):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    dest.mkdir()
    cell = {
        "marker": new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n"),
        "tag": new_code_cell("x = 1", metadata={"tags": ["solution"]}),
        "hidden": new_code_cell("### BEGIN HIDDEN TESTS\nassert True\n"),
        "lowercase marker": new_code_cell("# begin solution\n"),
    }[kind]
    nbformat.write(
        new_notebook(cells=[new_markdown_cell("hi"), cell]), dest / "02_second.ipynb"
    )
    kept = (dest / "02_second.ipynb").read_bytes()
    with pytest.raises(ValueError, match=r"02_second\.ipynb.*cell 1") as info:
        build(src, dest)
    assert "left alone" in str(info.value)
    assert (dest / "02_second.ipynb").read_bytes() == kept
    assert not (dest / "01_first.ipynb").exists()  # nothing written at all


def test_build_refuses_to_overwrite_a_file_it_cannot_read(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    dest.mkdir()
    (dest / "01_first.ipynb").write_text('{"cells": [ broken by a merge')
    with pytest.raises(ValueError, match=r"01_first\.ipynb.*cannot be read"):
        build(src, dest)
    assert (dest / "01_first.ipynb").read_text() == '{"cells": [ broken by a merge'


def test_build_overwrites_an_earlier_student_copy_and_leaves_no_temp_files(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    first = build(src, dest)
    texts = [p.read_text() for p in first]
    assert build(src, dest) == first
    assert sorted(p.name for p in dest.iterdir()) == [
        RECORD,
        "01_first.ipynb",
        "02_second.ipynb",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]
    assert [len(p.read_text()) for p in first] == [len(t) for t in texts]


@pytest.mark.parametrize("inside", [".", "student", "a/b", "student/.."])
def test_build_refuses_a_destination_equal_to_or_inside_the_source(tmp_path, inside):
    src = tmp_path / "notebooks"
    before = _write_sources(src)
    with pytest.raises(ValueError, match="outside the source folder"):
        build(src, src / inside)
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_build_refuses_a_destination_that_links_into_the_source(tmp_path):
    src = tmp_path / "notebooks"
    before = _write_sources(src)
    (tmp_path / "link").symlink_to(src)
    with pytest.raises(ValueError, match="outside the source folder"):
        build(src, tmp_path / "link")
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before


def test_build_explains_a_missing_source_and_a_file_as_destination(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        build(tmp_path / "nowhere", tmp_path / "out")
    src = tmp_path / "src"
    _write_sources(src)
    with pytest.raises(ValueError, match="not a folder"):
        build(src / "01_first.ipynb", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        build(src, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


NEAR_MISSES = [
    "    # BEGIN SOLUTION",
    "    ###BEGIN SOLUTION",
    "    ### begin solution",
    "    ### Begin Solution",
    "    ### BEGIN SOLUTION ###",
    "    ###\u00a0BEGIN SOLUTION",
    "\u00a0   ### BEGIN SOLUTION",
    "    ### BEGIN  SOLUTION",
    "    #### BEGIN SOLUTION",
    "    ## BEGIN SOLUTION",
    "    ### BEGIN_SOLUTION",
    "    ### BEGIN-SOLUTION",
    "    ### BEGINSOLUTION",
    "    ### BEGIN SOLUTIONS",
    "    ### BEGIN SOLUTION: exercise 1",
    "    ### \uff22\uff25\uff27\uff29\uff2e SOLUTION",  # full-width letters
    "    ### BEGIN\u200bSOLUTION",  # zero-width space
    "    ### BEGIN SOL\u200bUTION",
    "    x = 1  ### BEGIN SOLUTION",
    "    ### BEGIN HIDDEN TEST",
    "    # END HIDDEN TESTS",
    # look-alike letters: NFKC does not fold them
    "    ### \u0412\u0415GIN SOLUTION",  # Cyrillic Ve and Ie
    "    ### BEGIN S\u039fLUTION",  # Greek Omicron
    "    ### BEGIN SOLUT\u0406ON",  # Cyrillic I
    "    ### \u13f4\u13ac\u13c0\u13a5N SOLUTION",  # Cherokee
    "    ### \u0412\u0415\u050c\u0406\u039d "  # every letter a look-alike
    "\u0405\u041e\u13de\u054d\u0422\u0406\u041e\u039d",
    "    ### B\u00c9GIN SOLUTION",  # an accent
    # other conventions
    "    ### START SOLUTION",
    "    ### STOP SOLUTION",
    "    ### BEGIN ANSWER",
    "    ### END ANSWER",
    "    # begin answer",
    "    ### BEGIN SOL",
    "    ### END SOL",
]


@pytest.mark.parametrize("line", NEAR_MISSES)
def test_a_near_miss_marker_is_an_error_naming_notebook_cell_and_line(line):
    source = f"def f():\n    '''Doc.'''\n{line}\n    return 1  # SECRET\n"
    nb = _one_cell(new_code_cell(source))
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1, line 3") as info:
        make_student_copy(nb, "nb.ipynb")
    assert "### BEGIN SOLUTION" in str(info.value)  # the spelling that works


def test_a_near_miss_end_marker_inside_a_region_is_an_error():
    source = (
        "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION ###\n"
    )
    with pytest.raises(ValueError, match=r"cell 1, line 4"):
        make_student_copy(_one_cell(new_code_cell(source)), "nb.ipynb")


@pytest.mark.parametrize("factory", [new_markdown_cell, nbformat.v4.new_raw_cell])
@pytest.mark.parametrize(
    "text",
    [
        "### BEGIN SOLUTION\nThe answer is 42.\n### END SOLUTION",
        "### BEGIN HIDDEN TESTS\nassert f() == 42\n### END HIDDEN TESTS",
        "Answer: <!-- begin solution --> 42",
        "<!-- BEGIN ANSWER -->\n42\n<!-- END ANSWER -->",
        "### \u0412\u0415GIN SOLUTION\n42",
    ],
)
def test_markers_in_markdown_or_raw_cells_are_an_error(factory, text):
    nb = new_notebook(cells=[new_markdown_cell("# Title"), factory(text)])
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1, line 1.*code cells"):
        make_student_copy(nb, "nb.ipynb")


@pytest.mark.parametrize(
    "tag",
    [
        "Solution",
        "SOLUTION",
        " solution",
        "solutions",
        "solution ",
        "sol",
        "answer",
        "answers",
        "model-answer",
        "\u0455olution",  # Cyrillic dze
        "s\u03bflution",  # Greek omicron
    ],
)
def test_a_misspelt_solution_tag_is_an_error(tag):
    cell = new_code_cell("x = 42  # SECRET", metadata={"tags": ["keep", tag]})
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1.*'solution'"):
        make_student_copy(_one_cell(cell), "nb.ipynb")


def _nbgrader(source, cell_type="code", **extra):
    meta = {
        "nbgrader": {
            "grade": False,
            "grade_id": "f",
            "locked": False,
            "schema_version": 3,
            "solution": True,
            **extra,
        }
    }
    if cell_type == "code":
        return new_code_cell(source, metadata=meta)
    return new_markdown_cell(source, metadata=meta)


def test_nbgrader_solution_cell_with_regions_is_stripped_as_usual():
    plain = make_student_copy(_one_cell(new_code_cell(DOUBLE_STUB)), "nb.ipynb")
    graded = make_student_copy(_one_cell(_nbgrader(DOUBLE_STUB)), "nb.ipynb")
    assert graded.cells[1].source == plain.cells[1].source
    assert "SECRET" not in graded.cells[1].source
    assert graded.cells[1].metadata["nbgrader"]["solution"] is True  # kept for nbgrader


@pytest.mark.parametrize(
    "cell",
    [
        _nbgrader("def f():\n    return 42  # SECRET\n"),
        _nbgrader("The answer is 42 (SECRET).", cell_type="markdown"),
    ],
)
def test_nbgrader_solution_cell_without_regions_is_an_error(cell):
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1.*\"solution\": true"):
        make_student_copy(_one_cell(cell), "nb.ipynb")


def test_nbgrader_solution_cell_tagged_solution_is_dropped():
    cell = _nbgrader("x = 42  # SECRET")
    cell.metadata["tags"] = ["solution"]
    copy = make_student_copy(_one_cell(cell), "nb.ipynb")
    assert "SECRET" not in nbformat.writes(copy)


def test_written_model_answers_become_the_students_answer_cell():
    """Where the model answers were, the student writes (nbgrader's copy does the
    same), so a make student copy handed in can earn the written points."""
    cell = _nbgrader("## Answers\n\n1. 42 (SECRET)", "markdown", grade=True, points=1)
    cell.metadata["tags"] = ["solution", "keep"]
    copy = make_student_copy(_one_cell(cell), "nb.ipynb")
    answer = copy.cells[1]
    assert answer.cell_type == "markdown" and answer.source == "YOUR ANSWER HERE"
    assert answer.metadata["nbgrader"] == cell.metadata["nbgrader"]
    assert answer.metadata["tags"] == ["keep"]
    assert "SECRET" not in nbformat.writes(copy)


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_nbgrader_solution_flag_must_be_a_bool(value):
    cell = _nbgrader("x = 1", solution=value)
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 1.*true or false"):
        make_student_copy(_one_cell(cell), "nb.ipynb")


@pytest.mark.parametrize(
    "content, match",
    [
        (b"[1, 2, 3]", "its JSON is a list"),
        (b'"a notebook"', "its JSON is a str"),
        (b"null", "its JSON is a NoneType"),
        (b'{"cells": 3}', "not a valid notebook"),
        (
            b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, '
            b'"extra": 1}',
            "not a valid notebook",
        ),
        (
            b'{"cells": [{"source": "x"}], "metadata": {}, "nbformat": 4, '
            b'"nbformat_minor": 5}',
            "not a valid notebook",
        ),
        (
            b'{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0}',
            "nbformat 4",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8 text"),
        (b"", "broken JSON"),
        (b'{"cells": [', "broken JSON"),
    ],
)
def test_malformed_input_is_an_error_naming_the_file(tmp_path, content, match, capsys):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    (src / "03_bad.ipynb").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        build(src, dest)
    assert "03_bad.ipynb" in str(info.value)
    assert not dest.exists()  # the two good notebooks were not written either
    assert main([str(src), str(dest)]) == 2
    assert "03_bad.ipynb" in capsys.readouterr().err


def test_a_folder_named_like_a_notebook_is_an_error_naming_it(tmp_path):
    src = tmp_path / "src"
    _write_sources(src)
    (src / "03_folder.ipynb").mkdir()
    with pytest.raises(ValueError, match=r"03_folder\.ipynb cannot be read"):
        build(src, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_a_failure_part_way_leaves_no_half_written_output(tmp_path, monkeypatch):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    build(src, dest)
    earlier = {p.name: p.read_bytes() for p in dest.iterdir()}
    (src / "01_first.ipynb").write_text(
        (src / "01_first.ipynb").read_text().replace("Title", "New title")
    )
    real_write, calls = nbformat.write, []

    def failing_write(nb, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(nb, fp, *args, **kwargs)

    monkeypatch.setattr(nbformat, "write", failing_write)
    with pytest.raises(OSError):
        build(src, dest)
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == earlier
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]


def test_a_failure_part_way_into_a_new_folder_creates_nothing(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "out" / "student"
    _write_sources(src)
    nbformat.write(_one_cell(new_code_cell("# BEGIN SOLUTION\n")), src / "03_bad.ipynb")
    with pytest.raises(ValueError, match="03_bad.ipynb, cell 1"):
        build(src, dest)
    assert not dest.exists()


def test_main_reports_os_errors_without_a_traceback(tmp_path, capsys, monkeypatch):
    src = tmp_path / "src"
    _write_sources(src)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nbformat, "write", no_space)
    assert main([str(src), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No space left" in err


def test_make_student_copy_refuses_a_structure_that_is_not_a_notebook():
    with pytest.raises(ValueError, match=r"nb\.ipynb is not a valid notebook"):
        make_student_copy(nbformat.from_dict({"cells": [{"source": 3}]}), "nb.ipynb")
    with pytest.raises(ValueError, match=r"nb\.ipynb is not a valid notebook"):
        make_student_copy([1, 2], "nb.ipynb")


def test_source_given_as_a_list_of_lines_is_stripped_too():
    nb = _one_cell(new_code_cell(DOUBLE_STUB))
    nb.cells[1].source = DOUBLE_STUB.splitlines(keepends=True)  # as stored on disk
    copy = make_student_copy(nb, "nb.ipynb")
    assert "SECRET" not in nbformat.writes(copy)


def test_the_course_notebooks_build(tmp_path):
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "notebooks"
    written = build(src, tmp_path / "student")
    assert len(written) == len(list(src.glob("*.ipynb"))) >= 5
    for path in written:
        assert "BEGIN SOLUTION" not in path.read_text()


def test_metadata_that_could_carry_an_answer_is_dropped():
    cell = new_code_cell(
        "x = 1",
        metadata={
            "solution": "return 2 * x  # SECRET-M1",
            "answer": {"text": "SECRET-M2"},
            "tags": ["keep"],
            "nbgrader": {**_nbgrader("")["metadata"]["nbgrader"], "solution": False}
            | {"source": "SECRET-M3"},
        },
    )
    nb = _one_cell(cell)
    nb.metadata["solutions"] = {"f": "SECRET-M4"}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    copy = make_student_copy(nb, "nb.ipynb")
    assert "SECRET" not in nbformat.writes(copy)
    assert copy.cells[1].metadata["tags"] == ["keep"]
    assert copy.cells[1].metadata["nbgrader"]["grade_id"] == "f"
    assert copy.metadata["kernelspec"]["name"] == "python3"


def test_a_marker_in_kept_metadata_is_an_error():
    nb = _one_cell(new_code_cell("x = 1"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "# BEGIN ANSWER"}
    with pytest.raises(ValueError, match=r"nb\.ipynb, notebook metadata.*marker"):
        make_student_copy(nb, "nb.ipynb")


def _attachment(text: str, mime: str = "image/svg+xml") -> dict:
    return {mime: base64.b64encode(text.encode()).decode()}


def test_attachments_the_text_does_not_show_are_dropped():
    cell = new_markdown_cell("A figure: ![fig](attachment:fig.png)")
    cell.attachments = {
        "fig.png": {"image/png": "iVBORw0KGgo="},
        "answer.png": {"image/png": "U0VDUkVULUEx"},  # not shown: an answer?
    }
    copy = make_student_copy(new_notebook(cells=[cell]), "nb.ipynb")
    assert list(copy.cells[0].attachments) == ["fig.png"]
    nbformat.validate(copy)


def test_a_marker_in_an_attachment_is_an_error():
    cell = new_markdown_cell("![fig](attachment:fig.svg)")
    svg = "<svg>\n<!-- BEGIN SOLUTION -->\n<text>42</text>\n</svg>"
    cell.attachments = {"fig.svg": _attachment(svg)}
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 0: attachment 'fig.svg'"):
        make_student_copy(new_notebook(cells=[cell]), "nb.ipynb")


def _work_in(path) -> None:
    """What a student does to a copy: write an answer, save."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("my_answer = 42  # the student's work"))
    nbformat.write(nb, path)


def test_a_copy_a_student_worked_in_is_not_replaced(tmp_path, capsys):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    build(src, dest)
    _work_in(dest / "02_second.ipynb")
    work = (dest / "02_second.ipynb").read_bytes()
    first = (dest / "01_first.ipynb").read_bytes()
    with pytest.raises(ValueError, match=r"02_second\.ipynb.*changed since") as info:
        build(src, dest)
    assert "--overwrite" in str(info.value) and "01_first" not in str(info.value)
    assert (dest / "02_second.ipynb").read_bytes() == work  # nothing written at all
    assert (dest / "01_first.ipynb").read_bytes() == first
    assert main([str(src), str(dest)]) == 2
    assert "changed since the builder wrote" in capsys.readouterr().err
    assert main([str(src), str(dest), "--overwrite"]) == 0
    assert b"the student's work" not in (dest / "02_second.ipynb").read_bytes()
    assert build(src, dest)  # replaced on purpose: now the builder's again


def test_an_untouched_copy_is_rebuilt_after_the_source_changed(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    build(src, dest)
    (src / "01_first.ipynb").write_text(
        (src / "01_first.ipynb").read_text().replace("Title", "New title")
    )
    build(src, dest)
    assert "New title" in (dest / "01_first.ipynb").read_text()


def test_a_copy_without_a_record_is_replaced_only_if_nobody_worked_in_it(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    _write_sources(src)
    build(src, dest)
    (dest / RECORD).unlink()  # built before copies were recorded
    build(src, dest)  # the same copies, cell ids aside: replaced
    (dest / RECORD).unlink()
    _work_in(dest / "01_first.ipynb")
    with pytest.raises(ValueError, match=r"01_first\.ipynb.*changed since"):
        build(src, dest)


# --- Graded copies: the self-check answers go too ---------------------------------

_QUESTIONS = """## Questions

**Question 1.** Why?

<details><summary>Check your answer</summary>

Because SELFCHECK-1.

</details>

**Question 2.** How?

<details>
<summary> Check your answer </summary>
By SELFCHECK-2.
</details>

Write your answers in the cell below."""


def _questions_notebook():
    return new_notebook(cells=[new_markdown_cell(_QUESTIONS)])


def test_a_graded_copy_drops_every_self_check_answer_and_keeps_the_questions():
    copy = make_student_copy(_questions_notebook(), "nb.ipynb", graded=True)
    text = copy.cells[0].source
    assert "SELFCHECK" not in nbformat.writes(copy)
    assert "<details>" not in text and "Check your answer" not in text
    assert "**Question 1.** Why?\n\n**Question 2.** How?\n\nWrite your" in text


def test_a_self_study_copy_keeps_the_self_check_answers():
    copy = make_student_copy(_questions_notebook(), "nb.ipynb")
    assert copy.cells[0].source == _QUESTIONS


def test_a_self_check_spelt_otherwise_is_an_error_in_a_graded_copy():
    notebook = new_notebook(
        cells=[
            new_markdown_cell("Q?\n\n<details><summary>Check your answer</summary>\nA")
        ]
    )
    with pytest.raises(ValueError, match=r"nb\.ipynb, cell 0.*Check your answer"):
        make_student_copy(notebook, "nb.ipynb", graded=True)


def test_main_graded_builds_copies_without_self_checks(tmp_path):
    src, dest = tmp_path / "notebooks", tmp_path / "graded"
    src.mkdir()
    nbformat.write(_questions_notebook(), src / "01_q.ipynb")
    assert main([str(src), str(dest), "--graded"]) == 0
    assert "SELFCHECK" not in (dest / "01_q.ipynb").read_text()
    assert main([str(src), str(tmp_path / "study")]) == 0
    assert "SELFCHECK-2" in (tmp_path / "study" / "01_q.ipynb").read_text()
