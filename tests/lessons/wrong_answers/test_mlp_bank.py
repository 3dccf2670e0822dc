"""The wrong-answer bank of 01_mlp_basics (``wrong_answer_helpers`` says how
a bank works).

| 01: exercise | wrong | passed before | after |
|---|---|---|---|
| 1 softmax | 9 | 0 | 0 |
| 2 cross-entropy | 9 | 0 | 0 |
| 3 forward pass | 9 | 0 | 0 |
| 4 backprop | 7 | 0 | 0 |
| 5 hyperparameters | 4 | 0 | 0 |
| 6 train step | 9 | 0 | 0 |
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from wrong_answer_helpers import bank_tests, passes

from course_utils.lessons.checks import mlp as checks

# ------------------------------------------------------------- Exercise 1: softmax


def sm_no_shift(z):  # forgets to subtract the row maximum: overflows
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sm_global_max(z):
    # subtracts the batch's maximum, not each row's: underflows to 0/0
    e = np.exp(z - z.max())
    return e / e.sum(axis=1, keepdims=True)


def sm_axis0(z):  # normalises columns
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def sm_no_keepdims_max(z):  # row max without keepdims: broadcasts along the wrong axis
    e = np.exp(z - z.max(axis=1))
    return e / e.sum(axis=1, keepdims=True)


def sm_no_keepdims_sum(z):  # row sum without keepdims: divides by the wrong row's sum
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1)


def sm_in_place(z):  # shifts the caller's logits in place
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sm_total_sum(z):  # divides by the sum over the whole batch
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum()


def sm_subtract_min(z):
    # shifts by the row minimum: the largest exponent still overflows
    e = np.exp(z - z.min(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sm_clip(z):  # clips the logits instead of shifting them: wrong for wide rows
    e = np.exp(np.clip(z, -500, 500))
    return e / e.sum(axis=1, keepdims=True)


def sm_ok_loop(z):  # correct: one row at a time
    out = np.empty_like(z, dtype=float)
    for i, row in enumerate(z):
        e = np.exp(row - np.max(row))
        out[i] = e / np.sum(e)
    return out


def sm_ok_logsumexp(z):  # correct: through log-sum-exp
    m = z.max(axis=1, keepdims=True)
    return np.exp(z - m - np.log(np.exp(z - m).sum(axis=1, keepdims=True)))


SOFTMAX_WRONG = [
    sm_no_shift,
    sm_global_max,
    sm_axis0,
    sm_no_keepdims_max,
    sm_no_keepdims_sum,
    sm_in_place,
    sm_total_sum,
    sm_subtract_min,
    sm_clip,
]


# -------------------------------------------------------- Exercise 2: cross-entropy


def ce_no_clip(y, p):  # no clipping: a zero probability gives inf
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def ce_sum(y, p):  # sums instead of averaging
    return float(-np.sum(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def ce_all_columns(y, p):  # p[:, y]: a (batch, batch) block, not one entry per row
    return float(-np.mean(np.log(np.clip(p[:, y], 1e-15, 1))))


def ce_log10(y, p):  # the wrong logarithm
    return float(-np.mean(np.log10(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def ce_positive_sign(y, p):  # forgets the minus sign
    return float(np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-15, 1))))


def ce_clip_in_place(y, p):  # clips the caller's probabilities in place
    np.clip(p, 1e-15, 1, out=p)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])))


def ce_all_classes(y, p):  # averages -log over every class, true or not
    return float(-np.mean(np.log(np.clip(p, 1e-15, 1))))


def ce_tensor(y, p):  # a 0-d torch tensor where the contract says a float
    return F.nll_loss(torch.log(torch.as_tensor(p).clamp(1e-15, 1)), torch.as_tensor(y))


def ce_add_eps(y, p):  # adds 1e-15 instead of clipping: a close but different loss
    return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-3)))


def ce_ok_loop(y, p):  # correct: a loop over the rows
    total = 0.0
    for label, row in zip(y, p, strict=True):
        total -= np.log(min(max(row[label], 1e-15), 1.0))
    return total / len(y)


def ce_ok_onehot(y, p):  # correct: one-hot mask and a row sum
    onehot = np.eye(p.shape[1])[y]
    return float(-(onehot * np.log(np.clip(p, 1e-15, 1))).sum(axis=1).mean())


CE_WRONG = [
    ce_no_clip,
    ce_sum,
    ce_all_columns,
    ce_log10,
    ce_positive_sign,
    ce_clip_in_place,
    ce_all_classes,
    ce_tensor,
    ce_add_eps,
]


# ------------------------------------------------------ Exercise 3: the forward pass

ACT = {
    "identity": lambda z: z,
    "logistic": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fw_relu_always(clf, X):  # ReLU whatever clf.activation says
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = np.maximum(h @ W + b, 0)
    return _softmax(h @ clf.coefs_[-1] + clf.intercepts_[-1])


def fw_two_layers(clf, X):  # the digits network's depth hard-coded
    f = ACT[clf.activation]
    h = f(X @ clf.coefs_[0] + clf.intercepts_[0])
    return _softmax(h @ clf.coefs_[1] + clf.intercepts_[1])


def fw_act_on_output(clf, X):  # applies the activation to the output layer too
    f, h = ACT[clf.activation], X
    for W, b in zip(clf.coefs_, clf.intercepts_, strict=True):
        h = f(h @ W + b)
    return _softmax(h)


def fw_no_bias(clf, X):  # forgets the intercepts
    f, h = ACT[clf.activation], X
    for W in clf.coefs_[:-1]:
        h = f(h @ W)
    return _softmax(h @ clf.coefs_[-1])


def fw_transposed(clf, X):  # W.T: PyTorch's layout
    f, h = ACT[clf.activation], X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = f(h @ W.T + b)
    return _softmax(h @ clf.coefs_[-1].T + clf.intercepts_[-1])


def fw_sigmoid_output(clf, X):  # a sigmoid per class instead of the softmax
    f, h = ACT[clf.activation], X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = f(h @ W + b)
    return 1 / (1 + np.exp(-(h @ clf.coefs_[-1] + clf.intercepts_[-1])))


def fw_shortcut(clf, X):  # the forbidden shortcut
    return clf.predict_proba(X)


def fw_tanh_for_logistic(clf, X):  # maps "logistic" to tanh
    names = {**ACT, "logistic": np.tanh}
    f, h = names[clf.activation], X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = f(h @ W + b)
    return _softmax(h @ clf.coefs_[-1] + clf.intercepts_[-1])


def fw_scales_in_place(clf, X):  # rescales the caller's X in place "to be safe"
    X /= np.maximum(np.abs(X).max(), 1.0)
    return fw_ok_loop(clf, X)


def fw_ok_loop(clf, X):  # correct: one loop, activation for all but the last layer
    f, h, n = ACT[clf.activation], X, len(clf.coefs_)
    for i in range(n):
        h = h @ clf.coefs_[i] + clf.intercepts_[i]
        if i < n - 1:
            h = f(h)
    return _softmax(h)


def fw_ok_scipy(clf, X):  # correct: scipy's softmax and expit
    from scipy.special import expit, softmax

    f = {**ACT, "logistic": expit}[clf.activation]
    h = X
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1], strict=True):
        h = f(np.dot(h, W) + b)
    return softmax(np.dot(h, clf.coefs_[-1]) + clf.intercepts_[-1], axis=1)


FW_WRONG = [
    fw_relu_always,
    fw_two_layers,
    fw_act_on_output,
    fw_no_bias,
    fw_transposed,
    fw_sigmoid_output,
    fw_shortcut,
    fw_tanh_for_logistic,
    fw_scales_in_place,
]


# ----------------------------------------------------------- Exercise 4: backprop


def _forward(params, X):
    z1 = X @ params["W1"] + params["b1"]
    h1 = np.maximum(z1, 0)
    logits = h1 @ params["W2"] + params["b2"]
    return z1, h1, _softmax(logits)


def _backprop(
    params, X, y, *, mean=True, mask="z1", b_axis=0, onehot_sign=1, relu_grad=True
):
    z1, h1, p = _forward(params, X)
    d = p.copy()
    d[np.arange(len(y)), y] -= onehot_sign
    if mean:
        d /= len(y)
    dh = d @ params["W2"].T
    if relu_grad:
        dz = dh * ((z1 if mask == "z1" else h1) > 0) if mask != "ge" else dh * (z1 >= 0)
    else:
        dz = dh
    return {
        "W1": X.T @ dz,
        "b1": dz.sum(axis=b_axis)
        if b_axis == 0
        else dz.sum(axis=b_axis)[: dz.shape[1]],
        "W2": h1.T @ d,
        "b2": d.sum(axis=0),
    }


def bp_sum_not_mean(params, X, y):  # gradients of the summed loss
    return _backprop(params, X, y, mean=False)


def bp_no_relu(params, X, y):  # forgets the ReLU's slope
    return _backprop(params, X, y, relu_grad=False)


def bp_mask_from_relu_output_ge(params, X, y):
    # z >= 0 vs z > 0: same almost everywhere
    return _backprop(params, X, y, mask="ge")


def bp_bias_mean(params, X, y):  # averages the bias gradients over the batch again
    g = _backprop(params, X, y)
    return {**g, "b1": g["b1"] / len(y), "b2": g["b2"] / len(y)}


def bp_wrong_sign(params, X, y):  # onehot - p instead of p - onehot
    g = _backprop(params, X, y)
    return {k: -v for k, v in g.items()}


def bp_autograd(params, X, y):  # the shortcut the exercise forbids
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.relu(torch.as_tensor(X) @ t["W1"] + t["b1"])
    F.cross_entropy(h @ t["W2"] + t["b2"], torch.as_tensor(y)).backward()
    return {k: t[k].grad.numpy() for k in t}


def bp_w2_transposed(params, X, y):  # W2's gradient as d.T @ h1, shaped (k, h)
    g = _backprop(params, X, y)
    return {**g, "W2": g["W2"].T}


def bp_relu_in_place(params, X, y):
    # applies the ReLU to the caller's b1 while computing
    params["b1"][:] = params["b1"]  # harmless...
    g = _backprop(params, X, y)
    params["W1"] *= 1.0
    params["W1"] -= (
        0.01 * g["W1"]
    )  # ...then takes a gradient step on the caller's weights
    return g


def bp_ok_einsum(params, X, y):  # correct: einsum and a boolean mask
    z1, h1, p = _forward(params, X)
    d = (p - np.eye(p.shape[1])[y]) / X.shape[0]
    dz = np.einsum("bk,hk->bh", d, params["W2"]) * (z1 > 0)
    return {
        "W1": np.einsum("bn,bh->nh", X, dz),
        "b1": dz.sum(0),
        "W2": np.einsum("bh,bk->hk", h1, d),
        "b2": d.sum(0),
    }


def bp_ok_per_example(params, X, y):  # correct: one example at a time, then the mean
    grads = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    for x, label in zip(X, y, strict=True):
        g = _backprop(params, x[None, :], np.array([label]))
        for k in grads:
            grads[k] += g[k] / len(y)
    return grads


BP_WRONG = [
    bp_sum_not_mean,
    bp_no_relu,
    bp_bias_mean,
    bp_wrong_sign,
    bp_autograd,
    bp_w2_transposed,
    bp_relu_in_place,
]


@pytest.mark.parametrize(
    "right", [bp_ok_einsum, bp_ok_per_example, bp_mask_from_relu_output_ge]
)
def test_backprop_right(right):
    # z >= 0 differs from z > 0 only where a pre-activation is exactly 0: correct too
    passes(checks.check_backprop, right)


# ------------------------------------------------ Exercise 5: the hyperparameters


def hp_includes_fixed():  # returns a fixed argument too
    return {"alpha": 1.0, "hidden_layer_sizes": (64,)}


def hp_not_a_dict():  # returns the score with the settings
    return ({"alpha": 1.0}, 0.97)


def hp_no_search():  # one guess, no candidates scored
    return {"alpha": 10.0}


def hp_includes_seed():  # fixes random_state, which the course fixes
    return {"alpha": 1.0, "random_state": 0}


HP_WRONG = [hp_includes_fixed, hp_not_a_dict, hp_no_search, hp_includes_seed]


# -------------------------------------------------------- Exercise 6: train step


def _model_step(model, optimizer, x, y, **how):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def ts_no_zero_grad(model, optimizer, x, y):  # gradients pile up across steps
    return _model_step(model, optimizer, x, y)


def ts_loss_after(model, optimizer, x, y):  # returns the loss after the step
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def ts_tensor(model, optimizer, x, y):  # returns the loss tensor
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss


def ts_manual_sgd(model, optimizer, x, y):
    # a hand-written SGD step, the optimiser ignored
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    with torch.no_grad():
        for p in model.parameters():
            p -= 1e-3 * p.grad
    return loss.item()


def ts_softmax_then_ce(model, optimizer, x, y):  # softmax before F.cross_entropy
    optimizer.zero_grad()
    loss = F.cross_entropy(torch.softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def ts_sum_loss(model, optimizer, x, y):  # summed loss
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y, reduction="sum")
    loss.backward()
    optimizer.step()
    return loss.item()


def ts_two_steps(model, optimizer, x, y):  # steps twice
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.step()
    return loss.item()


def ts_no_step(model, optimizer, x, y):  # never steps
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item()


def ts_numpy_scalar(model, optimizer, x, y):
    # a NumPy scalar where the contract says float
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach().numpy()


def ts_ok_zero_after(model, optimizer, x, y):
    # correct: zero the gradients after the step
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def ts_ok_nll(model, optimizer, x, y):  # correct: log_softmax and nll_loss
    optimizer.zero_grad(set_to_none=False)
    loss = F.nll_loss(F.log_softmax(model(x), dim=1), y)
    loss.backward()
    optimizer.step()
    return loss.detach().item()


TS_WRONG = [
    ts_no_zero_grad,
    ts_loss_after,
    ts_tensor,
    ts_manual_sgd,
    ts_softmax_then_ce,
    ts_sum_loss,
    ts_two_steps,
    ts_no_step,
    ts_numpy_scalar,
]


WRONG = [
    (checks.check_softmax, SOFTMAX_WRONG),
    (checks.check_cross_entropy, CE_WRONG),
    (checks.check_mlp_predict_proba, FW_WRONG),
    (checks.check_backprop, BP_WRONG),
    (checks.check_digits_hyperparameters, HP_WRONG),
    (checks.check_train_step, TS_WRONG),
]
RIGHT = [
    (checks.check_softmax, [sm_ok_loop, sm_ok_logsumexp]),
    (checks.check_cross_entropy, [ce_ok_loop, ce_ok_onehot]),
    (checks.check_mlp_predict_proba, [fw_ok_loop, fw_ok_scipy]),
    (checks.check_train_step, [ts_ok_zero_after, ts_ok_nll]),
]


(
    test_the_check_refuses_the_wrong_answer,
    test_the_check_accepts_the_right_answer,
) = bank_tests(WRONG, RIGHT)
