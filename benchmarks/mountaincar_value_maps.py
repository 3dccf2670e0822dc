"""Value-map snapshots of one real run of notebook 03's core recipe, for fast mode.

    python benchmarks/mountaincar_value_maps.py [--seed 0] [--steps 150000]
        [--out data/mountaincar_value_maps.npz]

Trains ``course_utils.agents.dqn.train_dqn`` with the ``mountaincar`` preset and the
core recipe's pieces (the DQN target, plain ε-greedy, 3-step returns: ``CORE`` of
``benchmarks/mountaincar_seeds.py``). At the evaluations of ``SNAPSHOT_STEPS`` and at
the last one it stores the network's Q-values on a position × velocity grid, and at the
end one greedy episode of the selected network from a validation seed. Nothing the run
computes is changed: the grid is read under ``no_grad``, which draws no random number.
The file holds ``q`` (snapshots, velocities, positions, 3; float16), ``steps``,
``evals`` (the greedy evaluation at each snapshot), ``positions``, ``velocities`` and
``trajectory``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from mountaincar_seeds import CORE, VALIDATION_SEED  # beside this script

from course_utils.agents import dqn
from course_utils.common.envs import make_env
from course_utils.common.policies import QPolicy
from course_utils.common.seeding import set_seed
from course_utils.presets import get_preset

POSITIONS = np.linspace(-1.2, 0.6, 91, dtype=np.float32)
VELOCITIES = np.linspace(-0.07, 0.07, 71, dtype=np.float32)
SNAPSHOT_STEPS = (5_000, 10_000, 20_000, 35_000, 50_000, 75_000, 100_000)


def q_grid(q_net: torch.nn.Module) -> np.ndarray:
    """Q-values on the grid: (len(VELOCITIES), len(POSITIONS), n_actions)."""
    grid = np.array([[p, v] for v in VELOCITIES for p in POSITIONS], dtype=np.float32)
    with torch.no_grad():
        q = q_net(torch.as_tensor(grid)).numpy()
    return q.reshape(len(VELOCITIES), len(POSITIONS), -1)


class WatchedLoss:
    """``CORE``'s TD loss, keeping a reference to the network it trains."""

    network = dqn.DQNLoss.network

    def __init__(self, loss: dqn.DQNLoss) -> None:
        self.loss, self.q_net = loss, None

    def __call__(self, q_net, target_net, batch, gamma):
        self.q_net = q_net
        return self.loss(q_net, target_net, batch, gamma)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, help="smoke tests only (default: preset)")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/mountaincar_value_maps.npz")
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    preset = get_preset("mountaincar")
    cfg = preset.config
    if args.steps is not None:
        cfg = replace(
            cfg, total_steps=args.steps, eval_every=min(cfg.eval_every, args.steps)
        )
    loss = WatchedLoss(CORE["td_loss"])
    snapshots: list[tuple[int, float, np.ndarray]] = []

    def on_eval(step: int, mean: float) -> None:
        keep = step in SNAPSHOT_STEPS or step == cfg.total_steps
        if keep and loss.q_net is not None:  # no network before the first update
            snapshots.append((step, mean, q_grid(loss.q_net)))

    result = dqn.train_dqn(
        make_env(preset.env_id),
        cfg,
        rng=set_seed(args.seed),
        seed=args.seed,
        eval_env=make_env(preset.env_id),
        progress=False,
        on_eval=on_eval,
        **{**preset.pieces, **CORE, "td_loss": loss},
    )
    env = make_env(preset.env_id)
    obs, _ = env.reset(seed=VALIDATION_SEED)
    policy, trajectory, done = QPolicy(result.q_net), [obs], False
    while not done:
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        trajectory.append(obs)
        done = terminated or truncated
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        q=np.array([q for _, _, q in snapshots], dtype=np.float16),
        steps=np.array([s for s, _, _ in snapshots]),
        evals=np.array([m for _, m, _ in snapshots], dtype=np.float32),
        positions=POSITIONS,
        velocities=VELOCITIES,
        trajectory=np.array(trajectory, dtype=np.float32),
    )
    print(
        f"{len(snapshots)} snapshots, evaluations "
        f"{[round(float(m), 1) for _, m, _ in snapshots]}; first solved "
        f"{result.first_solved}; {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)"
    )


if __name__ == "__main__":
    main()
