"""Deep Q-learning: ``core`` holds the pieces (act, store, target, update, sync: the
functions notebook 03's exercises define), ``loop`` the training loop that calls
them (``train_dqn``), ``vector`` its body over several environments stepped
together, ``run`` what both bodies share (config, set-up, result), ``qr`` the
quantile (QR-DQN) pieces. The names below are re-exported so that
``from course_utils.agents import dqn; dqn.train_dqn`` reads well.

May import: ``common`` and ``agents.services``.
"""

from course_utils.agents.dqn.core import (
    DQNLoss,
    HoldFn,
    LossFn,
    ShapingFn,
    TargetFn,
    TDLoss,
    Transition,
    ZipfHold,
    choose_action,
    choose_actions,
    compute_loss,
    compute_target,
    compute_target_double,
    double_dqn_target,
    gradient_step,
    n_step_push,
    no_hold,
    no_shaping,
    should_sync,
    soft_update,
    td_target,
    terminal_to_store,
)
from course_utils.agents.dqn.loop import train_dqn
from course_utils.agents.dqn.run import DQNConfig, DQNResult, make_q_network
from course_utils.agents.dqn.vector import VectorDQNConfig, make_vector_env
from course_utils.common.buffers import sample_indices  # ReplayBuffer.sample draws it

__all__ = [
    # act
    "HoldFn",
    "no_hold",
    "ZipfHold",
    "choose_action",
    "choose_actions",
    # store
    "ShapingFn",
    "Transition",
    "terminal_to_store",
    "no_shaping",
    "n_step_push",
    # sample
    "sample_indices",
    # target
    "TargetFn",
    "td_target",
    "double_dqn_target",
    "compute_target",
    "compute_target_double",
    # update
    "LossFn",
    "TDLoss",
    "compute_loss",
    "DQNLoss",
    "gradient_step",
    # sync
    "should_sync",
    "soft_update",
    # the loop
    "DQNConfig",
    "DQNResult",
    "make_q_network",
    "train_dqn",
    # several environments stepped together
    "VectorDQNConfig",
    "make_vector_env",
]
