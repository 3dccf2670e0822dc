"""FitML's Selective Memory: ``core`` holds the published pieces (return-to-go,
keep rules, the memory, how the critic picks an action, the fits) and the protocols
every piece follows, ``loop`` the training loop and the state it carries from game to
game, ``improvements`` the course's measured improvements, ``resume`` saving and
resuming a run. The names below are re-exported so that ``from course_utils.agents
import selective_memory as sm; sm.train_selective_memory`` reads well.

May import: ``common`` and ``agents.services``.
"""

from course_utils.agents.selective_memory.core import (
    Baseline,
    CandidateChoice,
    CriticChoice,
    CriticFit,
    FitCriticOnMemory,
    KeepRule,
    KeepTopK,
    ReadsBaseline,
    ReturnTargets,
    SelectiveMemory,
    SMConfig,
    ValueFunction,
    actor_action,
    critic_pick,
    critic_pick_flag,
    critic_scores,
    fit,
    fit_step,
    keep_all,
    keep_probability,
    keep_selective,
    keep_whole_game,
    make_critic,
    reads_baseline,
    return_to_go,
    returns_to_game_end,
    select_action,
)
from course_utils.agents.selective_memory.loop import (
    SMDiagnostics,
    SMResult,
    SMState,
    check_baseline,
    critic_predictions,
    new_state,
    random_action_prob,
    train_selective_memory,
)

__all__ = [
    # the shapes of the pieces
    "CandidateChoice",
    "KeepRule",
    "ReturnTargets",
    "CriticFit",
    "Baseline",
    "ValueFunction",
    "ReadsBaseline",
    "reads_baseline",
    # returns and keep rules
    "return_to_go",
    "returns_to_game_end",
    "keep_probability",
    "keep_selective",
    "keep_all",
    "keep_whole_game",
    "KeepTopK",
    # the memory and the networks
    "SelectiveMemory",
    "make_critic",
    # acting
    "select_action",
    "critic_scores",
    "critic_pick",
    "critic_pick_flag",
    "actor_action",
    "CriticChoice",
    # fitting
    "fit_step",
    "fit",
    "FitCriticOnMemory",
    # the loop
    "SMConfig",
    "new_state",
    "check_baseline",
    "SMResult",
    "random_action_prob",
    "train_selective_memory",
    "critic_predictions",
    "SMDiagnostics",
    "SMState",
]
