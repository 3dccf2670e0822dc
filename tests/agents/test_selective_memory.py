"""Selective Memory: return-to-go, keep rule, memory cap, acting rule, checks."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.wrappers import TimeLimit
from torch import nn

from course_utils.agents import selective_memory as sm
from course_utils.agents.selective_memory import improvements as smi
from course_utils.agents.selective_memory import improvements as smt
from course_utils.agents.selective_memory import loop as sm_loop
from course_utils.agents.selective_memory.loop import SMState, critic_predictions
from course_utils.agents.selective_memory.resume import (
    FreshWorldEachReset,
    load_training_state,
    save_compact_state,
    save_training_state,
)
from course_utils.common.envs import make_env
from course_utils.common.networks import MLPActor
from course_utils.common.plotting import LiveCurve
from course_utils.lessons.checks import selective_memory as checks


def train_walker(cfg: sm.SMConfig, **kwargs) -> sm.SMResult:
    """A small Selective Memory run on BipedalWalker, seed 0, no progress bar."""
    return sm.train_selective_memory(
        make_env("BipedalWalker-v3"),
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        **kwargs,
    )


def test_return_to_go_hand_computed():
    out = sm.return_to_go(np.array([1.0, 0.0, -2.0, 4.0]), 0.5)
    # R3 = 4, R2 = -2 + 2 = 0, R1 = 0 + 0 = 0, R0 = 1 + 0 = 1
    np.testing.assert_allclose(out, [1.0, 0.0, 0.0, 4.0])
    np.testing.assert_allclose(
        sm.return_to_go(np.array([1.0, 1.0, 1.0]), 0.95), [2.8525, 1.95, 1.0]
    )
    assert sm.return_to_go(np.array([]), 0.9).shape == (0,)


def test_keep_probability_at_chosen_points():
    p = sm.keep_probability(np.array([0.0, 1.0, 2.0, 100.0, -1.0, -100.0]), 0.0)
    np.testing.assert_allclose(
        p,
        [
            0.1,
            0.1 + 0.9 * np.tanh(1),
            0.1 + 0.9 * np.tanh(2),
            1.0,
            0.1 - 0.1 * np.tanh(1),
            0.0,
        ],
        atol=1e-12,
    )
    assert sm.keep_probability(np.array([6.0]), 5.0)[0] == pytest.approx(
        0.1 + 0.9 * np.tanh(1.0)
    )


def test_memory_cap_keeps_the_newest():
    memory = sm.SelectiveMemory(3, obs_dim=2, act_dim=1)
    assert len(memory) == 0 and memory.mean_return() == 0.0
    for i in range(5):
        memory.add(np.full((1, 2), i), np.full((1, 1), i), np.array([float(i)]))
    obs, action, ret = memory.arrays()
    assert len(memory) == 3 and obs.dtype == np.float32
    assert sorted(ret.tolist()) == [2.0, 3.0, 4.0]
    assert memory.mean_return() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        sm.SelectiveMemory(0, 2, 1)


class FakeCritic(nn.Module):
    """Scores an (obs, action) row by its first action number."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 2:3]


class ZeroActor(nn.Module):
    act_dim = 2

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(obs), 2)


def act_on_zero_obs(rng: np.random.Generator, act) -> np.ndarray:
    """An acting rule on obs 0 with ZeroActor and FakeCritic."""
    return act(np.zeros(2, dtype=np.float32), ZeroActor(), FakeCritic(), rng)


def test_acting_rule_picks_the_critics_best_candidate():
    rng = np.random.default_rng(0)
    action = act_on_zero_obs(rng, sm.CriticChoice(n_candidates=9))
    candidates = np.random.default_rng(0).uniform(-1, 1, (9, 2))
    best = candidates[np.argmax(candidates[:, 0])]
    np.testing.assert_allclose(action, best, rtol=1e-6)
    # Without candidates, the actor's action (and no random number is drawn).
    out = act_on_zero_obs(rng, sm.CriticChoice(n_candidates=0))
    np.testing.assert_array_equal(out, [0.0, 0.0])
    assert sm.CriticChoice() == sm.CriticChoice(n_candidates=9)  # FitML's 9


def test_select_action_keeps_the_actor_on_ties():
    a, cands = np.array([0.0]), np.array([[1.0], [2.0]])
    assert sm.select_action(a, cands, np.array([1.0, 1.0, 0.5]))[0] == 0.0
    assert sm.select_action(a, cands, np.array([1.0, 0.5, 1.5]))[0] == 2.0


def test_keep_rules():
    rng = np.random.default_rng(0)
    stored = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
    returns = np.array([-5.0, 10.0])
    assert sm.keep_all(returns, stored, rng).all()
    assert sm.KeepTopK(0.2)(returns, stored, rng).tolist() == [False, True]
    assert sm.KeepTopK(0.2)(returns, stored[:0], rng).all()  # empty memory: keep all
    # FitML's rule: R = 10 is far above avg 1.5 (p ~ 1), R = -5 far below (p ~ 0)
    keep = sm.keep_selective(np.array([10.0] * 50 + [-5.0] * 50), stored, rng)
    assert keep[:50].all() and not keep[50:].any()


def test_keep_selective_uses_the_memory_mean_and_the_rng():
    stored = np.array([4.0, 6.0], dtype=np.float32)  # avg 5
    returns = np.full(2000, 6.0)  # R - avg = 1: p = 0.1 + 0.9 tanh(1)
    keep = sm.keep_selective(returns, stored, np.random.default_rng(0))
    assert keep.mean() == pytest.approx(0.1 + 0.9 * np.tanh(1.0), abs=0.03)
    again = sm.keep_selective(returns, stored, np.random.default_rng(0))
    other = sm.keep_selective(returns, stored, np.random.default_rng(1))
    assert (keep == again).all() and (keep != other).any()


def test_fit_reduces_the_loss():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [2.0], [-1.0]])).astype(np.float32)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    first = sm.fit(net, opt, x, y, batch_size=16, epochs=1, rng=rng)
    last = sm.fit(net, opt, x, y, batch_size=16, epochs=20, rng=rng)
    assert last < first


def test_train_runs_a_few_games(tiny_sm):
    cfg = tiny_sm
    result = train_walker(cfg, keep=sm.keep_all)
    assert isinstance(result.actor, MLPActor) and len(result.episode_returns) == 3
    assert result.steps == sum(result.episode_steps) > 0
    assert 0 < len(result.memory) <= cfg.memory_size


def test_checks_pass_references_and_fail_wrong_answers(capsys):
    assert checks.check_return_to_go(sm.return_to_go) is sm.return_to_go
    assert checks.check_keep_probability(sm.keep_probability) is sm.keep_probability
    assert checks.check_select_action(sm.select_action) is sm.select_action
    assert checks.check_keep_rule(sm.keep_selective) is sm.keep_selective
    assert checks.check_fit_step(sm.fit_step) is sm.fit_step
    with pytest.raises(AssertionError, match="Exercise 1"):  # forward, not backward
        checks.check_return_to_go(
            lambda r, g: np.array([sum(r[: t + 1]) for t in range(len(r))])
        )
    with pytest.raises(AssertionError, match="Exercise 2"):  # one branch for both
        checks.check_keep_probability(lambda r, avg: 0.1 + 0.9 * np.tanh(r - avg))
    with pytest.raises(AssertionError, match="Exercise 4"):  # always the best candidate
        checks.check_select_action(lambda a, c, q: c[int(np.argmax(q[1:]))])


def off_by_one_score(a, c, q):
    """Compares q[best] (a neighbour's score) with the actor's, not q[1 + best]."""
    best = int(np.argmax(q[1:]))
    return c[best] if q[best] > q[0] else a


def off_by_one_index(a, c, q):
    """Takes the argmax over all n + 1 scores as a candidate index."""
    best = int(np.argmax(q))
    return c[best - 1] if best > 0 else a


def off_by_one_shift(a, c, q):
    """Indexes the candidates with the argmax over all scores (one too far)."""
    best = int(np.argmax(q))
    return c[min(best, len(c) - 1)] if best > 0 else a


@pytest.mark.parametrize("wrong", [off_by_one_score, off_by_one_shift])
def test_select_action_check_fails_off_by_one(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 4"):
        checks.check_select_action(wrong)
    # argmax over all n + 1 scores, then index - 1, is a correct answer
    assert checks.check_select_action(off_by_one_index) is off_by_one_index


def keep_nan_for_empty(returns, stored, rng, baseline=None):
    return rng.random(len(returns)) < sm.keep_probability(returns, stored.mean())


def keep_other_draws(returns, stored, rng, baseline=None):
    avg = float(stored.mean()) if len(stored) else 0.0
    p = sm.keep_probability(returns, avg)
    return np.array([rng.random() < q for q in p[::-1]])[::-1]  # backwards


def keep_threshold(returns, stored, rng, baseline=None):
    avg = float(stored.mean()) if len(stored) else 0.0
    return sm.keep_probability(returns, avg) > 0.5  # no randomness


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value")
@pytest.mark.parametrize(
    "wrong", [keep_nan_for_empty, keep_other_draws, keep_threshold, sm.keep_all]
)
def test_keep_rule_check_fails_wrong_answers(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 3"):
        checks.check_keep_rule(wrong)


def step_no_zero_grad(net, optimizer, x, y):
    loss = nn.functional.mse_loss(net(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_no_step(net, optimizer, x, y):
    loss = nn.functional.mse_loss(net(x), y)
    optimizer.zero_grad()
    loss.backward()
    return loss.item()


def step_sum(net, optimizer, x, y):
    loss = nn.functional.mse_loss(net(x), y, reduction="sum")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def step_loss_after(net, optimizer, x, y):
    sm.fit_step(net, optimizer, x, y)
    return nn.functional.mse_loss(net(x), y).item()


@pytest.mark.parametrize(
    "wrong", [step_no_zero_grad, step_no_step, step_sum, step_loss_after]
)
def test_fit_step_check_fails_wrong_answers(wrong, capsys):
    with pytest.raises(AssertionError, match="Exercise 5"):
        checks.check_fit_step(wrong)


def test_fit_is_fit_step_on_every_minibatch():
    """sm.fit's inner step equals sm.fit_step: same weights after one epoch."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = x[:, :1] * 2
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        nets.append(nn.Linear(3, 1))
    opts = [torch.optim.Adam(n.parameters(), lr=0.01) for n in nets]
    sm.fit(
        nets[0], opts[0], x, y, batch_size=16, epochs=1, rng=np.random.default_rng(1)
    )
    rng = np.random.default_rng(1)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    for idx in np.array_split(rng.permutation(64), 4):
        sm.fit_step(nets[1], opts[1], xt[idx], yt[idx])
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_checks_return_the_reference_for_stubs(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise: ...")

    assert checks.check_return_to_go(stub) is sm.return_to_go
    assert checks.check_keep_probability(stub) is sm.keep_probability
    assert checks.check_select_action(stub) is sm.select_action
    assert checks.check_keep_rule(stub) is sm.keep_selective
    assert checks.check_fit_step(stub) is sm.fit_step
    assert "not done yet" in capsys.readouterr().out


def test_periodic_evaluation_keeps_the_best_actor(tiny_sm):
    cfg = replace(tiny_sm, episodes=4, eval_every=2, eval_episodes=1)
    result = train_walker(cfg, eval_env=make_env("BipedalWalker-v3"), keep=sm.keep_all)
    assert [g for g, _, _ in result.evals] == [2, 4]
    assert isinstance(result.best_actor, MLPActor)
    assert result.best_actor is not result.actor


def test_advantage_keep_rule_runs(tiny_sm):
    cfg = replace(tiny_sm, fit_every=1, recent_size=500)
    result = train_walker(
        cfg, keep=smi.keep_advantage_scaled, baseline=smi.ValueBaseline(hidden=(8,))
    )
    assert len(result.episode_returns) == 3
    keep = smi.keep_advantage_scaled(
        np.array([5.0, -5.0]),
        np.zeros(0, dtype=np.float32),
        np.random.default_rng(0),
        baseline=np.array([-5.0, 5.0]),
    )
    assert keep.tolist() == [True, False]  # advantages +10 and -10
    with pytest.raises(ValueError, match="baseline=ValueBaseline"):
        smi.keep_advantage_scaled(np.zeros(2), np.zeros(0), np.random.default_rng(0))


def test_scaled_keep_rule_ignores_the_reward_scale():
    stored = np.array([0.0, 1.0, 2.0, 3.0], dtype=np.float32)
    returns = np.array([2.5, 0.5, 3.0])
    a = smi.keep_selective_scaled(returns, stored, np.random.default_rng(0))
    b = smi.keep_selective_scaled(100 * returns, 100 * stored, np.random.default_rng(0))
    assert (a == b).all()


def test_acting_rule_adds_noise_after_the_critic():
    rng = np.random.default_rng(0)
    out = act_on_zero_obs(rng, smi.NearActorChoice(n_candidates=0, noise=0.5))
    expected = np.clip(0.5 * np.random.default_rng(0).standard_normal(2), -1, 1)
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_candidates_around_the_actor():
    """NearActorChoice: the critic compares actor + noise, not uniform actions."""
    act = smi.NearActorChoice(n_candidates=9, spread=0.01, noise=0.0)
    out = act_on_zero_obs(np.random.default_rng(0), act)
    spread = 0.01 * np.random.default_rng(0).standard_normal((9, 2))
    expected = spread[np.argmax(spread[:, 0])]  # the critic prefers a large first coord
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    assert np.abs(out).max() < 0.05  # near the actor's 0, far from uniform candidates


def test_critic_on_recent_fits_the_critic_on_every_step(tiny_sm):
    base = replace(tiny_sm, episodes=2, random_games=2, recent_size=5_000)
    top = sm.KeepTopK(0.01)
    memory_only = train_walker(base, keep=top)
    every_step = train_walker(base, keep=top, fit_critic=smi.FitCriticOnRecent())
    # Same games and memory (the critic does not act during random games) ...
    assert memory_only.episode_returns == every_step.episode_returns
    # ... but the critic was fitted on different rows, so its weights differ.
    differ = [
        not torch.equal(a, b)
        for a, b in zip(
            memory_only.critic.parameters(), every_step.critic.parameters(), strict=True
        )
    ]
    assert any(differ)


def test_the_seed_sets_the_initial_networks(tiny_sm):
    cfg = replace(tiny_sm, episodes=1, fit_every=5)
    a = train_walker(cfg).actor
    torch.manual_seed(999)  # the global state must not matter
    b = train_walker(cfg).actor
    assert all(
        torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True)
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("episodes", 0),
        ("fit_every", 0),
        ("batch_size", 0),
        ("gamma", 1.5),
        ("max_steps", 0),
        ("max_steps", -5),
        ("max_steps", 2.5),
        ("max_steps", True),
        ("max_steps", "1000"),
        ("random_decay_games", 0),  # the schedule divides by it
        ("random_prob", 1.5),
        ("random_prob", -0.1),
        ("random_games", -1),
        ("eval_every", -50),
        ("eval_episodes", 0),
        ("lr", 0.0),
    ],
)
def test_sm_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=f"SMConfig.{field}"):
        sm.SMConfig(**{field: value})


def short_walker(max_steps: int = 80) -> gym.Env:
    """BipedalWalker cut at ``max_steps`` (a truncation), a new world every game."""
    return FreshWorldEachReset(TimeLimit(make_env("BipedalWalker-v3"), max_steps))


def play(cfg: sm.SMConfig, env: gym.Env, rng: np.random.Generator, **kwargs):
    """``train_selective_memory`` on ``env``, seed 0, no progress bar."""
    return sm.train_selective_memory(
        env, cfg, rng=rng, seed=0, progress=False, **kwargs
    )


def games_to_reach(lengths: list[int], budget: int) -> int:
    """How many games a run with these game lengths plays to reach ``budget`` steps."""
    return int(np.searchsorted(np.cumsum(lengths), budget)) + 1


def test_step_budget_stops_after_the_game_that_reaches_it(tiny_sm):
    cfg = replace(tiny_sm, episodes=6, random_games=2)
    straight = play(cfg, short_walker(30), np.random.default_rng(0))
    ends = np.cumsum(straight.episode_steps)
    # inside a game, exactly at a game's end, and one step after it
    for budget in (int(ends[1]) - 5, int(ends[2]), int(ends[2]) + 1):
        stopped = play(
            replace(cfg, max_steps=budget), short_walker(30), np.random.default_rng(0)
        )
        games = games_to_reach(straight.episode_steps, budget)
        assert len(stopped.episode_returns) == games
        assert stopped.steps >= budget > stopped.steps - stopped.episode_steps[-1]
        assert stopped.episode_returns == straight.episode_returns[:games]  # same run
    # episodes still caps the run when the budget is not reached
    capped = play(
        replace(cfg, max_steps=10**9), short_walker(30), np.random.default_rng(0)
    )
    assert capped.episode_returns == straight.episode_returns


def test_step_budget_holds_when_resuming(tiny_sm):
    """A state already past the budget plays no game; a larger budget continues the
    same run, game for game."""
    cfg = replace(tiny_sm, episodes=6, random_games=2)
    straight = play(cfg, short_walker(30), np.random.default_rng(0))
    env, rng = short_walker(30), np.random.default_rng(0)
    first = play(replace(cfg, max_steps=40), env, rng)
    games = len(first.episode_returns)
    assert games == games_to_reach(straight.episode_steps, 40) < 6
    again = play(replace(cfg, max_steps=40), env, rng, state=first.state)
    assert len(again.episode_returns) == games and again.steps == first.steps
    more = play(replace(cfg, max_steps=10**9), env, rng, state=first.state)
    assert more.episode_returns == straight.episode_returns
    assert more.episode_steps == straight.episode_steps


def test_default_pieces_are_the_published_ones():
    """The loop's defaults: FitML's acting rule, keep rule, critic fit and targets."""
    import inspect

    params = inspect.signature(sm.train_selective_memory).parameters
    assert params["act"].default == sm.CriticChoice(n_candidates=9)
    assert params["keep"].default is sm.keep_selective
    assert params["fit_critic"].default == sm.FitCriticOnMemory()
    assert params["compute_returns"].default is sm.returns_to_game_end
    assert params["baseline"].default is None
    rewards = np.array([1.0, 2.0, 3.0])
    out = sm.returns_to_game_end(
        rewards, 0.5, truncated=True, next_obs=None, value=None
    )
    np.testing.assert_allclose(out, sm.return_to_go(rewards, 0.5))  # ignores the cut


@pytest.mark.parametrize(
    "pieces, role",
    [
        ({"keep": smi.keep_advantage_scaled}, "keep=keep_advantage_scaled"),
        (
            {"compute_returns": smt.returns_bootstrap_truncated},
            "compute_returns=returns_bootstrap_truncated",
        ),
    ],
)
def test_a_piece_that_reads_v_is_refused_without_a_baseline_before_any_game(
    tiny_sm, pieces, role
):
    played = []
    with pytest.raises(ValueError, match=rf"{role} reads V\(s\).*baseline="):
        train_walker(tiny_sm, on_game=played.append, **pieces)
    assert played == []  # refused at construction, not in the middle of a run


def test_the_pieces_follow_their_protocols():
    assert isinstance(smi.keep_advantage_scaled, sm.ReadsBaseline)
    assert isinstance(smt.returns_bootstrap_truncated, sm.ReadsBaseline)
    for piece in (
        sm.keep_selective,
        sm.keep_all,
        sm.KeepTopK(),
        sm.returns_to_game_end,
    ):
        assert not isinstance(piece, sm.ReadsBaseline)
    for act in (sm.CriticChoice(), smi.NearActorChoice()):
        assert isinstance(act, sm.CandidateChoice)
    for fit_critic in (sm.FitCriticOnMemory(), smi.FitCriticOnRecent()):
        assert isinstance(fit_critic, sm.CriticFit)
    value = smi.ValueBaseline(hidden=(4,)).build(3)
    assert value.predict(np.zeros((5, 3), dtype=np.float32)).shape == (5,)


def test_the_critic_fits_differ_only_in_their_rows_and_batches():
    torch.manual_seed(0)
    memory, recent = sm.SelectiveMemory(8, 2, 1), sm.SelectiveMemory(16, 2, 1)
    rng = np.random.default_rng(0)
    memory.add(rng.normal(size=(8, 2)), rng.normal(size=(8, 1)), rng.normal(size=8))
    recent.add(rng.normal(size=(16, 2)), rng.normal(size=(16, 1)), rng.normal(size=16))
    cfg = sm.SMConfig(batch_size=4, epochs=2)
    for piece, rows, batch_size, max_updates in [
        (sm.FitCriticOnMemory(), memory, 4, None),
        (smi.FitCriticOnRecent(batch_size=8, max_updates=3), recent, 8, 3),
    ]:
        nets = [sm.make_critic(2, 1, (4, 4)) for _ in range(2)]
        nets[1].load_state_dict(nets[0].state_dict())
        opts = [torch.optim.Adam(n.parameters(), lr=1e-2) for n in nets]
        a = piece(nets[0], opts[0], memory, recent, cfg, np.random.default_rng(1))
        obs, action, ret = rows.arrays()
        b = sm.fit(
            nets[1],
            opts[1],
            np.hstack([obs, action]),
            ret[:, None],
            batch_size=batch_size,
            epochs=2,
            rng=np.random.default_rng(1),
            max_updates=max_updates,
        )
        assert a == b


def test_resume_plays_the_same_games(tiny_sm, tmp_path):
    """6 games straight == 3 games, a killed process, then 3 more from the file."""
    cfg = replace(tiny_sm, episodes=6, fit_every=2, random_games=1)
    env = short_walker()
    straight = sm.train_selective_memory(
        env, cfg, rng=np.random.default_rng(0), seed=0, progress=False
    )

    class Killed(Exception):
        pass

    path = tmp_path / "state.pt"
    env, rng = short_walker(), np.random.default_rng(0)

    def save_then_die(state: SMState) -> None:
        if state.game == 3:
            save_training_state(path, state, rng=rng, env=env, extra={"note": "hi"})
            raise Killed

    with pytest.raises(Killed):
        sm.train_selective_memory(
            env, cfg, rng=rng, seed=0, progress=False, on_game=save_then_die
        )
    env, rng = short_walker(), np.random.default_rng(999)  # a new process
    state = sm.new_state(env, cfg, seed=0)
    assert load_training_state(path, state, rng=rng, env=env) == {"note": "hi"}
    assert state.game == 3 and len(state.returns) == 3
    resumed = sm.train_selective_memory(
        env, cfg, rng=rng, seed=0, progress=False, state=state
    )
    assert resumed.episode_returns == straight.episode_returns  # bit for bit
    assert resumed.episode_steps == straight.episode_steps
    assert resumed.diagnostics == straight.diagnostics
    for a, b in zip(
        straight.actor.parameters(), resumed.actor.parameters(), strict=True
    ):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob("*.tmp"))  # the write was atomic


def test_resume_refuses_a_wrong_file(tiny_sm, tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"format": "something else"}, path)
    env = short_walker()
    state = sm.new_state(env, tiny_sm, seed=0)
    with pytest.raises(ValueError, match="training state"):
        load_training_state(path, state, rng=np.random.default_rng(0), env=env)


def shipped_like(tiny: sm.SMConfig) -> tuple[sm.SMConfig, dict]:
    """A tiny config with the shipped walker's kinds of pieces (V(s), the critic on
    every recent step, the advantage keep rule) and a small every-step memory."""
    cfg = replace(
        tiny, episodes=6, fit_every=3, random_games=1, recent_size=100, batch_size=4
    )
    pieces = {
        "act": smi.NearActorChoice(n_candidates=4),
        "keep": smi.keep_advantage_scaled,
        "fit_critic": smi.FitCriticOnRecent(batch_size=16, max_updates=5),
        "baseline": smi.ValueBaseline(hidden=(8,), max_updates=5),
    }
    return cfg, pieces


def test_a_compact_state_continues_the_run(tiny_sm, tmp_path):
    """3 games, a compact save, then 3 more games from the file in a new process: the
    networks (rounded to float16), counters and memories come back, Adam's settings
    without its moments, and only the newest rows of the every-step memory, in order."""
    cfg, pieces = shipped_like(tiny_sm)
    env, rng = short_walker(), np.random.default_rng(0)
    first = sm.train_selective_memory(
        env, replace(cfg, episodes=3), rng=rng, seed=0, progress=False, **pieces
    )
    state, path = first.state, tmp_path / "compact.pt"
    assert state.recent.full  # 3 games in 100 rows: the ring wrapped
    assert state.critic_opt.state_dict()["state"], "the test needs a run that fitted"
    save_compact_state(path, state, rng=rng, env=env, recent_rows=40, extra={"a": 1})
    stored = torch.load(path, weights_only=True)  # what the file holds
    assert stored["recent"]["obs"].shape == (40, 24) and stored["best_actor"] is None
    assert stored["recent"]["obs"].dtype == torch.float16
    assert all(v.dtype == torch.float16 for v in stored["actor"].values())
    assert stored["critic_opt"]["state"] == {} and stored["value_opt"]["state"] == {}

    env2, rng2 = short_walker(), np.random.default_rng(999)
    fresh = sm.new_state(env2, cfg, seed=5, baseline=pieces["baseline"])
    assert load_training_state(path, fresh, rng=rng2, env=env2) == {"a": 1}
    assert fresh.game == 3 and fresh.returns == state.returns
    assert fresh.best_actor is None and fresh.best_score == -np.inf
    for net in ("actor", "critic"):  # float16 in the file, float32 again in the run
        pairs = zip(
            getattr(state, net).parameters(),
            getattr(fresh, net).parameters(),
            strict=True,
        )
        for a, b in pairs:
            assert b.dtype == torch.float32 and torch.allclose(
                a, b, rtol=1e-3, atol=1e-4
            )
    for opt in ("actor_opt", "critic_opt"):  # Adam's settings; its moments start anew
        saved, loaded = getattr(state, opt), getattr(fresh, opt)
        assert loaded.state_dict()["state"] == {}
        assert loaded.param_groups[0]["lr"] == saved.param_groups[0]["lr"]
    assert np.array_equal(fresh.memory.arrays()[2], state.memory.arrays()[2])
    order = np.roll(np.arange(state.recent.capacity), -state.recent.pos)[-40:]
    assert len(fresh.recent) == 40 and fresh.recent.pos == 40
    assert np.array_equal(fresh.recent.arrays()[2], state.recent.ret[order])
    assert np.allclose(fresh.recent.arrays()[0], state.recent.obs[order], atol=1e-2)
    assert rng2.random() == rng.random()  # the random states came back

    more = sm.train_selective_memory(
        env2, cfg, rng=rng2, seed=0, progress=False, state=fresh, **pieces
    )
    assert len(more.episode_returns) == 6 and more.state.game == 6
    assert len(more.state.recent) == 100  # refilled after the stored rows


def test_a_missing_or_damaged_state_file_is_refused_clearly(tiny_sm, tmp_path):
    cfg, pieces = shipped_like(tiny_sm)
    env = short_walker()
    state = sm.new_state(env, cfg, seed=0, baseline=pieces["baseline"])
    rng = np.random.default_rng(0)
    with pytest.raises(FileNotFoundError, match="No Selective Memory training state"):
        load_training_state(tmp_path / "nowhere.pt", state, rng=rng, env=env)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="could not be read"):
        load_training_state(damaged, state, rng=rng, env=env)
    other = sm.new_state(env, replace(cfg, actor_hidden=(4,)), seed=0,
                         baseline=pieces["baseline"])  # fmt: skip
    path = tmp_path / "other.pt"
    save_compact_state(path, other, rng=rng, env=env)
    with pytest.raises(ValueError, match="does not fit this run"):
        load_training_state(path, state, rng=rng, env=env)
    with pytest.raises(ValueError, match="recent_rows"):
        save_compact_state(path, state, rng=rng, env=env, recent_rows=-1)


def test_a_fresh_world_makes_a_game_depend_only_on_its_seed():
    def play(env: gym.Env) -> list[float]:
        env.reset(seed=5)
        acts = np.random.default_rng(0).uniform(-1, 1, (60, 4)).astype(np.float32)
        return [env.step(a)[1] for a in acts]

    used = FreshWorldEachReset(make_env("BipedalWalker-v3"))
    for _ in range(2):
        play(used)  # earlier games in the same env
    assert play(used) == play(FreshWorldEachReset(make_env("BipedalWalker-v3")))


def test_keep_whole_game():
    rng = np.random.default_rng(0)
    stored = np.array([1.0, 3.0], dtype=np.float32)  # mean 2
    assert sm.keep_whole_game(np.array([2.5, 1.6]), stored, rng).all()  # mean 2.05
    assert not sm.keep_whole_game(np.array([5.0, -1.0]), stored, rng).any()  # mean 2
    assert sm.keep_whole_game(np.array([-9.0, -9.0]), stored[:0], rng).all()  # empty
    assert sm.keep_whole_game(np.zeros(0), stored, rng).shape == (0,)


def test_bootstrapped_return_hand_computed():
    rewards, gamma = np.array([1.0, 2.0]), 0.5
    # terminated (a fall): the future after the last step is 0, as return_to_go
    out = smt.return_to_go_bootstrapped(rewards, gamma, truncated=False, final_value=8)
    np.testing.assert_allclose(out, [1 + 0.5 * 2, 2.0])
    # truncated by the time limit: R_1 = 2 + 0.5 * 8 = 6, R_0 = 1 + 0.5 * 6 = 4
    out = smt.return_to_go_bootstrapped(rewards, gamma, truncated=True, final_value=8)
    np.testing.assert_allclose(out, [4.0, 6.0])


class ConstantValue:
    """A stand-in for the loop's V(s): V = 10 everywhere."""

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return np.full(len(obs), 10.0, dtype=np.float32)


def test_returns_piece_bootstraps_only_truncated_games():
    rewards, obs = np.array([0.0, 1.0]), np.zeros(24, dtype=np.float32)
    piece = smt.returns_bootstrap_truncated
    cut = piece(rewards, 0.9, truncated=True, next_obs=obs, value=ConstantValue())
    np.testing.assert_allclose(cut, [0.9 * (1 + 9.0), 1 + 9.0])
    fell = piece(rewards, 0.9, truncated=False, next_obs=obs, value=ConstantValue())
    np.testing.assert_allclose(fell, [0.9, 1.0])
    with pytest.raises(ValueError, match="baseline=ValueBaseline"):
        piece(rewards, 0.9, truncated=True, next_obs=obs, value=None)


def test_loop_bootstraps_at_the_time_limit(tiny_sm):
    """The loop passes truncated=True for a game cut by the time limit."""
    seen = []

    def spy(rewards, gamma, *, truncated, next_obs, value):
        seen.append((len(rewards), truncated, next_obs.shape))
        return smt.returns_bootstrap_truncated(
            rewards, gamma, truncated=truncated, next_obs=next_obs, value=value
        )

    cfg = replace(tiny_sm, episodes=2, random_games=2, recent_size=500)
    result = sm.train_selective_memory(
        short_walker(20),
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        compute_returns=spy,
        baseline=smi.ValueBaseline(hidden=(8,)),
    )
    assert seen == [(20, True, (24,)), (20, True, (24,))]
    assert result.steps == 40


def test_diagnostics_per_game(tiny_sm):
    cfg = replace(tiny_sm, episodes=3, random_games=1, fit_every=1)
    result = sm.train_selective_memory(
        short_walker(),
        cfg,
        rng=np.random.default_rng(0),
        seed=0,
        progress=False,
        keep=sm.keep_all,
    )
    d = result.diagnostics
    assert len(d.memory_rows) == len(d.keep_rate) == len(d.critic_pred) == 3
    assert d.memory_rows == list(np.cumsum(result.episode_steps))  # keep_all
    assert d.keep_rate == [1.0, 1.0, 1.0]
    assert d.override_rate[0] is None  # game 0 is random play: no decision
    assert all(0.0 <= r <= 1.0 for r in d.override_rate[1:])
    # keep_all stores every return-to-go in order: return_mean is each game's mean
    stored, ends = result.memory.arrays()[2], np.cumsum([0, *result.episode_steps])
    for g in range(3):
        segment = stored[ends[g] : ends[g + 1]]
        assert d.return_mean[g] == pytest.approx(segment.mean(), rel=1e-5)
    assert all(c is None or -1 <= c <= 1 for c in d.critic_corr)
    assert result.state.game == 3 and result.state.diagnostics is d


def test_override_flag_matches_the_choice():
    """choose() reports an override exactly when the action is not the actor's."""
    for rule in (sm.CriticChoice(9), smi.NearActorChoice(16, 0.3, noise=0.0)):
        for i in range(20):
            obs = np.random.default_rng(100 + i).normal(size=2).astype(np.float32)
            rng = np.random.default_rng(i)
            action, over = rule.choose(obs, ZeroActor(), FakeCritic(), rng)
            same = rule(obs, ZeroActor(), FakeCritic(), np.random.default_rng(i))
            np.testing.assert_array_equal(action, same)  # same draws as __call__
            assert over == bool(np.any(action != 0.0))
    # the critic prefers a large first coordinate: 9 uniform candidates beat 0 ...
    assert sm.CriticChoice(9).choose(
        np.zeros(2, np.float32), ZeroActor(), FakeCritic(), np.random.default_rng(0)
    )[1]
    # ... and no candidate, no override
    assert not sm.CriticChoice(0).choose(
        np.zeros(2, np.float32), ZeroActor(), FakeCritic(), np.random.default_rng(0)
    )[1]


def test_critic_predictions_match_the_critic():
    obs = np.zeros((3, 2), dtype=np.float32)
    action = np.array([[0.5, 0.0], [-1.0, 0.0], [0.25, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(
        critic_predictions(FakeCritic(), obs, action), [0.5, -1.0, 0.25]
    )


def test_the_resume_state_never_writes_through_a_planted_link(tiny_sm, tmp_path):
    """A link at the temporary name an earlier version used (``state.pt.tmp``,
    predictable in a shared folder) is neither followed nor left as the state."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "state.pt.tmp").symlink_to(victim)
    env, path = short_walker(), tmp_path / "state.pt"
    state = sm.new_state(env, tiny_sm, seed=0)
    save_training_state(path, state, rng=np.random.default_rng(0), env=env)
    assert victim.read_text() == "keep" and not path.is_symlink()
    env = short_walker()
    fresh = sm.new_state(env, tiny_sm, seed=0)
    load_training_state(path, fresh, rng=np.random.default_rng(1), env=env)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["state.pt", "state.pt.tmp", "victim.txt"]  # no temporary file


@pytest.fixture
def bars(keep_bars) -> list:
    """Every ``RunProgress`` the Selective Memory loop makes, kept for inspection."""
    return keep_bars(sm_loop)


def test_the_bar_counts_the_step_budget_and_closes_at_it(tiny_sm, bars):
    cfg = replace(tiny_sm, episodes=5_000, random_games=2, max_steps=70)
    result = sm.train_selective_memory(
        short_walker(30), cfg, rng=np.random.default_rng(0), seed=0
    )
    (watch,) = bars
    assert watch.unit == "steps"
    assert watch.bar.total == cfg.max_steps  # not the 5,000 games
    assert watch.bar.n == watch.bar.total  # green in a notebook
    assert watch.bar.disable  # closed
    assert result.steps >= cfg.max_steps  # the last game ended past the budget


def test_a_time_capped_run_counts_seconds_and_closes_at_its_total(tiny_sm, bars):
    cfg = replace(tiny_sm, episodes=3, random_games=2, max_seconds=3600.0)
    result = sm.train_selective_memory(
        short_walker(30), cfg, rng=np.random.default_rng(0), seed=0
    )
    (watch,) = bars
    assert watch.unit == "seconds"
    # the games ran out long before the cap: the total shrank to the time taken
    assert watch.bar.n == watch.bar.total <= result.wall_time_s
    assert watch.postfix["stopped"] == "all 3 games"


def test_the_live_curve_changes_nothing_and_draws_the_run(tiny_sm):
    cfg = replace(tiny_sm, episodes=4, random_games=1, eval_every=2, eval_episodes=1)

    def run(live):
        return sm.train_selective_memory(
            short_walker(30),
            cfg,
            rng=np.random.default_rng(0),
            seed=0,
            eval_env=short_walker(30),
            progress=False,
            live=live,
        )

    curve = LiveCurve()
    on, off = run(curve), run(False)
    assert on.episode_returns == off.episode_returns
    assert on.evals == off.evals
    for a, b in zip(on.actor.parameters(), off.actor.parameters(), strict=True):
        assert torch.equal(a, b)
    assert curve.episode_returns == on.episode_returns
    assert curve.episode_steps == list(np.cumsum(on.episode_steps))
    assert [e[1:] for e in curve.evaluations] == [e[1:] for e in on.evals]
    assert curve.draws == 0  # outside a notebook nothing is shown
    with pytest.raises(ValueError, match="live must be True, False or a LiveCurve"):
        run("yes")
