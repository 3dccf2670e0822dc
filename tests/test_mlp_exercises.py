"""The checks of notebook 01 pass the reference, fail plausible wrong answers, and
fall back to the reference when an exercise is not done yet."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils import mlp_reference as ref
from course_utils.checks.mlp import (
    check_cross_entropy,
    check_digits_hyperparameters,
    check_mlp_predict_proba,
    check_softmax,
    check_train_step,
)

CHECKS_AND_REFERENCES = [
    (check_softmax, ref.softmax),
    (check_cross_entropy, ref.cross_entropy),
    (check_mlp_predict_proba, ref.mlp_predict_proba),
    (check_digits_hyperparameters, ref.digits_hyperparameters),
    (check_train_step, ref.train_step),
]
IDS = [check.__name__ for check, _ in CHECKS_AND_REFERENCES]


@pytest.mark.parametrize(("check", "reference"), CHECKS_AND_REFERENCES, ids=IDS)
def test_check_passes_the_reference(check, reference, capsys):
    assert check(reference) is reference
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize(("check", "reference"), CHECKS_AND_REFERENCES, ids=IDS)
def test_unfinished_exercise_falls_back_to_reference(check, reference, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise: not done")

    assert check(stub) is reference
    assert "not done yet" in capsys.readouterr().out


# --- Exercise 1: softmax -------------------------------------------------------


def softmax_without_max_subtraction(logits):
    exp = np.exp(logits)
    return exp / exp.sum(axis=-1, keepdims=True)


def softmax_over_the_wrong_axis(logits):
    z = logits - logits.max(axis=0, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)


def softmax_in_place(logits):
    logits -= logits.max(axis=-1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (softmax_without_max_subtraction, "subtract each row's maximum"),
        (softmax_over_the_wrong_axis, "axis"),
        (softmax_in_place, "in place"),
    ],
)
def test_softmax_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_softmax(wrong)


def test_reference_softmax_is_finite_on_huge_logits():
    out = ref.softmax(np.array([[1e4, 0.0], [-1e4, -1e4]]))
    np.testing.assert_allclose(out, [[1.0, 0.0], [0.5, 0.5]])


# --- Exercise 2: cross-entropy -------------------------------------------------


def cross_entropy_log_of_zero(y, proba):
    return float(-np.log(proba[np.arange(len(y)), y]).mean())


def cross_entropy_summed(y, proba):
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.log(p).sum())


def cross_entropy_wrong_column(y, proba):
    p = np.clip(proba[:, y], 1e-15, 1.0)  # (batch, batch): every row, every label
    return float(-np.log(p).mean())


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (cross_entropy_log_of_zero, "Clip"),
        (cross_entropy_summed, "mean, not the sum"),
        (cross_entropy_wrong_column, "cross_entropy"),
    ],
)
def test_cross_entropy_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_cross_entropy(wrong)


# --- Exercise 3: the forward pass -----------------------------------------------


def forward_without_output_activation(clf, X):
    h = X
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        h = h @ W + b
        if i < len(clf.coefs_) - 1:
            h = ref.hidden_activation(clf.activation, h)
    return h  # logits, not probabilities


def forward_always_relu(clf, X):
    h = X
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        h = h @ W + b
        if i < len(clf.coefs_) - 1:
            h = np.maximum(h, 0)
    return ref.softmax(h)


def forward_activation_on_output_too(clf, X):
    h = X
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        h = ref.hidden_activation(clf.activation, h @ W + b)
    return ref.softmax(h)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (forward_without_output_activation, "do not sum to 1"),
        (forward_always_relu, "tanh"),
        (forward_activation_on_output_too, "relu"),
    ],
)
def test_forward_pass_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_mlp_predict_proba(wrong)


def test_reference_forward_pass_handles_two_classes():
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((4,), solver="lbfgs", random_state=0).fit(X, y)
    np.testing.assert_allclose(
        ref.mlp_predict_proba(clf, X), clf.predict_proba(X), atol=1e-6
    )


# --- Exercise 4: hyper-parameters ----------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": (2,), "max_iter": 50}, "< 0.97"),
        ({"mlp__alpha": 1.0}, "prefix"),
        ({"alpha": 1.0, "random_state": 7}, "random_state"),
        ({"hidden_units": 100}, "refused"),
        ({"max_iter": 10**6}, "max_iter"),
    ],
)
def test_hyperparameter_check_fails_wrong_answers(params, message):
    with pytest.raises(AssertionError, match=message):
        check_digits_hyperparameters(lambda: params)


# --- Exercise 5: the PyTorch training step ----------------------------------------


def step_without_zero_grad(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_without_optimizer_step(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


def step_with_softmax_first(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(torch.softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returning_a_tensor(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (step_without_zero_grad, "zero_grad"),
        (step_without_optimizer_step, "optimizer.step"),
        (step_with_softmax_first, "no softmax first"),
        (step_returning_a_tensor, "float"),
    ],
)
def test_train_step_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_train_step(wrong)


def test_train_step_check_leaves_torch_global_rng_alone():
    before = torch.random.get_rng_state().clone()
    check_train_step(ref.train_step)
    assert torch.equal(torch.random.get_rng_state(), before)
