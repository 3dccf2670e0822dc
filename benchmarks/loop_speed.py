"""How fast the DQN loops run against the environment alone, Space Invaders and Snake.

    python benchmarks/loop_speed.py [--quick] [--games spaceinvaders snake]
        [--envs 1 4 8] [--modes sync async] [--steps N] [--train-freq F]
        [--only-vector]

For each game, side by side: the environment alone (random actions, one process), the
loop ``train_dqn`` on one environment and on a vector environment for each number of
environments and each mode, all with the shipped preset's settings and
pieces (so the same replay ratio, printed), one torch thread as the trainer uses.
A loop's speed is measured over a fixed number of environment steps after learning
has started (``--steps``, default 10 000 for Space Invaders and 5 000 for Snake);
to get there sooner, learning starts after 2 000 steps instead of the preset's
(the cost of a step does not depend on how full the buffer is). The clock reads come
from the model-selection hook (``on_eval``) with an evaluation environment that ends
its episode after one step, so evaluating costs nothing.

Two figures per row: environment steps per second of wall-clock time, and per second
of CPU time (this process and, for async environments, its worker processes, read
from ``/proc``): on a machine shared with other jobs the first falls with the load,
the second much less. Above each table, the CPU cost of each part of one gradient
step at the preset's sizes (where the loop's time goes once learning has started).
``--quick`` is a smoke test (a few hundred steps).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable

import numpy as np
import torch
from gymnasium.wrappers import TimeLimit
from torch import nn

from course_utils.agents import dqn
from course_utils.agents.dqn.vector import VECTOR_MODES
from course_utils.common.buffers import ReplayBuffer
from course_utils.common.envs import make_env
from course_utils.presets import Preset, get_preset

GAMES = {"spaceinvaders": 10_000, "snake": 5_000}  # preset: steps measured
LEARNING_STARTS = 2_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process and of the processes ``pids`` (Linux ``/proc``)."""
    total = time.process_time()
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return total


class Clock:
    """Wall and CPU time read at environment-step marks; speed between two marks."""

    def __init__(self, pids: Callable[[], list[int]] = list) -> None:
        self.pids = pids
        self.marks: list[tuple[int, float, float]] = []

    def mark(self, step: int, *_: object) -> None:
        self.marks.append((step, time.perf_counter(), cpu_seconds(self.pids())))

    def speed(self) -> tuple[float, float]:
        """(steps per wall second, steps per CPU second) from first mark to last."""
        (s0, w0, c0), (s1, w1, c1) = self.marks[0], self.marks[-1]
        return (s1 - s0) / (w1 - w0), (s1 - s0) / max(c1 - c0, 1e-9)


def env_alone(env_fn: Callable, steps: int) -> tuple[float, float]:
    """Random actions on one environment, resetting at each episode's end."""
    env, rng, clock = env_fn(), np.random.default_rng(0), Clock()
    env.reset(seed=0)
    n = int(env.action_space.n)
    clock.mark(0)
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(int(rng.integers(n)))
        if terminated or truncated:
            env.reset()
    clock.mark(steps)
    env.close()
    return clock.speed()


def loop_speed(
    preset: Preset,
    env_fn: Callable,
    steps: int,
    learning_starts: int,
    num_envs: int | None,
    mode: str,
) -> tuple[float, float]:
    """``train_dqn`` on one environment (``num_envs=None``) or on a vector
    environment, with ``preset``'s settings: its speed over ``steps`` environment
    steps after learning starts."""
    fields = dataclasses.asdict(preset.config) | {
        "hidden": preset.config.hidden,
        "learning_starts": learning_starts,
        "total_steps": learning_starts + steps,
        "eval_every": math.gcd(learning_starts, steps),  # marks at both ends
        "eval_episodes": 1,
        "max_seconds": None,
    }
    common = dict(
        rng=np.random.default_rng(0),
        seed=0,
        eval_env=TimeLimit(env_fn(), 1),  # one step: the marks cost nothing
        progress=False,
        **preset.pieces,
    )
    if num_envs is None:
        clock = Clock()
        cfg = dqn.DQNConfig(**fields)
        dqn.train_dqn(env_fn(), cfg, on_eval=clock.mark, **common)
    else:
        cfg = dqn.VectorDQNConfig(**fields, num_envs=num_envs, vector=mode)
        envs = dqn.make_vector_env(env_fn, num_envs, mode)
        workers = [p.pid for p in getattr(envs, "processes", [])]
        clock = Clock(lambda: workers)
        try:
            dqn.train_dqn(envs, cfg, on_eval=clock.mark, **common)
        finally:
            envs.close()
    clock.marks = [m for m in clock.marks if m[0] >= learning_starts]
    return clock.speed()


def gradient_step_parts(preset: Preset, env_fn: Callable, updates: int) -> str:
    """CPU milliseconds of each part of ``core.gradient_step`` at the preset's sizes
    (its network, batch and loss; a buffer of random play), and of the one-observation
    forward pass ``train_dqn`` makes to act."""
    cfg, env, rng = preset.config, env_fn(), np.random.default_rng(0)
    net = dqn.make_q_network(env, cfg.hidden, normalize_obs=cfg.normalize_obs)
    target_net, optimizer = copy.deepcopy(net), torch.optim.Adam(net.parameters())
    buffer = ReplayBuffer.for_env(env, 4 * cfg.batch_size)
    obs, _ = env.reset(seed=0)
    while len(buffer) < buffer.capacity:
        action = int(rng.integers(env.action_space.n))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, float(reward), next_obs, bool(terminated))
        obs = env.reset()[0] if terminated or truncated else next_obs
    td_loss, gamma = preset.pieces["td_loss"], cfg.gamma**cfg.n_step
    parts = dict.fromkeys(("sample", "loss", "backward", "clip", "Adam", "act"), 0.0)

    def timed(part: str, fn: Callable):
        start = time.process_time()
        out = fn()
        parts[part] += 1000 * (time.process_time() - start) / updates
        return out

    for _ in range(updates):
        batch = timed("sample", lambda: buffer.sample(cfg.batch_size, rng).to_torch())
        loss = timed("loss", lambda b=batch: td_loss(net, target_net, b, gamma))
        optimizer.zero_grad()
        timed("backward", loss.backward)
        timed("clip", lambda: nn.utils.clip_grad_norm_(net.parameters(), 10.0))
        timed("Adam", optimizer.step)
        with torch.no_grad():
            timed("act", lambda: net(torch.as_tensor(obs).unsqueeze(0)))
    step = sum(parts.values()) - parts["act"]
    return (
        f"  CPU ms per gradient step {step:.2f} ("
        + ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if k != "act")
        + f"; loss = its 3 forward passes); {cfg.replay_ratio * step:.2f} per "
        f"environment step at this replay ratio; acting on one observation "
        f"{parts['act']:.2f}"
    )


def measure_game(
    name: str,
    steps: int,
    learning_starts: int,
    envs: list[int],
    modes: list[str],
    train_freq: int | None = None,
    only_vector: bool = False,
) -> None:
    """Print one game's table (``train_freq``: another replay ratio than the
    preset's; ``only_vector``: the vector loop's rows alone)."""
    preset = get_preset(name)
    if train_freq is not None:
        config = dataclasses.replace(preset.config, train_freq=train_freq)
        preset = dataclasses.replace(preset, config=config)
    env_fn = functools.partial(make_env, preset.env_id, **dict(preset.env_kwargs))
    cfg = preset.config
    print(
        f"\n{name}: {preset.env_id} {dict(preset.env_kwargs) or ''}, replay ratio "
        f"{cfg.replay_ratio:g} ({cfg.gradient_steps} gradient step of "
        f"{cfg.batch_size} per {cfg.train_freq} environment steps), hidden "
        f"{cfg.hidden}; {steps} steps measured after learning starts",
        flush=True,
    )
    if not only_vector:
        print(gradient_step_parts(preset, env_fn, max(20, min(300, steps // 10))))
    print(f"  {'what':28s} {'steps/s wall':>13s} {'steps/s CPU':>12s}", flush=True)

    def row(what: str, speeds: tuple[float, float]) -> None:
        print(f"  {what:28s} {speeds[0]:13,.0f} {speeds[1]:12,.0f}", flush=True)

    if not only_vector:
        row("environment alone (random)", env_alone(env_fn, 2 * steps))
        row(
            "train_dqn (one env)",
            loop_speed(preset, env_fn, steps, learning_starts, None, "sync"),
        )
    for mode in modes:
        for n in envs:
            speeds = loop_speed(preset, env_fn, steps, learning_starts, n, mode)
            row(f"train_dqn {mode} N={n}", speeds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--games", nargs="+", choices=sorted(GAMES), default=list(GAMES)
    )
    parser.add_argument("--envs", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument(
        "--modes", nargs="+", choices=VECTOR_MODES, default=list(VECTOR_MODES)
    )
    parser.add_argument("--steps", type=int, help="steps measured (default: per game)")
    parser.add_argument(
        "--train-freq", type=int, help="another replay ratio: 1 / TRAIN_FREQ"
    )
    parser.add_argument(
        "--only-vector", action="store_true", help="the vector loop's rows alone"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: tiny budgets"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    learning_starts = 100 if args.quick else LEARNING_STARTS
    if args.quick:
        args.envs = args.envs[:2]
    start = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} cores)")
    for name in args.games:
        steps = args.steps or (200 if args.quick else GAMES[name])
        measure_game(
            name,
            steps,
            learning_starts,
            args.envs,
            args.modes,
            args.train_freq,
            args.only_vector,
        )
    print(
        f"\nload average at end: {os.getloadavg()[0]:.2f}; "
        f"{time.perf_counter() - start:.0f} s in all"
    )


if __name__ == "__main__":
    main()
