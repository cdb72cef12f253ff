"""The champion/challenger gate: a pure function from holdout arrays and a policy to a decision.

`decide` is TFX "blessing"-style: it returns the verdict, every reason, and every number it
looked at, and it touches no service. The rule, in order (every failing check adds a reason;
any failing check means keep, so ties and doubt go to the incumbent):

1. The challenger's primary metric must be a finite number on the holdout.
2. The challenger must not be degenerate: not a constant predictor (for multiclass: the same
   probability vector on every row), and not suspiciously perfect (roc_auc for binary, top-1
   accuracy for multiclass, r2 for regression, at or above ``policy.leakage_ceiling``: a leak,
   not a model).
3. The challenger must clear the absolute floor.
4. No champion (`champion is None`): promote when 1-3 hold ("first model").
   A champion that could not be loaded or scored (`champion` is an error string) fails closed:
   keep, never "better by default". So does a champion whose primary metric is undefined, and
   a multiclass champion that predicts another number of classes (the class set changed).
5. Paired bootstrap on the same resampled rows: the improvement is challenger - champion for a
   metric to maximize, champion - challenger for one to minimize, and its two-sided
   ``bootstrap_confidence`` percentile interval is computed from ``bootstrap_samples`` resamples
   drawn with ``bootstrap_seed``.
   - Superiority (default): promote only when the interval's lower bound is strictly greater
     than ``min_improvement``.
   - Non-inferiority (``non_inferiority_margin`` set): promote when the lower bound is strictly
     greater than ``-non_inferiority_margin`` (not worse by more than the margin, with the stated
     confidence) AND the point estimate of the improvement on the whole holdout is strictly
     greater than ``min_improvement`` (the challenger is observed to be better; a tie keeps).
6. Slice guardrails: on every slice (value of a slice column) with at least ``min_slice_rows``
   rows, the challenger's improvement must not fall below ``-slice_tolerance``. Smaller slices,
   and slices where the metric is undefined (e.g. one class only), are reported but not judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from mlops_lib import metrics
from mlops_lib.spec import MetricPolicy, SliceSpec

SliceStatus = Literal["ok", "violated", "too_few_rows", "undefined"]
Mode = Literal["first_model", "superiority", "non_inferiority"]

# Resamples per chunk are sized so a chunk's weight matrix holds about this many cells (16 MB).
_CHUNK_CELLS = 2_000_000
# Predictions whose range is below this are a constant predictor.
_CONSTANT_RANGE = 1e-9


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of the primary metric. `diff_*` are challenger - champion; the
    improvement is the same difference oriented so that positive means the challenger is
    better (negated for metrics to minimize)."""

    metric: str
    diff: float             # challenger - champion on the whole holdout
    mean_diff: float        # mean over the resamples
    ci_low: float           # interval of challenger - champion
    ci_high: float
    improvement: float      # oriented point estimate
    improvement_low: float  # oriented lower bound: the number the gate compares
    improvement_high: float
    n_boot: int
    n_valid: int            # resamples on which both metrics were defined
    confidence: float
    seed: int


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    challenger: float
    champion: float | None
    diff: float | None          # challenger - champion
    improvement: float | None   # oriented: negative means the challenger is worse
    status: SliceStatus


@dataclass(frozen=True)
class Decision:
    """The gate's verdict ("blessing"): what to do, why, and every number it looked at."""

    decision: Literal["promote", "keep"]
    reasons: tuple[str, ...]
    metric: str
    direction: str
    mode: Mode
    candidate_value: float
    baseline_value: float | None
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] | None = None
    baseline_error: str | None = None
    bootstrap: BootstrapResult | None = None
    slices: tuple[SliceResult, ...] = ()
    holdout_rows: int = 0
    policy: dict[str, Any] = field(default_factory=dict)

    @property
    def promote(self) -> bool:
        return self.decision == "promote"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @property
    def violated_slices(self) -> tuple[SliceResult, ...]:
        return tuple(s for s in self.slices if s.status == "violated")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; NaN and infinities become None."""
        return _json_safe(asdict(self))


def decide(policy: MetricPolicy, y_true: np.ndarray, challenger: np.ndarray,
           champion: np.ndarray | str | None, *,
           slices: Mapping[str, np.ndarray] | None = None) -> Decision:
    """Judge the challenger's holdout predictions against the champion's on the same rows.

    `champion` is the champion's predictions, None when there is no champion yet, or a string
    saying why the expected champion could not be loaded or scored (fails closed). `slices`
    maps a slice column to one label per row (see `slice_columns` to bin numeric columns).
    Multiclass predictions are (rows, k) probability matrices and `y_true` class indices.
    """
    y = np.asarray(y_true, dtype="float64").ravel()
    chal = metrics.as_predictions(challenger)
    task = metrics.task_of(policy.name, multiclass=chal.ndim == 2)
    champ = None if champion is None or isinstance(champion, str) else (
        metrics.as_predictions(champion))
    if chal.shape[0] != y.shape[0] or (champ is not None and champ.shape[0] != y.shape[0]):
        raise ValueError("y_true, challenger and champion predictions must have the same rows")
    if champ is not None and champ.shape != chal.shape:
        champion = (f"the champion predicts an array of shape {champ.shape[1:] or 'one value'} "
                    f"per row, the challenger {chal.shape[1:] or 'one value'} (the class set "
                    "changed?); promote by hand if intended")
        champ = None
    cand_metrics = metrics.compute(y, chal, task, policy.threshold)
    base_metrics = None if champ is None else metrics.compute(y, champ, task, policy.threshold)
    value = cand_metrics[policy.name]
    base = None if base_metrics is None else base_metrics[policy.name]
    name = policy.name
    mode: Mode = ("first_model" if champion is None else
                  "superiority" if policy.non_inferiority_margin is None else "non_inferiority")
    blockers: list[str] = []
    passes: list[str] = []

    # 1-3: the challenger on its own.
    if not math.isfinite(value):
        blockers.append(f"challenger {name} is not a finite number")
    # Per column, so a multiclass model is constant when every row gets the same vector.
    if (len(chal) >= 2 and np.all(np.isfinite(chal))
            and np.ptp(chal, axis=0).max() < _CONSTANT_RANGE):
        constant = np.array2string(chal[0], precision=6) if chal.ndim == 2 else f"{chal[0]:.6g}"
        blockers.append(f"challenger predicts a constant ({constant}) on all "
                        f"{len(chal)} holdout rows")
    leak_metric = metrics.LEAKAGE_METRIC[task]
    leak_value = cand_metrics[leak_metric]
    if policy.leakage_ceiling is not None and leak_value >= policy.leakage_ceiling:
        blockers.append(f"challenger {leak_metric}={leak_value:.4f} is at or above the leakage "
                        f"ceiling {policy.leakage_ceiling}: suspiciously perfect, check for "
                        "target leakage")
    if math.isfinite(value) and not policy.clears_floor(value):
        blockers.append(f"challenger {name}={value:.4f} does not clear the floor {policy.floor}")

    # 4: is there a champion to compare with?
    boot: BootstrapResult | None = None
    slice_results: tuple[SliceResult, ...] = ()
    if isinstance(champion, str):
        blockers.append(f"champion could not be evaluated ({champion}); keeping it rather than "
                        "promoting blind")
    elif champ is None:
        if not blockers:
            passes.append(f"first model: {name}={value:.4f} clears the floor {policy.floor}")
        slice_results = _slices(policy, y, chal, None, slices)
    elif base is None or not math.isfinite(base):
        blockers.append(f"champion {name} is undefined on this holdout; keeping it (fail "
                        "closed)")
    elif math.isfinite(value):
        # 5: the paired bootstrap gate.
        boot = paired_bootstrap(y, chal, champ, name, policy.direction,
                                samples=policy.bootstrap_samples,
                                confidence=policy.bootstrap_confidence,
                                seed=policy.bootstrap_seed, threshold=policy.threshold)
        _gate(policy, value, base, boot, blockers, passes)
        # 6: slice guardrails.
        slice_results = _slices(policy, y, chal, champ, slices)
        bad = [s for s in slice_results if s.status == "violated"]
        for s in bad:
            blockers.append(f"slice {s.column}={s.value} ({s.rows} rows): challenger {name}="
                            f"{s.challenger:.4f} vs champion {s.champion:.4f} is worse by "
                            f"{-(s.improvement or 0.0):.4f}, more than the tolerance "
                            f"{policy.slice_tolerance}")
        judged = sum(s.status in ("ok", "violated") for s in slice_results)
        if slice_results and not bad:
            passes.append(f"no slice guardrail violated ({judged} of {len(slice_results)} "
                          f"slices had at least {policy.min_slice_rows} rows)")

    return Decision(
        decision="keep" if blockers else "promote",
        reasons=tuple(blockers or passes),
        metric=name, direction=policy.direction, mode=mode,
        candidate_value=value, baseline_value=base,
        candidate_metrics=cand_metrics, baseline_metrics=base_metrics,
        baseline_error=champion if isinstance(champion, str) else None,
        bootstrap=boot, slices=slice_results, holdout_rows=len(y),
        policy=_json_safe(asdict(policy)))


def _gate(policy: MetricPolicy, value: float, base: float, boot: BootstrapResult,
          blockers: list[str], passes: list[str]) -> None:
    name = policy.name
    pct = f"{policy.bootstrap_confidence:.0%}"
    interval = (f"improvement {boot.improvement:+.4f}, {pct} CI [{boot.improvement_low:+.4f}, "
                f"{boot.improvement_high:+.4f}] over {boot.n_valid} paired resamples")
    head = f"challenger {name}={value:.4f} vs champion {base:.4f}"
    if not math.isfinite(boot.improvement_low):
        blockers.append(f"{head}: the bootstrap is undefined ({boot.n_valid} of {boot.n_boot} "
                        "resamples usable)")
        return
    if policy.non_inferiority_margin is None:
        if boot.improvement_low > policy.min_improvement:
            passes.append(f"{head}: {interval}; lower bound > min_improvement "
                          f"{policy.min_improvement}")
        else:
            blockers.append(f"{head}: {interval}; lower bound not above min_improvement "
                            f"{policy.min_improvement}, the incumbent stays")
        return
    margin = policy.non_inferiority_margin
    non_inferior = boot.improvement_low > -margin
    better = boot.improvement > policy.min_improvement
    if non_inferior and better:
        passes.append(f"{head}: {interval}; not worse by more than the margin {margin} and "
                      f"better on the holdout by more than {policy.min_improvement}")
        return
    if not non_inferior:
        blockers.append(f"{head}: {interval}; may be worse by more than the non-inferiority "
                        f"margin {margin}")
    if not better:
        blockers.append(f"{head}: improvement {boot.improvement:+.4f} on the holdout is not "
                        f"above min_improvement {policy.min_improvement}, the incumbent stays")


def paired_bootstrap(y: np.ndarray, challenger: np.ndarray, champion: np.ndarray, metric: str,
                     direction: str, *, samples: int = 1000, confidence: float = 0.95,
                     seed: int = 0, threshold: float = 0.5) -> BootstrapResult:
    """Percentile interval of challenger - champion on the same resampled rows.

    Each resample is a row of an index matrix drawn with replacement; both models are scored on
    exactly those rows, so the noise they share cancels out of the difference.
    """
    y = np.asarray(y, dtype="float64").ravel()
    chal = metrics.as_predictions(challenger)  # (rows, k) stays a matrix: resamples pick rows
    champ = metrics.as_predictions(champion)
    n = len(y)
    sign = 1.0 if direction == "maximize" else -1.0
    point = metrics.metric(metric, y, chal, threshold) - metrics.metric(metric, y, champ,
                                                                        threshold)
    rng = np.random.default_rng(seed)
    diffs = np.empty(samples)
    chunk = max(1, min(samples, _CHUNK_CELLS // max(n, 1)))
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        if n == 0:
            diffs[start:start + k] = np.nan
            continue
        w = metrics.bootstrap_weights(n, k, rng)
        diffs[start:start + k] = (metrics.weighted(metric, y, chal, w, threshold)
                                  - metrics.weighted(metric, y, champ, w, threshold))
    valid = diffs[np.isfinite(diffs)]
    alpha = (1.0 - confidence) / 2.0
    if len(valid) >= max(1, samples // 2):
        low, high = (float(q) for q in np.quantile(valid, [alpha, 1.0 - alpha]))
        mean = float(valid.mean())
    else:
        low = high = mean = math.nan
    return BootstrapResult(
        metric=metric, diff=float(point), mean_diff=mean, ci_low=low, ci_high=high,
        improvement=float(sign * point),
        improvement_low=low if sign > 0 else -high,
        improvement_high=high if sign > 0 else -low,
        n_boot=samples, n_valid=int(len(valid)), confidence=confidence, seed=seed)


def slice_columns(columns: Mapping[str, np.ndarray],
                  slices: tuple[SliceSpec, ...]) -> dict[str, np.ndarray]:
    """Slice labels per spec slice column: categorical values as they are, numeric columns with
    `bins` cut into that many quantile bins of these rows (labelled by their range)."""
    out: dict[str, np.ndarray] = {}
    for s in slices:
        values = np.asarray(columns[s.column])
        out[s.column] = quantile_bins(values, s.bins) if s.bins else values.astype(str)
    return out


def quantile_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """Labels of `bins` equal-frequency bins ("[lo, hi]"); ties can merge bins; NaN: "missing"."""
    x = np.asarray(values, dtype="float64")
    labels = np.full(len(x), "missing", dtype=object)
    finite = np.isfinite(x)
    if not finite.any():
        return labels.astype(str)
    edges = np.unique(np.quantile(x[finite], np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) == 1:
        labels[finite] = f"[{edges[0]:.6g}, {edges[0]:.6g}]"
        return labels.astype(str)
    codes = np.clip(np.searchsorted(edges, x[finite], side="right") - 1, 0, len(edges) - 2)
    names = np.array([f"q{i + 1} [{edges[i]:.6g}, {edges[i + 1]:.6g}"
                      f"{']' if i == len(edges) - 2 else ')'}" for i in range(len(edges) - 1)],
                     dtype=object)
    labels[finite] = names[codes]
    return labels.astype(str)


def _slices(policy: MetricPolicy, y: np.ndarray, chal: np.ndarray, champ: np.ndarray | None,
            slices: Mapping[str, np.ndarray] | None) -> tuple[SliceResult, ...]:
    if not slices:
        return ()
    sign = 1.0 if policy.direction == "maximize" else -1.0
    results: list[SliceResult] = []
    for column, raw_labels in slices.items():
        labels = np.asarray(raw_labels).astype(str)
        if labels.shape != y.shape:
            raise ValueError(f"slice column {column!r} has {len(labels)} labels for "
                             f"{len(y)} rows")
        for value in np.unique(labels):
            mask = labels == value
            rows = int(mask.sum())
            c = metrics.metric(policy.name, y[mask], chal[mask], policy.threshold)
            b = (None if champ is None
                 else metrics.metric(policy.name, y[mask], champ[mask], policy.threshold))
            diff = None if b is None else c - b
            improvement = None if diff is None else sign * diff
            status: SliceStatus
            if rows < policy.min_slice_rows:
                status = "too_few_rows"
            elif not math.isfinite(c) or (b is not None and not math.isfinite(b)):
                status = "undefined"
            elif improvement is not None and improvement < -policy.slice_tolerance:
                status = "violated"
            else:
                status = "ok"
            results.append(SliceResult(column=column, value=str(value), rows=rows,
                                       challenger=c, champion=b, diff=diff,
                                       improvement=improvement, status=status))
    return tuple(results)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
