"""Holdout metrics per task type, vectorized over bootstrap resamples.

Every metric is computed as a *weighted* metric over a weight matrix ``W`` of shape
``(resamples, rows)``: a bootstrap resample drawn as an index matrix is the same thing as the
count of times each row was drawn, so one implementation serves the point estimate (``W`` is one
row of ones) and the paired bootstrap (``W`` holds the draw counts). Each metric is then a few
matrix-vector products; ROC AUC and average precision sort the scores once and reduce the
weights per distinct score, so a resample costs O(rows) instead of a sort.

Definitions follow scikit-learn (tested against it): ROC AUC with ties counted as half,
average precision as the step-wise sum of precision times recall increments, log loss on
probabilities clipped to [1e-7, 1 - 1e-7], F1 of the positive class (0 when undefined). Expected
calibration error uses 10 equal-width probability bins: sum over bins of |observed positives -
predicted positives| / rows. A metric that is undefined on the rows (one class only, zero
variance, non-finite predictions) is NaN.

Multiclass predictions are an ``(rows, k)`` matrix of class probabilities (XGBoost's
``multi:softprob``) and the labels are class indices 0..k-1; a weight row still weighs *rows*,
so resampling never mixes the columns of one row. Log loss is the mean of ``-log p[row, label]``
(clipped at 1e-7); accuracy is of the arg-max class (the threshold does not apply); macro F1 is
the unweighted mean of the per-class F1 over the classes that occur in the labels or in the
predictions (scikit-learn's ``average="macro"``); ECE is *top-label*: the arg-max probability
is the confidence, binned as above, against whether the arg-max class was right.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BINARY_METRICS: tuple[str, ...] = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1",
                                   "ece")
MULTICLASS_METRICS: tuple[str, ...] = ("log_loss", "macro_f1", "accuracy", "ece")
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2")
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "binary_classification": BINARY_METRICS,
    "multiclass_classification": MULTICLASS_METRICS,
    "regression": REGRESSION_METRICS,
}
DIRECTIONS: dict[str, str] = {
    "roc_auc": "maximize", "pr_auc": "maximize", "log_loss": "minimize", "brier": "minimize",
    "accuracy": "maximize", "f1": "maximize", "macro_f1": "maximize", "ece": "minimize",
    "rmse": "minimize", "mae": "minimize", "r2": "maximize",
}
# The metric that a leaked target drives to its ceiling, per task. Multiclass: top-1 accuracy
# (at 0.999 at most one holdout row in a thousand is misclassified; a leak gets them all right).
LEAKAGE_METRIC: dict[str, str] = {"binary_classification": "roc_auc",
                                  "multiclass_classification": "accuracy", "regression": "r2"}

ECE_BINS = 10
_CLIP = 1e-7

Weighted = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def task_of(metric: str, *, multiclass: bool = False) -> str:
    """The task type a metric belongs to; `multiclass` (the predictions are a (rows, k)
    probability matrix) picks multiclass for the names both kinds share (log_loss, accuracy)."""
    if multiclass:
        if metric in MULTICLASS_METRICS:
            return "multiclass_classification"
        raise ValueError(f"metric {metric!r} is not a multiclass metric; choose one of "
                         f"{MULTICLASS_METRICS}")
    for task, names in TASK_METRICS.items():
        if task != "multiclass_classification" and metric in names:
            return task
    if metric in MULTICLASS_METRICS:
        raise ValueError(f"metric {metric!r} needs (rows, k) class probabilities")
    raise ValueError(f"unknown metric {metric!r}")


def compute(y_true: np.ndarray, y_pred: np.ndarray, task: str,
            threshold: float = 0.5) -> dict[str, float]:
    """Every metric of the task type on the whole of the rows."""
    y, p = _as_arrays(y_true, y_pred)
    if (p.ndim == 2) != (task == "multiclass_classification"):
        expected = "(rows, k) class probabilities" if p.ndim == 1 else "one prediction per row"
        raise ValueError(f"{task} takes {expected}, got predictions of shape {p.shape}")
    ones = np.ones((1, len(y)))
    return {name: float(weighted(name, y, p, ones, threshold)[0]) for name in TASK_METRICS[task]}


def metric(name: str, y_true: np.ndarray, y_pred: np.ndarray, threshold: float = 0.5) -> float:
    """One metric on the whole of the rows."""
    y, p = _as_arrays(y_true, y_pred)
    return float(weighted(name, y, p, np.ones((1, len(y))), threshold)[0])


def weighted(name: str, y: np.ndarray, p: np.ndarray, w: np.ndarray,
             threshold: float = 0.5) -> np.ndarray:
    """Metric `name` for each row of weights `w` (shape (k, n)); returns shape (k,)."""
    w = np.atleast_2d(np.asarray(w, dtype="float64"))
    if y.shape[0] == 0 or not np.all(np.isfinite(p)):
        return np.full(w.shape[0], np.nan)
    if p.ndim == 2:
        if name not in _MULTICLASS_WEIGHTED:
            raise ValueError(f"metric {name!r} is not defined on (rows, k) probabilities")
        return _MULTICLASS_WEIGHTED[name](_class_indices(y, p.shape[1]), p, w, threshold)
    return _WEIGHTED[name](y, p, w, threshold)


def expected_calibration_error(y_true: np.ndarray, y_prob: np.ndarray,
                               n_bins: int = ECE_BINS) -> float:
    """Binary: on the probability of class 1. Multiclass ((rows, k) probabilities): top-label."""
    y, p = _as_arrays(y_true, y_prob)
    if p.ndim == 2:
        right = (p.argmax(axis=1) == _class_indices(y, p.shape[1])).astype("float64")
        y, p = right, p.max(axis=1)
    return float(_ece(y, p, np.ones((1, len(y))), 0.5, n_bins)[0])


def bootstrap_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Draw an index matrix (resamples, n) with replacement and return the per-row counts."""
    idx = rng.integers(0, n, size=(resamples, n))
    flat = (np.arange(resamples)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=resamples * n).reshape(resamples, n).astype("float64")


# --- implementations ------------------------------------------------------------------------


def as_predictions(y_pred: np.ndarray) -> np.ndarray:
    """Predictions as float64: one value per row, or (rows, k) class probabilities for k > 1."""
    p = np.asarray(y_pred, dtype="float64")
    return p if p.ndim == 2 and p.shape[1] > 1 else p.ravel()


def _as_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype="float64").ravel()
    p = as_predictions(y_pred)
    if y.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {y.shape[0]} rows but y_pred has {p.shape[0]}")
    return y, p


def _div(num: np.ndarray, den: np.ndarray, *, empty: float = np.nan) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, empty, dtype="float64")
    np.divide(num, den, out=out, where=den != 0)
    return out


def _mean(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    return _div(w @ values, w.sum(axis=1))


def _log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    pc = np.clip(p, _CLIP, 1 - _CLIP)
    return _mean(w, -(y * np.log(pc) + (1 - y) * np.log1p(-pc)))


def _brier(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    return _mean(w, (p - y) ** 2)


def _accuracy(y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    return _mean(w, ((p >= threshold) == (y == 1)).astype("float64"))


def _f1(y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    pred, pos = p >= threshold, y == 1
    tp = w @ (pred & pos).astype("float64")
    fp = w @ (pred & ~pos).astype("float64")
    fn = w @ (~pred & pos).astype("float64")
    return _div(2 * tp, 2 * tp + fp + fn, empty=0.0)


def _grouped(y: np.ndarray, p: np.ndarray, w: np.ndarray,
             descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative weight per distinct score, scores in sorted order: (k, groups)."""
    order = np.argsort(-p if descending else p, kind="stable")
    ps = p[order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ws = w[:, order]
    pos = (y[order] == 1).astype("float64")
    g_pos = np.add.reduceat(ws * pos, starts, axis=1)
    g_neg = np.add.reduceat(ws * (1 - pos), starts, axis=1)
    return g_pos, g_neg


def _roc_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    g_pos, g_neg = _grouped(y, p, w, descending=False)
    neg_below = np.cumsum(g_neg, axis=1) - g_neg
    pairs_won = np.sum(g_pos * (neg_below + 0.5 * g_neg), axis=1)
    return _div(pairs_won, g_pos.sum(axis=1) * g_neg.sum(axis=1))


def _pr_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    g_pos, g_neg = _grouped(y, p, w, descending=True)
    tp = np.cumsum(g_pos, axis=1)
    precision = _div(tp, tp + np.cumsum(g_neg, axis=1), empty=0.0)
    return _div(np.sum(g_pos * precision, axis=1), g_pos.sum(axis=1))


def _ece(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float,
         n_bins: int = ECE_BINS) -> np.ndarray:
    bins = np.clip(np.floor(p * n_bins).astype("int64"), 0, n_bins - 1)
    onehot = np.zeros((len(p), n_bins))
    onehot[np.arange(len(p)), bins] = 1.0
    observed = w @ (onehot * y[:, None])
    predicted = w @ (onehot * p[:, None])
    return _div(np.abs(observed - predicted).sum(axis=1), w.sum(axis=1))


def _class_indices(y: np.ndarray, k: int) -> np.ndarray:
    if y.size and not (np.all(np.isfinite(y)) and np.all(y == np.round(y))
                       and y.min() >= 0 and y.max() < k):
        raise ValueError(f"multiclass labels must be class indices 0..{k - 1}")
    return y.astype("int64")


def _mc_log_loss(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    return _mean(w, -np.log(np.clip(p[np.arange(len(y)), y], _CLIP, 1.0)))


def _mc_accuracy(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    return _mean(w, (p.argmax(axis=1) == y).astype("float64"))


def _mc_macro_f1(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    k = p.shape[1]
    eye = np.eye(k)
    truth, pred = eye[y], eye[p.argmax(axis=1)]          # one-hot (rows, k)
    tp = w @ (truth * pred)                               # (resamples, k)
    support = w @ truth + w @ pred                        # 2 tp + fp + fn per class
    f1 = _div(2 * tp, support, empty=0.0)
    present = (support > 0).astype("float64")             # in the labels or the predictions
    return _div((f1 * present).sum(axis=1), present.sum(axis=1))


def _mc_ece(y: np.ndarray, p: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    correct = (p.argmax(axis=1) == y).astype("float64")
    return _ece(correct, p.max(axis=1), w, threshold)


def _rmse(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    rmse: np.ndarray = np.sqrt(_mean(w, (y - p) ** 2))
    return rmse


def _mae(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    return _mean(w, np.abs(y - p))


def _r2(y: np.ndarray, p: np.ndarray, w: np.ndarray, _: float) -> np.ndarray:
    yc = y - y.mean()  # centred once, so large targets do not cancel catastrophically
    total = w.sum(axis=1)
    sse = w @ (y - p) ** 2
    sst = w @ yc**2 - _div((w @ yc) ** 2, total, empty=0.0)
    sst = np.where(sst <= 1e-12 * np.maximum(w @ yc**2, 1e-300), 0.0, sst)
    return 1.0 - _div(sse, sst)


_WEIGHTED: dict[str, Weighted] = {
    "roc_auc": _roc_auc, "pr_auc": _pr_auc, "log_loss": _log_loss, "brier": _brier,
    "accuracy": _accuracy, "f1": _f1, "ece": _ece,
    "rmse": _rmse, "mae": _mae, "r2": _r2,
}
_MULTICLASS_WEIGHTED: dict[str, Weighted] = {
    "log_loss": _mc_log_loss, "accuracy": _mc_accuracy, "macro_f1": _mc_macro_f1,
    "ece": _mc_ece,
}
