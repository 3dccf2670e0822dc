"""The cost of one QR-DQN gradient step against DQN's, at the Space Invaders sizes.

    python benchmarks/qr_dqn_speed.py [--updates 300] [--quantiles 51 200]

One torch thread, as the trainer uses. The ``spaceinvaders`` preset's sizes: batches
of 64 RAM observations (128 uint8 bytes, rescaled inside the net), hidden (256, 256),
6 actions, 3-step returns. DQN's loss is ``DQNLoss`` (Double DQN target, Huber),
QR-DQN's ``QuantileLoss`` (``qr_dqn.QR_DQN_PIECES``); both then ``gradient_step``.
The variants take turns in blocks of 25 updates, so a loaded machine slows them
alike; the figure is the median over blocks of the milliseconds per update.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import numpy as np
import torch

from course_utils.agents import dqn
from course_utils.agents.dqn import qr as qr_dqn
from course_utils.common.buffers import Batch
from course_utils.common.networks import QNetwork, QuantileQNetwork

BATCH, OBS, HIDDEN, ACTIONS, GAMMA = 64, 128, (256, 256), 6, 0.99**3
BLOCK = 25  # updates per turn


def random_batch(gen: torch.Generator) -> Batch:
    """A batch shaped like Space Invaders' (the values do not change the cost)."""
    return Batch(
        obs=torch.randint(0, 256, (BATCH, OBS), dtype=torch.uint8, generator=gen),
        action=torch.randint(0, ACTIONS, (BATCH,), generator=gen),
        reward=torch.randint(0, 2, (BATCH,), generator=gen).float(),
        next_obs=torch.randint(0, 256, (BATCH, OBS), dtype=torch.uint8, generator=gen),
        terminated=(torch.rand(BATCH, generator=gen) < 0.01).float(),
    )


def stepper(net: QNetwork, td_loss: dqn.TDLoss) -> Callable[[Batch], None]:
    """One gradient step of ``net`` on a batch, as ``train_dqn`` takes it."""
    target_net = copy.deepcopy(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=2.5e-4)

    def step(batch: Batch) -> None:
        dqn.gradient_step(
            net,
            target_net,
            optimizer,
            batch,
            gamma=GAMMA,
            td_loss=td_loss,
            max_grad_norm=10.0,
        )

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300, help="per variant")
    parser.add_argument("--quantiles", type=int, nargs="+", default=[51, 200])
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    bounds = {"obs_low": [0] * OBS, "obs_high": [255] * OBS}
    variants = {
        "DQN (Double, Huber)": stepper(
            QNetwork(OBS, ACTIONS, hidden=HIDDEN, **bounds),
            dqn.DQNLoss(target=dqn.compute_target_double),
        )
    }
    for n in args.quantiles:
        net = QuantileQNetwork(OBS, ACTIONS, hidden=HIDDEN, n_quantiles=n, **bounds)
        variants[f"QR-DQN, {n} quantiles"] = stepper(net, qr_dqn.QuantileLoss())
    gen = torch.Generator().manual_seed(0)
    batches = [random_batch(gen) for _ in range(BLOCK)]
    for step in variants.values():  # warm-up
        for batch in batches[:5]:
            step(batch)
    per_update: dict[str, list[float]] = {name: [] for name in variants}
    rounds = max(1, args.updates // BLOCK)
    for _ in range(rounds):
        for name, step in variants.items():
            start = time.perf_counter()
            for batch in batches:
                step(batch)
            per_update[name].append(1000 * (time.perf_counter() - start) / BLOCK)
    base = float(np.median(per_update["DQN (Double, Huber)"]))
    print(f"ms per update, one thread (median of {rounds} blocks of {BLOCK}):")
    for name, times in per_update.items():
        ms = float(np.median(times))
        print(f"  {name:24s} {ms:6.2f} ms  x{ms / base:.2f}")


if __name__ == "__main__":
    main()
