"""Every shipped agent's settings, as data, read by name; and the seed ranges.

The trainer (``python -m course_utils.train NAME``), the evaluate command, the
benchmarks and the notebooks all read their settings from here, so an agent is
described once. A preset holds numbers (the algorithm's config) and the pieces that
vary between agents (functions such as the Double DQN target), each named in the
checkpoint's metadata.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch.nn.functional as F

from course_utils.agents import dqn
from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory import improvements as smi
from course_utils.common.networks import QNetwork
from course_utils.games.space_invaders import atari_transition

# Seed ranges, defined once. Training uses small seeds (0, 1, 2, ...); model
# selection evaluates on SELECTION_SEED + i; a final test uses TEST_SEED + i, which
# neither training nor selection ever sees.
SELECTION_SEED = 10_000
TEST_SEED = 1_000_000

# The environments a checkpoint may name, and the make_env keyword arguments each
# accepts with the values allowed: a checkpoint's metadata is data, never code (an
# id such as "module:Env" would make Gymnasium import the module), and it cannot
# shorten an episode (max_episode_steps) to inflate a score. ``stack`` (the last
# RAM snapshots side by side, see make_env) is the recipe study's.
KNOWN_ENVS: Mapping[str, Mapping[str, tuple[Any, ...]]] = MappingProxyType(
    {
        "MountainCar-v0": {},
        "ALE/SpaceInvaders-v5": {"obs_type": ("ram",), "stack": (2, 4)},
        "BipedalWalker-v3": {},
        "course/Catch-v0": {},
        "course/Snake-v0": {},
        "course/SnakeEgocentric-v0": {},
    }
)


def check_env_spec(env_id: Any, env_kwargs: Any) -> tuple[str, dict]:
    """Refuse an environment id or keyword argument the course does not know.

    Returns:
        ``(env_id, env_kwargs)`` as a plain string and dict.

    Raises:
        ValueError: naming what was given and what is accepted.
    """
    if not isinstance(env_id, str) or env_id not in KNOWN_ENVS:
        raise ValueError(
            f"Unknown environment {env_id!r} in the checkpoint's metadata; the course "
            f"knows {sorted(KNOWN_ENVS)}. A checkpoint names one of these (its "
            "metadata is data: it never imports code)."
        )
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"env_kwargs must be a dict, got {env_kwargs!r}.")
    allowed = KNOWN_ENVS[env_id]
    for key, value in env_kwargs.items():
        # the same type too: 4.0 == 4, but make_env refuses stack=4.0
        ok = any(type(value) is type(v) and value == v for v in allowed.get(key, ()))
        if not ok:
            raise ValueError(
                f"{env_id} does not accept env_kwargs {key}={value!r} here; allowed: "
                f"{dict(allowed) or 'none'}. The evaluation uses the environment's "
                "own limits (no max_episode_steps, no other settings)."
            )
    if "stack" in env_kwargs and env_kwargs.get("obs_type") != "ram":
        raise ValueError(
            f"{env_id}: stack={env_kwargs['stack']!r} stacks RAM snapshots only; "
            f"got obs_type={env_kwargs.get('obs_type')!r}. Fix: add obs_type='ram'."
        )
    return env_id, dict(env_kwargs)


@dataclass(frozen=True)
class Preset:
    """One agent: where it plays, how it learns, how it is tested, where it lives.

    Attributes:
        name: the trainer's name for it, e.g. ``"mountaincar"``.
        env_id, env_kwargs: ``make_env(env_id, **env_kwargs)``.
        config: the algorithm's numbers (``DQNConfig`` or ``SMConfig``).
        pieces: the pieces the training loop receives (keyword arguments of
            ``train_dqn`` or ``train_selective_memory``), each named in the
            checkpoint's metadata (:func:`piece_name`); one left out is the loop's
            default and is not named.
        policy_kind: ``"q"`` (ε-greedy on a Q-network) or ``"actor"``.
        eval_epsilon: exploration of the saved policy when tested.
        checkpoint: file name in ``data/checkpoints/``.
        test_episodes: episodes of the final test on seeds ``TEST_SEED``+.
        budget: the config field a command-line budget sets (``--steps`` for
            ``total_steps``, ``--episodes`` for ``episodes``).
        algorithm: a readable name for the metadata.
        info_score: an ``info`` key the test also reports per episode (Snake's
            ``"score"``: apples eaten), or None.
    """

    name: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    config: dqn.DQNConfig | sm.SMConfig
    pieces: Mapping[str, Any]
    policy_kind: str
    eval_epsilon: float
    checkpoint: str
    test_episodes: int
    budget: str
    algorithm: str
    info_score: str | None = None

    def describe_pieces(self) -> dict[str, str]:
        """The pieces by name, for the metadata (``{"hold": "no_hold", ...}``)."""
        return {key: piece_name(value) for key, value in self.pieces.items()}


def piece_name(piece: Any) -> str:
    """The name a reader can find in ``course_utils``: ``no_hold`` for a function,
    ``QuantileQNetwork`` for a class, and a piece object with its settings, its own
    pieces by name: ``DQNLoss(target=compute_target_double, loss=smooth_l1_loss)``,
    ``ZipfHold(mu=2.0, max_steps=10000)``."""
    if dataclasses.is_dataclass(piece) and not isinstance(piece, type):
        settings = ", ".join(
            f"{field.name}={_setting(getattr(piece, field.name))}"
            for field in dataclasses.fields(piece)
            if field.repr
        )
        return f"{type(piece).__qualname__}({settings})"
    return _setting(piece)


def _setting(value: Any) -> str:
    """A function or class by its name, anything else (a number, None) as ``repr``."""
    return getattr(value, "__qualname__", None) or repr(value)


# Names that checkpoints trained before the current ones recorded in their metadata
# (``pieces``): the old name of a piece -> its name today.
RENAMED_PIECES: Mapping[str, str] = MappingProxyType(
    {"one_step": "no_hold", "raw_transition": "no_shaping"}
)


def current_piece_names(recorded: Mapping[str, str]) -> dict[str, str]:
    """A checkpoint's recorded ``pieces`` as :meth:`Preset.describe_pieces` writes them
    today: renamed pieces under their new names, and a target and a loss recorded
    apart (``target_fn``, ``loss_fn``, and QR-DQN's ``td_loss``) as the one ``td_loss``
    object that brings both."""
    out = {key: RENAMED_PIECES.get(name, name) for key, name in recorded.items()}
    if "target_fn" in out:
        target, loss = out.pop("target_fn"), out.pop("loss_fn", "smooth_l1_loss")
        if out.get("td_loss") == "quantile_td_loss":
            out["td_loss"] = f"QuantileLoss(target={target}, kappa=1.0)"
        else:
            out["td_loss"] = f"DQNLoss(target={target}, loss={loss})"
    return out


# The pieces of every DQN agent shipped unless its preset changes one: Double DQN's
# target with the Huber loss, a plain Q-network, ε-greedy, rewards as the game gives.
DQN_PIECES: Mapping[str, Any] = MappingProxyType(
    {
        "td_loss": dqn.DQNLoss(target=dqn.compute_target_double, loss=F.smooth_l1_loss),
        "net_class": QNetwork,
        "hold": dqn.no_hold,
        "shaping": dqn.no_shaping,
    }
)


def dqn_preset(
    name: str,
    env_id: str,
    config: dqn.DQNConfig,
    *,
    checkpoint: str,
    algorithm: str = "DQN (double)",
    env_kwargs: Mapping[str, Any] = MappingProxyType({}),
    info_score: str | None = None,
    **pieces: Any,
) -> Preset:
    """A DQN agent: ``DQN_PIECES`` with ``pieces`` changed, a budget in environment
    steps (``--steps``), and a final test of 100 episodes with the ε its model
    selection used (``config.eval_epsilon``)."""
    if unknown := pieces.keys() - DQN_PIECES.keys():
        raise ValueError(f"{name}: unknown DQN pieces {sorted(unknown)}.")
    return Preset(
        name=name,
        env_id=env_id,
        env_kwargs=MappingProxyType(dict(env_kwargs)),
        config=config,
        pieces=MappingProxyType({**DQN_PIECES, **pieces}),
        policy_kind="q",
        eval_epsilon=config.eval_epsilon,
        checkpoint=checkpoint,
        test_episodes=100,
        budget="total_steps",
        algorithm=algorithm,
        info_score=info_score,
    )


# (settings grouped by what they are for: the formatter leaves them)
# fmt: off
MOUNTAINCAR = dqn_preset(
    "mountaincar",
    "MountainCar-v0",
    dqn.DQNConfig(
        total_steps=150_000,
        lr=4e-3, batch_size=128, max_grad_norm=10.0,  # the optimiser
        buffer_size=10_000, learning_starts=1_000,  # replay
        train_freq=16, gradient_steps=8,  # 8 updates every 16 steps
        gamma=0.98, target_update_interval=600, tau=1.0,  # the targets
        n_step=3,  # 3-step returns: the hill-top reward travels back 3x sooner
        epsilon_start=0.2, epsilon_end=0.07, exploration_fraction=0.2,  # exploration
        hidden=(256, 256), normalize_obs=True,  # the network
        eval_every=5_000, eval_episodes=20, eval_seed=SELECTION_SEED,  # selection
        solved_at=-110.0,
    ),
    checkpoint="mountaincar_dqn.pt",
    hold=dqn.ZipfHold(mu=2.0),  # εz-greedy: random actions held n ~ Zipf(2)
)
# fmt: on

# Space Invaders from the 128 RAM bytes (notebook 04). Atari habits: clipped rewards,
# a lost life stored as terminal, evaluation with ε = 0.05.
# (settings grouped by what they are for: the formatter leaves them)
# fmt: off
SPACEINVADERS = dqn_preset(
    "spaceinvaders",
    "ALE/SpaceInvaders-v5",
    dqn.DQNConfig(
        total_steps=4_000_000,  # the trainer's --max-minutes usually ends it first
        lr=1e-4,  # chosen by the recipe screen (benchmarks/README.md)
        batch_size=64,
        buffer_size=200_000, learning_starts=10_000, train_freq=4,  # replay
        gamma=0.99, target_update_interval=2_000, tau=1.0,  # the targets
        n_step=3,  # 3-step returns: rewards reach the Q-values 3x sooner
        epsilon_end=0.01, exploration_fraction=0.05,  # exploration
        hidden=(256, 256), normalize_obs=True,  # the network
        eval_every=100_000, eval_episodes=20, eval_seed=SELECTION_SEED,  # selection
        eval_epsilon=0.05,
    ),
    checkpoint="spaceinvaders_ram_dqn.pt",
    env_kwargs={"obs_type": "ram"},
    shaping=atari_transition,  # clipped rewards, a lost life as terminal
)
# fmt: on

# Selective Memory (notebook 05): FitML's method with the improvements our
# measurements kept (see selective_memory.improvements and the notebook's
# "Improvements").
BIPEDALWALKER = Preset(
    name="bipedalwalker",
    env_id="BipedalWalker-v3",
    env_kwargs=MappingProxyType({}),
    config=sm.SMConfig(
        episodes=4_000,
        random_prob=0.0,  # ours: no uniform random actions after the first games
        gamma=0.99,  # ours: a ~100-step horizon (published: 0.95)
        recent_size=100_000,  # ours: the critic and V see the last 100 000 steps
        eval_every=50,  # ours: keep the best actor of periodic evaluations
        eval_episodes=5,
        eval_seed=SELECTION_SEED,
    ),
    pieces=MappingProxyType(
        {
            "act": smi.NearActorChoice(n_candidates=16, spread=0.3, noise=0.1),
            "keep": smi.keep_advantage_scaled,
            "fit_critic": smi.FitCriticOnRecent(batch_size=256, max_updates=500),
            "baseline": smi.ValueBaseline(),
        }
    ),
    policy_kind="actor",
    eval_epsilon=0.0,
    checkpoint="bipedalwalker_selective_memory.pt",
    test_episodes=100,  # Gymnasium's "solved" is a mean over 100 episodes
    budget="episodes",
    algorithm="Selective Memory (FitML) with our improvements",
)

# Snake (qlearning4k's second game) seen from the head, heading up, relative actions
# (course_utils/games/snake.py): one MLP over the view, as qlearning4k did over its
# board, with the course's DQN choices (Adam, target network, Huber, Double DQN,
# 3-step returns) as Space Invaders makes them.
# fmt: off
SNAKE = dqn_preset(
    "snake",
    "course/SnakeEgocentric-v0",
    dataclasses.replace(  # Space Invaders' recipe, with Snake's budget and exploration
        SPACEINVADERS.config,
        total_steps=1_000_000, eval_every=25_000, eval_epsilon=0.0,  # the budget
        lr=5e-4, learning_starts=5_000,  # the optimiser, replay
        epsilon_end=0.02, exploration_fraction=0.1,  # exploration
    ),
    checkpoint="snake_dqn.pt",
    algorithm="DQN (double) on the egocentric view",
    info_score="score",
)
# fmt: on

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (MOUNTAINCAR, SPACEINVADERS, BIPEDALWALKER, SNAKE)}
)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ValueError lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"Unknown agent {name!r}; choose one of {sorted(PRESETS)}.")
    return PRESETS[name]
