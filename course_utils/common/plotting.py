"""Learning curves. Figures are made without pyplot, so nothing is left open and
each figure shows exactly once when a notebook cell returns it.

The live curve (:class:`LiveCurve`, redrawn while a run trains) draws the same
picture as :func:`plot_returns` and belongs beside it."""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course_utils.common.validate import number, whole_number


class CourseFigure(Figure):
    """A matplotlib Figure that shows itself as a PNG when a notebook cell returns it,
    whether or not ``matplotlib.pyplot`` was imported (a plain ``Figure`` made
    without pyplot shows only as ``<Figure size ...>`` text)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def new_figure(figsize: tuple[float, float] = (8, 4), **kwargs: Any) -> CourseFigure:
    """A fresh figure outside pyplot: nothing to close, shown once when returned.

    The course's one way to make a figure: ``fig = new_figure((8, 3)); ax =
    fig.subplots()``, then end the cell with ``fig``. ``kwargs`` go to matplotlib's
    ``Figure`` (e.g. ``layout="constrained"``).
    """
    return CourseFigure(figsize=figsize, **kwargs)


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean: element ``i`` averages ``values[max(0, i-window+1) : i+1]``."""
    whole_number("window", window, why="values per average")
    values = np.asarray(values, dtype=np.float64)
    csum = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    start = np.maximum(idx - window, 0)
    return (csum[idx] - csum[start]) / (idx - start)


def plot_returns(
    returns: Sequence[float],
    *,
    window: int = 20,
    solved_at: float | None = None,
    title: str = "Learning curve",
    xlabel: str = "episode",
) -> Figure:
    """Raw episode returns, their moving average, and the 'solved' line.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 1 or len(returns) == 0:
        raise ValueError(
            f"returns must be a non-empty 1-D sequence, got shape {returns.shape}."
        )
    fig = new_figure((8, 4))
    ax = fig.subplots()
    x = np.arange(1, len(returns) + 1)
    ax.plot(x, returns, color="tab:blue", alpha=0.3, lw=1, label="return")
    ax.plot(
        x,
        moving_average(returns, window),
        color="tab:blue",
        lw=2,
        label=f"moving average ({window})",
    )
    if solved_at is not None:
        ax.axhline(
            solved_at, color="tab:green", ls="--", label=f"solved ({solved_at:g})"
        )
    ax.set(xlabel=xlabel, ylabel="return", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    window: int = 20,
    solved_at: float | None = None,
    title: str = "Comparison",
    xlabel: str = "episode",
    ylabel: str = "return",
) -> Figure:
    """Several runs on one plot (moving averages), e.g. DQN vs Double DQN."""
    if not curves:
        raise ValueError("curves is empty: pass {'label': returns, ...}.")
    fig = new_figure((8, 4))
    ax = fig.subplots()
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        ax.plot(
            np.arange(1, len(values) + 1),
            moving_average(values, window),
            lw=2,
            label=label,
        )
    if solved_at is not None:
        ax.axhline(
            solved_at, color="tab:green", ls="--", label=f"solved ({solved_at:g})"
        )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return fig


class LiveCurve:
    """A learning curve redrawn in the notebook's output while a run trains.

    The training loop (through :class:`~course_utils.common.progress.RunProgress`)
    calls :meth:`add_episode` at the end of every training episode and
    :meth:`add_evaluation` after every evaluation; the curve is redrawn at every
    evaluation (at most once per ``min_seconds``), every ``every_seconds`` between
    them, and a last time at :meth:`close`. Each redraw replaces the same PNG in the
    cell's output (an IPython display handle), so the notebook keeps one picture and
    needs no widgets. Outside a Jupyter kernel (a script, a test, a terminal) it only
    records: nothing is drawn or shown. It reads what it is given and nothing else, so
    training runs the same with it or without it.

    The picture: training episode returns (faint) and their moving average over
    ``window`` episodes, the evaluations' means with their standard deviation, the
    ``solved_at`` line and any other reference ``lines`` (``{"random actions":
    -100.0}``); x is the environment step.
    """

    def __init__(
        self,
        *,
        title: str = "Learning curve",
        solved_at: float | None = None,
        lines: Mapping[str, float] | None = None,
        window: int = 20,
        every_seconds: float = 10.0,
        min_seconds: float = 1.0,
        figsize: tuple[float, float] = (8, 3.2),
    ) -> None:
        whole_number("window", window, why="episodes per moving average")
        for name, value in (
            ("every_seconds", every_seconds),
            ("min_seconds", min_seconds),
        ):
            number(name, value, minimum=0, why="seconds between pictures")
        self.title, self.solved_at, self.window = title, solved_at, window
        self.lines = {label: number(label, y) for label, y in (lines or {}).items()}
        self.every_seconds, self.min_seconds = every_seconds, min_seconds
        self.figsize = figsize
        self.episode_steps: list[int] = []
        self.episode_returns: list[float] = []
        self.evaluations: list[tuple[int, float, float]] = []  # (step, mean, std)
        self.handle: Any = None  # the IPython display handle, after the first draw
        self.shown: bool | None = None  # None: not decided yet (see :meth:`showing`)
        self.draws = 0  # pictures shown so far
        self.last_draw = -np.inf
        self.stale = False  # data added since the last picture

    def add_episode(self, step: int, episode_return: float) -> None:
        """A training episode ended at environment ``step``."""
        self.episode_steps.append(int(step))
        self.episode_returns.append(float(episode_return))
        self.stale = True
        self.maybe_draw(self.every_seconds)

    def add_evaluation(self, step: int, mean: float, std: float) -> None:
        """An evaluation at environment ``step``: its mean and standard deviation."""
        self.evaluations.append((int(step), float(mean), float(std)))
        self.stale = True
        self.maybe_draw(self.min_seconds)

    def close(self) -> None:
        """The run ended: show the last picture if anything changed since."""
        if self.stale:
            self.maybe_draw(0.0)

    def figure(self) -> CourseFigure:
        """The picture of what was added so far (works anywhere, with no display)."""
        fig = new_figure(self.figsize)
        ax = fig.subplots()
        if self.episode_returns:
            x, y = self.episode_steps, self.episode_returns
            ax.plot(x, y, color="tab:blue", alpha=0.25, lw=1, label="training episode")
            average = moving_average(y, self.window)
            label = f"moving average ({self.window})"
            ax.plot(x, average, color="tab:blue", lw=2, label=label)
        if self.evaluations:
            steps, means, stds = np.array(self.evaluations).T
            ax.errorbar(
                steps,
                means,
                yerr=stds,
                color="tab:orange",
                marker="o",
                ms=4,
                capsize=3,
                label="evaluation (mean ± std)",
            )
        if self.solved_at is not None:
            label = f"solved ({self.solved_at:g})"
            ax.axhline(self.solved_at, color="tab:green", ls="--", label=label)
        for label, y in self.lines.items():
            ax.axhline(y, color="tab:gray", ls=":", label=label)
        title = self.title
        if self.evaluations:
            title += f": last evaluation {self.evaluations[-1][1]:.1f}"
        ax.set(xlabel="environment step", ylabel="return", title=title)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        return fig

    def showing(self) -> bool:
        """True inside a Jupyter kernel (JupyterLab, Colab, nbval), where a picture
        can be shown; decided once, at the first draw."""
        if self.shown is None:
            try:
                from IPython import get_ipython
            except ImportError:  # no IPython: a script
                self.shown = False
            else:
                shell = get_ipython()
                self.shown = getattr(shell, "kernel", None) is not None
        return self.shown

    def maybe_draw(self, wait: float) -> None:
        """Show the picture if ``wait`` seconds passed since the last one."""
        if not self.showing() or time.perf_counter() - self.last_draw < wait:
            return
        from IPython.display import Image, display

        image = Image(data=self.figure()._repr_png_(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        self.draws += 1
        self.last_draw, self.stale = time.perf_counter(), False
