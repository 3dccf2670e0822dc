"""The Selective Memory training loop, and what it carries from game to game.

:func:`train_selective_memory` plays games, keeps rows with the ``keep`` piece, and
fits both networks every ``fit_every`` games. The pieces that vary are passed in,
each of a shape of ``core``: ``act`` (a ``CandidateChoice``), ``keep`` (a
``KeepRule``), ``fit_critic`` (a ``CriticFit``), ``compute_returns`` (the
``ReturnTargets``) and an optional ``baseline`` (a ``Baseline``: the V(s) that the
pieces marked ``reads_baseline`` read); the defaults are FitML's. :class:`SMState`
holds everything the loop changes (networks, optimizers, both memories, games
played), so a run can continue from it (``resume`` saves it); :class:`SMDiagnostics`
is the per-game record the loop keeps (plotted in notebook 05).

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import course_utils.agents.selective_memory.core as core
from course_utils.agents.services import BestModelKeeper, Deadline, live_curve
from course_utils.common.networks import MLPActor
from course_utils.common.plotting import LiveCurve
from course_utils.common.policies import ActorPolicy
from course_utils.common.progress import RunProgress


def new_state(
    env: gym.Env,
    cfg: core.SMConfig,
    *,
    seed: int,
    baseline: core.Baseline | None = None,
) -> SMState:
    """The state before the first game: ``seed`` sets the initial weights (torch's
    global random state is left as it was); ``baseline`` builds the run's V(s)."""
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        actor = MLPActor(obs_dim, act_dim, hidden=cfg.actor_hidden)
        critic = core.make_critic(obs_dim, act_dim, cfg.critic_hidden)
        value = baseline.build(obs_dim) if baseline is not None else None
    return SMState(
        actor,
        critic,
        value,
        torch.optim.Adam(actor.parameters(), lr=cfg.lr),
        torch.optim.Adam(critic.parameters(), lr=cfg.lr),
        core.SelectiveMemory(cfg.memory_size, obs_dim, act_dim),
        core.SelectiveMemory(cfg.recent_size, obs_dim, act_dim),
    )


@dataclass
class SMResult:
    """What :func:`train_selective_memory` hands back."""

    actor: MLPActor
    critic: nn.Module
    memory: core.SelectiveMemory
    episode_returns: list[float]
    episode_steps: list[int]
    steps: int
    wall_time_s: float
    best_actor: MLPActor | None = None  # best evaluated actor (if eval_every > 0)
    evals: list[tuple[int, float, float]] | None = None  # (game, mean, std)
    diagnostics: SMDiagnostics | None = None  # per-game figures
    state: SMState | None = None  # pass as state= to continue the run


def random_action_prob(game: int, cfg: core.SMConfig) -> float:
    """FitML's schedule: 1 for the first ``random_games``, then ``random_prob``
    falling linearly to 0 at game ``random_decay_games``."""
    if game < cfg.random_games:
        return 1.0
    return max(0.0, cfg.random_prob * (1 - game / cfg.random_decay_games))


def check_baseline(
    value: core.ValueFunction | None,
    *,
    keep: core.KeepRule,
    compute_returns: core.ReturnTargets,
) -> None:
    """Refuse a keep rule or return targets that read V(s) (``reads_baseline``) in a
    run without one (``value`` None), before the first game.

    Raises:
        ValueError: naming the piece and the fix.
    """
    for role, piece in (("keep", keep), ("compute_returns", compute_returns)):
        if value is None and isinstance(piece, core.ReadsBaseline):
            name = getattr(piece, "__name__", type(piece).__name__)
            raise ValueError(
                f"{role}={name} reads V(s), but this run has no baseline. Fix: pass "
                "baseline=ValueBaseline() (selective_memory.improvements) as well, "
                "as the shipped walker's pieces do."
            )


def train_selective_memory(
    env: gym.Env,
    cfg: core.SMConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    act: core.CandidateChoice = core.CriticChoice(),
    keep: core.KeepRule = core.keep_selective,
    fit_critic: core.CriticFit = core.FitCriticOnMemory(),
    compute_returns: core.ReturnTargets = core.returns_to_game_end,
    baseline: core.Baseline | None = None,
    progress: bool | tqdm = True,
    live: bool | LiveCurve = False,
    on_fit: Callable[[int, list[float]], None] | None = None,
    eval_env: gym.Env | None = None,
    state: SMState | None = None,
    on_game: Callable[[SMState], None] | None = None,
) -> SMResult:
    """Play games up to ``cfg.episodes``, fill the selective memory, and fit both
    networks every ``cfg.fit_every`` games. With ``cfg.max_steps``, stop after the
    game during which the run's environment steps reach it (a resumed run already
    there plays no game); with ``cfg.max_seconds``, at that wall time.

    ``seed`` seeds the first reset and the networks' initial weights; ``rng`` draws
    everything else. ``baseline`` (ours, ``improvements.ValueBaseline``) builds the
    V(s) that the pieces marked ``reads_baseline`` read (the keep rule gets V(s) of
    every step); such a piece without a baseline is refused before the first game.
    ``on_fit(game, returns)`` is called after each fit. With ``cfg.eval_every > 0``
    and an ``eval_env``, the actor alone is evaluated every ``eval_every`` games; the
    best is ``result.best_actor``.
    ``state`` (from :func:`new_state` or an earlier result) continues a run at its
    game ``state.game``; ``on_game(state)`` is called after every game (to save it).

    ``progress``: the run's bar (True), none (False), or a bar over runs
    (``common.progress.progress_bar``) this run's bar sits under and vanishes from
    when it ends. The bar counts what stops the run: environment steps of
    ``cfg.max_steps``, else seconds of ``cfg.max_seconds``, else games of
    ``cfg.episodes``. ``live``: True or a ``common.plotting.LiveCurve`` redraws the
    learning curve in the notebook while the run trains (nothing outside a
    notebook); training is the same with it or without it.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    act_dim = env.action_space.shape[0]
    if state is None:
        state = new_state(env, cfg, seed=seed, baseline=baseline)
    check_baseline(state.value, keep=keep, compute_returns=compute_returns)
    actor, critic, value, memory, recent = (
        state.actor,
        state.critic,
        state.value,
        state.memory,
        state.recent,
    )
    actor.train()
    returns, lengths, start_time = state.returns, state.lengths, state.wall_time_s
    left = None if cfg.max_seconds is None else cfg.max_seconds - start_time
    deadline = Deadline(None if left is None else max(left, 1e-6))
    keeper = BestModelKeeper(
        eval_env,
        lambda net, game: ActorPolicy(net),
        every=cfg.eval_every,
        episodes=cfg.eval_episodes,
        seed=cfg.eval_seed,
    )
    keeper.history, keeper.best = state.evals, state.best_actor
    keeper.best_score = state.best_score
    steps = int(sum(lengths))
    watch = RunProgress(
        steps=cfg.max_steps,
        games=cfg.episodes,
        seconds=cfg.max_seconds,
        done_steps=steps,
        done_games=state.game,
        elapsed=lambda: start_time + deadline.elapsed(),
        progress=progress,
        desc="Selective Memory",
        live=live_curve(live, title="Selective Memory"),
    )
    for game in range(state.game, cfg.episodes):
        if left is not None and left <= 0:
            break
        if cfg.max_steps is not None and steps >= cfg.max_steps:
            break  # the step budget: the last game reached it
        random_prob = random_action_prob(game, cfg)
        obs, _ = env.reset(seed=seed if game == 0 else None)
        ep_obs, ep_act, ep_rew, overrides, done = [], [], [], [], False
        while not done:
            if rng.random() < random_prob:
                action = rng.uniform(-1.0, 1.0, act_dim).astype(np.float32)
            else:
                action, overridden = act.choose(obs, actor, critic, rng)
                overrides.append(overridden)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            ep_obs.append(obs), ep_act.append(action), ep_rew.append(reward)
            obs, done = next_obs, terminated or truncated
        ep_obs, ep_act = np.array(ep_obs), np.array(ep_act)
        rtg = compute_returns(
            np.array(ep_rew, dtype=np.float64),
            cfg.gamma,
            truncated=bool(truncated and not terminated),
            next_obs=obs,
            value=value,
        )
        recent.add(ep_obs, ep_act, rtg)
        v = value.predict(ep_obs) if value is not None else None
        kept = keep(rtg, memory.arrays()[2], rng, v)
        memory.add(ep_obs[kept], ep_act[kept], rtg[kept])
        returns.append(float(np.sum(ep_rew)))
        lengths.append(len(ep_rew))
        steps += len(ep_rew)
        watch.episode(steps, returns[-1])
        predicted = critic_predictions(critic, ep_obs, ep_act)
        state.diagnostics.record(memory, kept, overrides, predicted, rtg)
        if (game + 1) % cfg.fit_every == 0 and len(memory) >= cfg.batch_size:
            fit_critic(critic, state.critic_opt, memory, recent, cfg, rng)
            m_obs, m_act, _ = memory.arrays()
            core.fit(
                actor,
                state.actor_opt,
                m_obs,
                m_act,
                batch_size=cfg.batch_size,
                epochs=cfg.epochs,
                rng=rng,
            )
            if value is not None:
                value.fit(recent, rng)
            if on_fit is not None:
                on_fit(game + 1, returns)
        if keeper.maybe_evaluate(game + 1, actor) is not None:
            watch.evaluation(steps, *keeper.history[-1][1:], best=keeper.best_score)
        state.best_actor, state.best_score = keeper.best, keeper.best_score
        state.game, state.wall_time_s = game + 1, start_time + deadline.elapsed()
        if on_game is not None:
            on_game(state)
        watch.note(ret=f"{np.mean(returns[-10:]):.0f}")
        watch.update(steps=steps, games=game + 1)
        if deadline.passed():
            break
    watch.close()
    actor.eval()
    return SMResult(
        actor,
        critic,
        memory,
        returns,
        lengths,
        int(sum(lengths)),
        start_time + deadline.elapsed(),
        keeper.best,
        keeper.history,
        state.diagnostics,
        state,
    )


@torch.no_grad()
def critic_predictions(
    critic: nn.Module, obs: np.ndarray, action: np.ndarray
) -> np.ndarray:
    """The critic's predicted returns ``(T,)`` for ``obs (T, obs_dim)`` and ``action
    (T, act_dim)``: put them beside the returns the steps actually obtained."""
    x = torch.as_tensor(np.hstack([obs, action]), dtype=torch.float32)
    return critic(x)[:, 0].numpy().astype(np.float64)


@dataclass
class SMDiagnostics:
    """Per-game figures the loop records (one entry per game, cheap to keep).

    ``memory_rows``: rows in memory after the game; ``keep_rate``: share of the game's
    steps kept; ``override_rate``: share of the acting rule's decisions where the
    critic replaced the actor's action (None when every step was random);
    ``critic_pred`` and ``return_mean``: the critic's mean prediction Q(s_t, a_t) over
    the game's steps (before this game's fit) and the mean return-to-go they obtained;
    ``critic_corr``: the correlation of the two over the game's steps (None for fewer
    than 2 steps or a constant).
    """

    memory_rows: list[int] = field(default_factory=list)
    keep_rate: list[float] = field(default_factory=list)
    override_rate: list[float | None] = field(default_factory=list)
    critic_pred: list[float] = field(default_factory=list)
    return_mean: list[float] = field(default_factory=list)
    critic_corr: list[float | None] = field(default_factory=list)

    def record(
        self,
        memory: core.SelectiveMemory,
        kept: np.ndarray,
        overrides: list[bool],
        predicted: np.ndarray,
        rtg: np.ndarray,
    ) -> None:
        """Append one game's figures."""
        self.memory_rows.append(len(memory))
        self.keep_rate.append(float(np.mean(kept)) if len(kept) else 0.0)
        self.override_rate.append(float(np.mean(overrides)) if overrides else None)
        self.critic_pred.append(float(predicted.mean()) if len(rtg) else 0.0)
        self.return_mean.append(float(rtg.mean()) if len(rtg) else 0.0)
        ok = len(rtg) > 1 and predicted.std() > 0 and rtg.std() > 0
        corr = float(np.corrcoef(predicted, rtg)[0, 1]) if ok else None
        self.critic_corr.append(corr)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SMState:
    """Everything ``train_selective_memory`` changes while it runs: the networks
    and their optimizers, both memories, the games played so far and their figures. Pass
    it back as ``state=`` to continue a run
    (``course_utils.agents.selective_memory.resume`` saves and loads it, with the rng
    and the environment's random state)."""

    actor: MLPActor
    critic: nn.Module
    value: core.ValueFunction | None  # V(s) built from the baseline, or None
    actor_opt: torch.optim.Optimizer
    critic_opt: torch.optim.Optimizer
    memory: core.SelectiveMemory
    recent: core.SelectiveMemory  # every step, for fits that use them
    game: int = 0  # games played so far
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    wall_time_s: float = 0.0  # training wall time so far
    diagnostics: SMDiagnostics = field(default_factory=SMDiagnostics)
    evals: list[tuple[int, float, float]] = field(default_factory=list)
    best_actor: MLPActor | None = None
    best_score: float = -np.inf
