"""course_utils.lessons.studies: a study's file, its budget, which runs are left, the
table."""

import json

import numpy as np
import pytest

from course_utils.lessons import studies as batches


def test_write_atomically_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "study.json"
    batches.write_atomically(path, {"a": [1, 2]})
    batches.write_atomically(path, {"a": [3]}, indent=None)
    assert json.loads(path.read_text()) == {"a": [3]}
    assert [p.name for p in tmp_path.iterdir()] == ["study.json"]
    assert batches.read_study(tmp_path / "none.json") == {}
    assert batches.read_study(path) == {"a": [3]}


def test_a_file_made_with_another_budget_is_refused(tmp_path):
    path = tmp_path / "study.json"
    budget = {"steps": 1000, "hidden": (8, 8), "tiny": False}
    assert batches.budget_mismatch({}, budget, path) is None  # a new study
    batches.write_atomically(path, {"budget": budget})
    stored = batches.read_study(path)
    assert batches.budget_mismatch(stored, budget, path) is None  # tuples as lists
    why = batches.budget_mismatch(stored, {**budget, "steps": 2000}, path)
    assert str(path) in why and "another --out" in why and "2000" in why


def test_pending_skips_stored_runs_seed_by_seed():
    data: dict = {}
    batches.store_run(data, "b", 0, {"x": 1}, {"description": "B"})
    assert batches.pending(data, ["a", "b"], [0, 1]) == [("a", 0), ("a", 1), ("b", 1)]
    assert batches.stored_run(data, "b", 0) == {"x": 1}
    assert batches.stored_run(data, "b", 1) is None
    assert batches.stored_run(data, "c", 0) is None


def test_store_run_keeps_the_header_and_the_seeds_in_order():
    data: dict = {}
    for seed in (10, 2, 0):
        batches.store_run(data, "a", seed, {"seed": seed}, {"description": "A"})
    entry = data["variants"]["a"]
    assert entry["description"] == "A" and list(entry["runs"]) == ["0", "2", "10"]
    batches.store_run(data, "a", 2, {"seed": "again"}, {"description": "ignored"})
    assert entry["description"] == "A" and data["variants"]["a"]["runs"]["2"] == {
        "seed": "again"
    }


def test_interval_for_none_one_and_several_runs():
    rng = np.random.default_rng(0)
    cells = [
        batches.interval(values, rng) for values in ([], [5.0], [1.0, 2.0, 3.0, 4.0])
    ]
    assert len({len(cell) for cell in cells}) == 1  # a column lines up
    assert cells[0].strip() == "—" and cells[1].strip() == "5.0"
    mean_text, bounds = cells[2].split("[")
    low, high = (float(x) for x in bounds.rstrip("]").split(","))
    assert float(mean_text) == 2.5 and 1.0 <= low < 2.5 < high <= 4.0


def test_run_pending_runs_nothing_when_every_run_is_stored(tmp_path, capsys):
    data: dict = {}
    for variant in ("a", "b"):
        batches.store_run(data, variant, 0, {}, {})

    def never(job):
        raise AssertionError(f"{job} was stored already")

    ran = batches.run_pending(
        tmp_path / "s.json",
        data,
        ["a", "b", "a"],
        [0, 0],
        {},
        never,
        workers=1,
        header=dict,
        report=str,
    )
    assert ran == 0 and "2 runs stored, 0 to go" in capsys.readouterr().out
    assert not (tmp_path / "s.json").exists()


def test_stored_runs_lists_the_variants_with_runs():
    data: dict = {"variants": {"empty": {"runs": {}}}}
    batches.store_run(data, "a", 1, {"x": 1}, {})
    batches.store_run(data, "a", 0, {"x": 0}, {})
    assert batches.stored_runs(data) == [("a", [{"x": 0}, {"x": 1}])]
    assert batches.stored_runs({}) == []


def test_merge_studies_adds_runs_and_refuses_mixing_budgets_or_doubles(tmp_path):
    import pytest

    budget = {"steps": 500}
    one, two, other = (tmp_path / f"{n}.json" for n in ("one", "two", "other"))
    batches.write_atomically(
        one,
        {"budget": budget, "variants": {"a": {"description": "A", "runs": {"0": 1}}}},
    )
    batches.write_atomically(
        two,
        {
            "budget": budget,
            "variants": {
                "a": {"description": "A", "runs": {"1": 2}},
                "b": {"description": "B", "runs": {"0": 3}},
            },
        },
    )
    merged = batches.merge_studies([one, two])
    assert merged["budget"] == budget
    assert merged["variants"]["a"]["runs"] == {"0": 1, "1": 2}
    assert merged["variants"]["b"] == {"description": "B", "runs": {"0": 3}}
    assert batches.read_study(one)["variants"]["a"]["runs"] == {"0": 1}  # untouched
    batches.write_atomically(other, {"budget": {"steps": 600}, "variants": {}})
    with pytest.raises(ValueError, match="not comparable"):
        batches.merge_studies([one, other])
    with pytest.raises(ValueError, match="seed 0 is stored twice"):
        batches.merge_studies([one, one])
    with pytest.raises(ValueError, match="holds no study"):
        batches.merge_studies([one, tmp_path / "missing.json"])


def test_compare_subtracts_the_second_variant_and_needs_two_seeds():
    def runs(*means):
        return {"runs": {str(i): {"validation_best": [m]} for i, m in enumerate(means)}}

    data = {"variants": {"new": runs(400.0, 420.0, 410.0), "old": runs(300.0, 310.0)}}
    line = batches.compare(data, "new", "old")
    assert "+105.0" in line and "they differ" in line
    assert "-105.0" in batches.compare(data, "old", "new")
    data["variants"]["old"] = runs(300.0)
    with pytest.raises(ValueError, match="'old' has 1 stored run"):
        batches.compare(data, "new", "old")
