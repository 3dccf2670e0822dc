"""Progress bars that count what a run counts, and close green when it ends normally.

:func:`progress_bar` wraps a loop over items (runs, seeds, variants) in the course's
bar. :class:`RunProgress` is the bar of one training run: it counts the budget that
stops the run (environment steps under a step budget, seconds under a wall-time cap
alone, else games), shows the latest evaluation in its postfix, feeds an optional
:class:`~course_utils.common.plotting.LiveCurve`, and, used as a context manager,
closes at its total when the run ends normally, even early (a wall-time cap, the last
game), naming what stopped it; an exception leaves it where it was (red in a
notebook). A run's bar nested under a bar over runs (``progress=outer``) vanishes when
the run ends, so a loop over many runs leaves one bar on screen.

In JupyterLab and Colab the bars are widgets (``tqdm.auto``); without ipywidgets
(nbval, a terminal) they are text. A run's bar chooses its unit from three
budgets and ends honestly (a shrunk total, the reason).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from tqdm import tqdm as any_bar

with warnings.catch_warnings():  # no ipywidgets (a bare kernel): a text bar is fine
    warnings.filterwarnings("ignore", message="IProgress not found")
    from tqdm.auto import tqdm

from course_utils.common.plotting import LiveCurve
from course_utils.common.validate import number, whole_number

UNITS = ("steps", "seconds", "games")


def _bar_mode(progress: bool | any_bar, what: str = "progress") -> tuple[bool, bool]:
    """(show a bar, leave it on screen when it closes) for a ``progress`` argument:
    True, False, or an open bar over runs to sit under (shown only if that one is,
    and gone when it closes)."""
    if isinstance(progress, bool):
        return progress, True
    if isinstance(progress, any_bar):
        return not progress.disable, False
    raise ValueError(
        f"{what} must be True, False or a bar over runs (progress_bar), got "
        f"{progress!r}."
    )


def progress_bar(
    items: Iterable,
    *,
    enabled: bool | any_bar = True,
    desc: str | None = None,
    total: int | None = None,
    unit: str = "it",
) -> tqdm:
    """The course's bar over ``items``, refreshed at most once a second.

    Over runs in a notebook: ``runs = progress_bar(seeds, desc="seeds", unit="run")``,
    and pass ``runs`` to each run as ``progress=``: the run's own bar sits under it and
    vanishes when the run ends. ``enabled``: True, False, or such an outer bar.
    """
    shown, leave = _bar_mode(enabled, "enabled")
    return tqdm(
        items,
        disable=not shown,
        mininterval=1,
        desc=desc,
        total=total,
        unit=unit,
        leave=leave,
    )


class RunProgress:
    """The bar of one training run, counting the budget that stops it.

    Give the run's budgets: ``steps`` (a step budget), ``games`` (a game budget),
    ``seconds`` (a wall-time cap); at least one. The bar counts steps when there is a
    step budget, else seconds (elapsed against the cap) when there is a cap, else
    games; a cap beside a step budget shows in the postfix. ``done_*`` start a resumed
    run where it was; ``elapsed`` (default: time since creation plus
    ``done_seconds``) is the clock the run's cap reads, so the bar and the run agree.

    The loop reports with :meth:`update` (its counts so far), :meth:`episode` (a
    finished training episode), :meth:`evaluation` (into the postfix and the live
    curve) and :meth:`note` (other postfix fields). Use it as a context manager, or
    call :meth:`close` after the loop: at a normal end the bar closes at its total; if
    the run stopped before its budget (the cap, the last game), the total shrinks to
    the count reached and the postfix says why. Counts above the budget (the last game
    of a step budget ends past it) show as the budget.

    ``progress``: True (a bar of its own), False (none) or a bar over runs
    (:func:`progress_bar`) this run's bar sits under; a nested bar leaves no trace.
    ``live``: a :class:`LiveCurve` to feed, or None.
    """

    def __init__(
        self,
        *,
        steps: int | None = None,
        games: int | None = None,
        seconds: float | None = None,
        done_steps: int = 0,
        done_games: int = 0,
        done_seconds: float = 0.0,
        elapsed: Callable[[], float] | None = None,
        progress: bool | tqdm = True,
        desc: str | None = None,
        live: LiveCurve | None = None,
    ) -> None:
        if steps is not None:
            whole_number("steps", steps, why="the run's step budget, or None")
        if games is not None:
            whole_number("games", games, why="the run's game budget, or None")
        if seconds is not None:
            number("seconds", seconds, above=0, why="the wall-time cap, or None")
        if steps is None and games is None and seconds is None:
            raise ValueError(
                "RunProgress needs what stops the run: steps=, games= or seconds= "
                "(e.g. RunProgress(steps=cfg.total_steps))."
            )
        if live is not None and not isinstance(live, LiveCurve):
            raise ValueError(
                f"live must be a LiveCurve or None, got {live!r}. Fix: "
                "live=LiveCurve(title=...) from course_utils.common.plotting."
            )
        shown, leave = _bar_mode(progress)
        self.budget = {"steps": steps, "games": games, "seconds": seconds}
        self.unit = next(u for u in UNITS if self.budget[u] is not None)
        self.steps, self.games = done_steps, done_games
        start, offset = time.perf_counter(), done_seconds
        self.elapsed = elapsed or (lambda: offset + time.perf_counter() - start)
        self.live = live
        self.postfix: dict[str, str] = {}
        self.bar = None
        if not shown:
            return
        if self.unit == "seconds":
            fmt = "{l_bar}{bar}| {n:.0f} of {total:.0f} s (time cap){postfix}"
        else:
            fmt = None
            if seconds is not None:
                self.postfix["cap"] = tqdm.format_interval(seconds)
        total = self.budget[self.unit]
        self.bar = tqdm(
            total=total,
            initial=min(self.count(), total),
            desc=desc,
            unit=self.unit[:-1] if self.unit != "seconds" else "s",
            unit_scale=self.unit == "steps",
            mininterval=1,
            bar_format=fmt,
            leave=leave,
        )
        if self.postfix:
            self.bar.set_postfix(self.postfix, refresh=False)

    def count(self) -> float:
        """The run's progress in the bar's unit."""
        if self.unit == "steps":
            return self.steps
        return self.elapsed() if self.unit == "seconds" else self.games

    def update(self, *, steps: int | None = None, games: int | None = None) -> None:
        """The run's counts so far (environment steps, games); the bar follows."""
        if steps is not None:
            self.steps = steps
        if games is not None:
            self.games = games
        bar = self.bar
        if bar is not None:
            n = min(self.count(), bar.total)
            if n > bar.n:
                bar.update(n - bar.n)

    def episode(self, step: int, episode_return: float) -> None:
        """A training episode ended at environment ``step`` with ``episode_return``."""
        if self.live is not None:
            self.live.add_episode(step, episode_return)

    def evaluation(self, step: int, mean: float, std: float, *, best: float) -> None:
        """An evaluation at environment ``step``: the postfix shows ``mean`` and the
        ``best`` so far; the live curve draws it."""
        self.note(eval=f"{mean:.1f}", best=f"{best:.1f}")
        if self.live is not None:
            self.live.add_evaluation(step, mean, std)

    def note(self, **fields: Any) -> None:
        """Show ``fields`` in the postfix (with the latest evaluation)."""
        if self.bar is not None:
            self.postfix.update({k: str(v) for k, v in fields.items()})
            self.bar.set_postfix(self.postfix, refresh=False)

    def stop_reason(self) -> str | None:
        """What stopped the run before the bar's budget: the cap or the games."""
        seconds, games = self.budget["seconds"], self.budget["games"]
        if self.unit != "seconds" and seconds is not None and self.elapsed() > seconds:
            return "time cap"
        if self.unit != "games" and games is not None and self.games >= games:
            return f"all {games} games"
        return None

    def close(self) -> None:
        """End of a normal run: the bar closes at its total (shrunk to the count
        reached if the run stopped early, with the reason), the live curve draws
        its last frame."""
        bar = self.bar
        if bar is not None:
            self.update()
            if bar.n < bar.total:
                reason = self.stop_reason()
                if reason is not None:
                    self.postfix["stopped"] = reason
                    bar.set_postfix(self.postfix, refresh=False)
                bar.total = bar.n
                container = getattr(bar, "container", None)  # the notebook widget
                if container is not None:
                    container.children[1].max = bar.n
            bar.close()
        if self.live is not None:
            self.live.close()

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, kind: type | None, *_: Any) -> None:
        if kind is None:
            self.close()
        elif self.bar is not None:
            self.bar.close()  # left short of its total: red in a notebook
