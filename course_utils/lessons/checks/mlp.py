"""Check cells of notebook 01 (multilayer perceptrons).


Each ``check_*`` takes the student's function, runs known cases through
:func:`course_utils.checks.run_check`, and returns the function (or the reference in
:mod:`course_utils.lessons.mlp_reference` when the exercise is not done yet).

Taught in: 01_mlp_basics.ipynb
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn

from course_utils.lessons import mlp_reference as ref
from course_utils.lessons.checks import expect_close, expect_true, run_check

# Exercise 5: a fixed narrow network on few digits, scored by cross-validation.
CV_DIGITS = 300  # the first 300 training digits: scarce data, where L2 matters
CV_FOLDS = 5
FIXED_PARAMS = {"hidden_layer_sizes": (16,), "max_iter": 1000}  # set by the check
MIN_CV_ACCURACY = 0.945  # default alpha 0.933, alpha=3 0.953 (random_state 42)
SOFTMAX_123 = [0.09003057, 0.24472847, 0.66524096]  # softmax([1, 2, 3]) by hand


def check_softmax(fn: Callable[[np.ndarray], np.ndarray]) -> Callable:
    """Exercise 1: ``softmax(logits (batch, n_classes)) -> (batch, n_classes)``."""
    hint_axis = "Normalise each row: sum with axis=-1 (or 1) and keepdims=True."
    hint_max = (
        "np.exp(1000) overflows to inf (and np.exp(-1000) underflows to 0): "
        "subtract each row's maximum before np.exp; it cancels in the ratio."
    )

    def cases(softmax: Callable[[np.ndarray], np.ndarray]) -> None:
        small = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
        expect_close(
            softmax(small),
            [SOFTMAX_123, [1 / 3] * 3],
            atol=1e-7,
            what="softmax([[1, 2, 3], [0, 0, 0]])",
            hint=hint_axis,
        )
        logits = np.random.default_rng(0).normal(size=(4, 3)) * 3
        before = logits.copy()
        out = softmax(logits)
        expect_true(
            np.array_equal(logits, before),
            "softmax changed its input array in place. Work on a copy: "
            "`z = logits - logits.max(...)` rather than `logits -= ...`.",
        )
        expect_close(
            out, ref.softmax(logits), what="softmax of a (4, 3) batch", hint=hint_axis
        )
        spread = np.array([[-500.0, 500.0, 499.0]])  # max - min = 1000
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            wide = np.asarray(softmax(spread), dtype=np.float64)
        expect_close(
            wide,
            ref.softmax(spread),
            atol=1e-7,
            what="softmax([[-500, 500, 499]])",
            hint="Subtract each row's *maximum*: with the minimum, exp(1000) still "
            "overflows.",
        )
        extreme = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            big = np.asarray(softmax(extreme), dtype=np.float64)
        expect_true(
            bool(np.all(np.isfinite(big))),
            f"softmax of huge or tiny logits gave {big.tolist()}. {hint_max}",
        )
        expect_close(
            big,
            [SOFTMAX_123, [1 / 3] * 3],
            atol=1e-7,
            hint=hint_max,
            what="softmax([[1000, 1001, 1002], [-1000, -1000, -1000]])",
        )

    return run_check(
        "Exercise 1: a numerically stable softmax", fn, cases, reference=ref.softmax
    )


def check_cross_entropy(fn: Callable[[np.ndarray, np.ndarray], float]) -> Callable:
    """Exercise 2: ``cross_entropy(y (batch,), proba (batch, n_classes)) -> float``."""

    def cases(cross_entropy: Callable[[np.ndarray, np.ndarray], float]) -> None:
        proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
        y = np.array([0, 1])
        loss = cross_entropy(y, proba)
        expect_true(
            np.ndim(loss) == 0,
            "expected one number (the batch mean), got shape "
            f"{np.shape(loss)}. Pick proba[np.arange(len(y)), y], then "
            "take the mean.",
        )
        expect_close(
            loss,
            (-np.log(0.7) - np.log(0.8)) / 2,
            what="cross_entropy([0, 1], [[.7, .2, .1], [.1, .8, .1]])",
            hint="Average -log(probability of the true class) over the rows "
            "(the mean, not the sum).",
        )
        rng = np.random.default_rng(1)
        raw = rng.random((6, 4)) + 0.05
        proba = raw / raw.sum(axis=1, keepdims=True)
        y = np.array([3, 0, 1, 1, 2, 0])
        expect_close(
            cross_entropy(y, proba),
            log_loss(y, proba, labels=[0, 1, 2, 3]),
            what="cross_entropy of a (6, 4) batch vs sklearn's log_loss",
            hint="Use the probability of the *true* class of each row: "
            "proba[np.arange(len(y)), y].",
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            sure_and_wrong = cross_entropy(np.array([0]), np.array([[0.0, 1.0, 0.0]]))
        expect_true(
            bool(np.isfinite(sure_and_wrong)) and float(sure_and_wrong) > 10,
            f"the true class had probability 0 and the loss was "
            f"{sure_and_wrong}: log(0) is -inf. Clip the probabilities first, "
            "e.g. np.clip(p, 1e-15, 1), so the loss is large but finite.",
        )

    return run_check(
        "Exercise 2: cross-entropy", fn, cases, reference=ref.cross_entropy
    )


def _small_classifier(
    hidden: tuple[int, ...], activation: str
) -> tuple[MLPClassifier, np.ndarray]:
    """A quickly trained 3-class MLPClassifier and its (40, 5) inputs."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 5))
    y = np.arange(40) % 3  # every class present
    X[:, 0] += y  # something to learn
    clf = MLPClassifier(hidden, activation=activation, max_iter=30, random_state=0)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    return clf, X


def check_mlp_predict_proba(fn: Callable[[Any, np.ndarray], np.ndarray]) -> Callable:
    """Exercise 3: ``mlp_predict_proba(clf, X (batch, n_features)) -> (batch, k)``."""
    networks = [((6, 4), "relu"), ((5,), "tanh"), ((3,), "logistic")]
    hint = (
        "Hidden layers use clf.activation (not always relu); the output layer "
        "gets softmax and no hidden activation; use every layer in clf.coefs_."
    )

    def cases(mlp_predict_proba: Callable[[Any, np.ndarray], np.ndarray]) -> None:
        for hidden, activation in networks:
            clf, X = _small_classifier(hidden, activation)
            what = (
                f"mlp_predict_proba on a network with hidden layers {hidden} "
                f"and activation={activation!r}"
            )
            out = np.asarray(mlp_predict_proba(clf, X), dtype=np.float64)
            expect_true(
                out.shape == (len(X), 3),
                f"{what}: expected shape {(len(X), 3)}, got {out.shape}. Loop "
                "over zip(clf.coefs_, clf.intercepts_): h = h @ W + b.",
            )
            expect_true(
                bool(np.allclose(out.sum(axis=1), 1.0)),
                f"{what}: rows do not sum to 1. Apply softmax to the output "
                "layer (and only there).",
            )
            expect_close(out, clf.predict_proba(X), what=what, atol=1e-6, hint=hint)

    return run_check(
        "Exercise 3: the forward pass in NumPy",
        fn,
        cases,
        reference=ref.mlp_predict_proba,
    )


def _backprop_case() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 5 -> 4 -> 3 network and a batch of 6: no two shapes alike, some ReLUs off."""
    rng = np.random.default_rng(5)
    params = {
        "W1": rng.normal(size=(5, 4)),
        "b1": np.array([0.5, -0.5, 0.1, -1.0]),
        "W2": rng.normal(size=(4, 3)),
        "b2": np.array([0.2, 0.0, -0.2]),
    }
    X = rng.normal(size=(6, 5))
    y = np.array([0, 2, 1, 2, 2, 0])
    return params, X, y


def autograd_gradients(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """The same gradients as ``backprop``, from PyTorch's autograd (float64)."""
    t = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for k, v in params.items()
    }
    h1 = torch.relu(torch.as_tensor(X, dtype=torch.float64) @ t["W1"] + t["b1"])
    logits = h1 @ t["W2"] + t["b2"]
    loss = nn.functional.cross_entropy(logits, torch.as_tensor(y, dtype=torch.int64))
    loss.backward()
    return {k: v.grad.numpy() for k, v in t.items()}


def check_backprop(fn: Callable[..., dict[str, np.ndarray]]) -> Callable:
    """Exercise 4: ``backprop(params, X, y) -> grads`` compared with autograd."""
    hints = {
        "W2": "dL/dW2 = h1.T @ dL/dlogits, with dL/dlogits = (softmax(logits) - "
        "onehot(y)) / B: the mean over the batch, and p minus the one-hot, not the "
        "other way round.",
        "b2": "dL/db2 = dL/dlogits summed over the batch rows (the 1/B is already "
        "inside dL/dlogits).",
        "W1": "dL/dz1 = (dL/dlogits @ W2.T) * (z1 > 0): the ReLU passes the gradient "
        "only where z1 was positive; then dL/dW1 = X.T @ dL/dz1.",
        "b1": "dL/db1 = dL/dz1 summed over the batch rows.",
    }

    def cases(backprop: Callable[..., dict[str, np.ndarray]]) -> None:
        params, X, y = _backprop_case()
        before = {k: v.copy() for k, v in params.items()}
        try:
            grads = backprop(params, X, y)
        except (ValueError, IndexError) as error:  # shapes that do not fit
            raise AssertionError(
                f"backprop raised {type(error).__name__}: {error}. Check each "
                "product's shapes: X (6, 5), W1 (5, 4), W2 (4, 3); a gradient has "
                "its parameter's shape (dW = inputs.T @ d_outputs)."
            ) from None
        expect_true(
            all(np.array_equal(params[k], before[k]) for k in params),
            "backprop changed params: only compute the gradients here; the SGD "
            "step comes after, in the notebook.",
        )
        expect_true(
            isinstance(grads, dict) and set(grads) == set(ref.PARAM_NAMES),
            f"return a dict with the keys 'W1', 'b1', 'W2', 'b2', got {grads!r:.120}.",
        )
        expected = autograd_gradients(params, X, y)
        for name in ("W2", "b2", "W1", "b1"):  # from the output back to the input
            expect_close(
                grads[name],
                expected[name],
                atol=1e-8,
                what=f"dL/d{name} (autograd's value)",
                hint=hints[name],
            )

    return run_check(
        "Exercise 4: backpropagation by hand", fn, cases, reference=ref.backprop
    )


def _digits_train(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's training digits (75 %, stratified split with ``seed``)."""
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed
    )
    return X_train, y_train


def digits_cv_accuracy(
    params: dict[str, Any], X_train: np.ndarray, y_train: np.ndarray, *, seed: int
) -> float:
    """Exercise 5's score: 5-fold cross-validated accuracy on the first 300
    training digits of ``make_pipeline(StandardScaler(), MLPClassifier(**params,
    hidden_layer_sizes=(16,), max_iter=1000, random_state=seed))``.

    Args:
        params: ``MLPClassifier`` keyword arguments, without the fixed ones.
        X_train: ``(n, 64)`` training images; y_train: ``(n,)`` labels.
        seed: the network's ``random_state``.

    Taught in: 01_mlp_basics.ipynb
    """
    model = make_pipeline(
        StandardScaler(), MLPClassifier(**params, **FIXED_PARAMS, random_state=seed)
    )
    folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(
            model,
            X_train[:CV_DIGITS],
            y_train[:CV_DIGITS],
            cv=folds,
            error_score="raise",
        )
    return float(scores.mean())


def check_digits_hyperparameters(
    fn: Callable[[], dict[str, Any]],
    *,
    train: tuple[np.ndarray, np.ndarray] | None = None,
    seed: int = 42,
) -> Callable:
    """Exercise 5: ``digits_hyperparameters() -> dict`` that regularises a fixed
    ``(16,)`` network enough to reach a cross-validated accuracy >= 0.945.

    The test set is never used: the score is :func:`digits_cv_accuracy` on the
    training digits. The default (``{}``) scores 0.933 and fails.

    Args:
        fn: the student's function.
        train: ``(X_train, y_train)``; by default the notebook's training split.
        seed: the network's ``random_state`` (and the default split's).
    """
    X_train, y_train = train if train is not None else _digits_train(seed)

    def cases(digits_hyperparameters: Callable[[], dict[str, Any]]) -> None:
        params = digits_hyperparameters()
        expect_true(
            isinstance(params, dict),
            f"return a dict of MLPClassifier arguments, got {type(params).__name__}.",
        )
        prefixed = [k for k in params if "__" in k]
        expect_true(
            not prefixed,
            f"{prefixed}: drop the 'mlp__' prefix, it is only "
            "for GridSearchCV on a Pipeline. Return e.g. {'alpha': 0.1}.",
        )
        fixed = sorted(set(params) & {*FIXED_PARAMS, "random_state"})
        expect_true(
            not fixed,
            f"leave {fixed} out: the check fixes hidden_layer_sizes=(16,), "
            "max_iter=1000 and random_state, so only regularisation can help.",
        )
        try:
            accuracy = digits_cv_accuracy(params, X_train, y_train, seed=seed)
        except (TypeError, ValueError) as error:
            raise AssertionError(f"MLPClassifier refused {params}: {error}") from None
        print(
            f"  {params}: {CV_FOLDS}-fold cross-validated accuracy {accuracy:.4f} "
            f"on the first {CV_DIGITS} training digits"
        )
        expect_true(
            accuracy >= MIN_CV_ACCURACY,
            f"cross-validated accuracy {accuracy:.4f} < {MIN_CV_ACCURACY}. With "
            "300 digits, 16 neurons overfit: penalise large weights (alpha), "
            "neither too little nor too much.",
        )

    return run_check(
        "Exercise 5: regularise a narrow network",
        fn,
        cases,
        reference=ref.digits_hyperparameters,
    )


def _tiny_net_and_batch() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A 3 -> 4 -> 3 network with fixed weights and a batch of 5 (no global RNG use)."""
    g = torch.Generator().manual_seed(3)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))  # global RNG
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(5, 3, generator=g)
    y = torch.tensor([0, 2, 1, 2, 0])
    return model, x, y


def check_train_step(fn: Callable[..., float]) -> Callable:
    """Exercise 6: ``train_step(model, optimizer, x, y) -> float``, the loss before
    the step."""
    hint_loss = (
        "Feed raw logits to F.cross_entropy (it applies log-softmax itself: "
        "no softmax first), and return the loss computed before the step."
    )
    hint_accumulate = (
        "Call optimizer.zero_grad() every step, before "
        "loss.backward(): PyTorch adds new gradients to the old ones."
    )

    def cases(train_step: Callable[..., float]) -> None:
        model, x, y = _tiny_net_and_batch()
        twin = copy.deepcopy(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        opt_twin = torch.optim.SGD(twin.parameters(), lr=0.5)
        for step in (1, 2):
            loss = train_step(model, opt, x, y)
            expected = ref.train_step(twin, opt_twin, x, y)
            expect_true(
                isinstance(loss, float),
                f"return a Python float, got {type(loss).__name__}: use "
                "loss.item() (it also lets PyTorch free the graph).",
            )
            expect_close(
                loss,
                expected,
                what=f"loss returned by step {step}",
                atol=1e-5,
                hint=hint_loss if step == 1 else hint_accumulate,
            )
            hint_params = (
                "Call loss.backward(), then optimizer.step()."
                if step == 1
                else hint_accumulate
            )
            for (name, p), q in zip(
                model.named_parameters(), twin.parameters(), strict=True
            ):
                expect_close(
                    p.detach().numpy(),
                    q.detach().numpy(),
                    atol=1e-5,
                    what=f"parameter {name} after step {step}",
                    hint=hint_params,
                )

    return run_check(
        "Exercise 6: the PyTorch training step", fn, cases, reference=ref.train_step
    )
