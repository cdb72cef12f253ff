"""When realized performance asks for a retrain: the spec's `PerformancePolicy` applied to the
champion's stored windows (`performance_windows`).

Pure (no I/O): the labels DAG's policy task and the unit tests take the same decision.

- The *limit* is the value beyond which the champion no longer does its job: its holdout
  metric at promotion moved by `max_drop` against the metric's direction, or `floor`, the
  stricter of the two.
- A window *breaches* when its whole bootstrap interval lies beyond the limit: for a metric to
  maximize its upper bound is below it, for one to minimize its lower bound is above it.
  A noisy window with an interval straddling the limit does not fire.
- The policy is *crossed* when the newest `consecutive_windows` judged windows (those with at
  least `min_labelled_rows` labels) all breach and no crossing happened within the cooldown.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mlops_lib.monitoring.drift_policy import parse_utc
from mlops_lib.spec import PerformancePolicy
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.records import DecisionRecord


@dataclass(frozen=True)
class Baseline:
    """What the champion promised: its version and its holdout metric at promotion."""

    model_version: str
    metric: str
    direction: str  # maximize | minimize
    promoted_value: float | None


@dataclass(frozen=True)
class PerformanceVerdict:
    """The policy's answer: crossed or not, a sentence saying why, and the numbers behind it."""

    crossed: bool
    reason: str
    model_version: str | None = None
    window_kind: str = "batch"
    window_keys: tuple[str, ...] = ()  # the breaching windows, oldest first
    evidence: dict[str, Any] = field(default_factory=dict)
    alerts: tuple[str, ...] = ()       # estimate warnings (alert_on_estimate), never a retrain

    @property
    def newest_window(self) -> str | None:
        return self.window_keys[-1] if self.window_keys else None


def promotion_values(decisions: Iterable[DecisionRecord],
                     metric: str | None = None) -> dict[str, float]:
    """Version -> the metric value its promote decision recorded (the newest wins); with
    `metric`, only decisions on that metric (a value of another metric is no baseline)."""
    return {d.candidate_version: d.candidate_value for d in decisions
            if d.promote and (metric is None or d.metric == metric)}


def limit_of(policy: PerformancePolicy, baseline: Baseline) -> float | None:
    """The metric value beyond which a window breaches; None when nothing sets one."""
    maximize = baseline.direction == "maximize"
    limits = [] if policy.floor is None else [float(policy.floor)]
    if policy.max_drop is not None and baseline.promoted_value is not None:
        drop = float(policy.max_drop)
        limits.append(baseline.promoted_value - drop if maximize
                      else baseline.promoted_value + drop)
    if not limits:
        return None
    return max(limits) if maximize else min(limits)


def breaches(window: PerformanceWindow, limit: float, direction: str) -> bool:
    """Whether the window's whole interval (its value when it has none) is beyond `limit`."""
    if window.value is None:
        return False
    if direction == "maximize":
        return (window.ci_high if window.ci_high is not None else window.value) < limit
    return (window.ci_low if window.ci_low is not None else window.value) > limit


def champion_windows(windows: Sequence[PerformanceWindow], policy: PerformancePolicy,
                     version: str) -> list[PerformanceWindow]:
    """The champion's windows of the policy's kind that carry labels, oldest first."""
    mine = [w for w in windows if w.model_version == version and w.role == "champion"
            and w.window_kind == policy.window and w.value is not None]
    return sorted(mine, key=_order)


def evaluate(windows: Sequence[PerformanceWindow], policy: PerformancePolicy,
             baseline: Baseline, *, last_crossing_at: str | None,
             now: datetime) -> PerformanceVerdict:
    """Whether the champion's newest windows cross `policy` at `now`."""
    limit = limit_of(policy, baseline)
    evidence: dict[str, Any] = {"policy": asdict(policy), "baseline": asdict(baseline),
                                "limit": limit}
    alerts = estimate_alerts(windows, policy, baseline, limit)
    verdict = _judge(champion_windows(windows, policy, baseline.model_version), policy,
                     baseline, limit, evidence)
    if verdict.crossed:
        until = _cooldown_until(last_crossing_at, policy)
        if until is not None and now < until:
            evidence["cooldown_until"] = until.isoformat()
            verdict = PerformanceVerdict(
                False, f"Cooldown until {until.isoformat()} (last performance retrain "
                       f"announced at {last_crossing_at}): {verdict.reason}",
                verdict.model_version, verdict.window_kind, verdict.window_keys, evidence)
    return PerformanceVerdict(verdict.crossed, verdict.reason, baseline.model_version,
                              policy.window, verdict.window_keys, evidence, alerts)


def _judge(mine: list[PerformanceWindow], policy: PerformancePolicy, baseline: Baseline,
           limit: float | None, evidence: dict[str, Any]) -> PerformanceVerdict:
    version = baseline.model_version
    if limit is None:
        return PerformanceVerdict(False, f"v{version} has no promotion evidence for "
                                         f"{baseline.metric} and the policy has no floor: "
                                         "nothing to judge against")
    judged = [w for w in mine if w.rows_labelled >= policy.min_labelled_rows]
    if not judged:
        most = max((w.rows_labelled for w in mine), default=0)
        return PerformanceVerdict(False, f"no {policy.window} window of v{version} has "
                                         f"{policy.min_labelled_rows} labelled rows yet (most: "
                                         f"{most})")
    need = policy.consecutive_windows
    newest = judged[-need:]
    evidence["windows"] = [_window_evidence(w, limit, baseline.direction) for w in newest]
    streak = 0
    for w in reversed(newest):
        if not breaches(w, limit, baseline.direction):
            break
        streak += 1
    last = newest[-1]
    if streak == 0:
        return PerformanceVerdict(False, f"within the policy: {describe_window(last, baseline)}"
                                         f" (limit {limit:.4g})")
    if streak < need:
        return PerformanceVerdict(False, f"only {streak} of {need} consecutive windows breach "
                                         f"(newest: {describe_window(last, baseline)}, limit "
                                         f"{limit:.4g})")
    keys = tuple(w.window_key for w in newest)
    return PerformanceVerdict(True, f"fired on performance: {describe_window(last, baseline)}"
                                    f" (limit {limit:.4g}"
                                    f"{f', {need} windows in a row' if need > 1 else ''})",
                              window_keys=keys)


def describe_window(w: PerformanceWindow, baseline: Baseline) -> str:
    """`roc_auc 0.71 [0.69, 0.73] over 5,200 labelled rows vs 0.86 at promotion (v3)`."""
    interval = ("" if w.ci_low is None or w.ci_high is None
                else f" [{w.ci_low:.4g}, {w.ci_high:.4g}]")
    promised = ("no promotion value" if baseline.promoted_value is None
                else f"{baseline.promoted_value:.4g} at promotion")
    return (f"{w.metric} {w.value:.4g}{interval} over {w.rows_labelled:,} labelled rows "
            f"({w.window_kind} {w.window_key}) vs {promised} (v{baseline.model_version})")


def estimate_alerts(windows: Sequence[PerformanceWindow], policy: PerformancePolicy,
                    baseline: Baseline, limit: float | None) -> tuple[str, ...]:
    """alert_on_estimate: the champion's batch windows whose label-free estimate is beyond the
    limit (the newest three), as warnings."""
    if not policy.alert_on_estimate or limit is None:
        return ()
    out = []
    for w in sorted(windows, key=_order):
        if (w.model_version != baseline.model_version or w.role != "champion"
                or w.window_kind != "batch" or w.estimated is None):
            continue
        beyond = (w.estimated < limit if baseline.direction == "maximize"
                  else w.estimated > limit)
        if beyond:
            out.append(f"estimated {w.metric} {w.estimated:.4g} on batch {w.window_key} is "
                       f"beyond the limit {limit:.4g} (v{baseline.model_version}; "
                       f"{w.rows_labelled} of {w.rows_scored} rows labelled so far)")
    return tuple(out[-3:])


def _window_evidence(w: PerformanceWindow, limit: float, direction: str) -> dict[str, Any]:
    return {"window_kind": w.window_kind, "window_key": w.window_key, "metric": w.metric,
            "value": w.value, "ci": [w.ci_low, w.ci_high], "rows_labelled": w.rows_labelled,
            "rows_scored": w.rows_scored, "estimated": w.estimated,
            "scored": [w.scored_from, w.scored_to], "breaches": breaches(w, limit, direction)}


def _order(w: PerformanceWindow) -> tuple[str, int, str]:
    """Scoring time, then (rolling windows) the first row's position, then the key."""
    first = w.window_key.split("-", 1)[0]
    position = int(first) if w.window_kind == "rows" and first.isdigit() else 0
    return (w.scored_from or "", position, w.window_key)


def _cooldown_until(last_crossing_at: str | None, policy: PerformancePolicy) -> datetime | None:
    if not last_crossing_at or policy.cooldown_minutes <= 0:
        return None
    return parse_utc(last_crossing_at) + timedelta(minutes=policy.cooldown_minutes)
