"""The presets: every shipped agent's settings, as data."""

import pytest

from course_utils.agents import dqn
from course_utils.presets import (
    DQN_PIECES,
    MOUNTAINCAR,
    SNAKE,
    SPACEINVADERS,
    dqn_preset,
)


def test_dqn_presets_share_the_course_pieces_and_change_only_theirs():
    assert MOUNTAINCAR.pieces == {**DQN_PIECES, "hold": dqn.ZipfHold(mu=2.0)}
    assert SNAKE.pieces == DQN_PIECES
    assert SPACEINVADERS.pieces["td_loss"] is DQN_PIECES["td_loss"]
    for preset in (MOUNTAINCAR, SPACEINVADERS, SNAKE):
        assert preset.eval_epsilon == preset.config.eval_epsilon  # one source
        assert (preset.policy_kind, preset.budget) == ("q", "total_steps")


def test_a_misspelt_dqn_piece_is_refused():
    with pytest.raises(ValueError, match=r"unknown DQN pieces \['shapping'\]"):
        dqn_preset(
            "x", "MountainCar-v0", dqn.DQNConfig(), checkpoint="x.pt", shapping=1
        )
