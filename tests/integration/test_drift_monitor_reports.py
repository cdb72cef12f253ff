"""The drift monitor's step on a local S3 server (moto) and a migrated store: every batch it
measures gets its Evidently drift report under `reports/<pipeline>/drift/<batch>/`, recorded in
the store and listed on the report index; the report's verdicts are the monitor's; a re-run
changes nothing; a report that fails on its data leaves the monitor's verdict standing."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_lib.monitoring import drift
from mlops_lib.monitoring.drift_reference import META
from mlops_lib.reports.index import drift_report_key, drift_report_run, index_key
from mlops_lib.services import Services, scratch_path
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import drift as steps
from mlops_lib.steps import drift_reference as references
from mlops_lib.steps.records import ChampionSnapshot, Decision, DriftReferenceResult
from tests.support import fresh_buckets, migrated
from tests.unit.test_drift_sample_size import draw, make_spec

pytestmark = pytest.mark.integration

RUN = "asset_triggered__2026-12-06T10:00:00+00:00"
CHAMPION = ChampionSnapshot(version="3", data_rev="0123456789abcdef", epoch=1, dag_run_id=None)


@pytest.fixture
def monitor(s3: Any, s3_endpoint: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Monitor:
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_ARTIFACT_BUCKET": artifacts,
        "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": migrated(f"sqlite:///{tmp_path / 'store.db'}")}))
    svc.s3 = s3  # type: ignore[misc] - a cached_property: the moto server's client
    spec = make_spec()
    reference = draw(np.random.default_rng(1), 3000)
    # The champion and its training data, as the training DAG would have left them.
    monkeypatch.setattr(steps, "champion_snapshot", lambda svc, spec: CHAMPION)
    data = tmp_path / "champion_training.parquet"
    reference.to_parquet(data, index=False)
    reads: list[str] = []

    @contextmanager
    def versioned_file(svc: Services, spec: PipelineSpec, version: Any,
                       dag_run_id: str) -> Iterator[Path]:
        reads.append(dag_run_id)
        yield data

    monkeypatch.setattr(references, "versioned_file", versioned_file)
    monkeypatch.setattr(svc.versioner, "at", lambda pipeline, rev: rev)
    return Monitor(svc, spec, landing, pd.read_parquet(data), reads)


@dataclass
class Monitor:
    svc: Services
    spec: PipelineSpec
    landing: str
    training: pd.DataFrame  # the champion's training data
    reads: list[str]  # the runs that read it


def accepted(svc: Services, spec: PipelineSpec, bucket: str, batch_id: str,
             frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    key = f"staged/{spec.name}/{batch_id}/batch.parquet"
    svc.s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
    svc.store.claim_batch(spec.name, batch_id, f"fp-{batch_id}", [], "ingest-1")
    svc.store.accept_batch(spec.name, batch_id, len(frame), f"s3://{bucket}/{key}")


def body(svc: Services, key: str) -> tuple[str, str]:
    got = svc.s3.get_object(Bucket=svc.settings.artifact_bucket, Key=key)
    return got["Body"].read().decode("utf-8"), got["ContentType"]


def test_each_measured_batch_gets_its_report(monitor: Monitor) -> None:
    svc, spec, landing = monitor.svc, monitor.spec, monitor.landing
    rng = np.random.default_rng(2)
    batches = {"dt=2026-12-01": draw(rng, 2000), "dt=2026-12-02": draw(rng, 150, shift=1.0),
               "dt=2026-12-03": draw(rng, 30)}
    for batch_id, frame in batches.items():
        accepted(svc, spec, landing, batch_id, frame)

    measured = steps.measure_drift(svc, spec, list(batches), RUN)

    assert measured.measured == tuple(batches) and measured.champion == "3"
    assert [r.batch_id for r in measured.reports] == list(batches)
    bucket = svc.settings.artifact_bucket
    for report in measured.reports:
        rows = svc.store.reports(spec.name, drift_report_run(report.batch_id))
        assert {(r["kind"], r["format"], r["uri"]) for r in rows} == {
            ("batch_drift", fmt,
             f"s3://{bucket}/{drift_report_key(spec.name, report.batch_id, fmt)}")
            for fmt in ("html", "json")}
        page, content_type = body(svc, drift_report_key(spec.name, report.batch_id, "html"))
        assert content_type.startswith("text/html")
        assert f"data drift of batch {report.batch_id}" in page
        assert "the training data of champion v3" in page
        assert report.url.endswith(f"/{bucket}/reports/{spec.name}/drift/"
                                   f"{report.batch_id.replace('=', '%3D')}/batch_drift.html")
        stored = svc.store.drift_metrics(spec.name, report.batch_id)
        assert set(report.monitor_drifted) == {r["feature"] for r in stored if r["drifted"]}
    calm, shifted, tiny = measured.reports
    assert calm.monitor_drifted == calm.evidently_drifted == ()
    assert set(shifted.evidently_drifted) == set(shifted.monitor_drifted) != set()
    assert measured.url == tiny.url
    # 30 rows: insufficient data in the store, and said so in the report
    assert {r["verdict"] for r in svc.store.drift_metrics(spec.name, "dt=2026-12-03")} == {
        "insufficient_data"}
    assert "insufficient data for the drift monitor" in body(
        svc, drift_report_key(spec.name, "dt=2026-12-03", "html"))[0]
    assert all(r["noise_floor"] is not None and r["verdict"] in ("drifted", "not_drifted")
               for r in svc.store.drift_metrics(spec.name, "dt=2026-12-01"))
    index, _ = body(svc, index_key(spec.name))
    assert "Monitored batches" in index and "drift/dt%3D2026-12-02/batch_drift.html" in index

    # A re-run (or a retry) finds every batch measured: nothing is rebuilt or rewritten.
    again = steps.measure_drift(svc, spec, list(batches), "manual__again")
    assert again.measured == tuple(batches) and again.reports == ()
    assert len(svc.store.reports(spec.name, drift_report_run("dt=2026-12-01"))) == 2


def test_a_report_that_fails_on_its_data_does_not_fail_the_monitor(
        monitor: Monitor, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, spec, landing = monitor.svc, monitor.spec, monitor.landing
    accepted(svc, spec, landing, "b-odd", draw(np.random.default_rng(3), 400, shift=1.0))

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("Evidently cannot read this column")

    monkeypatch.setattr("mlops_lib.reports.batch_drift.build_batch_drift", broken)
    measured = steps.measure_drift(svc, spec, ["b-odd"], f"run-{uuid.uuid4().hex[:6]}")

    [report] = measured.reports
    assert report.reports == {} and report.url == "" and measured.url == ""
    assert report.skipped == ("batch_drift: not built: ValueError: Evidently cannot read "
                              "this column",)
    assert report.monitor_drifted  # the verdict stands, and is stored
    assert svc.store.drift_metrics(spec.name, "b-odd")
    assert svc.store.reports(spec.name, drift_report_run("b-odd")) == []


def test_the_monitor_reads_the_champions_reference_not_its_training_data(
        monitor: Monitor) -> None:
    svc, spec, landing = monitor.svc, monitor.spec, monitor.landing
    rng = np.random.default_rng(4)
    first, second = draw(rng, 800, shift=0.5), draw(rng, 600)
    accepted(svc, spec, landing, "b-1", first)
    accepted(svc, spec, landing, "b-2", second)

    steps.measure_drift(svc, spec, ["b-1"], "run-1")  # no reference yet: built, uploaded
    prefix = references.reference_prefix(spec, CHAMPION.data_rev or "")
    keys = {o["Key"] for o in svc.s3.list_objects_v2(
        Bucket=svc.settings.artifact_bucket, Prefix=prefix)["Contents"]}
    assert prefix + META in keys and len(keys) == len(drift.compared_kinds(spec)) + 2
    steps.measure_drift(svc, spec, ["b-2"], "run-2")

    assert monitor.reads == ["run-1"]  # the second run read the stored reference only
    for batch_id, frame in (("b-1", first), ("b-2", second)):
        expected = drift.compute(monitor.training, frame, spec)
        stored = {r["feature"]: r for r in svc.store.drift_metrics(spec.name, batch_id)}
        for f in expected.features:
            assert stored[f.feature]["verdict"] == f.verdict
            assert stored[f.feature]["score"] == pytest.approx(f.score, rel=1e-9)


def promoted(version: str = "3", decision: str = "promote") -> Decision:
    return Decision(decision=decision, reason="better", metric="roc_auc",
                    candidate_version=version, candidate_value=0.9, baseline_version="2",
                    baseline_value=0.8, moved=decision == "promote")


def test_a_promotion_publishes_the_new_champions_reference_once(
        monitor: Monitor, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, spec = monitor.svc, monitor.spec
    monkeypatch.setattr(references, "champion_snapshot", lambda svc, spec: CHAMPION)

    kept = references.publish_champion_reference(svc, spec, promoted(decision="keep"), "keep-1")
    stale = references.publish_champion_reference(svc, spec, promoted("4"), "promote-0")
    first = references.publish_champion_reference(svc, spec, promoted(), "promote-1")
    retry = references.publish_champion_reference(svc, spec, promoted(), "promote-retry")

    assert (kept.built, kept.reason) == (False, "the run decided keep: the champion's "
                                                "reference is unchanged")
    assert (stale.built, stale.reason) == (False, "v4 is no longer champion")
    prefix = references.reference_prefix(spec, CHAMPION.data_rev or "")
    assert first == DriftReferenceResult("3", f"s3://{svc.settings.artifact_bucket}/{prefix}",
                                         True, "built for the new champion")
    assert not retry.built and retry.uri == first.uri
    assert monitor.reads == ["promote-1"]  # the retry found it
    assert not scratch_path(svc.settings.home, spec.name, "promote-1").exists()  # cleaned up
    accepted(svc, spec, monitor.landing, "b-3", draw(np.random.default_rng(5), 300))
    steps.measure_drift(svc, spec, ["b-3"], "run-3")
    assert monitor.reads == ["promote-1"]  # the monitor too


def test_a_reference_that_cannot_be_built_fails_its_task_and_is_built_by_the_monitor(
        monitor: Monitor, monkeypatch: pytest.MonkeyPatch) -> None:
    svc, spec = monitor.svc, monitor.spec
    monkeypatch.setattr(references, "champion_snapshot", lambda svc, spec: CHAMPION)
    working = references.versioned_file

    @contextmanager
    def unreadable(*args: Any) -> Iterator[Path]:
        raise OSError("DVC remote unreachable")
        yield Path()

    monkeypatch.setattr(references, "versioned_file", unreadable)
    with pytest.raises(OSError, match="DVC remote unreachable"):  # Airflow retries the task
        references.publish_champion_reference(svc, spec, promoted(), "promote-1")
    assert "Contents" not in svc.s3.list_objects_v2(
        Bucket=svc.settings.artifact_bucket, Prefix=references.PREFIX)

    monkeypatch.setattr(references, "versioned_file", working)
    accepted(svc, spec, monitor.landing, "b-4", draw(np.random.default_rng(6), 300))
    measured = steps.measure_drift(svc, spec, ["b-4"], "run-4")
    assert measured.measured == ("b-4",) and monitor.reads == ["run-4"]
