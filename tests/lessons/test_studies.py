"""course_utils.lessons.studies: a study read from its folder, checked file by file;
the table cell and the comparison the notebooks print."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from course_utils.lessons import studies

DATA_STUDIES = Path(__file__).parents[2] / "data" / "studies"
BUDGET = {"steps": 500, "hidden": [8, 8]}


def write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def make_study(folder: Path, runs: dict, budget=None) -> Path:
    """A study as the runner writes it: ``runs`` is ``{(variant, seed): record}``."""
    budget = BUDGET if budget is None else budget
    write(folder / "study.json", {"study": folder.name, "budget": budget, "note": "n"})
    for (variant, seed), record in runs.items():
        run = {
            "variant": variant,
            "seed": seed,
            "budget": budget,
            "description": f"variant {variant}",
            "record": record,
        }
        write(studies.run_file(folder, variant, seed), run)
    return folder


def test_a_study_is_its_folder_read_variant_by_variant_seeds_in_order(tmp_path):
    runs = {("b", 10): {"x": 10}, ("b", 2): {"x": 2}, ("a", 0): {"x": 0}}
    folder = make_study(tmp_path / "s", runs)
    (folder / "c").mkdir()  # a variant with no run yet
    (folder / "a" / ".seed-1.json.host.99.abcdefgh.tmp").write_text("{half")
    (folder / "a" / "notes.txt").write_text("not a run")
    study = studies.read_study(folder)
    assert study["budget"] == BUDGET and study["note"] == "n"
    assert list(study["variants"]) == ["a", "b"]
    assert list(study["variants"]["b"]["runs"]) == ["2", "10"]
    assert study["variants"]["b"]["description"] == "variant b"
    assert study["variants"]["a"]["runs"] == {"0": {"x": 0}}


@pytest.mark.parametrize(
    "content, message",
    [
        ("{half a run", "corrupt"),
        ('{"variant": "a", "seed": 0, "record": {"x": NaN}}', "NaN"),
        ("[1, 2]", "holds a list, not an object"),
        ('{"variant": "a", "seed": 0}', "it has no"),
        (b"\xff\xfe", "corrupt"),
    ],
)
def test_a_bad_run_file_is_named_with_the_fix(tmp_path, content, message):
    folder = make_study(tmp_path / "s", {("a", 1): {"x": 1}})
    bad = folder / "a" / "seed-0.json"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message) as error:
        studies.read_study(folder)
    assert str(bad) in str(error.value)


def test_special_and_huge_files_are_refused_before_reading(tmp_path, monkeypatch):
    folder = make_study(tmp_path / "s", {})
    link = studies.run_file(folder, "a", 0)
    link.parent.mkdir()
    os.symlink("/dev/zero", link)  # read whole, it would never end
    with pytest.raises(ValueError, match="not a study file: expected a regular"):
        studies.read_study(folder)
    link.unlink()
    write(link, {"variant": "a"})
    monkeypatch.setattr(studies, "MAX_FILE_BYTES", 5)
    with pytest.raises(ValueError, match="at most 5 bytes"):
        studies.read_study(folder)


def test_a_run_of_another_budget_or_in_the_wrong_place_is_named(tmp_path):
    folder = make_study(tmp_path / "s", {("a", 0): {}})
    other = make_study(tmp_path / "other", {("a", 1): {}}, budget={"steps": 300})
    moved = folder / "a" / "seed-1.json"
    (other / "a" / "seed-1.json").rename(moved)
    with pytest.raises(ValueError, match="budget .*'steps': 300.*not comparable"):
        studies.read_study(folder)
    moved.unlink()
    wrong = write(
        folder / "a" / "seed-5.json",
        json.loads((folder / "a" / "seed-0.json").read_text()),
    )
    with pytest.raises(ValueError, match="seed 0.*belongs in") as error:
        studies.read_study(folder)
    assert str(wrong) in str(error.value)


def test_a_folder_without_study_json_is_not_a_study(tmp_path):
    with pytest.raises(ValueError, match="is not a study: it has no study.json"):
        studies.read_study(tmp_path)
    write(tmp_path / "study.json", {"note": "no budget"})
    with pytest.raises(ValueError, match="has no budget"):
        studies.read_study(tmp_path)


@pytest.mark.parametrize("name", ["", "../up", "a/b", ".hidden", "a b", 3])
def test_names_that_cannot_be_folders_are_refused(name):
    with pytest.raises(ValueError, match="cannot name a folder"):
        studies.run_file("s", name, 0)


@pytest.mark.parametrize("seed", [-1, 1.0, True, "0"])
def test_seeds_are_ints(seed):
    with pytest.raises(ValueError, match="training seed is an int"):
        studies.run_file("s", "a", seed)


def test_every_shipped_study_reads():
    folders = sorted(p.parent for p in DATA_STUDIES.glob("*/study.json"))
    assert len(folders) >= 9
    for folder in folders:
        study = studies.read_study(folder)
        assert study["study"] == folder.name and study["variants"], folder


def test_interval_for_none_one_and_several_runs():
    rng = np.random.default_rng(0)
    cells = [
        studies.interval(values, rng) for values in ([], [5.0], [1.0, 2.0, 3.0, 4.0])
    ]
    assert len({len(cell) for cell in cells}) == 1  # a column lines up
    assert cells[0].strip() == "—" and cells[1].strip() == "5.0"
    mean_text, bounds = cells[2].split("[")
    low, high = (float(x) for x in bounds.rstrip("]").split(","))
    assert float(mean_text) == 2.5 and 1.0 <= low < 2.5 < high <= 4.0


def test_compare_subtracts_the_second_variant_and_needs_two_seeds():
    def runs(*means):
        return {"runs": {str(i): {"validation_best": [m]} for i, m in enumerate(means)}}

    data = {"variants": {"new": runs(400.0, 420.0, 410.0), "old": runs(300.0, 310.0)}}
    line = studies.compare(data, "new", "old")
    assert "+105.0" in line and "they differ" in line
    assert "-105.0" in studies.compare(data, "old", "new")
    data["variants"]["old"] = runs(300.0)
    with pytest.raises(ValueError, match="'old' has 1 stored run"):
        studies.compare(data, "new", "old")


def test_compare_reads_a_folder_of_runs_made_apart(tmp_path):
    """Merging is reading the folder: runs written by separate processes compare."""
    runs = {("new", s): {"validation_best": [400.0 + 10 * s]} for s in range(3)}
    runs |= {("old", s): {"validation_best": [300.0 + 5 * s]} for s in range(3)}
    study = studies.read_study(make_study(tmp_path / "s", runs))
    assert "new (3 seeds) minus old (3 seeds)" in studies.compare(study, "new", "old")
    assert "+105.0" in studies.compare(study, "new", "old")


def test_run_score_takes_the_returns_of_a_stored_run_or_of_train():
    stored = {"steps": [5_000, 10_000], "evals": [-200.0, -120.0]}
    trained = {"evals": [(5_000, -200.0), (10_000, -120.0)], "returns": [-200.0]}
    assert studies.run_score(stored) == studies.run_score(trained) == -160.0


@pytest.mark.parametrize(
    "run, message",
    [
        ({"returns": [-200.0]}, "'evals' entry"),
        ([(5_000, -200.0)], "'evals' entry"),
        ({"evals": []}, "at least one"),
        ({"evals": [(5_000, -200.0, 3.0)]}, "pairs"),
        ({"evals": [(5_000, -200.0), -120.0]}, "pairs"),
        ({"evals": [float("nan")]}, "finite"),
    ],
)
def test_run_score_refuses_what_is_not_a_run_with_evaluations(run, message):
    with pytest.raises(ValueError, match=message):
        studies.run_score(run)
