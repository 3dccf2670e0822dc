"""How an action is chosen from Q-values, and policies: callables that take one raw
observation and return one action.

**One tie rule, everywhere.** The greedy action is ``argmax_a Q(s, a)``; when several
actions share the maximum exactly, one of them is drawn uniformly with the ``rng`` the
caller hands in. The rng is drawn from *only* when there is a tie, so on a network's
float Q-values (which practically never tie) the greedy choice draws nothing and is
``argmax``, and on a Q-table that starts at zero every tied action gets its turn
instead of action 0 winning every tie.

**One ε-greedy.** With probability ε an action drawn uniformly among *all* actions
(it may be the greedy one), else the greedy action: :func:`epsilon_greedy` on a row
of Q-values (notebook 02), :func:`epsilon_greedy_action` on a Q-network and one raw
observation (notebook 04), :class:`QPolicy` as an evaluation policy. DQN's training
loop holds its random actions for several steps (``agents.dqn.choose_action``): the
same coin, the same uniform draw and the same :func:`greedy_action`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from course_utils.common.validate import device as validate_device
from course_utils.common.validate import generator, probability, refuse


def greedy_action(q_values: torch.Tensor | np.ndarray, rng: np.random.Generator) -> int:
    """``argmax_a Q(s, a)`` of one state's ``(n_actions,)`` values; exact ties between
    maxima are broken uniformly with ``rng``, which is drawn from only on a tie.

    A ``(1, n_actions)`` row (a network's output for a batch of one observation) is
    refused rather than flattened: which axis holds the actions is the caller's to say,
    and a silently flattened ``(batch, n_actions)`` would return an index into the
    whole batch.

    Raises:
        ValueError: if the Q-values are not one row ``(n_actions,)``, or contain NaN
            (no action is then the greedy one).

    Taught in: 03_dqn_mountaincar.ipynb
    """
    if isinstance(q_values, torch.Tensor):
        q_values = q_values.detach().cpu().numpy()
    q_values = np.asarray(q_values)
    if q_values.ndim != 1 or q_values.size == 0:
        refuse(
            "q_values",
            "one state's Q-values, shape (n_actions,)",
            q_values,
            fix="for a network's output on a batch of one observation, shape "
            "(1, n_actions), take its row: q_net(obs_batch)[0].",
        )
    best = np.flatnonzero(q_values == q_values.max())
    if len(best) == 1:
        return int(best[0])
    if len(best) == 0:
        refuse(
            "q_values",
            "numbers (NaN has no maximum)",
            q_values,
            fix="look for a division by zero, an uninitialised table row or a "
            "diverged network.",
        )
    return int(best[rng.integers(len(best))])


def epsilon_greedy(
    q_values: np.ndarray | torch.Tensor, epsilon: float, rng: np.random.Generator
) -> int:
    """Pick an action: uniformly at random with probability ``epsilon``, else greedily
    (:func:`greedy_action`: ties broken at random).

    The random action is drawn among *all* ``len(q_values)`` actions (it may be the
    greedy one). ``epsilon=0`` is purely greedy, ``epsilon=1`` purely uniform.

    Args:
        q_values: ``(n_actions,)`` action values of the current state.
        epsilon: exploration probability in ``[0, 1]``.
        rng: the NumPy generator that draws every random number.

    Returns:
        an action index ``0 <= a < n_actions``.

    Taught in: 02_rl_concepts.ipynb
    """
    # Checks first, so a bad call draws no random number.
    if isinstance(q_values, torch.Tensor):
        q_values = q_values.detach().cpu().numpy()
    q_values = np.asarray(q_values)
    if q_values.ndim != 1 or q_values.size == 0 or q_values.dtype.kind not in "biuf":
        refuse("q_values", "one row of numbers, one per action", q_values)
    if np.isnan(q_values).any():
        refuse("q_values", "numbers (NaN has no maximum)", q_values.tolist())
    probability("epsilon", epsilon)
    generator("rng", rng)
    if rng.random() < epsilon:
        return int(rng.integers(len(q_values)))
    return greedy_action(q_values, rng)


@torch.no_grad()
def epsilon_greedy_action(
    q_net: nn.Module,
    obs: np.ndarray,
    epsilon: float,
    rng: np.random.Generator,
    *,
    device: str | torch.device = "cpu",
) -> int:
    """:func:`epsilon_greedy` on a Q-network's values for one raw observation.

    Args:
        q_net: maps ``(batch, *obs_shape)`` to ``(batch, n_actions)``; it rescales
            raw observations itself (e.g. RAM bytes).
        obs: one observation as Gymnasium returns it, e.g. ``(128,) uint8``.

    Taught in: 04_dqn_space_invaders_ram.ipynb
    """
    q_values = q_net(torch.as_tensor(np.asarray(obs), device=device).unsqueeze(0))[0]
    return epsilon_greedy(q_values, epsilon, rng)


def _as_finite_obs(obs: np.ndarray) -> np.ndarray:
    obs = np.asarray(obs)
    if obs.dtype.kind == "f" and not np.isfinite(obs).all():
        raise ValueError(
            f"The observation contains NaN or inf ({obs.ravel()[:8]}...): a policy "
            "cannot act on it. Fix: check the environment (or the wrapper) that "
            "produced it."
        )
    return obs


class QPolicy:
    """ε-greedy on a Q-network: ``policy(obs) -> int`` (:func:`epsilon_greedy_action`).

    With ``epsilon=0`` (the default) it is greedy and needs no ``rng``: it then breaks
    exact ties with a generator of its own, ``np.random.default_rng(0)``, so that a
    greedy evaluation is reproducible. With ``epsilon > 0`` pass the ``rng``. The
    observation goes in exactly as Gymnasium returns it; any rescaling lives in the
    network (see ``networks.Normalize``).

    Taught in: 03_dqn_mountaincar.ipynb
    """

    def __init__(
        self,
        q_net: nn.Module,
        *,
        epsilon: float = 0.0,
        rng: np.random.Generator | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        epsilon = probability("epsilon", epsilon)
        if epsilon > 0:
            generator("rng", rng, needed_by="an ε-greedy policy with epsilon > 0")
        elif rng is not None:
            generator("rng", rng)
        if not hasattr(q_net, "n_actions"):
            raise ValueError(
                "QPolicy needs a course Q-network (QNetwork or DuelingQNetwork, which "
                f"know n_actions), got {type(q_net).__name__}."
            )
        self.q_net, self.epsilon = q_net, epsilon
        self.device = validate_device("device", device)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.n_actions = int(q_net.n_actions)

    def __call__(self, obs: np.ndarray) -> int:
        return epsilon_greedy_action(
            self.q_net, _as_finite_obs(obs), self.epsilon, self.rng, device=self.device
        )


class ActorPolicy:
    """Deterministic continuous policy: ``policy(obs) -> (act_dim,) float32 array``.

    Taught in: 05_selective_memory_bipedalwalker.ipynb
    """

    def __init__(self, actor: nn.Module, *, device: str | torch.device = "cpu") -> None:
        self.actor, self.device = actor, validate_device("device", device)

    @torch.no_grad()
    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs_t = torch.as_tensor(_as_finite_obs(obs), device=self.device).unsqueeze(0)
        action = self.actor(obs_t)[0].cpu().numpy().astype(np.float32)
        if not all(math.isfinite(x) for x in action):
            raise ValueError(
                "The actor returned NaN or inf torques: its weights are damaged "
                "(training diverged?). Fix: retrain, or load a shipped checkpoint."
            )
        return action
