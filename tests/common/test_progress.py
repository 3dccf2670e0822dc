"""Run bars: they count the budget that stops the run and close at their total."""

import pytest

from course_utils.common.plotting import LiveCurve
from course_utils.common.progress import RunProgress, progress_bar


def closed(bar) -> bool:
    """tqdm marks a closed bar as disabled."""
    return bar.disable


def test_a_step_budget_is_what_the_bar_counts():
    # a cap and a game budget beside it: still steps, the cap in the postfix
    watch = RunProgress(steps=1_000, games=50, seconds=3600, desc="run")
    assert watch.unit == "steps"
    assert watch.bar.total == 1_000
    assert watch.postfix == {"cap": "1:00:00"}
    watch.close()


def test_a_budget_stop_closes_at_the_total_even_past_it():
    with RunProgress(steps=1_000, games=50) as watch:
        for games, steps in enumerate((400, 900, 1_250), start=1):
            watch.update(steps=steps, games=games)  # the last game ends past it
    assert watch.bar.n == watch.bar.total == 1_000
    assert closed(watch.bar)
    assert "stopped" not in watch.postfix


def test_an_early_stop_by_the_games_shrinks_the_total_and_says_why():
    with RunProgress(steps=1_000, games=2) as watch:
        watch.update(steps=300, games=1)
        watch.update(steps=700, games=2)
    assert watch.bar.n == watch.bar.total == 700
    assert watch.postfix["stopped"] == "all 2 games"


def test_an_early_stop_at_the_time_cap_says_so():
    now = [0.0]
    with RunProgress(steps=1_000, seconds=2.0, elapsed=lambda: now[0]) as watch:
        watch.update(steps=100)
        now[0] = 2.5  # the run's deadline passed: its loop stops
    assert watch.bar.n == watch.bar.total == 100
    assert watch.postfix["stopped"] == "time cap"


def test_a_cap_alone_counts_seconds_against_the_cap():
    now = [0.0]
    with RunProgress(games=300, seconds=60.0, elapsed=lambda: now[0]) as watch:
        assert watch.unit == "seconds" and watch.bar.total == 60.0
        now[0] = 20.0
        watch.update(games=1)
        assert watch.bar.n == 20.0
        now[0] = 61.0  # the cap passed: the count stays at the cap
        watch.update(games=2)
    assert watch.bar.n == watch.bar.total == 60.0
    assert "stopped" not in watch.postfix


def test_no_budget_but_games_counts_games_and_a_resumed_run_starts_where_it_was():
    watch = RunProgress(games=300, done_games=120, done_steps=9_000)
    assert watch.unit == "games" and watch.bar.n == 120
    watch.update(games=121)
    assert watch.bar.n == 121
    watch.close()
    assert watch.bar.n == watch.bar.total == 121


def test_an_exception_leaves_the_bar_short_of_its_total():
    with pytest.raises(KeyboardInterrupt), RunProgress(steps=1_000) as watch:
        watch.update(steps=10)
        raise KeyboardInterrupt
    assert closed(watch.bar)
    assert watch.bar.n == 10 and watch.bar.total == 1_000  # red in a notebook


def test_the_latest_evaluation_is_in_the_postfix():
    watch = RunProgress(steps=1_000)
    watch.evaluation(500, -150.04, 10.0, best=-140.0)
    watch.note(ret=-160)
    assert watch.postfix == {"eval": "-150.0", "best": "-140.0", "ret": "-160"}
    assert "eval=-150.0" in str(watch.bar)
    watch.close()


def test_no_bar_when_off_and_the_counts_are_still_kept():
    watch = RunProgress(steps=1_000, progress=False)
    assert watch.bar is None
    watch.update(steps=10, games=1)
    watch.evaluation(10, 1.0, 0.0, best=1.0)
    watch.close()
    assert (watch.steps, watch.games) == (10, 1)


def test_a_run_under_a_bar_over_runs_leaves_no_trace():
    runs = progress_bar(range(2), desc="runs", unit="run", total=2)
    inner = RunProgress(steps=10, progress=runs)
    assert inner.bar.leave is False
    episodes = progress_bar(range(3), enabled=runs)
    assert episodes.leave is False and not episodes.disable
    alone = RunProgress(steps=10)
    assert alone.bar.leave is True
    for bar in (inner, alone):
        bar.close()
    runs.close()


def test_under_a_bar_that_is_off_no_bar_is_shown():
    runs = progress_bar(range(2), enabled=False)
    assert RunProgress(steps=10, progress=runs).bar is None
    assert progress_bar(range(3), enabled=runs).disable


def test_the_evaluations_and_episodes_reach_the_live_curve():
    live = LiveCurve()
    watch = RunProgress(steps=1_000, progress=False, live=live)
    watch.episode(200, -200.0)
    watch.evaluation(500, -150.0, 10.0, best=-150.0)
    assert live.episode_returns == [-200.0] and live.episode_steps == [200]
    assert live.evaluations == [(500, -150.0, 10.0)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs what stops the run"),
        ({"steps": 0}, "steps must be"),
        ({"steps": 10, "seconds": -1}, "seconds must be"),
        ({"steps": 10, "progress": 1}, "progress must be True, False or a bar"),
        ({"steps": 10, "live": True}, "live must be a LiveCurve"),
    ],
)
def test_bad_arguments_are_refused_with_the_fix(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RunProgress(**kwargs)


def test_progress_bar_counts_items_and_can_be_off():
    bar = progress_bar([1, 2, 3], desc="runs", unit="run")
    assert list(bar) == [1, 2, 3] and bar.n == 3 and bar.leave
    assert progress_bar([1], enabled=False).disable
    with pytest.raises(ValueError, match="enabled must be True, False or a bar"):
        progress_bar([1], enabled="yes")
