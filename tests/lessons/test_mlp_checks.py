"""The checks of notebook 01 pass the reference, fail plausible wrong answers, and
fall back to the reference when an exercise is not done yet."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils.lessons import mlp_reference as ref
from course_utils.lessons.checks.mlp import (
    check_backprop,
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
    (check_backprop, ref.backprop),
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


def softmax_minus_the_minimum(logits):
    z = logits - logits.min(axis=-1, keepdims=True)  # equal in exact maths, overflows
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def softmax_minus_the_global_maximum(logits):
    z = logits - logits.max()  # one number for the whole batch, not per row
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (softmax_without_max_subtraction, "subtract each row's maximum"),
        (softmax_over_the_wrong_axis, "axis"),
        (softmax_in_place, "in place"),
        (softmax_minus_the_minimum, "maximum"),
        (softmax_minus_the_global_maximum, "row"),
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


# --- Exercise 4: backpropagation by hand -----------------------------------------


def _forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    h1 = np.maximum(z1, 0)
    return z1, h1, h1 @ params["W2"] + params["b2"]


def _onehot(y, k):
    return np.eye(k)[y]


def _grads(X, z1, h1, d_logits, W2, *, mask=True, bias=np.sum):
    d_z1 = d_logits @ W2.T * ((z1 > 0) if mask else 1.0)
    return {
        "W1": X.T @ d_z1,
        "b1": bias(d_z1, axis=0),
        "W2": h1.T @ d_logits,
        "b2": bias(d_logits, axis=0),
    }


def backprop_without_mean(params, X, y):  # the gradient of the summed loss
    z1, h1, logits = _forward(params, X)
    d = ref.softmax(logits) - _onehot(y, logits.shape[1])
    return _grads(X, z1, h1, d, params["W2"])


def backprop_sign_flipped(params, X, y):  # onehot - p: gradient ascent
    z1, h1, logits = _forward(params, X)
    d = (_onehot(y, logits.shape[1]) - ref.softmax(logits)) / len(y)
    return _grads(X, z1, h1, d, params["W2"])


def backprop_without_relu_mask(params, X, y):
    z1, h1, logits = _forward(params, X)
    return _grads(X, z1, h1, ref.logits_gradient(logits, y), params["W2"], mask=False)


def backprop_bias_mean(params, X, y):  # divides by B twice for the biases
    z1, h1, logits = _forward(params, X)
    return _grads(X, z1, h1, ref.logits_gradient(logits, y), params["W2"], bias=np.mean)


def backprop_logits_not_probabilities(params, X, y):  # forgot the softmax
    z1, h1, logits = _forward(params, X)
    d = (logits - _onehot(y, logits.shape[1])) / len(y)
    return _grads(X, z1, h1, d, params["W2"])


def backprop_labels_off_by_one(params, X, y):
    z1, h1, logits = _forward(params, X)
    d = ref.logits_gradient(logits, (y + 1) % logits.shape[1])
    return _grads(X, z1, h1, d, params["W2"])


def backprop_w2_not_transposed(params, X, y):  # d_logits @ W2: a shape error
    z1, h1, logits = _forward(params, X)
    d = ref.logits_gradient(logits, y)
    d_z1 = (d @ params["W2"]) * (z1 > 0)
    return {"W1": X.T @ d_z1, "b1": d_z1.sum(0), "W2": h1.T @ d, "b2": d.sum(0)}


def backprop_transposed_weight_gradient(params, X, y):  # (d.T @ h1).T by hand, wrong
    grads = ref.backprop(params, X, y)
    z1, h1, logits = _forward(params, X)
    grads["W2"] = ref.logits_gradient(logits, y).T @ h1  # (3, 4) instead of (4, 3)
    return grads


def backprop_that_also_steps(params, X, y):  # updates params in place
    grads = ref.backprop(params, X, y)
    for k in params:
        params[k] -= 0.1 * grads[k]
    return grads


def backprop_returns_a_tuple(params, X, y):
    grads = ref.backprop(params, X, y)
    return tuple(grads[k] for k in ref.PARAM_NAMES)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (backprop_without_mean, "mean over the batch"),
        (backprop_sign_flipped, "minus the one-hot"),
        (backprop_without_relu_mask, "only where z1 was positive"),
        (backprop_bias_mean, "summed over the batch"),
        (backprop_logits_not_probabilities, "softmax"),
        (backprop_labels_off_by_one, "dL/dW2|dL/db2"),
        (backprop_w2_not_transposed, "shapes"),
        (backprop_transposed_weight_gradient, "shape"),
        (backprop_that_also_steps, "changed params"),
        (backprop_returns_a_tuple, "dict"),
    ],
)
def test_backprop_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_backprop(wrong)


def test_backprop_reference_equals_autograd_on_a_digits_sized_net():
    from course_utils.lessons.checks.mlp import autograd_gradients

    rng = np.random.default_rng(0)
    params = {
        "W1": rng.normal(size=(64, 16)) * 0.1,
        "b1": np.zeros(16),
        "W2": rng.normal(size=(16, 10)) * 0.1,
        "b2": np.zeros(10),
    }
    X, y = rng.normal(size=(32, 64)), rng.integers(10, size=32)
    ours, theirs = ref.backprop(params, X, y), autograd_gradients(params, X, y)
    for k in ref.PARAM_NAMES:
        np.testing.assert_allclose(ours[k], theirs[k], atol=1e-12)


# --- Exercise 5: regularise a narrow network, scored by cross-validation ----------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "< 0.945"),  # the default alpha=1e-4 scores 0.933
        ({"alpha": 0.1}, "< 0.945"),  # the docstring's example
        ({"alpha": 0.3}, "< 0.945"),  # too little
        ({"alpha": 10.0}, "< 0.945"),  # too much: underfits (0.907)
        ({"solver": "lbfgs"}, "< 0.945"),  # another solver is not regularisation
        ({"learning_rate_init": 0.01}, "< 0.945"),
        ({"hidden_layer_sizes": (256,), "alpha": 3.0}, "leave"),  # width is fixed
        ({"max_iter": 50, "alpha": 3.0}, "leave"),
        ({"mlp__alpha": 1.0}, "prefix"),
        ({"alpha": 1.0, "random_state": 7}, "random_state"),
        ({"hidden_units": 100}, "refused"),
    ],
)
def test_hyperparameter_check_fails_wrong_answers(params, message):
    with pytest.raises(AssertionError, match=message):
        check_digits_hyperparameters(lambda: params)


def test_hyperparameter_check_never_uses_the_test_set(monkeypatch):
    from course_utils.lessons.checks import mlp as checks

    X_train, y_train = checks._digits_train(42)
    seen = []
    real = checks.digits_cv_accuracy

    def spy(params, X, y, *, seed):
        seen.append(len(X))
        return real(params, X, y, seed=seed)

    monkeypatch.setattr(checks, "digits_cv_accuracy", spy)
    checks.check_digits_hyperparameters(
        ref.digits_hyperparameters, train=(X_train, y_train)
    )
    assert seen == [len(X_train)]


# --- Exercise 6: the PyTorch training step ----------------------------------------


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
