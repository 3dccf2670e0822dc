"""Learning curves: the moving average by hand, figures with the solved line."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure

from course_utils.common.plotting import (
    LiveCurve,
    moving_average,
    plot_curves,
    plot_returns,
)


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


def test_the_live_curve_draws_without_a_display():
    live = LiveCurve(title="DQN", solved_at=-110, lines={"random": -200}, window=2)
    empty = live.figure()  # nothing yet: an empty frame, no error
    assert len(empty.axes) == 1
    for step, ret in ((200, -200.0), (400, -180.0), (600, -150.0)):
        live.add_episode(step, ret)
    live.add_evaluation(500, -160.0, 12.0)
    assert live.draws == 0  # outside a kernel: records only
    fig = live.figure()
    (ax,) = fig.axes
    raw, average = ax.lines[0], ax.lines[1]
    np.testing.assert_array_equal(raw.get_xdata(), [200, 400, 600])
    np.testing.assert_allclose(average.get_ydata(), [-200, -190, -165])
    assert _solved_lines(ax)
    (random,) = [line for line in ax.lines if line.get_label() == "random"]
    np.testing.assert_array_equal(random.get_ydata(), [-200, -200])
    assert ax.get_title() == "DQN: last evaluation -160.0"
    assert fig._repr_png_().startswith(b"\x89PNG")


def test_the_live_curve_is_a_no_op_outside_a_kernel(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # a plain script
    live = LiveCurve(min_seconds=0, every_seconds=0)
    live.add_episode(100, -1.0)
    live.add_evaluation(100, -1.0, 0.0)
    live.close()
    assert live.showing() is False and live.draws == 0 and live.handle is None


class FakeHandle:
    def __init__(self):
        self.updates = []

    def update(self, image):
        self.updates.append(image)


def test_the_live_curve_shows_one_picture_and_updates_it(monkeypatch):
    import IPython
    import IPython.display

    class Kernel:
        kernel = object()  # what a Jupyter kernel's shell has

    shown = []

    def display(image, *, display_id):
        assert display_id is True
        shown.append(image)
        return handle

    handle = FakeHandle()
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    monkeypatch.setattr(IPython.display, "display", display)
    live = LiveCurve(min_seconds=0, every_seconds=3600)
    live.add_episode(200, -200.0)
    assert len(shown) == 1  # the first picture shows at once
    live.add_episode(400, -190.0)  # within every_seconds: no redraw
    assert live.draws == 1 and live.stale
    live.add_evaluation(400, -180.0, 5.0)  # every evaluation redraws
    assert live.draws == 2 and len(handle.updates) == 1 and not live.stale
    live.add_episode(600, -170.0)
    live.close()  # the last frame
    assert live.draws == 3 and len(handle.updates) == 2
    assert handle.updates[-1].data.startswith(b"\x89PNG")
    live.close()  # nothing new: no redraw
    assert live.draws == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 0}, "window must be"),
        ({"every_seconds": -1}, "every_seconds must be"),
        ({"min_seconds": float("nan")}, "min_seconds must be"),
        ({"lines": {"random": "low"}}, "random must be"),
    ],
)
def test_the_live_curve_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LiveCurve(**kwargs)
