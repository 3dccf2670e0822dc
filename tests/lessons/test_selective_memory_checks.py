"""The checks of notebook 05's exercises fail the wrong answers listed here and
pass correct answers written other ways (the older cases are in
tests/agents/test_selective_memory.py)."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory import improvements as smi
from course_utils.lessons.checks import selective_memory as checks

# --- Exercise 1: the return-to-go --------------------------------------------------


def rtg_zeros_like(rewards, gamma):
    out = np.zeros_like(rewards)  # keeps an int or float32 dtype
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def rtg_cumulative(rewards, gamma):
    """Correct, written another way."""
    r = np.asarray(rewards, dtype=float)
    discounts = gamma ** np.arange(len(r))
    return np.array([np.sum(r[t:] * discounts[: len(r) - t]) for t in range(len(r))])


def test_return_to_go_check_fails_an_input_dtype(capsys):
    with pytest.raises(AssertionError, match="float64"):
        checks.check_return_to_go(rtg_zeros_like)


def test_return_to_go_check_passes_another_way(capsys):
    assert checks.check_return_to_go(rtg_cumulative) is rtg_cumulative


# --- Exercise 3: the keep rule ------------------------------------------------------


def keep_median(returns, stored, rng, baseline=None):
    avg = float(np.median(stored)) if len(stored) else 0.0
    return rng.random(len(returns)) < sm.keep_probability(returns, avg)


def keep_max(returns, stored, rng, baseline=None):
    avg = float(stored.max()) if len(stored) else 0.0
    return rng.random(len(returns)) < sm.keep_probability(returns, avg)


def keep_in_place(returns, stored, rng, baseline=None):
    avg = float(stored.mean()) if len(stored) else 0.0
    returns -= avg  # shifts the caller's array
    return rng.random(len(returns)) < sm.keep_probability(returns, 0.0)


def keep_centres_memory(returns, stored, rng, baseline=None):
    avg = float(stored.mean()) if len(stored) else 0.0
    keep = rng.random(len(returns)) < sm.keep_probability(returns, avg)
    stored -= avg  # the memory's own column
    return keep


def keep_written_backwards(returns, stored, rng, baseline=None):
    """Correct, written another way."""
    u = rng.random(len(returns))
    avg = np.mean(stored) if stored.size else 0.0
    return u < sm.keep_probability(np.asarray(returns), avg)


@pytest.mark.parametrize(
    "wrong", [keep_median, keep_max, keep_in_place, keep_centres_memory]
)
def test_keep_rule_check_fails(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 3"):
        checks.check_keep_rule(wrong)


def test_keep_rule_check_passes_another_way(capsys):
    assert checks.check_keep_rule(keep_written_backwards) is keep_written_backwards


# --- Exercise 5: one fit step ---------------------------------------------------------


def step_returns_tensor(net, optimizer, x, y):
    loss = nn.functional.mse_loss(net(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss  # a tensor: breaks the loop's bookkeeping


def step_by_hand(net, optimizer, x, y):
    """SGD by hand: right with the check's SGD, wrong with the notebook's Adam."""
    loss = nn.functional.mse_loss(net(x), y)
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            p -= 0.1 * p.grad
    return loss.item()


def step_detached_float(net, optimizer, x, y):
    """Correct, written another way."""
    optimizer.zero_grad()
    loss = ((net(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


@pytest.mark.parametrize("wrong", [step_returns_tensor, step_by_hand])
def test_fit_step_check_fails(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 5"):
        checks.check_fit_step(wrong)


def test_fit_step_check_passes_another_way(capsys):
    assert checks.check_fit_step(step_detached_float) is step_detached_float


# --- Exercise 6: the advantage keep rule ----------------------------------------------


def _scale(advantage, stored):
    spread = advantage if len(stored) < 2 else stored
    return float(np.std(spread)) + 1e-6 if len(spread) > 1 else 1.0


def adv_right(returns, stored, rng, baseline):
    """Correct, written another way."""
    a = np.asarray(returns) - np.asarray(baseline)
    u = rng.random(len(returns))
    return u < sm.keep_probability(a / _scale(a, stored), 0.0)


def adv_memory_mean(returns, stored, rng, baseline):
    a = returns - (stored.mean() if len(stored) else 0.0)  # the published baseline
    return rng.random(len(returns)) < sm.keep_probability(a / _scale(a, stored), 0.0)


def adv_unscaled(returns, stored, rng, baseline):
    return rng.random(len(returns)) < sm.keep_probability(returns - baseline, 0.0)


def adv_scale_of_game(returns, stored, rng, baseline):
    a = returns - baseline
    scale = float(a.std()) + 1e-6 if len(a) > 1 else 1.0
    return rng.random(len(returns)) < sm.keep_probability(a / scale, 0.0)


def adv_empty_nan(returns, stored, rng, baseline):
    a = returns - baseline
    return rng.random(len(returns)) < sm.keep_probability(a / stored.std(), 0.0)


def adv_one_step_zero(returns, stored, rng, baseline):
    a = returns - baseline
    spread = a if len(stored) < 2 else stored
    scale = float(np.std(spread)) + 1e-6  # 1e-6 for a one-step game: keeps all or none
    return rng.random(len(returns)) < sm.keep_probability(a / scale, 0.0)


def adv_one_row_memory(returns, stored, rng, baseline):
    a = returns - baseline
    spread = stored if len(stored) else a  # one row: std 0, a plain threshold
    scale = float(np.std(spread)) + 1e-6 if len(spread) > 1 or len(stored) else 1.0
    return rng.random(len(returns)) < sm.keep_probability(a / scale, 0.0)


def adv_sample_std(returns, stored, rng, baseline):
    a = returns - baseline
    spread = a if len(stored) < 2 else stored
    scale = float(np.std(spread, ddof=1)) + 1e-6 if len(spread) > 1 else 1.0
    return rng.random(len(returns)) < sm.keep_probability(a / scale, 0.0)


def test_keep_advantage_check_names_the_sample_std(capsys):
    with pytest.raises(AssertionError, match="ddof=1"):
        checks.check_keep_advantage(adv_sample_std)


def adv_threshold(returns, stored, rng, baseline):
    a = returns - baseline
    return a > 0


def adv_in_place(returns, stored, rng, baseline):
    returns -= baseline
    return rng.random(len(returns)) < sm.keep_probability(
        returns / _scale(returns, stored), 0.0
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "wrong",
    [
        adv_memory_mean,
        adv_unscaled,
        adv_scale_of_game,
        adv_empty_nan,
        adv_one_step_zero,
        adv_threshold,
        adv_in_place,
        adv_one_row_memory,
        adv_sample_std,
    ],
)
def test_keep_advantage_check_fails(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 6"):
        checks.check_keep_advantage(wrong)


def test_keep_advantage_check_passes_reference_and_another_way(capsys):
    ref = smi.keep_advantage_scaled
    assert checks.check_keep_advantage(ref) is ref
    assert checks.check_keep_advantage(adv_right) is adv_right


def test_keep_advantage_check_returns_reference_for_a_stub(capsys):
    def stub(*args):
        raise NotImplementedError

    assert checks.check_keep_advantage(stub) is smi.keep_advantage_scaled
