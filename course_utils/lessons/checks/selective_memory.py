"""Checks for the exercises of 05_selective_memory_bipedalwalker.ipynb."""

from __future__ import annotations

from collections.abc import Callable

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory import improvements as smi
from course_utils.lessons.checks import (
    exercise,
    expect_close,
    expect_true,
)
from course_utils.lessons.checks.pinned import nn, np, torch


@exercise(
    "Exercise 1: the return-to-go",
    reference=sm.return_to_go,
    returns="array",
    inplace_hint="Write the returns into a new array (`out = np.zeros(len(rewards))`): "
    "a caller that keeps the rewards (to sum the game's return, say) would read "
    "returns instead.",
)
def check_return_to_go(f: Callable) -> None:
    """Exercise 1: ``return_to_go(rewards, gamma) -> (T,)``."""
    expect_close(
        f(np.array([1.0, 2.0, 3.0]), 0.5),
        [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0],
        what="return_to_go([1, 2, 3], gamma=0.5)",
        hint="R_t = r_t + γ·R_{t+1}, computed backwards from the last step, "
        "which keeps only its own reward.",
    )
    expect_close(
        f(np.array([0.0, 0.0, -100.0]), 0.95),
        [-100 * 0.95**2, -100 * 0.95, -100.0],
        what="a fall at the last step (rewards 0, 0, -100), gamma=0.95",
        hint="The penalty reaches earlier steps discounted once per step.",
    )
    expect_close(f(np.array([5.0]), 0.9), [5.0], what="a one-step episode")
    for rewards in (np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0], np.float32)):
        out = np.asarray(f(rewards, 0.5))
        expect_true(
            out.dtype == np.float64,
            f"rewards of dtype {rewards.dtype} gave returns of dtype {out.dtype}: "
            "the contract is float64 whatever the input's dtype (an output array "
            "shaped like `rewards` also copies its dtype, and integers truncate).",
        )
        expect_close(
            out,
            [2.75, 3.5, 3.0],
            what=f"return_to_go([1, 2, 3] as {rewards.dtype}, gamma=0.5)",
        )


@exercise("Exercise 2: the keep probability",
          reference=sm.keep_probability, returns="array")  # fmt: skip
def check_keep_probability(f: Callable) -> None:
    """Exercise 2: ``keep_probability(returns, avg) -> (T,)``."""
    returns = np.array([3.0, 1.0, 0.5, -1.0, -10.0])
    expected = [
        0.1 + 0.9 * np.tanh(2.0),
        0.1,
        0.1 + 0.1 * np.tanh(-0.5),
        0.1 + 0.1 * np.tanh(-2.0),
        0.1 + 0.1 * np.tanh(-11.0),
    ]
    expect_close(
        f(returns, 1.0),
        expected,
        what="keep_probability([3, 1, 0.5, -1, -10], avg=1)",
        hint="Compare each value with the definition in the exercise's text, "
        "case by case: which case applies above avg, which at avg itself (R = 1 "
        "here) and which below it.",
    )
    p = np.asarray(f(np.linspace(-50, 50, 101), 0.0))
    expect_true(
        bool(np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0)),
        "probabilities must lie in [0, 1] and grow with R.",
    )


@exercise("Exercise 3: the keep rule", reference=sm.keep_selective, returns="array")
def check_keep_rule(f: Callable) -> None:
    """Exercise 3: ``keep_selective(returns, stored, rng, baseline=None)`` -> mask."""
    stored = np.array([4.0, 6.0], dtype=np.float32)  # avg 5
    keep = np.asarray(f(np.array([100.0, -100.0]), stored, _rng(0)))
    expect_true(
        keep.dtype == bool and keep.shape == (2,),
        f"expected a (2,) bool mask, got dtype {keep.dtype}, shape {keep.shape}.",
    )
    expect_true(
        keep.tolist() == [True, False],
        "R = 100 against avg 5 must be kept (p = 1) and R = -100 dropped (p = 0); "
        f"got {keep.tolist()}. Compare each R with the mean of `stored`.",
    )
    keep = np.asarray(f(np.array([50.0, -50.0]), stored[:0], _rng(0)))
    expect_true(
        keep.tolist() == [True, False],
        "an empty memory has avg 0 (the mean of an empty array is nan): "
        f"expected [True, False] for R = 50, -50, got {keep.tolist()}.",
    )
    returns = np.full(4000, 6.0)  # R - avg = 1: p = 0.1 + 0.9 tanh(1) = 0.785
    rate = float(np.mean(f(returns, stored, _rng(1))))
    expect_true(
        abs(rate - (0.1 + 0.9 * np.tanh(1.0))) < 0.03,
        f"R one above avg should be kept 78.5 % of the time, got {rate:.1%}. "
        "Keep step t when a uniform number in [0, 1) is below its probability.",
    )
    expected = sm.keep_selective(returns, stored, _rng(2))
    expect_true(
        bool(np.array_equal(f(returns, stored, _rng(2)), expected)),
        "draw exactly one number per step, rng.random(len(returns)), so that "
        "your run plays the same games as the course's.",
    )
    # mean 7.5, median 0: R = 5 is below the mean (kept ~0.1 %), above the median
    skewed = np.array([0.0, 0.0, 0.0, 30.0], dtype=np.float32)
    rate = float(np.mean(f(np.full(4000, 5.0), skewed, _rng(3))))
    expect_true(
        rate < 0.02,
        f"with stored returns [0, 0, 0, 30], R = 5 was kept {rate:.0%} of the "
        "time. "
        "avg is the *mean* of the stored returns (7.5 here), not their median or "
        "their maximum.",
    )
    _expect_unchanged(f, (np.array([1.0, -2.0, 3.0]), skewed.copy(), _rng(4)))


def _keep_advantage_sample_std(returns, stored, rng, baseline) -> np.ndarray:
    """Exercise 6's rule with the sample standard deviation (ddof=1)."""
    advantage = returns - baseline
    spread = advantage if len(stored) < 2 else stored
    scale = float(np.std(spread, ddof=1)) + 1e-6 if len(spread) > 1 else 1.0
    return rng.random(len(returns)) < sm.keep_probability(advantage / scale, 0.0)


def _keep_z(centred, scale, rng) -> np.ndarray:
    return rng.random(len(centred)) < sm.keep_probability(centred / scale, 0.0)


def _game_std(values) -> float:
    return float(np.std(values)) + 1e-6 if len(values) > 1 else 1.0


# Exercise 6's common slips, each with the hint that names it: (rule, hint).
_KEEP_ADVANTAGE_SLIPS = (
    (
        _keep_advantage_sample_std,
        "Your mask is the course's with the *sample* standard deviation (ddof=1, "
        "dividing by n - 1). The rule uses the population one, dividing by n "
        "(ddof=0, np.std's default).",
    ),
    (
        lambda returns, stored, rng, baseline: _keep_z(
            returns - baseline, _game_std(returns - baseline), rng
        ),
        "You divided by the spread of this game's advantages. That scale is only "
        "the fallback for a memory of fewer than 2 rows: otherwise divide by the "
        "standard deviation of `stored`, the memory's returns, which moves slowly "
        "from game to game.",
    ),
    (
        lambda returns, stored, rng, baseline: _keep_z(
            (returns - baseline) - np.mean(returns - baseline),
            _game_std(returns - baseline),
            rng,
        ),
        "You z-scored the advantages with this game's own mean and spread. Do not "
        "subtract a mean: V(s) already centres each step's return, and a game "
        "that went better than V(s) everywhere should keep more. Divide by the "
        "memory's spread (the standard deviation of `stored`).",
    ),
    (
        lambda returns, stored, rng, baseline: _keep_z(
            returns - np.mean(returns), _game_std(returns), rng
        ),
        "You z-scored the returns with this game's mean and spread, leaving out "
        "`baseline`. The advantage subtracts each step's own V(s): R - baseline, "
        "step by step; then divide by the memory's spread.",
    ),
    (
        lambda returns, stored, rng, baseline: _keep_z(
            returns - (np.mean(stored) if len(stored) else 0.0),
            _game_std(stored) if len(stored) > 1 else _game_std(returns),
            rng,
        ),
        "You z-scored the returns with the memory's mean and spread: that is "
        "Exercise 3's global baseline in other units. The advantage subtracts "
        "each step's own V(s), `baseline`, not the memory's mean.",
    ),
)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _expect_unchanged(f: Callable, args: tuple) -> None:
    """Call ``f(*args)`` and fail if it modified an array it was given: the loop
    hands the keep rule the memory's own column of returns."""
    before = [a.copy() for a in args if isinstance(a, np.ndarray)]
    f(*args)
    after = [a for a in args if isinstance(a, np.ndarray)]
    expect_true(
        all(np.array_equal(b, a) for b, a in zip(before, after, strict=True)),
        "your function changed an array it was given (returns, stored or "
        "baseline). `stored` is the memory's own column: compute on copies "
        "(x = x - avg, not x -= avg).",
    )


@exercise("Exercise 4: candidate selection",
          reference=sm.select_action, returns="array")  # fmt: skip
def check_select_action(f: Callable) -> None:
    """Exercise 4: ``select_action(actor_action, candidates, q_values)``."""
    actor_action = np.array([0.1, 0.2], dtype=np.float32)
    candidates = np.array([[1, 1], [-1, -1], [0.5, -0.5]], dtype=np.float32)
    best = np.array([-1.0, -1.0], dtype=np.float32)  # candidate 1 scores 3
    for scores, expected, what, hint in (
        (
            [0.0, 1.0, 3.0, 2.0],
            best,
            "critic scores [actor 0, candidates 1, 3, 2]",
            "q_values[0] scores the actor's action; q_values[1:] the candidates. "
            "Take the candidate with the highest score when it beats the actor.",
        ),
        (
            [2.5, 1.0, 3.0, 2.0],
            best,
            "critic scores [actor 2.5, candidates 1, 3, 2]",
            "Compare the best candidate's own score, q_values[1 + best], with "
            "q_values[0]: candidate i is scored by q_values[i + 1].",
        ),
        (
            [5.0, 1.0, 3.0, 2.0],
            actor_action,
            "critic scores [actor 5, candidates 1, 3, 2]",
            "Keep the actor's action when no candidate scores higher.",
        ),
        (
            [3.0, 1.0, 3.0, 2.0],
            actor_action,
            "a tie between the actor and the best candidate",
            "A candidate must score strictly higher to replace the actor.",
        ),
    ):
        chosen = f(actor_action, candidates, np.array(scores))
        expect_close(chosen, expected, what=what, hint=hint)


@exercise("Exercise 5: one fit step", reference=sm.fit_step, returns="float")
def check_fit_step(f: Callable) -> None:
    """Exercise 5: ``fit_step(net, optimizer, inputs, targets) -> float``."""
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -1.0]]))
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    y = torch.tensor([[0.0], [1.0]])
    # predictions -1, 3; errors -1, 2: MSE 2.5; gradient -x0 + 2 x1 = [5, -2]
    loss = f(net, optimizer, x, y)
    expect_true(
        not isinstance(loss, torch.Tensor) and isinstance(loss, (float, int)),
        f"return the loss as a Python float, got {type(loss).__name__}. A tensor "
        "keeps the graph alive and breaks the training loop's bookkeeping: "
        "turn the one-element loss into a plain number.",
    )
    expect_close(
        [float(loss)],
        [2.5],
        what="the loss returned for w = [1, -1] (predictions -1, 3; targets 0, 1)",
        hint="Return the mean squared error of this minibatch as it was before "
        "the step, as a number.",
    )

    def weights() -> np.ndarray:
        return net.weight.detach().numpy()[0].copy()

    expect_close(
        weights(),
        [0.5, -0.8],
        what="the weights after one SGD step (lr 0.1) from w = [1, -1]",
        hint="The MSE's gradient here is [5, -2]. A step is: the loss (the mean, "
        "not the sum, of squared errors), its gradients by a backward pass, then "
        "the optimizer's update.",
    )
    f(net, optimizer, x, y)  # gradient [0.4, -2.2] when the old one is cleared
    expect_close(
        weights(),
        [0.46, -0.58],
        what="the weights after a second step",
        hint="The second step moved as if its gradient were the sum of both "
        "steps' gradients: PyTorch adds each backward pass's gradients to the "
        "ones already stored. Start each step from clean gradients.",
    )
    _expect_adam_like_course(f)


def _expect_adam_like_course(f: Callable) -> None:
    """Two steps with Adam, as the notebook trains: the weights must match the
    course's ``fit_step`` (a hand-written ``p -= lr * p.grad`` passes with SGD only)."""
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0], [-1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [2.0]])
    weights = []
    for step in (f, sm.fit_step):
        torch.manual_seed(0)
        net = nn.Linear(2, 1)
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        step(net, optimizer, x, y)
        step(net, optimizer, x, y)
        weights.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    expect_close(
        weights[0].numpy(),
        weights[1].numpy(),
        what="the weights after two steps with Adam (lr 0.01)",
        hint="Let the optimizer you were given make the update: the notebook "
        "trains with Adam, whose step is not lr times the gradient.",
    )


def _same_as_keep_advantage(
    f: Callable, what: str, returns, stored, baseline, seed: int, hint: str
) -> None:
    mine = np.asarray(f(returns, stored, _rng(seed), baseline))
    expect_true(
        mine.dtype == bool and mine.shape == (len(returns),),
        f"expected a ({len(returns)},) bool mask, got dtype {mine.dtype}, "
        f"shape {mine.shape}.",
    )
    theirs = smi.keep_advantage_scaled(returns, stored, _rng(seed), baseline)
    if not np.array_equal(mine, theirs):
        for slip, named in _KEEP_ADVANTAGE_SLIPS:
            if np.array_equal(mine, slip(returns, stored, _rng(seed), baseline)):
                hint = named
                break
    expect_true(
        bool(np.array_equal(mine, theirs)),
        f"{what}: your mask differs from the course's on "
        f"{int(np.sum(mine != theirs))} of {len(returns)} steps. {hint}",
    )


@exercise("Exercise 6: the advantage keep rule",
          reference=smi.keep_advantage_scaled, returns="array")  # fmt: skip
def check_keep_advantage(f: Callable) -> None:
    """Exercise 6: ``keep_advantage(returns, stored, rng, baseline)`` -> mask, the
    improved run's keep rule (``improvements.keep_advantage_scaled``)."""
    data = _rng(10)
    returns = data.normal(20.0, 10.0, 500)
    values = returns + data.normal(0.0, 4.0, 500)  # V(s) close to R
    stored = data.normal(60.0, 3.0, 300).astype(np.float32)  # spread 3
    _same_as_keep_advantage(
        f,
        "a memory of 300 rows (returns around 60, spread 3)",
        returns,
        stored,
        values,
        0,
        "The advantage is R - V(s) of each step (the baseline), not R - mean of "
        "the memory; divide it by the standard deviation of the memory's "
        "returns; then keep with keep_probability(advantage / scale, 0).",
    )
    _same_as_keep_advantage(
        f,
        "a memory whose spread is 30",
        returns,
        stored * 10.0,
        values,
        1,
        "The scale is the standard deviation of `stored` (plus 1e-6), whatever "
        "its mean.",
    )
    _same_as_keep_advantage(
        f,
        "an empty memory",
        returns,
        stored[:0],
        values,
        2,
        "With fewer than 2 stored rows the memory has no spread: divide by the "
        "standard deviation of this game's advantages instead (plus 1e-6).",
    )
    _same_as_keep_advantage(
        f,
        "a memory of one row",
        returns,
        stored[:1],
        values,
        13,
        "One stored return has no spread (its standard deviation is 0): with "
        "fewer than 2 stored rows, scale by this game's advantages instead.",
    )
    _same_as_keep_advantage(
        f,
        "a memory of two rows, returns 55 and 65",
        returns,
        np.array([55.0, 65.0], dtype=np.float32),
        values,
        14,
        "The scale is the standard deviation of `stored` (5 here) plus 1e-6.",
    )
    for seed in range(3, 13):  # R - V(s) = 0.3: kept with p = 0.36
        _same_as_keep_advantage(
            f,
            "a one-step game and an empty memory",
            returns[:1],
            stored[:0],
            returns[:1] - 0.3,
            seed,
            "With one advantage and no memory there is no spread at all: use a "
            "scale of 1.",
        )
    _same_as_keep_advantage(
        f,
        "draws",
        returns,
        stored,
        values,
        4,
        "Draw exactly one number per step, rng.random(len(returns)), so that "
        "your run plays the same games as the course's.",
    )
    _expect_unchanged(f, (returns.copy(), stored.copy(), _rng(5), values.copy()))
