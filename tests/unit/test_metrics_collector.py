"""The exporter's `ct_*` metrics: what a scrape says of a store filled through `Store`'s own
writes (SQLite, and PostgreSQL where CT_TEST_PG names a server), and of a store it cannot read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mlops_lib.metrics.collector import PipelineInfo, StoreCollector
from mlops_lib.monitoring.drift_policy import DriftVerdict
from mlops_lib.monitoring.drift_result import DriftResult, FeatureDrift
from mlops_lib.stores.labels import PerformanceWindow
from mlops_lib.stores.store import AlertRecord, DecisionRecord, Store

pytestmark = pytest.mark.unit

P, MANUAL, QUIET = "credit", "approved_by_hand", "quiet"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(collector: StoreCollector) -> Samples:
    """The samples Prometheus would read: through the text format, as a scrape gets them."""
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def feature(name: str, score: float | None, drifted: bool, verdict: str) -> FeatureDrift:
    return FeatureDrift(feature=name, kind="numeric", method="wasserstein", threshold=0.1,
                        score=score, drifted=drifted, psi=score, wasserstein=score, js=None,
                        unseen_share=None, null_share=0.0, reference_null_share=0.0,
                        n_reference=500, n_current=500 if score is not None else 3,
                        n_distinct_reference=400, n_distinct_current=400, few_values=False,
                        verdict=verdict)  # type: ignore[arg-type]


def drift(*features: FeatureDrift) -> DriftResult:
    return DriftResult(features=features, method="auto", threshold=None, n_reference_rows=500,
                       n_current_rows=500)


def decision(run: str, version: str, outcome: str, value: float) -> DecisionRecord:
    return DecisionRecord(pipeline=P, dag_run_id=run, candidate_version=version,
                          baseline_version=None, metric="roc_auc", candidate_value=value,
                          baseline_value=None, decision=outcome, reason="test", data_rev=None,
                          details={})


def window(key: str, kind: str, scored_to: str, realized: float,
           estimated: float | None) -> PerformanceWindow:
    return PerformanceWindow(
        pipeline=P, model_version="1", role="champion", window_kind=kind, window_key=key,
        metric="roc_auc", value=realized, ci_low=None, ci_high=None, estimated=estimated,
        rows_labelled=100, rows_scored=120, metrics_json="{}", reliability_json="{}",
        scored_from=scored_to, scored_to=scored_to, computed_at=scored_to)


def fill(store: Store) -> None:
    """Three batches (two accepted, one quarantined), two training runs of two triggers, a
    promote and a keep, a drift measurement and crossing, performance windows, alerts, and a
    challenger of a manual-promotion pipeline waiting for its approval."""
    for batch in ("b1", "b2", "bad"):
        store.claim_batch(P, batch, f"fp-{batch}", [], f"ingest__{batch}")
    store.accept_batch(P, "b1", 100, "s3://staged/b1")
    store.accept_batch(P, "b2", 100, "s3://staged/b2")
    store.quarantine_batch(P, "bad", "SCHEMA_MISMATCH", "a column is missing",
                           "s3://quarantine/bad", None)
    for run, cause, version in (("run-1", "arrival", "1"), ("run-2", "drift", "2")):
        store.start_training_run(P, run, "b1", {"type": cause})
        store.update_training_run(P, run, model_version=version)
    store.record_decision_and_move(decision("run-1", "1", "promote", 0.91), expected_epoch=0)
    store.record_decision_and_move(decision("run-2", "2", "keep", 0.89), expected_epoch=1)
    store.record_drift(P, "b1", "monitor-1", drift(feature("income", 0.01, False,
                                                           "not_drifted")))
    store.record_drift(P, "b2", "monitor-2", drift(
        feature("income", 0.3, True, "drifted"), feature("age", 0.02, False, "not_drifted"),
        feature("tiny", None, False, "insufficient_data")))
    store.record_drift_crossing(P, "b2", "monitor-2", DriftVerdict(True, "income drifted",
                                                                   ("b2",)))
    store.record_performance(P, [window("0-99", "rows", "2026-01-01T00:00:00+00:00", 0.80, 0.82),
                                 window("100-199", "rows", "2026-01-02T00:00:00+00:00", 0.85,
                                        0.86),
                                 window("s-1", "batch", "2026-01-03T00:00:00+00:00", 0.5,
                                        None)])
    for kind, subject in (("rejected_batch", "bad"), ("drift_crossing", "b2")):
        store.raise_alert(AlertRecord(P, kind, subject, "ticket", "s", "r"))
    store.raise_alert(AlertRecord(P, "promotion", "run-1", "info", "s", "r"), resolved=True)
    store.start_training_run(MANUAL, "run-m", "-", {"type": "manual"})
    store.update_training_run(MANUAL, "run-m", model_version="4")


PIPELINES = [PipelineInfo(P, 24.0, manual_promotion=False),
             PipelineInfo(MANUAL, None, manual_promotion=True),
             PipelineInfo(QUIET, None, manual_promotion=False)]


def test_a_scrape_reports_what_the_store_recorded(store: Store) -> None:
    fill(store)
    champion = store.get_champion(P)
    assert champion is not None
    now = datetime.fromisoformat(champion.updated_at) + timedelta(minutes=10)

    s = scrape(StoreCollector(lambda: store, lambda: PIPELINES, now=lambda: now))

    assert value(s, "ct_store_up") == 1
    assert value(s, "ct_batches_total", pipeline=P, status="accepted", reason_code="") == 2
    assert value(s, "ct_batches_total", pipeline=P, status="rejected",
                 reason_code="SCHEMA_MISMATCH") == 1
    b2 = store.get_batch(P, "b2")
    assert b2 is not None
    arrived = datetime.fromisoformat(b2.arrived_at)
    assert value(s, "ct_last_accepted_batch_timestamp_seconds",
                 pipeline=P) == pytest.approx(arrived.timestamp())
    assert value(s, "ct_seconds_since_last_accepted_batch",
                 pipeline=P) == pytest.approx((now - arrived).total_seconds())
    assert value(s, "ct_freshness_sla_seconds", pipeline=P) == 24 * 3600
    assert value(s, "ct_freshness_sla_seconds", pipeline=MANUAL) is None  # no SLA: absent
    # drift: the newest batch's features; the untested one has no score and no share in it
    assert value(s, "ct_drift_score", pipeline=P, feature="income") == pytest.approx(0.3)
    assert value(s, "ct_drift_score", pipeline=P, feature="age") == pytest.approx(0.02)
    assert value(s, "ct_drift_score", pipeline=P, feature="tiny") is None
    assert value(s, "ct_drift_drifted_share", pipeline=P) == pytest.approx(0.5)
    assert value(s, "ct_drift_crossings_total", pipeline=P) == 1
    assert value(s, "ct_training_runs_total", pipeline=P, trigger="arrival") == 1
    assert value(s, "ct_training_runs_total", pipeline=P, trigger="drift") == 1
    assert value(s, "ct_decisions_total", pipeline=P, outcome="promote") == 1
    assert value(s, "ct_decisions_total", pipeline=P, outcome="keep") == 1
    assert value(s, "ct_champion_version", pipeline=P) == 1
    assert value(s, "ct_champion_age_seconds", pipeline=P) == pytest.approx(600)
    # the holdout value it was promoted at, and the newest rolling window's realized/estimated
    assert value(s, "ct_champion_metric", pipeline=P, metric="roc_auc",
                 source="holdout") == pytest.approx(0.91)
    assert value(s, "ct_champion_metric", pipeline=P, metric="roc_auc",
                 source="realized") == pytest.approx(0.85)
    assert value(s, "ct_champion_metric", pipeline=P, metric="roc_auc",
                 source="estimated") == pytest.approx(0.86)
    assert value(s, "ct_quarantined_batches", pipeline=P) == 1
    assert value(s, "ct_open_alerts", pipeline=P, kind="rejected_batch") == 1
    assert value(s, "ct_open_alerts", pipeline=P, kind="drift_crossing") == 1
    assert value(s, "ct_open_alerts", pipeline=P, kind="promotion") == 0  # raised resolved
    # only a manual-promotion pipeline's undecided challenger waits for a person
    assert value(s, "ct_pending_approvals", pipeline=MANUAL) == 1
    assert value(s, "ct_pending_approvals", pipeline=P) == 0


def test_a_pipeline_without_data_has_zeros_not_gaps(store: Store) -> None:
    s = scrape(StoreCollector(lambda: store, lambda: PIPELINES))

    assert value(s, "ct_batches_total", pipeline=QUIET, status="accepted", reason_code="") == 0
    for name in ("ct_drift_crossings_total", "ct_pending_approvals", "ct_quarantined_batches"):
        assert value(s, name, pipeline=QUIET) == 0, name
    assert value(s, "ct_open_alerts", pipeline=QUIET, kind="stale_data") == 0
    # what has no value yet is absent, not 0: a champion version 0 would be a lie
    assert value(s, "ct_champion_version", pipeline=QUIET) is None
    assert value(s, "ct_seconds_since_last_accepted_batch", pipeline=QUIET) is None


def test_after_a_rollback_the_champion_metric_is_its_own_holdout(store: Store) -> None:
    """A rollback makes v1 champion again: its metric is v1's promotion value, not v2's."""
    store.record_decision_and_move(decision("run-1", "1", "promote", 0.91), expected_epoch=0)
    store.record_decision_and_move(decision("run-2", "2", "promote", 0.95), expected_epoch=1)
    store.rollback_champion(P, to=None, actor="oncall", reason="test")

    s = scrape(StoreCollector(lambda: store, lambda: []))

    assert value(s, "ct_champion_version", pipeline=P) == 1
    assert value(s, "ct_champion_metric", pipeline=P, metric="roc_auc",
                 source="holdout") == pytest.approx(0.91)
    assert value(s, "ct_decisions_total", pipeline=P, outcome="promote") == 2


def broken(reason: str) -> Any:
    def store() -> Store:
        raise ConnectionError(reason)
    return store


@pytest.mark.parametrize("store_factory", [
    pytest.param(lambda tmp: (lambda: Store(f"sqlite:///{tmp}/never_upgraded.db")),
                 id="no-schema"),
    pytest.param(lambda tmp: (lambda: Store("postgresql+psycopg://ct@127.0.0.1:1/store")),
                 id="unreachable"),
    pytest.param(lambda tmp: broken("no route"), id="raises")])
def test_a_store_that_cannot_answer_is_down_not_an_error(store_factory: Any, tmp_path: Any,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    s = scrape(StoreCollector(store_factory(tmp_path), lambda: PIPELINES))

    assert s == {("ct_store_up", frozenset()): 0}
    assert "cannot read the store" in caplog.text


def test_a_broken_spec_folder_still_leaves_the_store_metrics(store: Store) -> None:
    store.claim_batch(P, "b1", "fp", [], "ingest__b1")
    store.accept_batch(P, "b1", 1, "s3://x")

    def specs() -> list[PipelineInfo]:
        raise ValueError("duplicate pipeline names")

    s = scrape(StoreCollector(lambda: store, specs))

    assert value(s, "ct_store_up") == 1
    assert value(s, "ct_batches_total", pipeline=P, status="accepted", reason_code="") == 1


def test_the_spec_gives_the_sla_and_the_promotion_mode() -> None:
    with_alerts = SimpleNamespace(name="a", promotion="manual",
                                  alerts=SimpleNamespace(freshness_sla_h=6))
    without = SimpleNamespace(name="b", promotion="auto")  # a spec from before `alerts:`

    assert PipelineInfo.of(with_alerts) == PipelineInfo("a", 6.0, True)  # type: ignore[arg-type]
    assert PipelineInfo.of(without) == PipelineInfo("b", None, False)  # type: ignore[arg-type]

