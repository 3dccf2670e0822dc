"""The shipped checkpoints were made with the trainer's current presets."""

import json
from pathlib import Path

import pytest

from course_utils.train import PRESETS, SM_PRESETS

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"total_steps", "episodes", "max_seconds"}  # the trainer's flags set these


def preset_and_path(agent: str) -> tuple[dict, Path]:
    if agent in PRESETS:
        _, _, cfg, _, path = PRESETS[agent]
    else:
        _, cfg, path = SM_PRESETS[agent]
    return json.loads(json.dumps(cfg.to_dict())), ROOT / path


@pytest.mark.parametrize("agent", [*PRESETS, *SM_PRESETS])
def test_shipped_checkpoint_matches_its_preset(agent):
    preset, path = preset_and_path(agent)
    metadata = json.loads(Path(f"{path}.json").read_text())
    assert metadata["agent"] == agent
    differ = {
        k: (v, metadata["config"].get(k))
        for k, v in preset.items()
        if k not in BUDGET and metadata["config"].get(k) != v
    }
    assert not differ, (
        f"{path.name} was trained with other settings than the preset {agent!r} "
        f"(preset, checkpoint): {differ}. Regenerate it: make checkpoints OVERWRITE=1"
    )
