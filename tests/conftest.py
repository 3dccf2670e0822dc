"""Fixtures shared by the tests, and the ``--e2e`` switch.

The browser test (``tests/e2e/test_browser.py``, marked ``e2e``) drives JupyterLab in
headless Chromium for minutes: it is deselected unless pytest runs with ``--e2e``
(``make e2e`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from course_utils.common.versions import package_versions


def _metadata(
    env_id: str = "MountainCar-v0",
    *,
    env_kwargs: dict[str, Any] | None = None,
    kind: str = "q",
    eval_epsilon: float = 0.0,
) -> dict[str, Any]:
    """Everything a course checkpoint records (save_checkpoint adds the network)."""
    return {
        "env_id": env_id,
        "env_kwargs": {} if env_kwargs is None else env_kwargs,
        "policy": {"kind": kind, "eval_epsilon": eval_epsilon},
        "train_command": "pytest (a test checkpoint, never trained)",
        "seed": 0,
        "train_steps": 0,
        "wall_time_s": 0.0,
        "evaluation": {
            "mean": -200.0,
            "std": 0.0,
            "episodes": 2,
            "seeds": "1000000..1000001",  # TEST_SEED: as the trainer writes it
        },
        "versions": package_versions(),
    }


@pytest.fixture
def make_metadata() -> Callable[..., dict[str, Any]]:
    """``make_metadata(env_id, env_kwargs=..., kind=..., eval_epsilon=...) -> dict``."""
    return _metadata


@pytest.fixture
def tiny_dqn():
    """A DQNConfig small enough for a unit test: a few hundred MountainCar steps with an
    8-unit network and no evaluation. Change what a test needs with ``replace``."""
    from course_utils.agents.dqn import DQNConfig

    return DQNConfig(
        total_steps=300,
        learning_starts=50,
        batch_size=16,
        buffer_size=500,
        eval_every=0,
        hidden=(8,),
    )


@pytest.fixture
def tiny_sm():
    """An SMConfig small enough for a unit test: a few BipedalWalker games with 8-unit
    networks and one-epoch fits. Change what a test needs with ``replace``."""
    from course_utils.agents.selective_memory import SMConfig

    return SMConfig(
        episodes=3,
        fit_every=2,
        random_games=1,
        epochs=1,
        actor_hidden=(8, 8),
        critic_hidden=(8, 8),
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--e2e",
        action="store_true",
        help="also run the browser test (JupyterLab in headless Chromium; make e2e)",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    if config.getoption("--e2e"):
        return
    browser = [item for item in items if item.get_closest_marker("e2e")]
    if browser:
        config.hook.pytest_deselected(items=browser)
        items[:] = [item for item in items if not item.get_closest_marker("e2e")]


@pytest.fixture
def keep_bars(monkeypatch) -> Callable[[Any], list]:
    """``keep_bars(module)``: every ``RunProgress`` that ``module`` makes from now on,
    kept in the returned list for inspection."""
    from course_utils.common.progress import RunProgress

    def keep(module: Any) -> list:
        made = []

        class Kept(RunProgress):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                made.append(self)

        monkeypatch.setattr(module, "RunProgress", Kept)
        return made

    return keep
