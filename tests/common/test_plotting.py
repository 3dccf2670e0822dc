"""Learning curves: the moving average by hand, figures with the solved line."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.common.plotting import moving_average, plot_curves, plot_returns


def test_moving_average_by_hand():
    # Trailing window of 3: [1], [1,2], [1,2,3], [2,3,4], [3,4,5]
    np.testing.assert_allclose(moving_average([1, 2, 3, 4, 5], 3), [1, 1.5, 2, 3, 4])
    # Window 2 over returns: [-200], [-200,-100], [-100,-150], [-150,-110]
    np.testing.assert_allclose(
        moving_average([-200, -100, -150, -110], 2), [-200, -150, -125, -130]
    )


def test_moving_average_window_one_and_longer_than_the_data():
    np.testing.assert_allclose(moving_average([4, 8, 6], 1), [4, 8, 6])
    # A window longer than the data gives the running mean.
    np.testing.assert_allclose(moving_average([4, 8, 6], 100), [4, 6, 6])


def test_moving_average_empty_and_bad_window():
    assert moving_average([], 5).shape == (0,)
    with pytest.raises(ValueError, match="window must be a whole number >= 1"):
        moving_average([1, 2], 0)


def _solved_lines(ax):
    return [line for line in ax.lines if line.get_label().startswith("solved")]


def test_plot_returns_draws_raw_average_and_solved_line():
    returns = [-200, -190, -150, -120, -105, -100]
    before = plt.get_fignums()
    fig = plot_returns(returns, window=2, solved_at=-110)
    assert isinstance(fig, Figure)
    assert plt.get_fignums() == before  # no pyplot figure left open
    (ax,) = fig.axes
    raw, average = ax.lines[0], ax.lines[1]
    np.testing.assert_array_equal(raw.get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(raw.get_ydata(), returns)
    np.testing.assert_allclose(average.get_ydata(), moving_average(returns, 2))
    (solved,) = _solved_lines(ax)
    np.testing.assert_array_equal(solved.get_ydata(), [-110, -110])
    assert solved.get_label() == "solved (-110)"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["return", "moving average (2)", "solved (-110)"]


def test_plot_returns_without_solved_line():
    fig = plot_returns(np.arange(10.0), window=3, title="MountainCar")
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and not _solved_lines(ax)
    assert ax.get_title() == "MountainCar"


@pytest.mark.parametrize("bad", [[], [[1.0, 2.0], [3.0, 4.0]], 5.0])
def test_plot_returns_refuses_empty_or_not_1d(bad):
    with pytest.raises(ValueError, match="non-empty 1-D"):
        plot_returns(bad)


def test_plot_returns_bad_window():
    with pytest.raises(ValueError, match="window"):
        plot_returns([1.0, 2.0], window=0)


def test_plot_curves_one_line_per_run_plus_solved_line():
    curves = {"DQN": [-200, -180, -150], "Double DQN": [-200, -160, -120, -110]}
    before = plt.get_fignums()
    fig = plot_curves(curves, window=2, solved_at=-110)
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    (ax,) = fig.axes
    runs = [line for line in ax.lines if not line.get_label().startswith("solved")]
    assert [line.get_label() for line in runs] == ["DQN", "Double DQN"]
    np.testing.assert_allclose(runs[0].get_ydata(), [-200, -190, -165])
    np.testing.assert_allclose(runs[1].get_ydata(), [-200, -180, -140, -115])
    (solved,) = _solved_lines(ax)
    np.testing.assert_array_equal(solved.get_ydata(), [-110, -110])


def test_plot_curves_refuses_empty_input():
    with pytest.raises(ValueError, match="curves is empty"):
        plot_curves({})
