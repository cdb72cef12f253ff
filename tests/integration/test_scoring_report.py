"""The per-batch scoring report against a real MLflow server, moto's S3 server and the store:
a batch scored by the champion gets an Evidently report of its features and the champion's
scores against the champion's training data, beside its predictions, recorded in the store and
listed in the pipeline's index page; a re-run rewrites the same keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlops_lib.reports.index import index_key, scoring_report_run
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import scoring
from mlops_lib.steps.scoring_report import build_scoring_report, report_key
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    return serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)


def value_drift_columns(document: dict[str, Any]) -> set[str]:
    return {m["config"]["column"] for m in document["metrics"]
            if m["config"].get("type", "").endswith(":ValueDrift")}


def test_a_scored_batch_gets_its_drift_report_beside_its_predictions_and_in_the_index(
        served: Served) -> None:
    batch = served.drop(served.unlabelled(500, seed=21, drift=1.0))
    scored = scoring.score_batch(served.svc, served.spec, batch, "score__1")
    record = scored.record
    bucket = served.svc.settings.artifact_bucket
    folder = f"predictions/{served.spec.name}/{batch.batch_id}"

    report = build_scoring_report(served.svc, served.spec, scored)

    assert (report.batch_id, report.model_version, report.role) == (
        batch.batch_id, served.version, "champion")
    run = served.svc.store.training_run_of_version(served.spec.name, served.version)
    assert run is not None and report.reference_rev == run["data_rev"]
    html_name, json_name = (f"champion-v{served.version}.report.{f}" for f in ("html", "json"))
    assert report.reports == {html_name: f"s3://{bucket}/{folder}/{html_name}",
                              json_name: f"s3://{bucket}/{folder}/{json_name}"}
    assert report_key(record, "html") == f"{folder}/{html_name}"
    head = served.s3.head_object(Bucket=bucket, Key=f"{folder}/{html_name}")
    assert head["ContentType"].startswith("text/html")
    assert report.url.endswith(f"/{bucket}/{folder}/{html_name}")
    document = json.loads(served.read(report.reports[json_name]))
    features = {f.name for f in served.spec.features if f.dtype != "datetime"}
    # feature drift and prediction drift in one report: every feature and both outputs
    assert value_drift_columns(document) == features | {"score", "predicted_label"}
    assert report.drifted_features and set(report.drifted_features) <= features
    assert set(report.drifted_outputs) <= {"score", "predicted_label"}
    rows = served.svc.store.reports(served.spec.name, scoring_report_run(record))
    assert {(r["kind"], r["format"], r["uri"]) for r in rows} == {
        ("scoring_drift", "html", report.reports[html_name]),
        ("scoring_drift", "json", report.reports[json_name])}
    page = served.read(f"s3://{bucket}/{index_key(served.spec.name)}").decode()
    assert f'href="../../{folder}/{html_name}"' in page
    assert f'href="../../{folder}/champion-v{served.version}.parquet"' in page

    served.s3.delete_object(Bucket=bucket, Key=f"{folder}/{json_name}")
    again = build_scoring_report(served.svc, served.spec, scored)

    assert again == report  # the same keys, the same verdicts (a seeded sample)
    assert json.loads(served.read(report.reports[json_name]))["metrics"]  # written again
    assert served.svc.store.reports(served.spec.name, scoring_report_run(record)) == rows


def test_the_reference_scores_are_the_models_own_on_its_training_data(
        served: Served) -> None:
    """Prediction drift compares like with like: a batch drawn like the training data has the
    champion's scores where its training data has them (no output drift), a drifted one not."""
    same = served.drop(served.unlabelled(600, seed=5))  # the training batch's own rows
    scored = scoring.score_batch(served.svc, served.spec, same, "score__1")

    report = build_scoring_report(served.svc, served.spec, scored, batch=same)

    assert report.reports and report.drifted_features == ()
    assert report.drifted_outputs == ()


def test_a_batch_changed_since_it_was_scored_gets_no_report(served: Served) -> None:
    batch = served.drop(served.unlabelled(50, seed=3))
    scored = scoring.score_batch(served.svc, served.spec, batch, "score__1")
    (data_file,) = batch.files
    served.s3.put_object(Bucket=served.spec.scoring_bucket, Key=data_file.key, Body=b"other")

    report = build_scoring_report(served.svc, served.spec, scored)

    assert report.reports == {} and report.url == ""
    assert "no longer those scored" in report.skipped[0]
    assert served.svc.store.reports(served.spec.name, scoring_report_run(scored.record)) == []


def test_a_report_that_fails_on_the_data_is_skipped_and_an_outage_is_raised(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_lib.reports import builders

    batch = served.drop(served.unlabelled(50, seed=3))
    scored = scoring.score_batch(served.svc, served.spec, batch, "score__1")

    def odd_data(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("Evidently choked")

    monkeypatch.setattr(builders, "build_scoring_drift", odd_data)
    report = build_scoring_report(served.svc, served.spec, scored, batch=batch)

    assert report.reports == {} and report.skipped == (
        "scoring_drift: not built: ValueError: Evidently choked",)
    assert served.svc.store.reports(served.spec.name, scoring_report_run(scored.record)) == []

    def outage(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("S3 went away")

    monkeypatch.setattr(builders, "build_scoring_drift", outage)
    with pytest.raises(ConnectionError):
        build_scoring_report(served.svc, served.spec, scored, batch=batch)
