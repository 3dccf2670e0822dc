"""FitML's Selective Memory: ``core`` holds the published pieces (return-to-go,
keep rules, the memory, how the critic picks an action, the fits), ``loop`` the
training loop and the state it carries from game to game, ``improvements`` the
course's measured improvements, ``resume`` saving and resuming a run. The names
below are re-exported so that ``from course_utils.agents import selective_memory as
sm; sm.train_selective_memory`` reads well.

May import: ``common`` and ``agents.services``.
"""

from course_utils.agents.selective_memory.core import (
    CandidateChoice,
    CriticChoice,
    KeepTopK,
    SelectiveMemory,
    actor_action,
    critic_pick,
    critic_pick_flag,
    critic_scores,
    episode_returns,
    fit,
    fit_critic_on_memory,
    fit_step,
    keep_all,
    keep_probability,
    keep_selective,
    keep_whole_game,
    make_critic,
    return_to_go,
    select_action,
)
from course_utils.agents.selective_memory.loop import (
    SMConfig,
    SMDiagnostics,
    SMResult,
    SMState,
    critic_predictions,
    new_state,
    random_action_prob,
    train_selective_memory,
)

__all__ = [
    "return_to_go",
    "episode_returns",
    "keep_probability",
    "SelectiveMemory",
    "make_critic",
    "select_action",
    "critic_scores",
    "critic_pick",
    "critic_pick_flag",
    "actor_action",
    "CandidateChoice",
    "CriticChoice",
    "keep_selective",
    "keep_all",
    "keep_whole_game",
    "KeepTopK",
    "fit_step",
    "fit",
    "fit_critic_on_memory",
    "SMConfig",
    "new_state",
    "SMResult",
    "random_action_prob",
    "train_selective_memory",
    "critic_predictions",
    "SMDiagnostics",
    "SMState",
]
