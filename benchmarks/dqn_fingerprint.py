"""A fingerprint of ``train_dqn``'s default path: prove a change left it bit for bit.

    python benchmarks/dqn_fingerprint.py /tmp/before.json   # before the change
    python benchmarks/dqn_fingerprint.py /tmp/after.json    # after it
    diff /tmp/before.json /tmp/after.json                   # no output: unchanged

Two short runs with the shipped presets' configs and pieces (only the budget and the
evaluation sizes shrunk so they take a minute): MountainCar (Double DQN, εz-greedy,
3-step returns) and Space Invaders from RAM (clipped rewards, lives as terminal).
Each records its training-episode returns, the evaluation curve, the number of
gradient steps, the sum of the losses and a SHA-256 of the selected and last
networks' weights. One torch thread, as the trainer uses.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace

import torch

from course_utils.agents import dqn
from course_utils.common.envs import make_env
from course_utils.common.seeding import set_seed
from course_utils.presets import get_preset

# preset name: changes that make the run short (the algorithm's settings untouched)
SHORT = {
    "mountaincar": {"total_steps": 6_000, "eval_every": 2_000, "eval_episodes": 3},
    "spaceinvaders": {
        "total_steps": 6_000,
        "learning_starts": 2_000,
        "eval_every": 3_000,
        "eval_episodes": 1,
    },
}


def weights_hash(net: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def fingerprint(name: str, seed: int = 0) -> dict:
    preset = get_preset(name)
    cfg = replace(preset.config, **SHORT[name])
    result = dqn.train_dqn(
        make_env(preset.env_id, **preset.env_kwargs),
        cfg,
        rng=set_seed(seed),
        seed=seed,
        eval_env=make_env(preset.env_id, **preset.env_kwargs),
        progress=False,
        **preset.pieces,
    )
    return {
        "steps": result.steps,
        "episode_returns": result.episode_returns,
        "episode_end_steps": result.episode_end_steps,
        "evals": [[s, m, sd] for s, m, sd in result.evals],
        "gradient_steps": len(result.losses),
        "loss_sum": repr(sum(result.losses)),
        "selected_weights": weights_hash(result.q_net),
        "last_weights": weights_hash(result.last_q_net),
    }


def main() -> None:
    torch.set_num_threads(1)
    out = {name: fingerprint(name) for name in SHORT}
    text = json.dumps(out, indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as file:
            file.write(text + "\n")
    for name, record in out.items():
        print(
            f"{name}: {record['steps']} steps, {len(record['episode_returns'])} "
            f"episodes, last weights {record['last_weights'][:16]}"
        )


if __name__ == "__main__":
    main()
