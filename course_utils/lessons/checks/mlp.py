"""Check cells of notebook 01 (multilayer perceptrons).

Each ``check_*`` is an exercise's cases declared with
:func:`course_utils.lessons.checks.exercise`: the check runs them on the student's
function and returns it (or the reference in :mod:`course_utils.lessons.mlp_reference`
when the exercise is not done yet). Each declares its contract (``returns=...``), so
the guard refuses a missing ``return``, a result of the wrong kind and an argument
changed in place; failure messages give a hint, never the expected answer of a
hand-worked case. Exercise 5's check also takes the notebook's training split
(``train=``).

Each exercise needs its own cases: values that cannot coincide (every scikit-learn
activation, softmax rows wider than the float range), the notebook's optimiser (Adam),
and the shortcuts each exercise forbids (``predict_proba`` in Exercise 3, autograd in
Exercise 4); Exercise 5's model, scorer and reference live beside the check that reads
them.

Taught in: 01_mlp_basics.ipynb
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from course_utils.lessons import mlp_reference as ref
from course_utils.lessons.checks import exercise, expect_close, expect_true
from course_utils.lessons.checks.pinned import nn, np, torch

# Exercise 2: the contract's clip, so a sure mistake costs -log(1e-15) ≈ 34.5.
CLIP = 1e-15
# Exercise 5: a fixed narrow network that memorises scarce data, scored on seeds.
SCARCE_DIGITS = 300  # the first 300 training digits: scarce data, where L2 matters
CV_FOLDS = 5
CV_SEEDS = (0, 1, 2)  # network random_state and fold shuffle, one run per seed
FIXED_PARAMS = {"hidden_layer_sizes": (16,), "solver": "lbfgs", "max_iter": 1000}
# Mean over CV_SEEDS, measured on the notebook's split: no penalty (the default
# alpha=1e-4) 0.932, activation="tanh" 0.932, "identity" 0.941, "logistic" 0.902;
# alpha from 0.03 to 30 scores 0.954 to 0.967 (alpha=1 and 10, 0.967), alpha=100 0.633.
# So a single guess would pass: the check asks for the best of the student's candidates.
MIN_CV_ACCURACY = 0.95
SOFTMAX_123 = [0.09003057, 0.24472847, 0.66524096]  # softmax([1, 2, 3]) by hand
_ERRORS = (ValueError, IndexError, TypeError, KeyError, AttributeError, RuntimeError)


def _call(fn: Callable[..., Any], *args: Any, what: str, hint: str) -> Any:
    """``fn(*args)``, an error a student can cause turned into a hint."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise
    except _ERRORS as error:
        raise AssertionError(
            f"{what} raised {type(error).__name__}: {error}. {hint}"
        ) from None


def _as_floats(out: np.ndarray, what: str) -> np.ndarray:
    """``out`` (a NumPy array: the guard has checked) as float64."""
    try:
        return np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(f"{what}: expected an array of numbers.") from None


# --- Exercise 1 -----------------------------------------------------------------


@exercise(
    "Exercise 1: a numerically stable softmax",
    reference=ref.softmax,
    returns="array",
    inplace_hint="Build a new array (`z = logits - ...`) rather than `logits -= ...`.",
)
def check_softmax(softmax: Callable[[np.ndarray], np.ndarray]) -> None:
    """Exercise 1: ``softmax(logits (batch, n_classes)) -> (batch, n_classes)``."""
    hint_axis = (
        "Each row is one example: normalise within a row (axis=-1 or 1) and keep "
        "the reduced axis (keepdims=True) so it broadcasts against the rows."
    )
    hint_max = (
        "np.exp overflows above about 709 and underflows below about -745. As the "
        "text above the exercise says, a row's softmax does not change when one "
        "number is subtracted from the whole row: choose, for each row, the number "
        "that keeps every exponent at or below 0 and at least one at exactly 0."
    )

    def run(softmax: Callable, logits: np.ndarray, what: str) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _as_floats(_call(softmax, logits, what=what, hint=hint_axis), what)

    small = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    expect_close(
        run(softmax, small, "softmax([[1, 2, 3], [0, 0, 0]])"),
        [SOFTMAX_123, [1 / 3] * 3],
        atol=1e-7,
        what="softmax([[1, 2, 3], [0, 0, 0]])",
        hint=hint_axis,
    )
    # square, and every row's maximum elsewhere: a wrong axis cannot hide
    square = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0], [1.0, 1.5, 4.0]])
    expect_close(
        run(softmax, square, "softmax of a (3, 3) batch"),
        ref.softmax(square),
        what="softmax of a (3, 3) batch",
        hint=hint_axis,
    )
    logits = np.random.default_rng(0).normal(size=(4, 3)) * 3
    expect_close(
        run(softmax, logits, "softmax of a (4, 3) batch"),
        ref.softmax(logits),
        what="softmax of a (4, 3) batch",
        hint=hint_axis,
    )
    one = np.array([[0.5, -0.5]])  # a batch of one example, two classes
    expect_close(
        run(softmax, one, "softmax of a (1, 2) batch"),
        ref.softmax(one),
        what="softmax of a (1, 2) batch",
        hint="A batch of one example is still (1, n_classes): keep both axes "
        "(no squeeze, no [0]).",
    )
    # rows spanning 1600 and 1500, one with a lone outlier: wider than exp can
    # hold, whatever else is subtracted (the minimum, the mean)
    wide = np.array([[-800.0, 800.0, 799.0, 0.0], [1500.0, 0.0, 1.0, 2.0]])
    what = "softmax of rows spanning 1600 and 1500"
    out = run(softmax, wide, what)
    expect_true(bool(np.all(np.isfinite(out))), f"{what} gave inf or nan. {hint_max}")
    expect_close(
        out,
        ref.softmax(wide),
        atol=1e-7,
        what=what,
        hint="Shifting by the minimum, the mean or a clip still lets one "
        "exponent overflow or all of them underflow: which shift of a row makes "
        "its largest exponent exactly exp(0)?",
    )
    extreme = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -1000.0]])
    out = run(softmax, extreme, "softmax of huge and tiny rows")
    expect_true(
        bool(np.all(np.isfinite(out))),
        f"softmax of [[1000, 1001, 1002], [-1000, -1000, -1000]] gave inf or "
        f"nan. Each row needs its own shift: one number for the whole batch "
        f"(the batch's maximum rather than each row's own maximum) leaves the "
        f"other rows overflowing or underflowing. {hint_max}",
    )
    expect_close(
        out,
        [SOFTMAX_123, [1 / 3] * 3],
        atol=1e-7,
        hint="Each row needs its own maximum: one number for the whole batch "
        f"leaves the other rows overflowing or underflowing. {hint_max}",
        what="softmax([[1000, 1001, 1002], [-1000, -1000, -1000]])",
    )


# --- Exercise 2 -----------------------------------------------------------------


def _one_loss(loss: Any) -> str | None:
    """Exercise 2's result: one number, the mean over the batch."""
    if np.ndim(loss) != 0 or isinstance(loss, np.ndarray | torch.Tensor):
        return (
            f"returned shape {tuple(np.shape(loss))} ({type(loss).__name__}), "
            "expected one number (the batch mean, a float). Average over the rows."
        )
    return None


@exercise(
    "Exercise 2: cross-entropy",
    reference=ref.cross_entropy,
    returns=_one_loss,
    inplace_hint="Clip a copy: np.clip(p, ...) returns a new array, unless given out=.",
)
def check_cross_entropy(
    cross_entropy: Callable[[np.ndarray, np.ndarray], float],
) -> None:
    """Exercise 2: ``cross_entropy(y (batch,), proba (batch, n_classes)) -> float``."""
    hint_pick = (
        "Use the probability of each row's *true* class (row i, column y[i]), not "
        "a whole column and not the largest probability."
    )

    def run(cross_entropy: Callable, y: np.ndarray, proba: np.ndarray, what: str):
        with np.errstate(divide="ignore", invalid="ignore"):
            return _call(cross_entropy, y, proba, what=what, hint=hint_pick)

    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    y = np.array([0, 1])
    what = "cross_entropy([0, 1], [[.7, .2, .1], [.1, .8, .1]])"
    expect_close(
        run(cross_entropy, y, proba, what),
        (-np.log(0.7) - np.log(0.8)) / 2,
        what=what,
        hint="Average -log(probability of the true class: row i, column y[i]) "
        "over the rows (the mean, not the sum; the natural log).",
    )
    rng = np.random.default_rng(1)
    raw = rng.random((6, 4)) + 0.05
    proba = raw / raw.sum(axis=1, keepdims=True)
    y = np.array([3, 0, 1, 1, 2, 0])  # rarely the most likely class
    what = "cross_entropy of a (6, 4) batch"
    expect_close(
        run(cross_entropy, y, proba, what),
        log_loss(y, proba, labels=[0, 1, 2, 3]),
        what=what + " (sklearn.metrics.log_loss's value)",
        hint=hint_pick,
    )
    what = "cross_entropy with a true class of probability 0"
    sure_and_wrong = run(cross_entropy, np.array([0, 1]), np.eye(3)[[1, 1]], what)
    expect_true(
        bool(np.isfinite(sure_and_wrong)),
        f"{what} was not finite: log(0) is -inf. Clip the true-class "
        "probability from below first, as the contract says.",
    )
    expect_close(
        sure_and_wrong,
        -np.log(CLIP) / 2,
        atol=1e-3,
        what=what,
        hint="The contract clips the true-class probability to [1e-15, 1] before "
        "the log, so a sure mistake costs -log(1e-15).",
    )


# --- Exercise 3 -----------------------------------------------------------------


class Network:
    """What Exercise 3 may read: a network's weights and its hidden activation.

    The attributes a fitted ``MLPClassifier`` describes its network with, and
    nothing else (no ``predict_proba``): ``coefs_`` (list of ``(n_in, n_out)``),
    ``intercepts_`` (list of ``(n_out,)``) and ``activation`` (a scikit-learn name).
    """

    def __init__(
        self, coefs: list[np.ndarray], intercepts: list[np.ndarray], activation: str
    ) -> None:
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        self.activation = activation

    def __repr__(self) -> str:
        sizes = [w.shape[0] for w in self.coefs_] + [self.coefs_[-1].shape[1]]
        return f"Network(layers {sizes}, activation={self.activation!r})"


def _sklearn_network(
    sizes: tuple[int, ...], activation: str, seed: int
) -> tuple[MLPClassifier, np.ndarray]:
    """An MLPClassifier holding random weights of the given layer sizes, and inputs.

    Its weights are drawn large enough that every activation bends the weighted
    sums differently (they span about -8 to 8), so no wrong activation coincides.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, sizes[0]))
    clf = MLPClassifier(sizes[1:-1], activation=activation, max_iter=1, random_state=0)
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, np.arange(len(X)) % sizes[-1])  # sets the attributes predict needs
    clf.coefs_ = [
        rng.normal(scale=1.5 / np.sqrt(n_in), size=(n_in, n_out)) * 2
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    clf.intercepts_ = [rng.normal(scale=0.5, size=n) for n in sizes[1:]]
    return clf, X


@exercise(
    "Exercise 3: the forward pass in NumPy",
    reference=ref.mlp_predict_proba,
    returns="array",
    inplace_hint="Compute new arrays (h = ...).",
)
def check_mlp_predict_proba(
    mlp_predict_proba: Callable[[Any, np.ndarray], np.ndarray],
) -> None:
    """Exercise 3: ``mlp_predict_proba(clf, X (batch, n_features)) -> (batch, k)``.

    ``clf`` is a :class:`Network` (weights and activation, no ``predict_proba``);
    the expected values come from scikit-learn's own ``predict_proba``.
    """
    networks = [  # (layer sizes, activation): every one of scikit-learn's four
        ((5, 6, 4, 3), "relu"),
        ((5, 4, 3), "tanh"),
        ((5, 7, 4), "logistic"),
        ((5, 3, 6, 4, 3), "identity"),
    ]
    hint = (
        "Every hidden layer applies clf.activation (relu, tanh, logistic or "
        "identity); the output layer applies softmax and no hidden activation; "
        "every layer in clf.coefs_ is used."
    )

    for i, (sizes, activation) in enumerate(networks):
        clf, X = _sklearn_network(sizes, activation, seed=10 + i)
        net = Network(
            [w.copy() for w in clf.coefs_],
            [b.copy() for b in clf.intercepts_],
            activation,
        )
        what = f"mlp_predict_proba on layers {list(sizes)}, {activation!r}"
        try:
            out = mlp_predict_proba(net, X.copy())
        except NotImplementedError:
            raise
        except AttributeError as error:
            raise AssertionError(
                f"{what} raised AttributeError: {error}. The check's networks "
                "hold only coefs_, intercepts_ and activation: compute the "
                "probabilities from the weights (calling predict_proba is the "
                "shortcut this exercise replaces)."
            ) from None
        except _ERRORS as error:
            raise AssertionError(
                f"{what} raised {type(error).__name__}: {error}. Each layer is "
                "h @ W + b with W of shape (n_in, n_out), in the order of "
                "clf.coefs_."
            ) from None
        weights = [*clf.coefs_, *clf.intercepts_]
        expect_true(
            len(weights) == len(net.coefs_) + len(net.intercepts_)
            and all(
                np.array_equal(w, v)
                for w, v in zip(weights, [*net.coefs_, *net.intercepts_], strict=True)
            ),
            f"{what} changed clf's weights in place: the network is corrupted "
            "for every cell after this one. Never write into clf.coefs_ or "
            "clf.intercepts_ (h = h @ W + b builds new arrays).",
        )
        out = _as_floats(out, what)
        k = sizes[-1]
        expect_true(
            out.shape == (len(X), k),
            f"{what}: expected shape (batch, n_classes) = {(len(X), k)}, got "
            f"{out.shape}. Use every layer of clf.coefs_, in order.",
        )
        expect_true(
            bool(np.allclose(out.sum(axis=1), 1.0)),
            f"{what}: rows do not sum to 1. The output layer turns its logits "
            "into probabilities (softmax).",
        )
        expect_close(out, clf.predict_proba(X), what=what, atol=1e-6, hint=hint)


# --- Exercise 4 -----------------------------------------------------------------


def _backprop_cases() -> list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """5 -> 4 -> 3 on a batch of 6 and 3 -> 7 -> 4 on a batch of 1: no two shapes
    alike, some ReLUs off, the true class rarely the most likely."""
    rng = np.random.default_rng(5)
    first = {
        "W1": rng.normal(size=(5, 4)),
        "b1": np.array([0.5, -0.5, 0.1, -1.0]),
        "W2": rng.normal(size=(4, 3)),
        "b2": np.array([0.2, 0.0, -0.2]),
    }
    second = {
        "W1": rng.normal(size=(3, 7)),
        "b1": rng.normal(size=7),
        "W2": rng.normal(size=(7, 4)),
        "b2": rng.normal(size=4),
    }
    return [
        (first, rng.normal(size=(6, 5)), np.array([0, 2, 1, 2, 2, 0])),
        (second, rng.normal(size=(1, 3)), np.array([3])),
    ]


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


_AUTOGRAD_ENTRY_POINTS = (
    (torch.Tensor, "backward"),
    (torch.autograd, "backward"),
    (torch.autograd, "grad"),
    (torch.autograd.functional, "jacobian"),
    (torch.autograd.functional, "vjp"),
    (torch.func, "grad"),
    (torch.func, "grad_and_value"),
    (torch.func, "vjp"),
    (torch.func, "jacrev"),
    (torch.func, "jacfwd"),
)


@contextlib.contextmanager
def _without_autograd() -> Iterator[None]:
    """Autograd's entry points raise, and no graph is recorded, for a while."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            "your backprop called PyTorch's autograd. This exercise is the chain "
            "rule by hand, in NumPy: autograd is what the check compares you with, "
            "so it is switched off while your function runs."
        )

    saved = [
        (owner, name, getattr(owner, name)) for owner, name in _AUTOGRAD_ENTRY_POINTS
    ]
    try:
        for owner, name, _ in saved:
            setattr(owner, name, refuse)
        with torch.no_grad():
            yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


def _gradient_dict(grads: Any) -> str | None:
    """Exercise 4's result: ``{"W1", "b1", "W2", "b2"}`` -> NumPy arrays."""
    if not isinstance(grads, dict) or set(grads) != set(ref.PARAM_NAMES):
        keys = f" with keys {sorted(grads)}" if isinstance(grads, dict) else ""
        return (
            "returned a dict with the keys 'W1', 'b1', 'W2', 'b2'? It returned "
            f"{type(grads).__name__}{keys}."
        )
    kinds = {k: type(v).__name__ for k, v in grads.items()}
    if not all(isinstance(v, np.ndarray) for v in grads.values()):
        return (
            f"returned gradients of types {kinds}: the contract is NumPy arrays, "
            "like the parameters the notebook subtracts them from (the chain rule "
            "by hand, in NumPy)."
        )
    return None


@exercise(
    "Exercise 4: backpropagation by hand",
    reference=ref.backprop,
    returns=_gradient_dict,
    inplace_hint={
        "params": "Only compute the gradients here; the gradient step comes "
        "after, in the notebook.",
        "X": "Compute new arrays.",
        "y": "Compute new arrays.",
    },
)
def check_backprop(backprop: Callable[..., dict[str, np.ndarray]]) -> None:
    """Exercise 4: ``backprop(params, X, y) -> grads``, compared with autograd."""
    hints = {
        "W2": "dL/dW2 = h1.T @ dL/dlogits, with dL/dlogits = (softmax(logits) - "
        "onehot(y)) / B: the mean over the batch, and p minus the one-hot, not the "
        "other way round.",
        "b2": "dL/db2 = dL/dlogits summed over the batch rows (the 1/B is already "
        "inside dL/dlogits).",
        "W1": "Go back one layer at a time. First to h1: logits = h1 W2 + b2, so "
        "dL/dh1 is dL/dlogits multiplied by W2 (which side, transposed or not? let "
        "the shapes decide). Then through the ReLU: its slope is 1 where z1 was "
        "positive and 0 elsewhere, so it passes the gradient only where z1 was "
        "positive. Then z1 = X W1 + b1 has the form of the output layer: dL/dW1 "
        "follows as dL/dW2 did.",
        "b1": "dL/db1 follows from dL/dz1 as dL/db2 did from dL/dlogits.",
    }
    shapes = (
        "Check each product's shapes: a gradient has its parameter's shape "
        "(dW = inputs.T @ d_outputs)."
    )

    for params, X, y in _backprop_cases():
        given = ({k: v.copy() for k, v in params.items()}, X.copy(), y.copy())
        with _without_autograd():
            grads = _call(backprop, *given, what="backprop", hint=shapes)
        expected = autograd_gradients(params, X, y)
        for name in ("W2", "b2", "W1", "b1"):  # from the output back to the input
            got = np.asarray(grads[name], dtype=np.float64)
            expect_true(
                got.shape == params[name].shape,
                f"dL/d{name} has shape {got.shape}, but {name} has shape "
                f"{params[name].shape}. {shapes}",
            )
            expect_true(
                bool(np.allclose(got, expected[name], atol=1e-8)),
                f"dL/d{name} differs from autograd's on a {X.shape[0]}-example "
                f"batch. {hints[name]}",
            )


# --- Exercise 5 -----------------------------------------------------------------


def _digits_train(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The notebook's training digits (75 %, stratified split with ``seed``)."""
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=seed
    )
    return X_train, y_train


def scarce_digits_model(params: dict[str, Any], *, seed: int) -> Pipeline:
    """Exercise 5's model: scaling, then a 16-neuron MLP trained by lbfgs to the end.

    ``Pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,),
    solver="lbfgs", max_iter=1000, random_state=seed, **params))``: lbfgs fits the
    scarce training digits almost perfectly, so only regularisation can help.

    Taught in: 01_mlp_basics.ipynb
    """
    mlp = MLPClassifier(**params, **FIXED_PARAMS, random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("mlp", mlp)])


def digits_cv_accuracy(
    params: dict[str, Any],
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    seeds: tuple[int, ...] = CV_SEEDS,
) -> float:
    """Exercise 5's score: 5-fold cross-validated accuracy of
    :func:`scarce_digits_model` on the first 300 training digits, averaged over
    ``seeds`` (each seed sets the network's ``random_state`` and the folds).

    Args:
        params: ``MLPClassifier`` keyword arguments, without the fixed ones.
        X_train: ``(n, 64)`` training images; y_train: ``(n,)`` labels.
        seeds: one cross-validation per seed.

    Taught in: 01_mlp_basics.ipynb
    """
    X, y = np.asarray(X_train)[:SCARCE_DIGITS], np.asarray(y_train)[:SCARCE_DIGITS]
    key = (repr(sorted(params.items())), X.tobytes(), y.tobytes(), tuple(seeds))
    if key not in _CV_CACHE:  # a search and the cells after it score the same settings
        _CV_CACHE[key] = float(np.mean(_cv_scores(params, X_train, y_train, seeds)))
    score = _CV_CACHE[key]
    if _CV_CALLS is not None:
        _CV_CALLS.append((dict(params), score))
    return score


_CV_CACHE: dict[tuple[Any, ...], float] = {}
# What digits_cv_accuracy scored while Exercise 5's check ran the student's function:
# the candidates the student compared, and their scores.
_CV_CALLS: list[tuple[dict[str, Any], float]] | None = None
MIN_CANDIDATES = 4


@contextlib.contextmanager
def _recording_cv_calls() -> Iterator[list[tuple[dict[str, Any], float]]]:
    global _CV_CALLS
    calls: list[tuple[dict[str, Any], float]] = []
    _CV_CALLS = calls
    try:
        yield calls
    finally:
        _CV_CALLS = None


def _cv_scores(
    params: dict[str, Any],
    X_train: np.ndarray,
    y_train: np.ndarray,
    seeds: tuple[int, ...],
) -> list[float]:
    X, y = X_train[:SCARCE_DIGITS], y_train[:SCARCE_DIGITS]
    scores = []
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in seeds:
            folds = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
            model = scarce_digits_model(params, seed=seed)
            fold_scores = cross_val_score(model, X, y, cv=folds, error_score="raise")
            scores.append(float(fold_scores.mean()))
    return scores


def reference_digits_hyperparameters() -> dict[str, Any]:
    """Exercise 5's reference: ``MLPClassifier`` keyword arguments for the strong
    model, chosen by cross-validation. It lives beside the scorer it calls (which
    the check reads), not in ``mlp_reference``.

    The check fixes ``hidden_layer_sizes=(16,)``, ``solver="lbfgs"``,
    ``max_iter=1000`` and ``random_state``, trains on the first 300 training digits
    and scores by 5-fold cross-validation over three seeds (never the test set).
    Without a penalty lbfgs memorises those digits; the candidates run from a
    penalty too weak to matter to one too strong to fit, and the best scores from
    ``alpha=0.03`` to ``30`` lie within a point of each other (benchmarks/README.md,
    "Notebook 01").
    """
    X_train, y_train = _digits_train(42)  # the notebook's training split
    candidates = [{"alpha": alpha} for alpha in (1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0)]
    scores = [digits_cv_accuracy(c, X_train, y_train) for c in candidates]
    return candidates[int(np.argmax(scores))]


def _arguments_dict(params: Any) -> str | None:
    if isinstance(params, dict):
        return None
    return (
        f"returned a {type(params).__name__}: return a dict of MLPClassifier arguments."
    )


@exercise(
    "Exercise 5: design the strong model",
    reference=reference_digits_hyperparameters,
    returns=_arguments_dict,
)
def check_digits_hyperparameters(
    digits_hyperparameters: Callable[[], dict[str, Any]],
    *,
    train: tuple[np.ndarray, np.ndarray] | None = None,
    seeds: tuple[int, ...] = CV_SEEDS,
) -> None:
    """Exercise 5: ``digits_hyperparameters() -> dict``, the regularisation of
    :func:`scarce_digits_model` chosen by cross-validation: among at least
    :data:`MIN_CANDIDATES` settings the function scores with
    :func:`digits_cv_accuracy`, the one that scores best, which must then reach a
    mean cross-validated accuracy of at least 0.95 over ``seeds`` (no penalty
    scores 0.932). The test set is never used.

    Args:
        digits_hyperparameters: the student's function.
        train: ``(X_train, y_train)``; by default the notebook's training split.
        seeds: the seeds of :func:`digits_cv_accuracy`.
    """
    X_train, y_train = train if train is not None else _digits_train(42)

    with _recording_cv_calls() as calls:
        params = digits_hyperparameters()
    prefixed = [k for k in params if "__" in k]
    expect_true(
        not prefixed,
        f"{prefixed}: drop the 'mlp__' prefix, it is only for GridSearchCV on a "
        "Pipeline. Return plain MLPClassifier arguments.",
    )
    fixed = sorted(set(params) & {*FIXED_PARAMS, "random_state"})
    expect_true(
        not fixed,
        f"leave {fixed} out: the check fixes hidden_layer_sizes=(16,), "
        "solver='lbfgs', max_iter=1000 and random_state, so that only "
        "regularisation can help.",
    )
    try:
        scarce_digits_model(dict(params), seed=0)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"MLPClassifier refused {params}: {error}") from None
    candidates: list[tuple[dict[str, Any], float]] = []
    for settings, score in calls:  # each distinct setting once
        if all(settings != seen for seen, _ in candidates):
            candidates.append((settings, score))
    expect_true(
        len(candidates) >= MIN_CANDIDATES,
        f"your function scored {len(candidates)} distinct setting(s) with "
        f"digits_cv_accuracy; compare at least {MIN_CANDIDATES}. Choose the "
        "candidates yourself (a penalty too weak to matter, one too strong, and "
        "some between), score each with digits_cv_accuracy inside "
        "digits_hyperparameters, and return the best: a single guess is not a "
        "choice.",
    )
    for settings, score in candidates:
        print(f"  candidate {settings}: digits_cv_accuracy {score:.4f}")
    best = max(score for _, score in candidates)
    mine = [score for settings, score in candidates if settings == params]
    expect_true(
        bool(mine) and mine[0] >= best - 1e-12,
        f"you returned {params}, but among your candidates "
        f"{[settings for settings, _ in candidates]} the best "
        f"digits_cv_accuracy ({best:.4f}) belongs to "
        f"{[settings for settings, score in candidates if score == best]}"
        + (f" (yours scored {mine[0]:.4f})." if mine else "; yours was not scored.")
        + " Return the candidate that scores best: that is what choosing by "
        "cross-validation means.",
    )
    try:
        scores = _cv_scores(dict(params), X_train, y_train, seeds)
    except (TypeError, ValueError) as error:
        raise AssertionError(f"MLPClassifier refused {params}: {error}") from None
    accuracy = float(np.mean(scores))
    print(
        f"  {params}: {CV_FOLDS}-fold cross-validated accuracy on the first "
        f"{SCARCE_DIGITS} training digits, seeds {list(seeds)}: "
        f"{[round(s, 4) for s in scores]}, mean {accuracy:.4f}"
    )
    expect_true(
        accuracy >= MIN_CV_ACCURACY,
        f"mean cross-validated accuracy {accuracy:.4f} < {MIN_CV_ACCURACY}: the "
        "best of your candidates is not good enough, so widen or move your grid. "
        "lbfgs fits these few digits perfectly: the weights need a reason to "
        "stay small (a penalty), neither too weak nor so strong the network "
        "cannot fit at all. A change of activation alone is not regularisation.",
    )


# --- Exercise 6 -----------------------------------------------------------------


def _tiny_net_and_batches() -> tuple[nn.Module, list[tuple[torch.Tensor, ...]]]:
    """A 3 -> 4 -> 3 network with fixed weights, and the batches of its three steps:
    5, 3 and again 5 examples (no global RNG use)."""
    g = torch.Generator().manual_seed(3)
    with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))  # global RNG
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    first = (torch.randn(5, 3, generator=g), torch.tensor([0, 2, 1, 2, 0]))
    second = (torch.randn(3, 3, generator=g), torch.tensor([1, 1, 0]))
    return model, [first, second, first]


@exercise(
    "Exercise 6: the PyTorch training step",
    reference=ref.train_step,
    returns="float",
    inplace_hint="Normalise or convert a copy (x = x - ...), never the batch "
    "itself: the caller's tensors would change under it.",
)
def check_train_step(train_step: Callable[..., float]) -> None:
    """Exercise 6: ``train_step(model, optimizer, x, y) -> float``, the loss before
    the step, checked over three steps of Adam (the notebook's optimiser)."""
    hint_loss = (
        "The loss is F.cross_entropy(model(x), y): it takes raw logits (it applies "
        "log-softmax itself: no softmax first) and averages over the batch; return "
        "it as a float (loss.item()), computed before the step."
    )
    hint_accumulate = (
        "Clear the old gradients every step, before loss.backward(): PyTorch adds "
        "new gradients to the ones already stored."
    )
    hint_step = (
        "loss.backward() fills each parameter's .grad; then let the optimiser move "
        "the weights: optimizer.step(), once per call. Adam "
        "scales each weight's step by its own gradient history, so a hand-written "
        "p -= lr * p.grad (plain SGD) is another algorithm."
    )

    model, batches = _tiny_net_and_batches()
    twin = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    opt_twin = torch.optim.Adam(twin.parameters(), lr=0.05)
    steps = []
    opt.register_step_post_hook(lambda *args: steps.append(1))
    for step, (x, y) in enumerate(batches, start=1):
        before = len(steps)
        loss = _call(
            train_step,
            model,
            opt,
            x.clone(),
            y.clone(),
            what=f"train_step (step {step})",
            hint="x is (batch, n_features) float32 and y (batch,) int64, "
            "ready for model(x) and F.cross_entropy.",
        )
        expected = ref.train_step(twin, opt_twin, x, y)
        expect_true(
            len(steps) - before == 1,
            f"step {step} called optimizer.step() {len(steps) - before} times. "
            + hint_step,
        )
        expect_close(
            loss,
            expected,
            what=f"the loss returned by step {step}",
            atol=1e-5,
            hint=hint_loss if step == 1 else hint_accumulate,
        )
        for (name, p), q in zip(
            model.named_parameters(), twin.parameters(), strict=True
        ):
            expect_true(
                bool(np.allclose(p.detach(), q.detach(), atol=1e-5)),
                f"parameter {name} after step {step} is not where one Adam step "
                "takes it. "
                + (hint_step if step == 1 else f"{hint_accumulate} {hint_step}"),
            )
