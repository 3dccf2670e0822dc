"""Deep Q-learning: ``core`` holds the pieces (targets, losses, the n-step
collector, exploration, the gradient step, the target sync), ``loop`` the training
loop that calls them, ``qr`` the quantile (QR-DQN) pieces. The names below are
re-exported so that ``from course_utils.agents import dqn; dqn.train_dqn`` reads well.

May import: ``common`` and ``agents.services``.
"""

from course_utils.agents.dqn.core import (
    HoldFn,
    LossFn,
    NStepCollector,
    ShapingFn,
    TargetFn,
    TDLossFn,
    ZipfHold,
    choose_action,
    compute_loss,
    compute_target,
    compute_target_double,
    double_dqn_target,
    n_step_push,
    one_step,
    optimize,
    raw_transition,
    should_sync,
    soft_update,
    storage_flag,
    td_target,
    update,
)
from course_utils.agents.dqn.loop import DQNConfig, DQNResult, make_q_network, train_dqn
from course_utils.common.buffers import sample_indices  # ReplayBuffer.sample draws it

__all__ = [
    "TargetFn",
    "LossFn",
    "HoldFn",
    "ShapingFn",
    "TDLossFn",
    "td_target",
    "double_dqn_target",
    "compute_target",
    "compute_target_double",
    "compute_loss",
    "optimize",
    "soft_update",
    "raw_transition",
    "storage_flag",
    "should_sync",
    "one_step",
    "ZipfHold",
    "NStepCollector",
    "sample_indices",
    "choose_action",
    "n_step_push",
    "update",
    "DQNConfig",
    "DQNResult",
    "make_q_network",
    "train_dqn",
]
