"""Reference answers to the exercises of notebook 01 (multilayer perceptrons).

The check cells fall back to these when an exercise is not done yet, so "Run All"
always reaches the end. Read them after trying the exercise yourself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def hidden_activation(name: str, z: np.ndarray) -> np.ndarray:
    """Apply one of scikit-learn's hidden-layer activations elementwise.

    Args:
        name: ``"identity"``, ``"logistic"``, ``"tanh"`` or ``"relu"``
            (the values ``MLPClassifier(activation=...)`` accepts).
        z: weighted sums, any shape, float.

    Returns:
        An array of the same shape as ``z`` (a helper of ``mlp_predict_proba``).
    """
    if name == "identity":
        return z
    if name == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    raise ValueError(
        f"Unknown activation {name!r}: expected 'identity', 'logistic', 'tanh' or "
        "'relu' (scikit-learn's names)."
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis.

    Subtracting each row's maximum changes nothing mathematically (it cancels in the
    ratio) but keeps ``exp`` from overflowing on large logits.

    Args:
        logits: ``(batch, n_classes)`` float scores (a single ``(n_classes,)`` row
            works too).

    Returns:
        Probabilities with the shape of ``logits``; each row sums to 1.

    Taught in: 01_mlp_basics.ipynb
    """
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(y: np.ndarray, proba: np.ndarray) -> float:
    """Mean cross-entropy (log loss) of predicted class probabilities.

    The true-class probability is clipped to ``[1e-15, 1]`` before the log, so a
    confident mistake costs a large but finite ``-log(1e-15) ≈ 34.5`` instead of
    ``-log(0) = inf``.

    Args:
        y: ``(batch,)`` integer class labels in ``0 .. n_classes - 1``.
        proba: ``(batch, n_classes)`` float probabilities, rows summing to 1.

    Returns:
        ``mean_i(-log proba[i, y[i]])`` as a Python float.

    Taught in: 01_mlp_basics.ipynb
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    picked = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.log(picked).mean())


def mlp_predict_proba(clf: Any, X: np.ndarray) -> np.ndarray:
    """The forward pass of a multi-class MLP classifier, written with NumPy.

    Each layer computes ``h = activation(h @ W + b)`` with ``W = clf.coefs_[i]`` of
    shape ``(n_in, n_out)`` and ``b = clf.intercepts_[i]`` of shape ``(n_out,)``.
    Hidden layers use ``clf.activation``; the output layer turns the logits into
    probabilities with softmax (a two-class ``MLPClassifier``, whose
    ``out_activation_`` is ``"logistic"``, gets its one logistic output instead).

    Args:
        clf: a fitted ``MLPClassifier``, or anything with the same ``coefs_``,
            ``intercepts_`` and ``activation``.
        X: ``(batch, n_features)`` inputs, already preprocessed (scaled) the way
            the classifier saw them during training.

    Returns:
        ``(batch, n_classes)`` probabilities, equal to ``clf.predict_proba(X)``.

    Taught in: 01_mlp_basics.ipynb
    """
    h = np.asarray(X, dtype=np.float64)
    n_layers = len(clf.coefs_)
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_, strict=True)):
        z = h @ W + b
        h = hidden_activation(clf.activation, z) if i < n_layers - 1 else z
    if getattr(clf, "out_activation_", "softmax") == "logistic":  # two classes
        p1 = 1.0 / (1.0 + np.exp(-h))
        return np.hstack([1.0 - p1, p1])
    return softmax(h)


def logits_gradient(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient of the mean cross-entropy with respect to the logits.

    ``L = mean_i(-log softmax(logits)[i, y[i]])`` has
    ``dL/dlogits = (p - onehot(y)) / B`` with ``p = softmax(logits)`` and ``B`` the
    batch size.

    Args:
        logits: ``(batch, n_classes)`` float scores.
        y: ``(batch,)`` integer labels.

    Returns:
        ``(batch, n_classes)`` float64 array (a helper of :func:`backprop`).
    """
    p = softmax(logits)
    p[np.arange(len(y)), y] -= 1.0  # p - onehot(y); softmax returned a fresh array
    return p / len(y)


def backprop(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> dict:
    """Backpropagation through a one-hidden-layer ReLU classifier, by hand.

    The network: ``z1 = X @ W1 + b1``, ``h1 = relu(z1)``, ``logits = h1 @ W2 + b2``,
    loss = mean cross-entropy of ``softmax(logits)`` against ``y``.

    Args:
        params: ``{"W1": (n_in, n_hidden), "b1": (n_hidden,), "W2": (n_hidden,
            n_classes), "b2": (n_classes,)}`` float arrays (not modified).
        X: ``(batch, n_in)`` float inputs.
        y: ``(batch,)`` integer labels.

    Returns:
        ``{"W1": dL/dW1, "b1": dL/db1, "W2": dL/dW2, "b2": dL/db2}``, each with the
        shape of its parameter.

    Taught in: 01_mlp_basics.ipynb
    """
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in PARAM_NAMES)
    X = np.asarray(X, dtype=np.float64)
    z1 = X @ W1 + b1  # forward pass, keeping what the backward pass needs
    h1 = np.maximum(z1, 0.0)
    logits = h1 @ W2 + b2
    d_logits = logits_gradient(logits, y)  # (batch, n_classes)
    d_h1 = d_logits @ W2.T  # (batch, n_hidden): the chain rule through the weights
    d_z1 = d_h1 * (z1 > 0)  # ReLU lets the gradient through where it was active
    return {
        "W1": X.T @ d_z1,
        "b1": d_z1.sum(axis=0),
        "W2": h1.T @ d_logits,
        "b2": d_logits.sum(axis=0),
    }


PARAM_NAMES = ("W1", "b1", "W2", "b2")


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
) -> float:
    """One gradient step of a classifier on one mini-batch.

    Args:
        model: maps ``x`` to raw scores (logits), ``(batch, n_classes)`` float32.
        optimizer: built on ``model.parameters()`` (e.g. ``torch.optim.Adam``).
        x: ``(batch, n_features)`` float32 inputs.
        y: ``(batch,)`` int64 class labels.

    Returns:
        The mini-batch cross-entropy *before* the step, as a Python float.

    Taught in: 01_mlp_basics.ipynb
    """
    logits = model(x)
    loss = F.cross_entropy(logits, y)  # log-softmax + negative log-likelihood
    optimizer.zero_grad()  # PyTorch adds gradients up: clear last step's
    loss.backward()
    optimizer.step()
    return loss.item()
