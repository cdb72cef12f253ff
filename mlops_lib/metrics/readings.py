"""What the exporter reads from the store on a scrape: a few grouped queries
(`sql/queries/metrics_*.sql`), never whole tables, as typed readings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from mlops_lib.stores.database import SQL_DIR, query, require_schema
from mlops_lib.stores.store import Store


@dataclass(frozen=True)
class Count:
    pipeline: str
    label: str  # the group: a status, reason code, trigger type, outcome or alert kind
    n: int


@dataclass(frozen=True)
class BatchCount:
    pipeline: str
    status: str  # accepted | rejected
    reason_code: str
    n: int
    last_arrived_at: str


@dataclass(frozen=True)
class DriftReading:
    pipeline: str
    batch_id: str
    feature: str
    score: float | None
    psi: float | None
    drifted: bool
    verdict: str | None
    created_at: str


@dataclass(frozen=True)
class ChampionReading:
    pipeline: str
    model_version: str
    since: str  # when it became champion (UTC ISO)
    holdout_metric: str | None  # the metric its deciding run judged it on
    holdout_value: float | None


@dataclass(frozen=True)
class PerformanceReading:
    """The champion's newest window as champion: realized (labelled rows) and estimated."""

    pipeline: str
    metric: str
    realized: float | None
    estimated: float | None


@dataclass(frozen=True)
class StoreReadings:
    batches: list[BatchCount] = field(default_factory=list)
    drift: list[DriftReading] = field(default_factory=list)
    training_runs: list[Count] = field(default_factory=list)
    counts: dict[str, list[Count]] = field(default_factory=dict)  # see metrics_counts.sql
    champions: list[ChampionReading] = field(default_factory=list)
    performance: list[PerformanceReading] = field(default_factory=list)

    def count(self, what: str) -> list[Count]:
        return self.counts.get(what, [])

    def pipelines(self) -> set[str]:
        found = {b.pipeline for b in self.batches} | {c.pipeline for c in self.champions}
        found |= {r.pipeline for r in self.training_runs} | {d.pipeline for d in self.drift}
        return found | {c.pipeline for counts in self.counts.values() for c in counts}


def read_store(store: Store) -> StoreReadings:
    """Every reading of one scrape, on one connection; raises when the store cannot answer."""
    require_schema(store.url, store.engine)
    with store.engine.connect() as conn:
        def rows(name: str) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in conn.execute(text(_dialect_query(
                name, conn.dialect.name)))]

        counts: dict[str, list[Count]] = {}
        for r in rows("metrics_counts"):
            counts.setdefault(str(r["what"]), []).append(
                Count(str(r["pipeline"]), str(r["label"] or ""), int(r["n"])))
        return StoreReadings(
            batches=[BatchCount(str(r["pipeline"]), str(r["status"]), str(r["reason_code"] or ""),
                                int(r["n"]), str(r["last_arrived_at"]))
                     for r in rows("metrics_batches")],
            drift=[DriftReading(str(r["pipeline"]), str(r["batch_id"]), str(r["feature"]),
                                _float(r["score"]), _float(r["psi"]), bool(r["drifted"]),
                                r["verdict"], str(r["created_at"]))
                   for r in rows("metrics_drift_last_batch")],
            training_runs=[Count(str(r["pipeline"]), str(r["trigger_type"] or "unknown"),
                                 int(r["n"])) for r in rows("metrics_training_runs")],
            counts=counts,
            champions=list(_champions(rows("metrics_champions"))),
            performance=list(_performance(rows("metrics_champion_performance"))))


def _dialect_query(name: str, dialect: str) -> str:
    """The query's own file for this database (`<name>.postgresql.sql`), else the portable one."""
    own = SQL_DIR / "queries" / f"{name}.{dialect}.sql"
    return own.read_text() if own.exists() else query(name)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _champions(rows: list[dict[str, Any]]) -> Iterator[ChampionReading]:
    """One reading per champion: the holdout of its newest promote decision, else of the
    newest decision that judged its version (a manual promotion has none of its own)."""
    by_pipeline: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_pipeline.setdefault(str(r["pipeline"]), []).append(r)
    for pipeline, judged in by_pipeline.items():
        decided = [r for r in judged if r["decision"] is not None]
        promoted = [r for r in decided if r["decision"] == "promote"]
        best = (promoted or decided)[-1] if decided else None
        first = judged[0]
        yield ChampionReading(
            pipeline, str(first["model_version"]), str(first["updated_at"]),
            None if best is None else str(best["metric"]),
            None if best is None else _float(best["candidate_value"]))


def _performance(rows: list[dict[str, Any]]) -> Iterator[PerformanceReading]:
    """Per pipeline the newest rolling window of labelled rows, else the newest batch window."""
    newest: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:  # oldest first: the last one of each kind stays
        newest.setdefault(str(r["pipeline"]), {})[str(r["window_kind"])] = r
    for pipeline, kinds in newest.items():
        w = kinds.get("rows") or next(iter(kinds.values()))
        yield PerformanceReading(pipeline, str(w["metric"]), _float(w["value"]),
                                 _float(w["estimated"]))
