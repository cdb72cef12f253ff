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

from mlops_lib.evaluation import metrics
from mlops_lib.evaluation.bootstrap import BootstrapResult, paired_bootstrap
from mlops_lib.evaluation.slices import SliceResult, judge_slices, slice_columns
from mlops_lib.spec import MetricPolicy

# slice_columns is re-exported: the evaluate step bins its slice columns through the gate.
__all__ = ["Decision", "Finding", "decide", "slice_columns"]

Mode = Literal["first_model", "superiority", "non_inferiority"]

# Predictions whose range is below this are a constant predictor.
_CONSTANT_RANGE = 1e-9


@dataclass(frozen=True)
class Finding:
    """What one check of the gate found: a reason that blocks the promotion, or one for it."""

    reason: str
    blocks: bool


def _blocker(reason: str) -> Finding:
    return Finding(reason, blocks=True)


def _support(reason: str) -> Finding:
    return Finding(reason, blocks=False)


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
        data: dict[str, Any] = _json_safe(asdict(self))
        return data


@dataclass(frozen=True)
class _Comparison:
    """The challenger against the champion (or its absence): findings and the numbers."""

    findings: tuple[Finding, ...] = ()
    bootstrap: BootstrapResult | None = None
    slices: tuple[SliceResult, ...] = ()


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
    champ, champion_error = _comparable_champion(y, chal, champion)
    cand_metrics = metrics.compute(y, chal, task, policy.threshold)
    base_metrics = None if champ is None else metrics.compute(y, champ, task, policy.threshold)
    value = cand_metrics[policy.name]
    base = None if base_metrics is None else base_metrics[policy.name]
    mode: Mode = ("first_model" if champion is None else
                  "superiority" if policy.non_inferiority_margin is None else "non_inferiority")
    comparison = (_no_champion(policy, y, chal, value, slices) if mode == "first_model"
                  else _against_champion(policy, y, chal, champ, champion_error, value, base,
                                         slices))
    findings = [f for f in (_finite_metric(policy, value), _constant_predictor(chal),
                            _leakage_ceiling(policy, task, cand_metrics),
                            _floor(policy, value)) if f is not None]
    findings += comparison.findings
    blockers = [f.reason for f in findings if f.blocks]
    return Decision(
        decision="keep" if blockers else "promote",
        reasons=tuple(blockers or [f.reason for f in findings]),
        metric=policy.name, direction=policy.direction, mode=mode,
        candidate_value=value, baseline_value=base,
        candidate_metrics=cand_metrics, baseline_metrics=base_metrics,
        baseline_error=champion_error,
        bootstrap=comparison.bootstrap, slices=comparison.slices, holdout_rows=len(y),
        policy=_json_safe(asdict(policy)))


def _comparable_champion(y: np.ndarray, chal: np.ndarray, champion: np.ndarray | str | None
                         ) -> tuple[np.ndarray | None, str | None]:
    """The champion's predictions when they can be compared with the challenger's, and
    otherwise why not (None, None: there is no champion)."""
    champ = (None if champion is None or isinstance(champion, str)
             else metrics.as_predictions(champion))
    if chal.shape[0] != y.shape[0] or (champ is not None and champ.shape[0] != y.shape[0]):
        raise ValueError("y_true, challenger and champion predictions must have the same rows")
    if isinstance(champion, str):
        return None, champion
    if champ is not None and champ.shape != chal.shape:
        return None, (f"the champion predicts an array of shape {champ.shape[1:] or 'one value'} "
                      f"per row, the challenger {chal.shape[1:] or 'one value'} (the class set "
                      "changed?); promote by hand if intended")
    return champ, None


# --- 1-3: the challenger on its own -------------------------------------------------------------


def _finite_metric(policy: MetricPolicy, value: float) -> Finding | None:
    if math.isfinite(value):
        return None
    return _blocker(f"challenger {policy.name} is not a finite number")


def _constant_predictor(chal: np.ndarray) -> Finding | None:
    # Per column, so a multiclass model is constant when every row gets the same vector.
    if (len(chal) < 2 or not np.all(np.isfinite(chal))
            or np.ptp(chal, axis=0).max() >= _CONSTANT_RANGE):
        return None
    constant = np.array2string(chal[0], precision=6) if chal.ndim == 2 else f"{chal[0]:.6g}"
    return _blocker(f"challenger predicts a constant ({constant}) on all {len(chal)} holdout "
                    "rows")


def _leakage_ceiling(policy: MetricPolicy, task: str,
                     cand_metrics: Mapping[str, float]) -> Finding | None:
    leak_metric = metrics.LEAKAGE_METRIC[task]
    leak_value = cand_metrics[leak_metric]
    if policy.leakage_ceiling is None or not leak_value >= policy.leakage_ceiling:
        return None  # written so, not as <, because a NaN value is below no ceiling
    return _blocker(f"challenger {leak_metric}={leak_value:.4f} is at or above the leakage "
                    f"ceiling {policy.leakage_ceiling}: suspiciously perfect, check for "
                    "target leakage")


def _floor(policy: MetricPolicy, value: float) -> Finding | None:
    if not math.isfinite(value) or policy.clears_floor(value):
        return None
    return _blocker(f"challenger {policy.name}={value:.4f} does not clear the floor "
                    f"{policy.floor}")


# --- 4-6: against the champion ------------------------------------------------------------------


def _no_champion(policy: MetricPolicy, y: np.ndarray, chal: np.ndarray, value: float,
                 slices: Mapping[str, np.ndarray] | None) -> _Comparison:
    """The first model: promoted when it passes 1-3 (this finding only supports that);
    slices are reported, with nothing to judge them against."""
    first = _support(f"first model: {policy.name}={value:.4f} clears the floor {policy.floor}")
    return _Comparison(findings=(first,), slices=judge_slices(policy, y, chal, None, slices))


def _against_champion(policy: MetricPolicy, y: np.ndarray, chal: np.ndarray,
                      champ: np.ndarray | None, champion_error: str | None, value: float,
                      base: float | None,
                      slices: Mapping[str, np.ndarray] | None) -> _Comparison:
    """A champion that cannot be compared, or whose metric is undefined, fails closed; else the
    bootstrap gate and the slice guardrails (when the challenger's metric is defined)."""
    if champion_error is not None:
        return _Comparison(findings=(_blocker(
            f"champion could not be evaluated ({champion_error}); keeping it rather than "
            "promoting blind"),))
    if champ is None or base is None or not math.isfinite(base):
        return _Comparison(findings=(_blocker(
            f"champion {policy.name} is undefined on this holdout; keeping it (fail closed)"),))
    if not math.isfinite(value):
        return _Comparison()
    boot = paired_bootstrap(y, chal, champ, policy.name, policy.direction,
                            samples=policy.bootstrap_samples,
                            confidence=policy.bootstrap_confidence,
                            seed=policy.bootstrap_seed, threshold=policy.threshold)
    judged = judge_slices(policy, y, chal, champ, slices)
    return _Comparison(findings=(*_bootstrap_improvement(policy, value, base, boot),
                                 *_slice_guardrails(policy, judged)),
                       bootstrap=boot, slices=judged)


def _bootstrap_improvement(policy: MetricPolicy, value: float, base: float,
                           boot: BootstrapResult) -> list[Finding]:
    """5: superiority, or non-inferiority with an observed improvement."""
    name = policy.name
    pct = f"{policy.bootstrap_confidence:.0%}"
    interval = (f"improvement {boot.improvement:+.4f}, {pct} CI [{boot.improvement_low:+.4f}, "
                f"{boot.improvement_high:+.4f}] over {boot.n_valid} paired resamples")
    head = f"challenger {name}={value:.4f} vs champion {base:.4f}"
    if not math.isfinite(boot.improvement_low):
        return [_blocker(f"{head}: the bootstrap is undefined ({boot.n_valid} of {boot.n_boot} "
                         "resamples usable)")]
    if policy.non_inferiority_margin is None:
        if boot.improvement_low > policy.min_improvement:
            return [_support(f"{head}: {interval}; lower bound > min_improvement "
                             f"{policy.min_improvement}")]
        return [_blocker(f"{head}: {interval}; lower bound not above min_improvement "
                         f"{policy.min_improvement}, the incumbent stays")]
    margin = policy.non_inferiority_margin
    non_inferior = boot.improvement_low > -margin
    better = boot.improvement > policy.min_improvement
    if non_inferior and better:
        return [_support(f"{head}: {interval}; not worse by more than the margin {margin} and "
                         f"better on the holdout by more than {policy.min_improvement}")]
    findings = []
    if not non_inferior:
        findings.append(_blocker(f"{head}: {interval}; may be worse by more than the "
                                 f"non-inferiority margin {margin}"))
    if not better:
        findings.append(_blocker(f"{head}: improvement {boot.improvement:+.4f} on the holdout "
                                 f"is not above min_improvement {policy.min_improvement}, the "
                                 "incumbent stays"))
    return findings


def _slice_guardrails(policy: MetricPolicy, judged: tuple[SliceResult, ...]) -> list[Finding]:
    """6: every violated slice blocks; none violated (of some) supports."""
    bad = [s for s in judged if s.status == "violated"]
    findings = [_blocker(f"slice {s.column}={s.value} ({s.rows} rows): challenger "
                         f"{policy.name}={s.challenger:.4f} vs champion {s.champion:.4f} is "
                         f"worse by {-(s.improvement or 0.0):.4f}, more than the tolerance "
                         f"{policy.slice_tolerance}") for s in bad]
    if judged and not bad:
        n_judged = sum(s.status in ("ok", "violated") for s in judged)
        findings.append(_support(f"no slice guardrail violated ({n_judged} of {len(judged)} "
                                 f"slices had at least {policy.min_slice_rows} rows)"))
    return findings


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
