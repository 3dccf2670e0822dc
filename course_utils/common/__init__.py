"""Plumbing every notebook and agent shares: fast and grading modes, seeding,
environments (and the allow-list of those a checkpoint may name), replay storage,
networks, policies, evaluation, statistics over seeds, plots, videos, argument
validators, files written whole and checkpoints.

May import: the standard library, NumPy, PyTorch, Gymnasium, matplotlib and other
``common`` modules; never ``agents``, ``games`` or ``lessons``.
"""

from __future__ import annotations

import importlib
from typing import Any

# The names a notebook imports from ``course_utils.common``, by the module that
# defines each. They load on first use (PEP 562), so importing one module of this
# folder does not import every other one (and PyTorch with them).
_MODULES: dict[str, tuple[str, ...]] = {
    "modes": (
        "grading_mode",
        "fast_mode",
        "budget",
        "fast_mode_banner",
        "use_one_thread",
    ),
    "seeding": ("set_seed",),
    "envs": (
        "register_course_envs",
        "make_env",
        "CATCH_ID",
        "SNAKE_ID",
        "SNAKE_EGO_ID",
    ),
    "buffers": (
        "Batch",
        "sample_indices",
        "ReplayBuffer",
        "check_dtype",
        "check_shape",
        "check_obs",
        "check_action",
        "check_reward",
        "check_terminated",
    ),
    "networks": (
        "mlp",
        "Normalize",
        "QNetwork",
        "DuelingQNetwork",
        "LayerNormQNetwork",
        "BitsQNetwork",
        "QuantileQNetwork",
        "MLPActor",
        "build_network",
    ),
    "policies": (
        "greedy_action",
        "epsilon_greedy",
        "epsilon_greedy_action",
        "QPolicy",
        "ActorPolicy",
    ),
    "evaluation": (
        "evaluate",
        "evaluate_with_info",
        "summarize",
        "score_summary",
    ),
    "stats": (
        "iqm",
        "mean",
        "bootstrap_ci",
        "bootstrap_diff_ci",
        "curves_on_grid",
    ),
    "plotting": (
        "CourseFigure",
        "new_figure",
        "moving_average",
        "plot_returns",
        "plot_curves",
        "LiveCurve",
    ),
    "progress": (
        "progress_bar",
        "RunProgress",
    ),
    "animation": (
        "record_episode",
        "save_video",
        "show_video",
        "filmstrip",
    ),
    "schedules": ("linear_schedule",),
    "versions": (
        "check_versions",
        "package_versions",
    ),
    "data": (
        "data_dir",
        "shipped_checkpoint",
        "did_you_mean",
    ),
    "checkpoints": (
        "CheckpointPermissionError",
        "check_network_spec",
        "check_save_path",
        "save_checkpoint",
        "load_network",
        "load_policy",
    ),
    "validate": (
        "is_whole",
        "is_number",
        "refuse",
        "whole_number",
        "whole_numbers",
        "number",
        "probability",
        "index",
        "generator",
        "device",
    ),
}
_MODULES_OF = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_MODULES_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULES_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULES_OF[name]}"), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
