"""FitML's "Selective Memory" for continuous control, plus our measured improvements.

The published method (all improvement flags off): keep a step in a small memory with
a probability that grows with how much its discounted return-to-go beats the
memory's average, then fit an actor (obs -> action) and a critic (obs, action ->
return) to that memory by plain supervised regression.

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from course_utils.evaluation import evaluate
from course_utils.networks import MLPActor, mlp
from course_utils.policies import ActorPolicy


def return_to_go(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """Discounted return from every step: ``R_t = r_t + gamma * R_{t+1}``.

    Args:
        rewards: ``(T,)`` rewards of one episode.
        gamma: discount factor (the original uses 0.95).

    Returns:
        ``(T,) float64`` returns-to-go.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    out = np.zeros_like(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def keep_probability(returns: np.ndarray, avg: float) -> np.ndarray:
    """FitML's keep rule: ``0.1 + 0.9 tanh(R - avg)`` above avg, else
    ``0.1 + 0.1 tanh(R - avg)``.

    Args:
        returns: ``(T,)`` returns-to-go; ``avg``: mean return stored in memory.

    Returns:
        ``(T,) float64`` probabilities in ``(0, 1)``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    d = np.asarray(returns, dtype=np.float64) - avg
    return np.where(d > 0, 0.1 + 0.9 * np.tanh(d), 0.1 + 0.1 * np.tanh(d))


class SelectiveMemory:
    """A capped memory of ``(obs, action, ret)`` rows; the oldest rows are dropped.

    Preallocated arrays with a ring index ``pos`` and a ``full`` flag.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}.")
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.action = np.zeros((capacity, act_dim), dtype=np.float32)
        self.ret = np.zeros(capacity, dtype=np.float32)
        self.pos, self.full = 0, False

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, obs: np.ndarray, action: np.ndarray, ret: np.ndarray) -> None:
        """Append rows ``obs (n, obs_dim)``, ``action (n, act_dim)``, ``ret (n,)``."""
        for o, a, r in zip(obs, action, ret, strict=True):
            self.obs[self.pos], self.action[self.pos], self.ret[self.pos] = o, a, r
            self.pos = (self.pos + 1) % self.capacity
            self.full = self.full or self.pos == 0

    def mean_return(self) -> float:
        """Mean stored return (0 for an empty memory: our choice)."""
        return float(self.ret[: len(self)].mean()) if len(self) else 0.0

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stored rows: ``obs (n, obs_dim)``, ``action (n, act_dim)``, ``ret (n,)``."""
        n = len(self)
        return self.obs[:n], self.action[:n], self.ret[:n]


def make_critic(obs_dim: int, act_dim: int, hidden: tuple[int, int]) -> nn.Module:
    """Reward predictor ``Q(cat(obs, action)) -> (batch, 1)``: ReLU then tanh layer."""
    return mlp((obs_dim + act_dim, *hidden, 1), ("relu", "tanh"))


def select_action(
    actor_action: np.ndarray, candidates: np.ndarray, q_values: np.ndarray
) -> np.ndarray:
    """Keep the actor's action unless the critic rates a candidate strictly higher.

    Args:
        actor_action: ``(act_dim,)``; candidates: ``(n, act_dim)``.
        q_values: ``(n + 1,)`` critic scores, ``q_values[0]`` for the actor's action.

    Returns:
        ``(act_dim,)`` the chosen action.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    best = int(np.argmax(q_values[1:]))
    return candidates[best] if q_values[1 + best] > q_values[0] else actor_action


@torch.no_grad()
def choose_action(
    obs: np.ndarray,
    actor: nn.Module,
    critic: nn.Module,
    *,
    rng: np.random.Generator,
    random_prob: float,
    n_candidates: int,
    noise: float = 0.0,
    noise_draw: np.ndarray | None = None,
    candidate_noise: float = 0.0,
) -> np.ndarray:
    """FitML's acting rule for one observation ``(obs_dim,)`` -> ``(act_dim,)``.

    With probability ``random_prob`` a uniform random action; else the actor's
    action against ``n_candidates`` random ones, scored by the critic in one batched
    forward pass. ``noise > 0`` (ours) adds Gaussian noise to the chosen action:
    ``noise * noise_draw`` if a standard-normal ``noise_draw (act_dim,)`` is given
    (correlated noise, see :func:`ar1_noise`), else a fresh draw. ``candidate_noise >
    0`` (ours) draws the candidates around the actor's action, ``action +
    candidate_noise * N(0, 1)``, instead of uniformly.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    act_dim = actor.act_dim
    if rng.random() < random_prob:
        return rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
    obs_t = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
    action = actor(obs_t)[0].numpy()
    if n_candidates > 0:
        shape = (n_candidates, act_dim)
        if candidate_noise > 0:
            candidates = action + candidate_noise * rng.standard_normal(shape)
        else:
            candidates = rng.uniform(-1.0, 1.0, shape)
        candidates = np.clip(candidates, -1.0, 1.0).astype(np.float32)
        acts = torch.from_numpy(np.vstack([action[None], candidates]))
        q = critic(torch.cat([obs_t.expand(len(acts), -1), acts], dim=1))[:, 0]
        action = select_action(action, candidates, q.numpy())
    if noise > 0:
        draw = rng.standard_normal(act_dim) if noise_draw is None else noise_draw
        action = np.clip(action + noise * draw, -1.0, 1.0)
    return np.asarray(action, dtype=np.float32)


def ar1_noise(
    previous: np.ndarray | None, corr: float, dim: int, rng: np.random.Generator
) -> np.ndarray:
    """Next standard-normal draw of an AR(1) process (ours): ``corr * previous +
    sqrt(1 - corr**2) * z``. Each draw has variance 1 and correlation ``corr`` with the
    one before, so a push in one direction lasts about ``1 / (1 - corr)`` steps.
    ``previous=None`` starts a new episode with a fresh draw.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    if not 0.0 <= corr < 1.0:
        raise ValueError(f"corr must be in [0, 1), got {corr}.")
    fresh = rng.standard_normal(dim)
    if previous is None:
        return fresh
    return corr * previous + np.sqrt(1.0 - corr**2) * fresh


def fit(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    batch_size: int,
    epochs: int,
    rng: np.random.Generator,
    max_updates: int | None = None,
) -> float:
    """Keras-style ``fit``: MSE over shuffled minibatches for ``epochs`` passes.

    Args:
        inputs: ``(n, in_dim) float32``; targets: ``(n, out_dim) float32``.
        max_updates: optional cap on gradient steps (ours, for large memories).

    Returns:
        mean loss of the last pass.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    x, y = torch.as_tensor(inputs), torch.as_tensor(targets)
    losses: list[float] = []
    updates = 0
    for _ in range(epochs):
        losses = []
        for idx in np.array_split(
            rng.permutation(len(x)), max(1, len(x) // batch_size)
        ):
            loss = nn.functional.mse_loss(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            updates += 1
            if max_updates is not None and updates >= max_updates:
                return float(np.mean(losses))
    return float(np.mean(losses)) if losses else 0.0


@dataclass
class SMConfig:
    """Every knob of Selective Memory. Defaults = FitML's published settings."""

    episodes: int = 300  # games played
    max_seconds: float | None = None  # optional wall-time cap on training
    gamma: float = 0.95  # discount of the return-to-go
    memory_size: int = 2000  # rows kept, oldest dropped
    random_games: int = 10  # first games play uniform random actions
    random_prob: float = 0.15  # random-action chance, decays linearly ...
    random_decay_games: int = 6000  # ... to 0 at this game
    n_candidates: int = 9  # random actions the critic compares with the actor's
    fit_every: int = 10  # fit both networks every this many games
    batch_size: int = 32
    epochs: int = 8
    lr: float = 3e-3  # Adam, both networks
    actor_hidden: tuple[int, int] = (1024, 512)
    critic_hidden: tuple[int, int] = (1024, 256)
    keep_rule: str = "selective"  # "selective" | "all" | "top_k" (ablation)
    top_k: float = 0.2  # "top_k": keep R above the memory's (1 - top_k) quantile
    # --- our improvements (all off = the published method) ---
    noise: float = 0.0  # Gaussian noise on every action (set random_prob=0 with it)
    noise_corr: float = 0.0  # > 0: AR(1) noise, correlated from one step to the next
    scale_by_std: bool = False  # keep rule on (R - avg) / std of memory returns
    max_updates: int | None = None  # cap gradient steps per fit (large memories)
    advantage: bool = False  # keep rule on R - V(s), V fitted on every recent step
    value_memory_size: int = 20_000  # rows of every step kept for V (and the critic)
    candidate_noise: float = 0.0  # > 0: critic candidates around the actor's action
    critic_on_all: bool = False  # fit the critic on every recent step, not the memory
    reward_floor: float | None = None  # learn from max(r, floor): a fall's -100
    # becomes e.g. -1 in the returns the memory ranks (evaluation keeps the env's)
    eval_every: int = 0  # games between evaluations of the actor (0 = never) ...
    eval_episodes: int = 5  # ... on this many episodes ...
    eval_seed: int = 10_000  # ... with seeds eval_seed+; the best actor is kept
    extra: dict = field(default_factory=dict)  # free-form notes for the metadata

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SMResult:
    """What :func:`train_selective_memory` hands back."""

    actor: MLPActor
    critic: nn.Module
    memory: SelectiveMemory
    episode_returns: list[float]
    episode_steps: list[int]
    steps: int
    wall_time_s: float
    best_actor: MLPActor | None = None  # best evaluated actor (if eval_every > 0)
    evals: list[tuple[int, float]] = field(default_factory=list)  # (game, mean)


def keep_mask(
    returns: np.ndarray,
    memory: SelectiveMemory,
    cfg: SMConfig,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Which steps of one episode enter the memory: ``(T,) bool``.

    ``baseline (T,)`` (ours): V(s) per step; the rule then compares R - V(s) with 0.
    """
    if cfg.keep_rule == "all":
        return np.ones(len(returns), dtype=bool)
    stored = memory.arrays()[2]
    if cfg.keep_rule == "top_k":
        return (
            returns >= np.quantile(stored, 1 - cfg.top_k)
            if len(stored)
            else np.ones(len(returns), dtype=bool)
        )
    avg = memory.mean_return() if baseline is None else 0.0
    if baseline is not None:  # ours: an advantage R - V(s), as in self-imitation
        returns = returns - baseline
        stored = returns if len(stored) < 2 else stored - stored.mean()
    if cfg.scale_by_std and len(stored) > 1:
        scale = float(stored.std()) + 1e-6
        p = keep_probability(returns / scale, avg / scale)
    else:
        p = keep_probability(returns, avg)
    return rng.random(len(returns)) < p


def train_selective_memory(
    env: gym.Env,
    cfg: SMConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    progress: bool = True,
    on_fit: object = None,
    eval_env: gym.Env | None = None,
) -> SMResult:
    """Play ``cfg.episodes`` games with FitML's acting rule, fill the selective memory,
    and fit both networks every ``cfg.fit_every`` games.

    ``on_fit(game, returns)`` (optional) is called after each fit. With
    ``cfg.eval_every > 0`` and an ``eval_env`` (ours), the actor alone is evaluated
    every ``eval_every`` games and the best one is kept in ``result.best_actor``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    from tqdm.auto import tqdm

    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    actor = MLPActor(obs_dim, act_dim, hidden=cfg.actor_hidden)
    critic = make_critic(obs_dim, act_dim, cfg.critic_hidden)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.lr)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.lr)
    memory = SelectiveMemory(cfg.memory_size, obs_dim, act_dim)
    returns, lengths, steps, start = [], [], 0, time.perf_counter()
    best_actor, best_score, evals = None, -np.inf, []
    if cfg.advantage:  # ours: a state-value baseline fitted on every recent step
        value = mlp((obs_dim, 256, 256, 1))
        value_opt = torch.optim.Adam(value.parameters(), lr=1e-3)
    keep_every_step = cfg.advantage or cfg.critic_on_all
    if keep_every_step:
        every_step = SelectiveMemory(cfg.value_memory_size, obs_dim, act_dim)
    bar = tqdm(range(cfg.episodes), disable=not progress, mininterval=1)
    for game in bar:
        random_prob = (
            1.0
            if game < cfg.random_games
            else max(0.0, cfg.random_prob * (1 - game / cfg.random_decay_games))
        )
        obs, _ = env.reset(seed=seed if game == 0 else None)
        ep_obs, ep_act, ep_rew, done = [], [], [], False
        draw = None  # correlated noise restarts every game
        while not done:
            if cfg.noise_corr > 0:
                draw = ar1_noise(draw, cfg.noise_corr, act_dim, rng)
            action = choose_action(
                obs,
                actor,
                critic,
                rng=rng,
                random_prob=random_prob,
                n_candidates=cfg.n_candidates,
                noise=cfg.noise,
                noise_draw=draw,
                candidate_noise=cfg.candidate_noise,
            )
            next_obs, reward, terminated, truncated, _ = env.step(action)
            ep_obs.append(obs), ep_act.append(action), ep_rew.append(reward)
            obs, done = next_obs, terminated or truncated
        learn_rew = np.array(ep_rew, dtype=np.float64)
        if cfg.reward_floor is not None:
            learn_rew = np.maximum(learn_rew, cfg.reward_floor)
        rtg = return_to_go(learn_rew, cfg.gamma)
        baseline = None
        if keep_every_step:
            every_step.add(np.array(ep_obs), np.array(ep_act), rtg)
        if cfg.advantage:
            with torch.no_grad():
                baseline = value(torch.as_tensor(np.array(ep_obs)))[:, 0].numpy()
        keep = keep_mask(rtg, memory, cfg, rng, baseline)
        memory.add(np.array(ep_obs)[keep], np.array(ep_act)[keep], rtg[keep])
        returns.append(float(np.sum(ep_rew)))
        lengths.append(len(ep_rew))
        steps += len(ep_rew)
        if (game + 1) % cfg.fit_every == 0 and len(memory) >= cfg.batch_size:
            m_obs, m_act, m_ret = memory.arrays()
            kw = dict(
                batch_size=cfg.batch_size,
                epochs=cfg.epochs,
                rng=rng,
                max_updates=cfg.max_updates,
            )
            if cfg.critic_on_all:  # ours: Q(s, a) of the behaviour, every step
                c_obs, c_act, c_ret = every_step.arrays()
                c_in = np.hstack([c_obs, c_act])
                c_kw = dict(kw, batch_size=256, max_updates=500)
                fit(critic, critic_opt, c_in, c_ret[:, None], **c_kw)
            else:
                fit(critic, critic_opt, np.hstack([m_obs, m_act]), m_ret[:, None], **kw)
            fit(actor, actor_opt, m_obs, m_act, **kw)
            if cfg.advantage:
                v_obs, _, v_ret = every_step.arrays()
                fit(
                    value,
                    value_opt,
                    v_obs,
                    v_ret[:, None],
                    batch_size=256,
                    epochs=1,
                    rng=rng,
                    max_updates=200,
                )
            if on_fit is not None:
                on_fit(game + 1, returns)
        if eval_env is not None and cfg.eval_every and (game + 1) % cfg.eval_every == 0:
            score = evaluate(
                ActorPolicy(actor),
                eval_env,
                n_episodes=cfg.eval_episodes,
                seed=cfg.eval_seed,
            ).mean()
            evals.append((game + 1, float(score)))
            if score > best_score:
                best_actor, best_score = copy.deepcopy(actor).eval(), score
        bar.set_postfix(ret=f"{np.mean(returns[-10:]):.0f}", refresh=False)
        elapsed = time.perf_counter() - start
        if cfg.max_seconds is not None and elapsed > cfg.max_seconds:
            break
    actor.eval()
    return SMResult(
        actor,
        critic,
        memory,
        returns,
        lengths,
        steps,
        time.perf_counter() - start,
        best_actor,
        evals,
    )
