"""The checks of notebook 01 pass the reference and correct answers written other
ways, fail the plausible wrong answers listed under each exercise, and fall back to
the reference when an exercise is not done yet."""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.special
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.lessons import mlp_reference as ref
from course_utils.lessons.checks.mlp import (
    check_backprop,
    check_cross_entropy,
    check_digits_hyperparameters,
    check_mlp_predict_proba,
    check_softmax,
    check_train_step,
    reference_digits_hyperparameters,
)

CHECKS_AND_REFERENCES = [
    (check_softmax, ref.softmax),
    (check_cross_entropy, ref.cross_entropy),
    (check_mlp_predict_proba, ref.mlp_predict_proba),
    (check_backprop, ref.backprop),
    (check_digits_hyperparameters, reference_digits_hyperparameters),
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


def _passes(check, answer):
    assert check(answer) is answer


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


def softmax_exp_in_place(logits):
    np.exp(logits - logits.max(axis=1, keepdims=True), out=logits)
    return logits / logits.sum(axis=1, keepdims=True)


def softmax_minus_the_minimum(logits):
    z = logits - logits.min(axis=-1, keepdims=True)  # equal in exact maths, overflows
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def softmax_minus_the_mean(logits):
    z = logits - logits.mean(axis=-1, keepdims=True)  # overflows on a lone outlier
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def softmax_minus_the_global_maximum(logits):
    z = logits - logits.max()  # one number for the whole batch, not per row
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def softmax_without_keepdims(logits):
    z = logits - logits.max(axis=1)  # (batch,) broadcasts along the columns
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def softmax_with_clipped_logits(logits):
    z = np.clip(logits, -500, 500)  # no overflow, but not the same function
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def softmax_normalised_by_the_batch_sum(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum()


def softmax_as_a_list(logits):
    return ref.softmax(logits).tolist()


def softmax_as_a_tensor(logits):
    return torch.softmax(torch.as_tensor(logits), dim=1)


def softmax_squeezed(logits):  # right for a batch of many, (n,) for a batch of one
    z = logits - logits.max(axis=1, keepdims=True)
    return np.squeeze(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))


def softmax_in_place_on_a_view(logits):
    row = logits[0]  # a view: writing into it writes into the caller's batch
    row -= row.max()
    return ref.softmax(logits)


def softmax_without_return(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    exp / exp.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (softmax_without_return, "forget `return`"),
        (softmax_as_a_list, "a list, where the contract is a NumPy array"),
        (softmax_as_a_tensor, "tensor of shape .* NumPy array"),
        (softmax_squeezed, "batch of one example"),
        (softmax_in_place_on_a_view, "changed its argument logits in place"),
        (softmax_without_max_subtraction, "subtracted from the whole row"),
        (softmax_over_the_wrong_axis, "axis"),
        (softmax_in_place, "in place"),
        (softmax_exp_in_place, "in place"),
        (softmax_minus_the_minimum, "overflow"),
        (softmax_minus_the_mean, "overflow"),
        (softmax_minus_the_global_maximum, "own maximum"),
        (softmax_without_keepdims, "keepdims"),
        (softmax_with_clipped_logits, "a clip"),
        (softmax_normalised_by_the_batch_sum, "within a row"),
    ],
)
def test_softmax_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_softmax(wrong)


def softmax_by_scipy(logits):
    return scipy.special.softmax(logits, axis=1)


def softmax_by_logsumexp(logits):
    return np.exp(logits - scipy.special.logsumexp(logits, axis=1, keepdims=True))


def softmax_row_by_row(logits):
    rows = []
    for row in logits:
        exp = [math.exp(v - max(row)) for v in row]
        rows.append([e / sum(exp) for e in exp])
    return np.array(rows)


def softmax_by_torch(logits):
    return torch.softmax(torch.as_tensor(logits), dim=1).numpy()


@pytest.mark.parametrize(
    "answer",
    [softmax_by_scipy, softmax_by_logsumexp, softmax_row_by_row, softmax_by_torch],
)
def test_softmax_check_passes_correct_answers_written_other_ways(answer):
    _passes(check_softmax, answer)


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


def cross_entropy_of_the_prediction(y, proba):
    p = np.clip(proba.max(axis=1), 1e-15, 1.0)  # the most likely class, not y
    return float(-np.log(p).mean())


def cross_entropy_log10(y, proba):
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.log10(p).mean())


def cross_entropy_clipped_in_place(y, proba):
    np.clip(proba, 1e-15, 1.0, out=proba)
    return float(-np.log(proba[np.arange(len(y)), y]).mean())


def cross_entropy_per_example(y, proba):
    return -np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0))


def cross_entropy_over_every_entry(y, proba):
    return float(-np.log(np.clip(proba, 1e-15, 1.0)).mean())


def cross_entropy_clipped_at_1e7(y, proba):
    p = np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.log(p).mean())


def cross_entropy_as_a_tensor(y, proba):
    p = torch.as_tensor(proba).clamp(1e-15, 1.0)
    return F.nll_loss(torch.log(p), torch.as_tensor(y))


def cross_entropy_divided_by_the_classes(y, proba):
    p = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.log(p).sum() / proba.shape[1])


def cross_entropy_without_return(y, proba):
    float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)).mean())


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (cross_entropy_as_a_tensor, "expected one number .* a float"),
        (cross_entropy_divided_by_the_classes, "mean, not the sum|true"),
        (cross_entropy_without_return, "forget `return`"),
        (cross_entropy_log_of_zero, "Clip"),
        (cross_entropy_summed, "mean, not the sum"),
        (cross_entropy_wrong_column, r"row i, column y\[i\]"),
        (cross_entropy_of_the_prediction, "true"),
        (cross_entropy_log10, "natural log"),
        (cross_entropy_clipped_in_place, "in place"),
        (cross_entropy_per_example, "one number"),
        (cross_entropy_over_every_entry, "natural log|true"),
        (cross_entropy_clipped_at_1e7, "1e-15"),
    ],
)
def test_cross_entropy_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_cross_entropy(wrong)


def cross_entropy_by_one_hot(y, proba):
    onehot = np.eye(proba.shape[1])[y]
    return float(-(onehot * np.log(np.clip(proba, 1e-15, 1.0))).sum(axis=1).mean())


def cross_entropy_by_take_along_axis(y, proba):
    p = np.take_along_axis(proba, y[:, None], axis=1)[:, 0]
    return float(np.mean(-np.log(np.maximum(p, 1e-15))))


def cross_entropy_in_a_loop(y, proba):
    total = sum(-math.log(max(proba[i, label], 1e-15)) for i, label in enumerate(y))
    return total / len(y)


@pytest.mark.parametrize(
    "answer",
    [
        cross_entropy_by_one_hot,
        cross_entropy_by_take_along_axis,
        cross_entropy_in_a_loop,
    ],
)
def test_cross_entropy_check_passes_correct_answers_written_other_ways(answer):
    _passes(check_cross_entropy, answer)


# --- Exercise 3: the forward pass -----------------------------------------------

ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": scipy.special.expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


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


def forward_relu_or_tanh_only(clf, X):  # logistic and identity fall through to relu
    act = np.tanh if clf.activation == "tanh" else ACTIVATIONS["relu"]
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = act(h @ W + b)
    return ref.softmax(h @ clf.coefs_[-1] + clf.intercepts_[-1])


def forward_identity_as_relu(clf, X):
    act = ACTIVATIONS["relu" if clf.activation == "identity" else clf.activation]
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = act(h @ W + b)
    return ref.softmax(h @ clf.coefs_[-1] + clf.intercepts_[-1])


def forward_activation_on_output_too(clf, X):
    h = X
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        h = ref.hidden_activation(clf.activation, h @ W + b)
    return ref.softmax(h)


def forward_two_layers_only(clf, X):  # the digits network's shape, hard-coded
    h = ACTIVATIONS[clf.activation](X @ clf.coefs_[0] + clf.intercepts_[0])
    return ref.softmax(h @ clf.coefs_[1] + clf.intercepts_[1])


def forward_softmax_as_hidden_activation(clf, X):
    h = X
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        h = ref.softmax(h @ W + b)
    return h


def forward_by_predict_proba(clf, X):  # the shortcut the exercise forbids
    return clf.predict_proba(X)


def forward_reading_out_activation(clf, X):
    assert clf.out_activation_ == "softmax"
    return ref.mlp_predict_proba(clf, X)


def forward_centres_x_in_place(clf, X):
    X -= 0.0 * X.mean(axis=0)  # "harmless", but writes into the caller's array
    X += 0.0
    X[0, 0] += 1e-3
    return ref.mlp_predict_proba(clf, X)


def forward_as_a_tensor(clf, X):
    return torch.as_tensor(ref.mlp_predict_proba(clf, X))


def forward_transposes_the_weights_in_place(clf, X):
    for i, W in enumerate(clf.coefs_):
        clf.coefs_[i] = W.T  # "fixes" a shape, then transposes back: the list changed
        clf.coefs_[i] = clf.coefs_[i].T.copy()
    clf.intercepts_[0] += 0.0
    clf.intercepts_[0][0] += 1e-3
    return ref.mlp_predict_proba(clf, X)


def forward_activation_by_numpy_name(clf, X):  # np.tanh exists, np.relu does not
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = getattr(np, clf.activation)(h @ W + b)
    return ref.softmax(h @ clf.coefs_[-1] + clf.intercepts_[-1])


def forward_softmax_over_the_batch(clf, X):
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = ref.hidden_activation(clf.activation, h @ W + b)
    z = h @ clf.coefs_[-1] + clf.intercepts_[-1]
    return ref.softmax(z.T).T


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (forward_as_a_tensor, "tensor of shape .* NumPy array"),
        (forward_transposes_the_weights_in_place, "changed clf's weights in place"),
        (forward_activation_by_numpy_name, "AttributeError"),
        (forward_softmax_over_the_batch, "do not sum to 1"),
        (forward_without_output_activation, "do not sum to 1"),
        (forward_always_relu, "tanh"),
        (forward_relu_or_tanh_only, "logistic"),
        (forward_identity_as_relu, "identity"),
        (forward_activation_on_output_too, "no hidden activation"),
        (forward_two_layers_only, "every layer"),
        (forward_softmax_as_hidden_activation, "relu"),
        (forward_by_predict_proba, "predict_proba"),
        (forward_reading_out_activation, "only coefs_, intercepts_ and activation"),
        (forward_centres_x_in_place, "in place"),
        (lambda clf, X: None, "forget `return`"),
    ],
)
def test_forward_pass_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_mlp_predict_proba(wrong)


def forward_recursive(clf, X):
    def layer(h, i):
        z = h @ clf.coefs_[i] + clf.intercepts_[i]
        if i == len(clf.coefs_) - 1:
            return scipy.special.softmax(z, axis=1)
        return layer(ACTIVATIONS[clf.activation](z), i + 1)

    return layer(X, 0)


def forward_hidden_then_output(clf, X):
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = ref.hidden_activation(clf.activation, h @ W + b)
    logits = h @ clf.coefs_[-1] + clf.intercepts_[-1]
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def forward_in_torch(clf, X):
    h = torch.as_tensor(X)
    acts = {"identity": lambda z: z, "logistic": torch.sigmoid}
    acts |= {"tanh": torch.tanh, "relu": torch.relu}
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        h = h @ torch.as_tensor(W) + torch.as_tensor(b)
        if i < len(clf.coefs_) - 1:
            h = acts[clf.activation](h)
    return torch.softmax(h, dim=1).numpy()


@pytest.mark.parametrize(
    "answer", [forward_recursive, forward_hidden_then_output, forward_in_torch]
)
def test_forward_pass_check_passes_correct_answers_written_other_ways(answer):
    _passes(check_mlp_predict_proba, answer)


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


def backprop_mask_applied_to_x(params, X, y):  # writes the mask into X
    grads = ref.backprop(params, X, y)
    X *= 1.0 + 0.0 * X
    X[0] = 0.0
    return grads


def _torch_loss(params, X, y):
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h1 = torch.relu(torch.as_tensor(X) @ t["W1"] + t["b1"])
    return t, F.cross_entropy(h1 @ t["W2"] + t["b2"], torch.as_tensor(y))


def backprop_by_loss_backward(params, X, y):
    t, loss = _torch_loss(params, X, y)
    loss.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


def backprop_by_autograd_grad(params, X, y):
    t, loss = _torch_loss(params, X, y)
    grads = torch.autograd.grad(loss, list(t.values()))
    return {k: g.numpy() for k, g in zip(t, grads, strict=True)}


def backprop_by_torch_func(params, X, y):
    def loss(p):
        h1 = torch.relu(torch.as_tensor(X) @ p["W1"] + p["b1"])
        return F.cross_entropy(h1 @ p["W2"] + p["b2"], torch.as_tensor(y))

    grads = torch.func.grad(loss)({k: torch.tensor(v) for k, v in params.items()})
    return {k: g.numpy() for k, g in grads.items()}


def backprop_in_torch_by_hand(params, X, y):  # the chain rule, but tensors out
    t = {k: torch.as_tensor(v) for k, v in params.items()}
    z1 = torch.as_tensor(X) @ t["W1"] + t["b1"]
    h1 = torch.relu(z1)
    p = torch.softmax(h1 @ t["W2"] + t["b2"], dim=1)
    d = (p - F.one_hot(torch.as_tensor(y), p.shape[1])) / len(y)
    d_z1 = d @ t["W2"].T * (z1 > 0)
    return {"W1": X.T @ d_z1.numpy(), "b1": d_z1.sum(0), "W2": h1.T @ d, "b2": d.sum(0)}


def backprop_without_return(params, X, y):
    ref.backprop(params, X, y)


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (backprop_in_torch_by_hand, "NumPy arrays"),
        (backprop_without_return, "forget `return`"),
        (backprop_without_mean, "mean over the batch"),
        (backprop_sign_flipped, "minus the one-hot"),
        (backprop_without_relu_mask, "only where z1 was positive"),
        (backprop_bias_mean, "summed over the batch"),
        (backprop_logits_not_probabilities, "softmax"),
        (backprop_labels_off_by_one, "dL/dW2|dL/db2"),
        (backprop_w2_not_transposed, "shapes"),
        (backprop_transposed_weight_gradient, "shape"),
        (backprop_that_also_steps, "changed its argument params.*gradient step"),
        (backprop_returns_a_tuple, "dict"),
        (backprop_mask_applied_to_x, "in place"),
        (backprop_by_loss_backward, "autograd"),
        (backprop_by_autograd_grad, "autograd"),
        (backprop_by_torch_func, "autograd"),
    ],
)
def test_backprop_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_backprop(wrong)
    x = torch.ones(2, requires_grad=True)  # autograd works again afterwards
    (3 * x).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def backprop_mask_from_h1(params, X, y):  # h1 > 0 exactly where z1 > 0
    z1, h1, logits = _forward(params, X)
    d = (ref.softmax(logits) - _onehot(y, logits.shape[1])) / len(y)
    d_z1 = (d @ params["W2"].T) * (h1 > 0)
    return {"W1": X.T @ d_z1, "b1": d_z1.sum(0), "W2": h1.T @ d, "b2": d.sum(0)}


def backprop_one_example_at_a_time(params, X, y):
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    for x_i, y_i in zip(X, y, strict=True):
        g = ref.backprop(params, x_i[None, :], np.array([y_i]))
        for k in grads:
            grads[k] += g[k] / len(y)
    return grads


@pytest.mark.parametrize(
    "answer", [backprop_mask_from_h1, backprop_one_example_at_a_time]
)
def test_backprop_check_passes_correct_answers_written_other_ways(answer):
    _passes(check_backprop, answer)


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


# --- Exercise 5: design the strong model, scored by cross-validation on seeds -----


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": (256,), "alpha": 1.0}, "leave"),  # width is fixed
        ({"max_iter": 50, "alpha": 1.0}, "leave"),
        ({"solver": "adam", "alpha": 1.0}, "leave"),
        ({"mlp__alpha": 1.0}, "prefix"),
        ({"alpha": 1.0, "random_state": 7}, "random_state"),
        ({"hidden_units": 100}, "refused"),
        ([("alpha", 1.0)], "dict"),
        (None, "forget `return`"),
    ],
)
def test_hyperparameter_check_fails_wrong_answers(params, message):
    with pytest.raises(AssertionError, match=message):
        check_digits_hyperparameters(lambda: params)


# A penalty too weak to matter, three ways: the pool a weak search draws from.
WEAK = [{"alpha": 1e-7}, {"alpha": 1e-6}, {"alpha": 1e-5}]


def _searching(pool, pick=max):
    """A student's search: score every setting in ``pool`` with digits_cv_accuracy
    and return the one ``pick`` chooses by score (max: the right choice)."""
    from course_utils.lessons.checks.mlp import _digits_train, digits_cv_accuracy

    X_train, y_train = _digits_train(42)

    def digits_hyperparameters():
        scores = [digits_cv_accuracy(p, X_train, y_train) for p in pool]
        return pool[scores.index(pick(scores))]

    return digits_hyperparameters


@pytest.mark.parametrize(
    "params",
    [
        {},  # no penalty: lbfgs memorises (0.932)
        {"alpha": 1e-4},  # the default, written out
        {"alpha": 0.01},  # a penalty too weak to matter: 0.942
        {"early_stopping": True},  # lbfgs ignores it: 0.932
        {"activation": "logistic"},  # passed the old one-seed check
        {"activation": "tanh"},
        {"activation": "identity"},  # a linear model: 0.941
        {"learning_rate_init": 0.01},  # lbfgs has no learning rate
        {"alpha": 1000.0},  # far too strong: underfits
    ],
)
def test_a_search_whose_best_is_not_good_enough_fails(params):
    with pytest.raises(AssertionError, match="< 0.95.*widen or move your grid"):
        check_digits_hyperparameters(_searching([params, *WEAK]))


def test_a_single_guess_is_not_a_choice():
    with pytest.raises(AssertionError, match="compare at least 4"):
        check_digits_hyperparameters(lambda: {"alpha": 1.0})


def test_returning_a_candidate_that_is_not_the_best_fails():
    pool = [{"alpha": 1.0}, *WEAK]
    with pytest.raises(AssertionError, match=r"the best digits_cv_accuracy"):
        check_digits_hyperparameters(_searching(pool, pick=min))


def test_a_search_of_other_good_candidates_passes():
    answer = _searching([{"alpha": 0.3}, {"alpha": 3.0}, *WEAK])
    _passes(check_digits_hyperparameters, answer)


def test_hyperparameter_decision_holds_on_other_seeds():
    """The reference passes and a weak search fails on three seeds the check never
    uses."""
    other = (3, 4, 5)
    _passes(
        lambda fn: check_digits_hyperparameters(fn, seeds=other),
        reference_digits_hyperparameters,
    )
    with pytest.raises(AssertionError, match="< 0.95"):
        check_digits_hyperparameters(_searching([{}, *WEAK]), seeds=other)


def test_hyperparameter_check_never_uses_the_test_set(monkeypatch):
    from course_utils.lessons.checks import mlp as checks

    X_train, y_train = checks._digits_train(42)
    seen = []
    real = checks._cv_scores

    def spy(params, X, y, seeds):
        seen.append(len(X))
        return real(params, X, y, seeds)

    monkeypatch.setattr(checks, "_cv_scores", spy)
    monkeypatch.setattr(checks, "_CV_CACHE", {})
    checks.check_digits_hyperparameters(
        checks.reference_digits_hyperparameters, train=(X_train, y_train)
    )
    assert seen and set(seen) == {len(X_train)}


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


def step_by_hand(model, optimizer, x, y):  # plain SGD, whatever the optimiser
    lr = optimizer.param_groups[0]["lr"]
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= lr * p.grad
    return loss.item()


def step_with_a_new_optimizer(model, optimizer, x, y):  # Adam's memory lost
    fresh = torch.optim.Adam(model.parameters(), lr=optimizer.param_groups[0]["lr"])
    fresh.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    fresh.step()
    return loss.item()


def step_twice(model, optimizer, x, y):
    loss = None
    for _ in range(2):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def step_returning_the_loss_after(model, optimizer, x, y):
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def step_with_summed_loss(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y, reduction="sum")
    loss.backward()
    optimizer.step()
    return loss.item()


def step_with_nll_on_logits(model, optimizer, x, y):  # nll_loss wants log-probs
    optimizer.zero_grad()
    loss = F.nll_loss(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_returning_a_numpy_scalar_array(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach().numpy()  # a 0-d array, not a number


def step_normalising_x_in_place(model, optimizer, x, y):
    x -= 0.0 * x.mean()
    x[0] += 1e-3
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_clearing_between_backward_and_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.zero_grad()  # the gradients are gone before the step uses them
    optimizer.step()
    return loss.item()


def step_without_return(model, optimizer, x, y):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (step_returning_a_numpy_scalar_array, r"NumPy array of shape \(\)"),
        (step_normalising_x_in_place, "changed its argument x in place"),
        (step_clearing_between_backward_and_step, "not where one Adam step"),
        (step_without_return, "forget `return`"),
        (step_without_zero_grad, "Clear the old gradients"),
        (step_without_optimizer_step, "optimizer.step"),
        (step_with_softmax_first, "no softmax first"),
        (step_returning_a_tensor, "float"),
        (step_by_hand, "p -= lr"),
        (step_with_a_new_optimizer, "optimizer.step"),
        (step_twice, "2 times"),
        (step_returning_the_loss_after, "before the step"),
        (step_with_summed_loss, "averages over the batch"),
        (step_with_nll_on_logits, "log-softmax"),
    ],
)
def test_train_step_check_fails_wrong_answers(wrong, message):
    with pytest.raises(AssertionError, match=message):
        check_train_step(wrong)


def step_clearing_after_the_step(model, optimizer, x, y):
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()  # ready for the next call: equally right
    return float(loss.detach())


def step_with_model_zero_grad(model, optimizer, x, y):
    model.zero_grad(set_to_none=False)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach().item()


@pytest.mark.parametrize(
    "answer", [step_clearing_after_the_step, step_with_model_zero_grad]
)
def test_train_step_check_passes_correct_answers_written_other_ways(answer):
    _passes(check_train_step, answer)


def test_train_step_check_leaves_torch_global_rng_alone():
    before = torch.random.get_rng_state().clone()
    check_train_step(ref.train_step)
    assert torch.equal(torch.random.get_rng_state(), before)


# --- The notebook's "same as the course" cells ------------------------------------

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "01_mlp_basics.ipynb"
# the cells that compare the student's functions with scikit-learn's and autograd's
SAME_AS_THE_COURSE = ("nb01-029", "nb01-031", "nb01-035", "nb01-047")


def _cells(ids):
    cells = {c.get("id"): c for c in json.loads(NOTEBOOK.read_text())["cells"]}
    return ["".join(cells[i]["source"]) for i in ids]


@pytest.fixture(scope="module")
def digits_state():
    """What the notebook holds when it reaches Exercise 2: the digits split and the
    first model (fewer epochs: the cells compare functions, not accuracies)."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=42
    )
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=42)
    model = Pipeline([("scale", StandardScaler()), ("mlp", mlp)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    names = dict(np=np, torch=torch, F=F, log_loss=log_loss, model=model)
    return names | dict(X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)


def _run_the_cells(state, **answers):
    from course_utils.lessons.checks import same_as_course

    namespace = dict(state, same_as_course=same_as_course)
    namespace |= {
        "cross_entropy": ref.cross_entropy,
        "mlp_predict_proba": ref.mlp_predict_proba,
        "backprop": ref.backprop,
    } | answers
    with contextlib.redirect_stdout(io.StringIO()):
        for source in _cells(SAME_AS_THE_COURSE):
            exec(compile(source, "<cell>", "exec"), namespace)


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"cross_entropy": cross_entropy_in_a_loop},
        {"cross_entropy": cross_entropy_by_one_hot},
        {"mlp_predict_proba": forward_in_torch},
        {"mlp_predict_proba": forward_recursive},
        {"backprop": backprop_one_example_at_a_time},
        {"backprop": backprop_mask_from_h1},
    ],
    ids=[
        "the references",
        "a Python loop",
        "one-hot",
        "in torch",
        "recursive",
        "one example at a time",
        "mask from h1",
    ],
)
def test_same_as_the_course_cells_pass_correct_answers_in_another_order(
    digits_state, answers
):
    _run_the_cells(digits_state, **answers)


@pytest.mark.parametrize(
    ("answers", "exercise"),
    [
        ({"cross_entropy": cross_entropy_summed}, "Exercise 2"),
        ({"mlp_predict_proba": forward_activation_on_output_too}, "Exercise 3"),
        ({"backprop": backprop_without_relu_mask}, "Exercise 4"),
    ],
)
def test_same_as_the_course_cells_name_the_exercise_to_revisit(
    digits_state, answers, exercise
):
    from course_utils.lessons.checks import NotSameAsCourse

    with pytest.raises(NotSameAsCourse, match=f"Revisit {exercise}"):
        _run_the_cells(digits_state, **answers)


@pytest.mark.parametrize(("check", "reference"), CHECKS_AND_REFERENCES, ids=IDS)
def test_every_check_declares_what_its_function_returns(check, reference, monkeypatch):
    from course_utils.lessons import checks

    declared = {}

    def spy(exercise, fn, cases, *, reference, **contract):
        declared.update(contract)
        return fn

    monkeypatch.setattr(checks, "run_check", spy)  # what @exercise calls
    check(reference)
    assert declared.get("returns") is not None  # so the guard refuses a wrong kind
