"""`mlops performance <pipeline>`: realized (and estimated) performance per model version and
window, beside the value each version was promoted at.

Pure: the caller reads the store (windows, decisions, champion) and passes them in; this module
builds a typed view and renders it as text lines or as JSON-ready dicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlops_lib.monitoring.performance_policy import promotion_values
from mlops_lib.spec.metric import METRIC_DIRECTIONS
from mlops_lib.stores.labels import PerformanceWindow

__all__ = ["build_view", "lines", "promotion_values", "to_dict"]

KindFilter = Literal["batch", "rows", "all"]
Verdict = Literal["better", "worse", "same"]


@dataclass(frozen=True)
class WindowView:
    kind: str  # 'batch' (one prediction file) or 'rows' (a rolling window of labelled rows)
    key: str  # the scoring batch id, or the rows' positions 'first-last'
    value: float | None  # realized, on the labelled rows
    ci_low: float | None
    ci_high: float | None
    estimated: float | None  # label-free, on every scored row (binary classification only)
    rows_labelled: int
    rows_scored: int
    coverage: float
    delta: float | None  # realized - promotion value; its meaning depends on `verdict`
    verdict: Verdict | None  # the delta read with the metric's direction
    scored_from: str | None
    scored_to: str | None
    metrics: dict[str, float | None]  # every metric of the window
    prediction_psi: float | None = None  # the scores' PSI against the version's holdout
    ece_shift: float | None = None  # the labelled rows' ECE minus the holdout's


@dataclass(frozen=True)
class VersionView:
    version: str
    role: str  # 'champion' or 'shadow' when its predictions were logged
    current: bool  # the pipeline's champion now
    metric: str
    promoted_value: float | None  # the promote decision's candidate value, if one is recorded
    windows: tuple[WindowView, ...]


@dataclass(frozen=True)
class PerformanceView:
    pipeline: str
    champion: str | None
    versions: tuple[VersionView, ...]
    filtered: bool  # --kind or --version left windows out


def build_view(pipeline: str, windows: Sequence[PerformanceWindow],
               promoted: dict[str, float], champion: str | None, *,
               kind: KindFilter = "all", version: str | None = None) -> PerformanceView:
    """Group `windows` by version and role, in the store's order, keeping those of `kind` and
    `version`; each window gets its delta against the version's promotion value."""
    kept = [w for w in windows if (kind == "all" or w.window_kind == kind)
            and (version is None or w.model_version == version)]
    groups: dict[tuple[str, str], list[PerformanceWindow]] = {}
    for w in kept:
        groups.setdefault((w.model_version, w.role), []).append(w)
    versions = tuple(
        VersionView(version=v, role=role, current=v == champion, metric=group[0].metric,
                    promoted_value=promoted.get(v),
                    windows=tuple(_window(w, promoted.get(v)) for w in group))
        for (v, role), group in groups.items())
    return PerformanceView(pipeline=pipeline, champion=champion, versions=versions,
                           filtered=len(kept) < len(windows))


def _window(w: PerformanceWindow, promoted: float | None) -> WindowView:
    delta = None if w.value is None or promoted is None else w.value - promoted
    return WindowView(kind=w.window_kind, key=w.window_key, value=w.value, ci_low=w.ci_low,
                      ci_high=w.ci_high, estimated=w.estimated, rows_labelled=w.rows_labelled,
                      rows_scored=w.rows_scored, coverage=w.coverage, delta=delta,
                      verdict=_verdict(w.metric, delta), scored_from=w.scored_from,
                      scored_to=w.scored_to, metrics=_metrics(w.metrics_json),
                      prediction_psi=_drift(w.drift_json, "prediction", "psi"),
                      ece_shift=_drift(w.drift_json, "calibration", "shift"))


def _drift(drift_json: str, part: str, name: str) -> float | None:
    try:
        value = (json.loads(drift_json or "{}").get(part) or {}).get(name)
    except (ValueError, AttributeError):
        return None
    return None if value is None else float(value)


def _verdict(metric: str, delta: float | None) -> Verdict | None:
    direction = METRIC_DIRECTIONS.get(metric)
    if delta is None or direction is None:
        return None
    if delta == 0:
        return "same"
    return "better" if (delta > 0) == (direction == "maximize") else "worse"


def _metrics(metrics_json: str) -> dict[str, float | None]:
    try:
        found = json.loads(metrics_json or "{}")
    except ValueError:
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): None if v is None else float(v) for k, v in found.items()}


def to_dict(view: PerformanceView) -> dict[str, Any]:
    """JSON-ready: plain dicts, lists, strings, numbers and None (no tuples)."""
    return {**asdict(view), "versions": [
        {**asdict(v), "windows": [asdict(w) for w in v.windows]} for v in view.versions]}


def lines(view: PerformanceView) -> list[str]:
    """A header per version and role, then one line per window."""
    if not view.versions:
        return [_empty(view)]
    out = []
    for v in view.versions:
        out.append(_header(v))
        width = max(len(w.key) for w in v.windows)
        out += [_line(v.metric, w, width) for w in v.windows]
    return out


def _empty(view: PerformanceView) -> str:
    if view.filtered:
        return (f"{view.pipeline}: no performance window matches the filters "
                "(drop --kind or --version to see them all)")
    return (f"{view.pipeline}: no labelled predictions yet. Windows appear once the champion "
            "has scored a batch (dropped under the spec's scoring prefix) and a label drop for "
            "its rows has been accepted (under the spec's labels prefix, default "
            f"labels/{view.pipeline}/).")


def _header(v: VersionView) -> str:
    if v.role == "champion":
        state = " (current)" if v.current else " (former)"
    else:  # a shadow challenger's predictions; it may have been promoted since
        state = " (champion now)" if v.current else ""
    promoted = ("no promotion decision recorded" if v.promoted_value is None
                else f"promoted at {v.metric} {v.promoted_value:.4f}")
    return f"v{v.version} {v.role}{state} — {promoted}"


def _line(metric: str, w: WindowView, width: int) -> str:
    delta = "-" if w.delta is None else f"{w.delta:+.4f} ({w.verdict})"
    return (f"  {w.kind:<5} {w.key:<{width}}  {metric} {_num(w.value)} "
            f"[{_num(w.ci_low)}, {_num(w.ci_high)}]  estimated {_num(w.estimated)}  "
            f"{w.rows_labelled}/{w.rows_scored} rows ({w.coverage:.1%})  vs promotion {delta}"
            + ("" if w.prediction_psi is None else f"  score PSI {w.prediction_psi:.3f}")
            + ("" if w.ece_shift is None else f"  ECE {w.ece_shift:+.3f} vs holdout"))


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"
