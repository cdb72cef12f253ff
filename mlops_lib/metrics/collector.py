"""The service's own metrics, read from the store on every scrape (a custom collector: nothing
is counted in this process, so a restart of the exporter loses nothing and the counters are
totals since the store began)."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mlops_lib.metrics.readings import Count, StoreReadings, read_store
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.drift_rows import summarise
from mlops_lib.stores.store import Store

log = logging.getLogger(__name__)

# Every alert kind the alerting raises: each pipeline's ct_open_alerts has all of them, 0 or
# more, so that a rule sees a drop to 0 rather than a series that vanished.
ALERT_KINDS = ("rejected_batch", "drift_crossing", "performance_drop", "promotion", "rollback",
               "pending_approval", "stale_data", "dag_failed")


@dataclass(frozen=True)
class PipelineInfo:
    """What the exporter needs of a spec."""

    name: str
    freshness_sla_h: float | None
    manual_promotion: bool

    @classmethod
    def of(cls, spec: PipelineSpec) -> PipelineInfo:
        alerts = getattr(spec, "alerts", None)  # the `alerts:` section, where the spec has one
        sla = getattr(alerts, "freshness_sla_h", None)
        return cls(spec.name, None if sla is None else float(sla), spec.promotion == "manual")


class StoreCollector(Collector):
    """`ct_*`: per pipeline, from the store and the specs. A store that cannot be read gives
    `ct_store_up 0` and nothing else; a scrape never fails because of it."""

    def __init__(self, store: Callable[[], Store], pipelines: Callable[[], Sequence[PipelineInfo]],
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._pipelines = pipelines
        self._now = now
        self._was_up = True  # a store that stays down is logged once, not on every scrape

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("ct_store_up", "1 when the exporter could read the project "
                               "store on this scrape, else 0")
        try:
            readings = read_store(self._store())
        except Exception as exc:  # any failure to read is "store down", never a failed scrape
            if self._was_up:
                log.warning("cannot read the store: %s", exc)
            self._was_up = False
            up.add_metric([], 0)
            yield up
            return
        if not self._was_up:
            log.warning("the store answers again")
        self._was_up = True
        up.add_metric([], 1)
        yield up
        try:
            pipelines = list(self._pipelines())
        except Exception as exc:  # a broken spec must not hide the store's metrics
            log.warning("cannot load the pipeline specs: %s", exc)
            pipelines = []
        yield from families(readings, pipelines, self._now())


def families(r: StoreReadings, pipelines: Sequence[PipelineInfo],
             now: datetime) -> Iterator[Metric]:
    """The metric families of one scrape's readings."""
    names = sorted({p.name for p in pipelines} | r.pipelines())
    yield from _batch_families(r, names, now)
    yield from _freshness_sla(pipelines)
    yield from _drift_families(r, names)
    yield _counter("ct_training_runs", "Training runs by the trigger that started them",
                   ["trigger"], ((c.pipeline, (c.label,), c.n) for c in r.training_runs))
    yield _counter("ct_decisions", "Promotion decisions recorded, by outcome", ["outcome"],
                   ((c.pipeline, (c.label,), c.n) for c in r.count("decisions")))
    yield from _champion_families(r, now)
    manual = {p.name for p in pipelines if p.manual_promotion}
    yield _per_pipeline_gauge(
        "ct_pending_approvals", "Registered challengers of manual-promotion pipelines waiting "
        "for a person's approval", names,
        [c for c in r.count("undecided_runs") if c.pipeline in manual])
    yield _per_pipeline_gauge("ct_quarantined_batches", "Rejected batches not accepted since "
                              "(not replayed)", names, r.count("quarantined"))
    opened = {(c.pipeline, c.label): c.n for c in r.count("open_alerts")}
    kinds = sorted(set(ALERT_KINDS) | {k for _, k in opened})
    yield _gauge("ct_open_alerts", "Alerts raised and not resolved, by kind", ["kind"],
                 ((p, (k,), opened.get((p, k), 0)) for p in names for k in kinds))


def _batch_families(r: StoreReadings, names: list[str], now: datetime) -> Iterator[Metric]:
    counts = [(b.pipeline, (b.status, b.reason_code), b.n) for b in r.batches]
    seen = {b.pipeline for b in r.batches if b.status == "accepted"}
    counts += [(p, ("accepted", ""), 0) for p in names if p not in seen]
    yield _counter("ct_batches", "Batches judged, by verdict (accepted, rejected) and reason "
                   "code", ["status", "reason_code"], counts)
    last: dict[str, datetime] = {}
    for b in r.batches:
        if b.status == "accepted":
            at = _parse(b.last_arrived_at)
            last[b.pipeline] = max(at, last.get(b.pipeline, at))
    yield _gauge("ct_last_accepted_batch_timestamp_seconds", "When the newest accepted batch "
                 "arrived (unix time)", [], ((p, (), t.timestamp()) for p, t in last.items()))
    yield _gauge("ct_seconds_since_last_accepted_batch", "Seconds since the newest accepted "
                 "batch arrived", [], ((p, (), max(0.0, (now - t).total_seconds()))
                                       for p, t in last.items()))


def _freshness_sla(pipelines: Sequence[PipelineInfo]) -> Iterator[Metric]:
    yield _gauge("ct_freshness_sla_seconds", "The spec's freshness SLA (alerts.freshness_sla_h)"
                 ": longest allowed time without an accepted batch", [],
                 ((p.name, (), p.freshness_sla_h * 3600) for p in pipelines
                  if p.freshness_sla_h is not None))


def _drift_families(r: StoreReadings, names: list[str]) -> Iterator[Metric]:
    yield _gauge("ct_drift_score", "Drift score per feature of the newest monitored batch",
                 ["feature"], ((d.pipeline, (d.feature,), d.score) for d in r.drift
                               if d.score is not None))
    by_pipeline: dict[str, list[dict[str, object]]] = {}
    for d in r.drift:
        by_pipeline.setdefault(d.pipeline, []).append(
            {"batch_id": d.batch_id, "feature": d.feature, "score": d.score, "psi": d.psi,
             "drifted": d.drifted, "verdict": d.verdict, "created_at": d.created_at})
    yield _gauge("ct_drift_drifted_share", "Share of the drift-measured features that drifted "
                 "in the newest monitored batch", [],
                 ((p, (), summarise(rows)[-1].share_drifted) for p, rows in by_pipeline.items()))
    yield _counter("ct_drift_crossings", "Crossings of the spec's drift policy", [],
                   _with_zeros(r.count("drift_crossings"), names))


def _champion_families(r: StoreReadings, now: datetime) -> Iterator[Metric]:
    yield _gauge("ct_champion_version", "The champion's model version in the registry", [],
                 ((c.pipeline, (), _version(c.model_version)) for c in r.champions))
    yield _gauge("ct_champion_age_seconds", "Seconds since the champion became champion", [],
                 ((c.pipeline, (), max(0.0, (now - _parse(c.since)).total_seconds()))
                  for c in r.champions))
    values = [(c.pipeline, (c.holdout_metric, "holdout"), c.holdout_value)
              for c in r.champions if c.holdout_metric and c.holdout_value is not None]
    for p in r.performance:
        values += [(p.pipeline, (p.metric, source), value) for source, value in
                   (("realized", p.realized), ("estimated", p.estimated)) if value is not None]
    yield _gauge("ct_champion_metric", "The champion's metric: on the holdout when it was "
                 "judged, realized on labelled rows, estimated without labels",
                 ["metric", "source"], values)


Row = tuple[str, tuple[str, ...], float | int | None]


def _counter(name: str, doc: str, labels: list[str], rows: Iterable[Row]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["pipeline", *labels])
    for pipeline, values, n in rows:
        if n is not None:
            family.add_metric([pipeline, *values], n)
    return family


def _gauge(name: str, doc: str, labels: list[str], rows: Iterable[Row]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=["pipeline", *labels])
    for pipeline, values, v in rows:
        if v is not None and not math.isnan(v):
            family.add_metric([pipeline, *values], v)
    return family


def _per_pipeline_gauge(name: str, doc: str, names: list[str], counts: list[Count]) -> Metric:
    return _gauge(name, doc, [], _with_zeros(counts, names))


def _with_zeros(counts: list[Count], names: list[str]) -> list[Row]:
    found = {c.pipeline: c.n for c in counts}
    return [(p, (), found.get(p, 0)) for p in sorted(set(names) | set(found))]


def _parse(iso: str) -> datetime:
    at = datetime.fromisoformat(iso)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _version(version: str) -> float:
    try:
        return float(version)
    except ValueError:
        return math.nan  # not a registry version number: left out
