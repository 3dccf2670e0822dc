"""Reference answers to the exercises of notebook 01 (multilayer perceptrons).

The check cells fall back to these when an exercise is not done yet, so "Run All"
always reaches the end. Read them after trying the exercise yourself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.neural_network import MLPClassifier
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

    Probabilities are clipped to ``[eps, 1 - eps]`` (``eps`` = float64 machine
    epsilon, as in ``sklearn.metrics.log_loss``) so a confident mistake costs a
    large but finite amount instead of ``log(0) = -inf``.

    Args:
        y: ``(batch,)`` integer class labels in ``0 .. n_classes - 1``.
        proba: ``(batch, n_classes)`` float probabilities, rows summing to 1.

    Returns:
        ``mean_i(-log proba[i, y[i]])`` as a Python float.

    Taught in: 01_mlp_basics.ipynb
    """
    y = np.asarray(y)
    proba = np.asarray(proba, dtype=np.float64)
    eps = np.finfo(np.float64).eps
    picked = np.clip(proba[np.arange(len(y)), y], eps, 1.0 - eps)
    return float(-np.log(picked).mean())


def mlp_predict_proba(clf: MLPClassifier, X: np.ndarray) -> np.ndarray:
    """The forward pass of a fitted ``MLPClassifier``, written with NumPy.

    Each layer computes ``h = activation(h @ W + b)`` with ``W = clf.coefs_[i]`` of
    shape ``(n_in, n_out)`` and ``b = clf.intercepts_[i]`` of shape ``(n_out,)``.
    Hidden layers use ``clf.activation``; the output layer uses
    ``clf.out_activation_`` (softmax for several classes, logistic for two).

    Args:
        clf: a fitted ``MLPClassifier``.
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
    if clf.out_activation_ == "softmax":
        return softmax(h)
    if clf.out_activation_ == "logistic":  # two classes: one output, P(class 1)
        p1 = 1.0 / (1.0 + np.exp(-h))
        return np.hstack([1.0 - p1, p1])
    raise ValueError(
        f"out_activation_={clf.out_activation_!r}: expected a classifier whose "
        "output is 'softmax' (several classes) or 'logistic' (two classes)."
    )


def digits_hyperparameters() -> dict[str, Any]:
    """``MLPClassifier`` keyword arguments that reach >= 0.97 test accuracy on digits.

    Used inside ``make_pipeline(StandardScaler(), MLPClassifier(**params))`` on the
    8x8 digits (75 % training, 25 % test). A wider hidden layer than the notebook's
    first model, and a stronger L2 penalty (``alpha``) to keep it from overfitting:
    about 0.98 test accuracy in under 2 s on one CPU thread.

    Taught in: 01_mlp_basics.ipynb
    """
    return {"hidden_layer_sizes": (128,), "alpha": 1.0, "max_iter": 200}


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
