"""A multiclass pipeline (tests/fixtures/product_tier.yaml: three tiers) through the steps the
DAGs run (register, validate, version, train, evaluate, reports, decide), without Airflow,
against moto's S3 server, a real MLflow server and the store: a first model, then a challenger
judged against it on n x 3 probabilities."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.evaluation.metrics import MULTICLASS_METRICS
from mlops_lib.landing.batches import completed_batches
from mlops_lib.services import Services
from mlops_lib.settings import REPO_ROOT, Settings
from mlops_lib.spec import PipelineSpec, load_spec
from mlops_lib.steps import dataset, decide, evaluate, ingest, plan, reports, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.stores import s3io
from mlops_lib.stores.versioning import DataVersion
from mlops_lib.training.trainer import predict
from tests.support import fresh_buckets, migrated

pytestmark = pytest.mark.integration

SPEC = REPO_ROOT / "tests" / "fixtures" / "product_tier.yaml"


def _cycle(svc: Services, spec: PipelineSpec, s3: Any, seed: int) -> dict[str, Any]:
    """Land one generated batch and run ingest + training for it, as the DAGs would."""
    batch_id = f"batch-{uuid.uuid4().hex[:8]}"
    body = datagen.to_file_bytes(datagen.generate_batch(spec, 1500, seed=seed), "parquet")
    s3io.upload_batch(s3, spec.source.bucket, spec.source.prefix, batch_id,
                      {"part-0000.parquet": body})
    listing = s3io.list_objects(s3, spec.source.bucket, spec.source.prefix)
    batch = next(b for b in completed_batches(listing, spec.source.prefix,
                                              spec.source.completion_rule)
                 if b.batch_id == batch_id)
    ingest_run_id = f"ingest__{uuid.uuid4().hex[:8]}"
    ingest.register_batch(svc, spec, batch, ingest_run_id)
    ingest.validate(svc, spec, batch, ingest_run_id)
    dag_run_id = f"manual__{uuid.uuid4().hex[:8]}"
    planned = plan.plan_training(svc, spec, RunContext(
        dag_run_id=dag_run_id, run_type="manual", triggered_by="tester",
        params={"reason": "multiclass test", "batches": [batch_id]}))
    version = dataset.version_dataset(svc, spec, planned, dag_run_id)
    trained = train.train(svc, spec, planned, version, dag_run_id)
    evaluation = evaluate.evaluate(svc, spec, version, trained, planned.champion, dag_run_id)
    built = reports.build_reports(svc, spec, version, trained, planned.champion, dag_run_id)
    decision = decide.decide(svc, spec, planned, evaluation, built, dag_run_id)
    return {"plan": asdict(planned), "version": asdict(version), "trained": asdict(trained),
            "evaluation": asdict(evaluation), "decision": asdict(decision)}


def test_multiclass_pipeline_first_model_then_challenger(
        s3: Any, s3_endpoint: str, mlflow_server: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": migrated(f"sqlite:///{tmp_path / 'store.db'}"),
        "MLFLOW_TRACKING_URI": mlflow_server, "CT_ARTIFACT_BUCKET": artifacts}))
    base = load_spec(SPEC)
    spec = replace(base, name=f"tiers_{uuid.uuid4().hex[:6]}",
                   source=replace(base.source, bucket=landing))

    first = _cycle(svc, spec, s3, seed=1)

    evaluation = first["evaluation"]
    assert first["decision"]["decision"] == "promote", evaluation["reason"]
    verdict = evaluation["verdict"]
    assert verdict["mode"] == "first_model" and verdict["direction"] == "minimize"
    assert set(verdict["candidate_metrics"]) == set(MULTICLASS_METRICS)
    assert verdict["candidate_value"] < 1.0  # log loss under the floor (ln 3 is a guess)
    assert evaluation["performance_reports"], "the multiclass performance report was not built"
    # The staged training set keeps the labels as text; the model is XGBoost JSON, 3 classes.
    frame = pd.read_parquet(io.BytesIO(svc.versioner.read(DataVersion(**first["version"]))))
    assert set(frame[spec.target].astype(str)) == set(spec.classes)
    model_name, champion = spec.registered_model_name, first["trained"]["model_version"]
    booster = svc.registry.load_booster(model_name, champion)
    config = json.loads(booster.save_config())
    assert config["learner"]["objective"]["name"] == "multi:softprob"
    assert predict(booster, frame.head(7), spec).shape == (7, 3)

    second = _cycle(svc, spec, s3, seed=2)

    assert second["plan"]["champion"]["version"] == champion
    verdict = second["evaluation"]["verdict"]
    assert verdict["mode"] == "superiority" and verdict["baseline_value"] is not None
    boot = verdict["bootstrap"]
    assert boot is not None and boot["n_valid"] == spec.metric.bootstrap_samples
    assert {s["value"] for s in verdict["slices"]} <= {"north", "south", "east", "west"}
    assert second["decision"]["decision"] in ("promote", "keep")
    assert second["decision"]["baseline_version"] == champion
