"""A fingerprint of the training loops: prove that a change left them bit for bit.

    python tools/fingerprint.py /tmp/before.json   # before the change
    python tools/fingerprint.py /tmp/after.json    # after it
    cmp /tmp/before.json /tmp/after.json           # silent: unchanged

Short runs (about 40 s in all, one torch thread) with the shipped presets' settings
and pieces, only the budgets and evaluation sizes shrunk: the DQN loop on
MountainCar (Double DQN, εz-greedy, 3-step returns), Space Invaders from RAM
(clipped rewards, lives as terminals) and Snake's egocentric view; the Selective
Memory loop with the shipped walker's pieces and with FitML's published ones. Each
records its episode returns, its evaluations, the number of gradient steps, the sum
of the losses (DQN) and a SHA-256 of the final and selected networks' weights.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace

import torch

from course_utils.agents import dqn
from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory.resume import fresh_world_if_box2d
from course_utils.common.envs import make_env
from course_utils.common.seeding import set_seed
from course_utils.presets import get_preset

# preset name: what makes its run short (the algorithm's settings untouched)
DQN_RUNS = {
    "mountaincar": {"total_steps": 6_000, "eval_every": 2_000, "eval_episodes": 3},
    "spaceinvaders": {
        "total_steps": 6_000,
        "learning_starts": 2_000,
        "eval_every": 3_000,
        "eval_episodes": 1,
    },
    "snake": {
        "total_steps": 8_000,
        "learning_starts": 1_000,
        "eval_every": 4_000,
        "eval_episodes": 2,
    },
}
WALKER_SHORT = {"episodes": 14, "random_games": 2, "fit_every": 3}


def weights_hash(net: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def dqn_fingerprint(name: str, seed: int = 0) -> dict:
    preset = get_preset(name)
    result = dqn.train_dqn(
        make_env(preset.env_id, **preset.env_kwargs),
        replace(preset.config, **DQN_RUNS[name]),
        rng=set_seed(seed),
        seed=seed,
        eval_env=make_env(preset.env_id, **preset.env_kwargs),
        progress=False,
        **preset.pieces,
    )
    return {
        "steps": result.steps,
        "episode_returns": result.episode_returns,
        "evals": [list(e) for e in result.evals],
        "gradient_steps": len(result.losses),
        "loss_sum": repr(sum(result.losses)),
        "selected": weights_hash(result.q_net),
        "last": weights_hash(result.last_q_net),
    }


def walker_fingerprint(cfg: sm.SMConfig, pieces: dict, seed: int = 0) -> dict:
    result = sm.train_selective_memory(
        make_env("BipedalWalker-v3"),
        cfg,
        rng=set_seed(seed),
        seed=seed,
        eval_env=fresh_world_if_box2d(make_env("BipedalWalker-v3")),
        progress=False,
        **pieces,
    )
    best = result.best_actor
    return {
        "steps": result.steps,
        "episode_returns": [repr(r) for r in result.episode_returns],
        "evals": [[g, repr(m), repr(s)] for g, m, s in result.evals or []],
        "last": weights_hash(result.actor),
        "selected": weights_hash(best) if best is not None else None,
    }


def main() -> None:
    torch.set_num_threads(1)
    out = {name: dqn_fingerprint(name) for name in DQN_RUNS}
    walker = get_preset("bipedalwalker")
    shipped = replace(walker.config, eval_every=6, eval_episodes=1, **WALKER_SHORT)
    out["walker_shipped"] = walker_fingerprint(shipped, dict(walker.pieces))
    out["walker_published"] = walker_fingerprint(sm.SMConfig(**WALKER_SHORT), {})
    text = json.dumps(out, indent=1)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as file:
            file.write(text + "\n")
    for name, record in out.items():
        print(f"{name}: {record['steps']} steps, last weights {record['last'][:16]}")


if __name__ == "__main__":
    main()
