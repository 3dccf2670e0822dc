"""The shipped checkpoints were made with the current presets' settings.

Checkpoints trained before the presets module (the first edition's metadata) record
the pieces as config flags; ``legacy`` translates those flags to the pieces that
replaced them, so the same comparison covers both. Checkpoints that record piece
names may use names since changed: ``presets.current_piece_names`` reads them.
"""

import json

import pytest
import torch.nn.functional as F

from course_utils.agents import dqn
from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory import improvements as smi
from course_utils.common import networks
from course_utils.common.checkpoints import load_network
from course_utils.common.data import data_dir
from course_utils.games.space_invaders import atari_transition
from course_utils.presets import PRESETS, current_piece_names, piece_name

BUDGET = {"total_steps", "episodes", "max_seconds", "max_steps"}  # set by the trainer
RENAMED = {"value_memory_size": "recent_size"}


def legacy(config: dict) -> tuple[dict, dict]:
    """First-edition config flags -> (config fields, pieces) of today's presets."""
    if "double" in config:  # DQN
        atari = config["clip_reward"] and config["terminal_on_life_loss"]
        mu = config["repeat_mu"]
        target = dqn.compute_target_double if config["double"] else dqn.compute_target
        pieces = {
            "td_loss": dqn.DQNLoss(
                target=target,
                loss=F.smooth_l1_loss if config["loss"] == "huber" else F.mse_loss,
            ),
            "net_class": networks.DuelingQNetwork
            if config["dueling"]
            else networks.QNetwork,
            "hold": dqn.ZipfHold(mu=mu) if mu else dqn.no_hold,
            "shaping": atari_transition if atari else dqn.no_shaping,
        }
    else:  # Selective Memory, with the improvements the shipped walker used
        assert (
            config["advantage"] and config["scale_by_std"] and config["critic_on_all"]
        )
        pieces = {
            "act": smi.NearActorChoice(
                n_candidates=config["n_candidates"],
                spread=config["candidate_noise"],
                noise=config["noise"],
            ),
            "keep": smi.keep_advantage_scaled,
            "fit_critic": smi.FitCriticOnRecent(batch_size=256, max_updates=500),
            "baseline": smi.ValueBaseline(),
        }
    fields = {RENAMED.get(k, k): v for k, v in config.items()}
    return fields, {k: piece_name(v) for k, v in pieces.items()}


@pytest.mark.parametrize("agent", sorted(PRESETS))
def test_shipped_checkpoint_matches_its_preset(agent):
    preset = PRESETS[agent]
    path = data_dir() / "checkpoints" / preset.checkpoint
    metadata = load_network(path)[1]  # the .pt is the truth
    assert metadata["agent"] == agent and metadata["env_id"] == preset.env_id
    if "pieces" in metadata:
        fields, pieces = metadata["config"], current_piece_names(metadata["pieces"])
    else:
        fields, pieces = legacy(metadata["config"])
    want = json.loads(json.dumps(preset.config.to_dict()))
    differ = {
        k: (v, fields.get(k))
        for k, v in want.items()
        if k not in BUDGET and fields.get(k) != v
    }
    assert not differ and pieces == preset.describe_pieces(), (
        f"{path.name} was trained with other settings than the preset {agent!r} "
        f"(preset, checkpoint): {differ}, pieces {pieces} vs "
        f"{preset.describe_pieces()}. Regenerate it: make checkpoints OVERWRITE=1"
    )


def test_the_legacy_translation_catches_a_change():
    """A preset edited after training (here plain DQN) no longer matches."""
    metadata = load_network(data_dir() / "checkpoints/mountaincar_dqn.pt")[1]
    _, pieces = legacy({**metadata["config"], "double": False})
    assert pieces != PRESETS["mountaincar"].describe_pieces()
    assert sm.CriticChoice() != PRESETS["bipedalwalker"].pieces["act"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_shipped_checkpoint_loads_and_plays(name):
    # the metadata's environment must pass the allow-list (check_env_spec): the
    # Snake agent's egocentric view once did not, so it could not be evaluated
    from course_utils.common.checkpoints import load_policy
    from course_utils.common.envs import make_env
    from course_utils.presets import check_env_spec

    preset = PRESETS[name]
    check_env_spec(preset.env_id, dict(preset.env_kwargs))
    policy, meta = load_policy(data_dir() / "checkpoints" / preset.checkpoint)
    env = make_env(meta["env_id"], **meta["env_kwargs"])
    obs, _ = env.reset(seed=0)
    assert env.action_space.contains(policy(obs))


def test_recorded_piece_names_read_as_today_s():
    recorded = {
        "target_fn": "compute_target_double",
        "loss_fn": "smooth_l1_loss",
        "net_class": "QNetwork",
        "hold": "one_step",
        "shaping": "raw_transition",
    }
    assert current_piece_names(recorded) == PRESETS["snake"].describe_pieces()
    qr = {
        "net_class": "QuantileQNetwork",
        "target_fn": "quantile_target_double",
        "loss_fn": "quantile_huber_loss",
        "td_loss": "quantile_td_loss",
    }
    from course_utils.agents.dqn.qr import QR_DQN_PIECES

    assert current_piece_names(qr) == {
        k: piece_name(v) for k, v in QR_DQN_PIECES.items()
    }
    today = PRESETS["mountaincar"].describe_pieces()
    assert current_piece_names(today) == today
