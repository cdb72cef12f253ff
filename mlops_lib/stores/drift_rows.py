"""Per-batch drift summaries shaped from `drift_metrics` rows: pure, no I/O, no pandas.

Here, below the domain layer, because the store returns them (`Store.drift_history`) and the
drift policy (`mlops_lib.monitoring.drift_policy`) judges them; both need the same shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

_INSUFFICIENT = "insufficient_data"  # drift_result.INSUFFICIENT (the domain is above this layer)

@dataclass(frozen=True)
class BatchDrift:
    """One batch's drift, summarised from its `drift_metrics` rows."""

    batch_id: str
    measured_at: str  # UTC ISO: when its statistics were stored (sortable text)
    share_drifted: float  # drifted / compared features, as DriftResult computes it
    n_features: int  # features compared (a statistic was computed)
    psi: dict[str, float | None]
    drifted_features: tuple[str, ...]
    insufficient_features: tuple[str, ...] = ()  # too few rows to test (min_rows_per_test)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted_features": list(self.drifted_features),
                "insufficient_features": list(self.insufficient_features)}


def summarise(rows: Iterable[Mapping[str, Any]]) -> list[BatchDrift]:
    """Per-batch summaries of `drift_metrics` rows, oldest first (by their first row's time).

    A feature without a score (nothing to compare, or insufficient data: `verdict`
    "insufficient_data") counts neither as compared nor drifted, the same rule as
    `DriftResult.share_drifted`, and its PSI is no PSI. Rows without `score` count as compared.
    """
    by_batch: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        by_batch.setdefault(str(row["batch_id"]), []).append(row)
    summaries = [_summary(batch_id, batch_rows) for batch_id, batch_rows in by_batch.items()]
    return sorted(summaries, key=lambda b: (b.measured_at, b.batch_id))


def _summary(batch_id: str, rows: list[Mapping[str, Any]]) -> BatchDrift:
    rows = sorted(rows, key=lambda r: str(r["feature"]))
    insufficient = tuple(str(r["feature"]) for r in rows
                         if r.get("verdict") == _INSUFFICIENT)
    compared = [r for r in rows
                if r.get("score", 0.0) is not None and str(r["feature"]) not in insufficient]
    drifted = tuple(str(r["feature"]) for r in compared if bool(r["drifted"]))
    return BatchDrift(
        batch_id=batch_id,
        measured_at=min(str(r["created_at"]) for r in rows),
        share_drifted=len(drifted) / len(compared) if compared else 0.0,
        n_features=len(compared),
        psi={str(r["feature"]): None if r.get("psi") is None or str(r["feature"]) in
             insufficient else float(r["psi"]) for r in rows},
        drifted_features=drifted, insufficient_features=insufficient)
