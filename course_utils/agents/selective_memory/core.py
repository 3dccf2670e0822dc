"""FitML's "Selective Memory" for continuous control: the published pieces.

Keep a step in a small memory with a probability that grows with how much its
discounted return-to-go beats the memory's average, then fit an actor (obs ->
action) and a critic (obs, action -> return) to that memory by plain supervised
regression. Here: the return-to-go, the keep rules, the memory, how an action is
chosen (the actor, or the critic's pick among candidates), the fits, and the
settings (:class:`SMConfig`, FitML's by default). The loop that calls them is in
``loop``; the course's improvements in ``improvements``.

The loop receives five kinds of piece, each of a typed shape: an acting rule (a
:class:`CandidateChoice`), a :class:`KeepRule`, a critic fit (a :class:`CriticFit`),
:class:`ReturnTargets` and an optional :class:`Baseline` (a V(s) network the loop
builds, fits and hands to the pieces that read it). Acting rules and critic fits are
objects that share their machinery and differ in a method or two, so their shape is a
base class; keep rules and return targets are functions, so theirs is a protocol. A
piece that reads V(s) says so with :func:`reads_baseline`, and the loop refuses it
without a baseline before the first game, instead of failing at the first keep.

Taught in: 05_selective_memory_bipedalwalker.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import torch
from torch import nn

from course_utils.common.networks import mlp
from course_utils.common.validate import number, probability, whole_number

# --- the shapes of the pieces ---------------------------------------------------------


class KeepRule(Protocol):
    """Which steps of a game enter the memory: ``keep(returns (T,), stored (n,), rng,
    baseline) -> (T,) bool``, ``stored`` the memory's returns and ``baseline`` V(s_t)
    of the game's steps ``(T,)``, or None when the run has no baseline."""

    def __call__(
        self,
        returns: np.ndarray,
        stored: np.ndarray,
        rng: np.random.Generator,
        baseline: np.ndarray | None,
    ) -> np.ndarray: ...


class ReturnTargets(Protocol):
    """A game's targets: ``(rewards (T,), gamma, *, truncated, next_obs (obs_dim,),
    value) -> (T,) float64``, ``next_obs`` the observation after the last step and
    ``value`` the run's V(s) (or None)."""

    def __call__(
        self,
        rewards: np.ndarray,
        gamma: float,
        *,
        truncated: bool,
        next_obs: np.ndarray,
        value: ValueFunction | None,
    ) -> np.ndarray: ...


class ValueFunction(Protocol):
    """V(s) as the loop uses it: ``predict(obs (T, obs_dim)) -> (T,)`` and
    ``fit(recent, rng)`` after each fit of the networks; ``net`` and ``optimizer``
    are saved with a run."""

    net: nn.Module
    optimizer: torch.optim.Optimizer

    def predict(self, obs: np.ndarray) -> np.ndarray: ...

    def fit(self, recent: SelectiveMemory, rng: np.random.Generator) -> float: ...


class Baseline(Protocol):
    """The ``baseline`` piece: how to build the run's :class:`ValueFunction`."""

    def build(self, obs_dim: int) -> ValueFunction: ...


@runtime_checkable
class ReadsBaseline(Protocol):
    """A keep rule or return targets that read V(s) (marked by
    :func:`reads_baseline`): the loop refuses them in a run without a baseline."""

    reads_baseline: bool


Piece = TypeVar("Piece", bound=Callable)


def reads_baseline(piece: Piece) -> Piece:
    """Mark a keep rule or return targets as reading V(s), so that
    ``train_selective_memory`` refuses to run it without ``baseline=`` (a clear error
    before the first game, not a failure in the middle of a run)."""
    piece.reads_baseline = True  # type: ignore[attr-defined]
    return piece


# --- the published pieces -------------------------------------------------------------


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


def returns_to_game_end(rewards: np.ndarray, gamma: float, **_: object) -> np.ndarray:
    """FitML's targets (a :class:`ReturnTargets`): :func:`return_to_go`, the end of the
    game being the end of the future even when the time limit only cut it: of what
    the loop passes, only ``rewards`` and ``gamma`` are read.
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
        self.capacity = whole_number("capacity", capacity)
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
    """The shape of an acting rule: the actor proposes, the critic compares its
    action with ``n_candidates`` others from :meth:`candidates` and the favourite is
    played (``n_candidates=0``: the actor's), after :meth:`perturb` (none here).
    :class:`CriticChoice` (FitML's) and ``improvements.NearActorChoice`` (ours)
    differ only in those two methods.

    The loop calls :meth:`choose`, which also says whether the critic overrode the
    actor (for its diagnostics); ``act(obs, actor, critic, rng)`` is the action alone.
    """

    n_candidates: int

    def candidates(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``(n_candidates, act_dim)`` actions to compare with ``action (act_dim,)``."""
        raise NotImplementedError(f"{type(self).__name__} must define candidates().")

    def perturb(self, action: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The chosen ``action (act_dim,)`` as played: unchanged here."""
        return action

    def __call__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        """The action alone: ``choose(obs, actor, critic, rng)[0]``."""
        return self.choose(*args, **kwargs)[0]

    def choose(
        self,
        obs: np.ndarray,
        actor: nn.Module,
        critic: nn.Module,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, bool]:
        """The action for ``obs (obs_dim,)``: ``(act_dim,) float32``, and whether the
        critic overrode the actor's."""
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
    the stored returns, else none; an empty memory takes the first game whole. The
    rule only: V5 also starts comparing at game 16, holds 9 000 rows, evicts on every
    game once full, uses gamma 0.98 and 800-step games. With the published per-step
    settings this rule froze the memory in the course's runs (benchmarks/README.md)."""
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
            whole_number(f"SMConfig.{name}", getattr(self, name))
        if self.max_steps is not None:
            whole_number(
                "SMConfig.max_steps",
                self.max_steps,
                why="environment steps, or None for no step budget",
            )
        probability("SMConfig.gamma", self.gamma)
        probability("SMConfig.random_prob", self.random_prob)
        for name in ("random_games", "eval_every"):
            whole_number(
                f"SMConfig.{name}", getattr(self, name), minimum=0, why="0: none"
            )
        number("SMConfig.lr", self.lr, above=0)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class CriticFit:
    """The shape of a critic fit: :func:`fit` the critic to the returns of
    :meth:`rows`, regressed on ``(obs, action)`` side by side, in ``cfg.epochs``
    passes of ``batch_size`` rows (None: ``cfg.batch_size``), at most
    ``max_updates`` gradient steps (None: no cap). :class:`FitCriticOnMemory`
    (FitML's) and ``improvements.FitCriticOnRecent`` (ours) differ in :meth:`rows`
    and these settings.

    ``fit_critic(critic, optimizer, memory, recent, cfg, rng) -> loss``, ``memory``
    the selected rows and ``recent`` every recent step.
    """

    batch_size: int | None = None
    max_updates: int | None = None

    def rows(self, memory: SelectiveMemory, recent: SelectiveMemory) -> SelectiveMemory:
        """The rows the critic learns from."""
        raise NotImplementedError(f"{type(self).__name__} must define rows().")

    def __call__(
        self,
        critic: nn.Module,
        optimizer: torch.optim.Optimizer,
        memory: SelectiveMemory,
        recent: SelectiveMemory,
        cfg: SMConfig,
        rng: np.random.Generator,
    ) -> float:
        obs, action, ret = self.rows(memory, recent).arrays()
        return fit(
            critic,
            optimizer,
            np.hstack([obs, action]),
            ret[:, None],
            batch_size=self.batch_size or cfg.batch_size,
            epochs=cfg.epochs,
            rng=rng,
            max_updates=self.max_updates,
        )


@dataclass(frozen=True)
class FitCriticOnMemory(CriticFit):
    """FitML's critic fit: the selected rows (the memory), FitML's batches."""

    def rows(self, memory: SelectiveMemory, recent: SelectiveMemory) -> SelectiveMemory:
        return memory
