"""Learning curves. Figures are made without pyplot, so nothing is left open and
each figure shows exactly once when a notebook cell returns it."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from course_utils.common.validate import whole_number


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

    Taught in: 03_dqn_mountaincar.ipynb
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
