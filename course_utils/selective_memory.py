"""FitML's "Selective Memory" for continuous control: the published method.

Over 200 lines because the method's pieces and the loop that receives them are
read together in notebook 05.

Keep a step in a small memory with a probability that grows with how much its
discounted return-to-go beats the memory's average, then fit an actor (obs ->
action) and a critic (obs, action -> return) to that memory by plain supervised
regression. The loop, :func:`train_selective_memory`, receives the pieces that vary
as functions: ``act`` (how to act), ``keep`` (which rows to keep), ``fit_critic``
(how to fit the critic), ``compute_returns`` (the targets) and an optional
``baseline`` V(s); the defaults are the published ones. Our measured improvements
live in ``course_utils.sm_improvements``; the run's state and per-game diagnostics in
``course_utils.sm_state``; saving and resuming a run in ``course_utils.sm_resume``.

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from course_utils.networks import MLPActor, mlp
from course_utils.policies import ActorPolicy
from course_utils.sm_state import SMDiagnostics, SMState, critic_predictions
from course_utils.training import BestModelKeeper, Deadline, progress_bar


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


# The returns piece's signature (the loop's call) stands again in
# sm_truncation.returns_bootstrap_truncated: same interface, other targets, on purpose.
def episode_returns(
    rewards: np.ndarray,
    gamma: float,
    *,
    truncated: bool,
    next_obs: np.ndarray,
    value: object | None,
) -> np.ndarray:
    """FitML's targets: :func:`return_to_go`, the end of the game being the end of
    the future even when the game was only cut by the time limit (``truncated``).

    A returns piece maps one game's ``rewards (T,)``, ``gamma``, whether the game was
    truncated, the observation after its last step ``next_obs (obs_dim,)`` and the
    loop's V(s) (or None) to ``(T,) float64`` targets.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    return return_to_go(rewards, gamma)


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
    """Reward predictor ``Q(cat(obs, action)) -> (batch, 1)``: ReLU then tanh layer.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
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
def critic_scores(
    obs: np.ndarray, action: np.ndarray, candidates: np.ndarray, critic: nn.Module
) -> tuple[np.ndarray, np.ndarray]:
    """Clip ``candidates (n, act_dim)`` to [-1, 1] and score the actor's ``action
    (act_dim,)`` and them in one batched pass: ``(candidates, q (n + 1,))``."""
    candidates = np.clip(candidates, -1.0, 1.0).astype(np.float32)
    obs_t = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
    acts = torch.from_numpy(np.vstack([action[None], candidates]))
    q = critic(torch.cat([obs_t.expand(len(acts), -1), acts], dim=1))[:, 0]
    return candidates, q.numpy()


def critic_pick(
    obs: np.ndarray, action: np.ndarray, candidates: np.ndarray, critic: nn.Module
) -> np.ndarray:
    """Score the actor's ``action (act_dim,)`` and ``candidates (n, act_dim)`` with
    the critic in one batched pass; :func:`select_action` chooses."""
    return select_action(action, *critic_scores(obs, action, candidates, critic))


def critic_pick_flag(
    obs: np.ndarray, action: np.ndarray, candidates: np.ndarray, critic: nn.Module
) -> tuple[np.ndarray, bool]:
    """:func:`critic_pick`, and whether the critic replaced the actor's action."""
    candidates, q = critic_scores(obs, action, candidates, critic)
    return select_action(action, candidates, q), bool(q[1:].max() > q[0])


@torch.no_grad()
def actor_action(obs: np.ndarray, actor: nn.Module) -> np.ndarray:
    """The actor's action for one observation ``(obs_dim,)`` -> ``(act_dim,)``."""
    return actor(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0].numpy()


class CandidateChoice:
    """The shape of an acting rule where the critic picks: the actor proposes, the
    critic compares its action with ``n_candidates`` others from :meth:`candidates`
    and the favourite is played (``n_candidates=0``: the actor's), after
    :meth:`perturb` (none here). :class:`CriticChoice` (FitML's) and
    ``sm_improvements.NearActorChoice`` (ours) differ only in those two methods.

    ``act(obs, actor, critic, rng) -> (act_dim,) float32``; :meth:`choose` also
    says whether the critic overrode the actor (for the loop's diagnostics).
    """

    n_candidates: int

    def candidates(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(n_candidates, act_dim)`` actions to compare with ``action (act_dim,)``."""
        raise NotImplementedError(f"{type(self).__name__} must define candidates().")

    def perturb(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The chosen ``action (act_dim,)`` as played: unchanged here."""
        return action

    def __call__(
        self,
        obs: np.ndarray,
        actor: nn.Module,
        critic: nn.Module,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return self.choose(obs, actor, critic, rng)[0]

    def choose(
        self,
        obs: np.ndarray,
        actor: nn.Module,
        critic: nn.Module,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, bool]:
        """The action, and whether the critic overrode the actor (same draws)."""
        action, overridden = actor_action(obs, actor), False
        if self.n_candidates > 0:
            candidates = self.candidates(action, rng)
            action, overridden = critic_pick_flag(obs, action, candidates, critic)
        action = self.perturb(action, rng)
        return np.asarray(action, dtype=np.float32), overridden


@dataclass(frozen=True)
class CriticChoice(CandidateChoice):
    """FitML's acting rule: the actor's action against ``n_candidates`` uniform
    random ones; the critic's favourite is played (``n_candidates=0``: the actor).

    ``act(obs, actor, critic, rng) -> (act_dim,) float32``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    n_candidates: int = 9

    def candidates(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n_candidates`` actions drawn uniformly in [-1, 1]."""
        return rng.uniform(-1.0, 1.0, (self.n_candidates, len(action)))


def keep_selective(
    returns: np.ndarray,
    stored: np.ndarray,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """FitML's selection: keep step t with ``keep_probability(R_t, mean(stored))``.

    A keep rule maps an episode's ``returns (T,)``, the memory's ``stored (n,)``
    returns, ``rng`` and an optional ``baseline (T,)`` V(s) to a ``(T,) bool`` mask.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    avg = float(stored.mean()) if len(stored) else 0.0
    return rng.random(len(returns)) < keep_probability(returns, avg)


def keep_all(
    returns: np.ndarray,
    stored: np.ndarray,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """Ablation: keep every step (plain behaviour cloning of recent play)."""
    return np.ones(len(returns), dtype=bool)


def keep_whole_game(
    returns: np.ndarray,
    stored: np.ndarray,
    rng: np.random.Generator,
    baseline: np.ndarray | None = None,
) -> np.ndarray:
    """FitML's whole-rollout selection (``Experimental/BipedalWalker_SelectiveMemory
    _V5.py``): keep every step of a game whose mean return-to-go beats the mean of
    the stored returns, else none; an empty memory takes the first game whole. (V5
    starts comparing at game 16; here the comparison starts with the second game.)"""
    if not len(returns):
        return np.zeros(0, dtype=bool)
    keep = not len(stored) or float(np.mean(returns)) > float(stored.mean())
    return np.full(len(returns), bool(keep))


@dataclass(frozen=True)
class KeepTopK:
    """Ablation: keep the steps whose return beats the memory's ``1 - k`` quantile."""

    k: float = 0.2

    def __call__(
        self,
        returns: np.ndarray,
        stored: np.ndarray,
        rng: np.random.Generator,
        baseline: np.ndarray | None = None,
    ) -> np.ndarray:
        if not len(stored):
            return np.ones(len(returns), dtype=bool)
        return returns >= np.quantile(stored, 1 - self.k)


def fit_step(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
) -> float:
    """One supervised step: MSE of ``net(inputs (batch, in_dim))`` against ``targets
    (batch, out_dim)``, gradients cleared, backward pass, optimizer step.

    Returns:
        the minibatch's loss before the step. (:func:`fit` does exactly this for
        every minibatch.)

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    loss = nn.functional.mse_loss(net(inputs), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


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
        max_updates: optional cap on gradient steps (for large memories).

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


@dataclass(frozen=True)
class SMConfig:
    """The numbers of Selective Memory. Defaults = FitML's published settings."""

    episodes: int = 300  # games played
    max_seconds: float | None = None  # optional wall-time cap on training
    max_steps: int | None = None  # optional step budget: stop after the game
    # during which the run's environment steps reach it (runs matched in steps)
    gamma: float = 0.95  # discount of the return-to-go
    memory_size: int = 2000  # rows kept, oldest dropped
    random_games: int = 10  # first games play uniform random actions
    random_prob: float = 0.15  # random-action chance, decays linearly ...
    random_decay_games: int = 6000  # ... to 0 at this game
    fit_every: int = 10  # fit both networks every this many games
    batch_size: int = 32
    epochs: int = 8
    lr: float = 3e-3  # Adam, both networks
    actor_hidden: tuple[int, int] = (1024, 512)
    critic_hidden: tuple[int, int] = (1024, 256)
    recent_size: int = 20_000  # rows of every recent step (for fits that use them)
    eval_every: int = 0  # games between evaluations of the actor (0 = never) ...
    eval_episodes: int = 5  # ... on this many episodes ...
    eval_seed: int = 10_000  # ... with seeds eval_seed+; the best actor is kept

    def __post_init__(self) -> None:
        for name in (
            "episodes",
            "memory_size",
            "fit_every",
            "batch_size",
            "epochs",
            "recent_size",
            "random_decay_games",
            "eval_episodes",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"SMConfig.{name} must be an integer >= 1, got {value!r}."
                )
        steps = self.max_steps
        if steps is not None and (
            isinstance(steps, bool) or not isinstance(steps, int) or steps < 1
        ):
            raise ValueError(
                f"SMConfig.max_steps must be an integer >= 1 (environment steps) or "
                f"None for no step budget, got {steps!r}."
            )
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"SMConfig.gamma must lie in [0, 1], got {self.gamma}.")
        if not 0.0 <= self.random_prob <= 1.0:
            raise ValueError(
                f"SMConfig.random_prob is a probability in [0, 1], got "
                f"{self.random_prob!r}."
            )
        for name in ("random_games", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"SMConfig.{name} must be an integer >= 0 (0: none), got {value!r}."
                )
        if not self.lr > 0:
            raise ValueError(f"SMConfig.lr must be > 0, got {self.lr!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


def fit_critic_on_memory(
    critic: nn.Module,
    optimizer: torch.optim.Optimizer,
    memory: SelectiveMemory,
    recent: SelectiveMemory,
    cfg: SMConfig,
    rng: np.random.Generator,
) -> float:
    """FitML: the critic regresses the selected rows' returns on (obs, action)."""
    m_obs, m_act, m_ret = memory.arrays()
    return fit(
        critic,
        optimizer,
        np.hstack([m_obs, m_act]),
        m_ret[:, None],
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
        rng=rng,
    )


def new_state(
    env: gym.Env, cfg: SMConfig, *, seed: int, baseline: object | None = None
) -> SMState:
    """The state before the first game: ``seed`` sets the initial weights (torch's
    global random state is left as it was). It lives here, not in ``sm_state``,
    because it builds this module's networks and memories for the loop below."""
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        actor = MLPActor(obs_dim, act_dim, hidden=cfg.actor_hidden)
        critic = make_critic(obs_dim, act_dim, cfg.critic_hidden)
        value = baseline.build(obs_dim) if baseline is not None else None
    return SMState(
        actor,
        critic,
        value,
        torch.optim.Adam(actor.parameters(), lr=cfg.lr),
        torch.optim.Adam(critic.parameters(), lr=cfg.lr),
        SelectiveMemory(cfg.memory_size, obs_dim, act_dim),
        SelectiveMemory(cfg.recent_size, obs_dim, act_dim),
    )


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
    evals: list[tuple[int, float, float]] | None = None  # (game, mean, std)
    diagnostics: SMDiagnostics | None = None  # per-game figures
    state: SMState | None = None  # pass as state= to continue the run


def random_action_prob(game: int, cfg: SMConfig) -> float:
    """FitML's schedule: 1 for the first ``random_games``, then ``random_prob``
    falling linearly to 0 at game ``random_decay_games``."""
    if game < cfg.random_games:
        return 1.0
    return max(0.0, cfg.random_prob * (1 - game / cfg.random_decay_games))


def train_selective_memory(
    env: gym.Env,
    cfg: SMConfig,
    *,
    rng: np.random.Generator,
    seed: int,
    act: Callable = CriticChoice(),
    keep: Callable = keep_selective,
    fit_critic: Callable = fit_critic_on_memory,
    compute_returns: Callable = episode_returns,
    baseline: object | None = None,
    progress: bool = True,
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
    everything else. ``baseline`` (ours, e.g. ``sm_improvements.ValueBaseline``)
    gives the keep rule V(s) of every step. ``on_fit(game, returns)`` is called
    after each fit. With ``cfg.eval_every > 0`` and an ``eval_env``, the actor alone
    is evaluated every ``eval_every`` games; the best is ``result.best_actor``.
    ``state`` (from :func:`new_state` or an earlier result) continues a run at its
    game ``state.game``; ``on_game(state)`` is called after every game (to save it).

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """
    act_dim = env.action_space.shape[0]
    s = new_state(env, cfg, seed=seed, baseline=baseline) if state is None else state
    actor, critic, value, memory, recent = (
        s.actor,
        s.critic,
        s.value,
        s.memory,
        s.recent,
    )
    actor.train()
    choose = getattr(act, "choose", None)  # an acting rule that reports overrides
    returns, lengths, start_time = s.returns, s.lengths, s.wall_time_s
    left = None if cfg.max_seconds is None else cfg.max_seconds - start_time
    deadline = Deadline(None if left is None else max(left, 1e-6))
    keeper = BestModelKeeper(
        eval_env,
        lambda net, game: ActorPolicy(net),
        every=cfg.eval_every,
        episodes=cfg.eval_episodes,
        seed=cfg.eval_seed,
    )
    keeper.history, keeper.best, keeper.best_score = s.evals, s.best_actor, s.best_score
    bar = progress_bar(range(s.game, cfg.episodes), enabled=progress)
    steps = int(sum(lengths))
    for game in bar:
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
            elif choose is not None:
                action, overridden = choose(obs, actor, critic, rng)
                overrides.append(overridden)
            else:
                action = act(obs, actor, critic, rng)
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
        predicted = critic_predictions(critic, ep_obs, ep_act)
        s.diagnostics.record(memory, kept, overrides, predicted, rtg)
        if (game + 1) % cfg.fit_every == 0 and len(memory) >= cfg.batch_size:
            fit_critic(critic, s.critic_opt, memory, recent, cfg, rng)
            m_obs, m_act, _ = memory.arrays()
            fit(
                actor,
                s.actor_opt,
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
        keeper.maybe_evaluate(game + 1, actor)
        s.best_actor, s.best_score = keeper.best, keeper.best_score
        s.game, s.wall_time_s = game + 1, start_time + deadline.elapsed()
        if on_game is not None:
            on_game(s)
        bar.set_postfix(ret=f"{np.mean(returns[-10:]):.0f}", refresh=False)
        if deadline.passed():
            break
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
        s.diagnostics,
        s,
    )
