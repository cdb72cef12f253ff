"""A pipeline of its own whose champion the train step registered, on a real MLflow server,
moto's S3 server and the store: what the scoring tests (step, report, CLI, promotion while
scoring) start from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.operations.champion import promote_version
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, ScoringConfig
from mlops_lib.steps import dataset, ingest, plan, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import DatasetVersion, TrainedModel, TrainingPlan
from mlops_lib.stores import s3io
from tests.support import fresh_buckets


@dataclass(frozen=True)
class TrainingRun:
    dag_run_id: str
    plan: TrainingPlan
    version: DatasetVersion
    trained: TrainedModel


@dataclass
class Served:
    svc: Services
    spec: PipelineSpec
    s3: Any
    version: str
    example: PipelineSpec  # the example spec as written: its name fixes the synthetic data

    def unlabelled(self, rows: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
        """Rows as a producer drops them to be scored: no target, categories as text, and a
        column the model does not know."""
        frame = datagen.generate_batch(self.example, rows, seed=seed, drift=drift).drop(
            columns=[self.spec.target])
        frame["region"] = frame["region"].astype(object)
        frame["source_system"] = "crm"
        return frame

    def drop(self, frame: pd.DataFrame) -> BatchRef:
        """`frame` as one parquet file of a new scoring batch; the batch as the sensor sees it."""
        batch_id = f"score-{uuid.uuid4().hex[:8]}"
        body = datagen.to_file_bytes(frame, "parquet")
        s3io.upload_batch(self.s3, self.spec.scoring_bucket, self.spec.scoring_prefix, batch_id,
                          {"part-0000.parquet": body})
        listing = s3io.list_objects(self.s3, self.spec.scoring_bucket,
                                    self.spec.scoring_prefix + batch_id + "/")
        (batch,) = completed_batches(listing, self.spec.scoring_prefix,
                                     self.spec.scoring.completion_rule)
        return batch

    def land_labels(self, drop_id: str, frame: pd.DataFrame) -> BatchRef:
        """`frame` as the CSV of label drop `drop_id`; the drop as the labels sensor sees it."""
        spec = self.spec
        s3io.upload_batch(self.s3, spec.labels_bucket, spec.labels_prefix, drop_id,
                          {"labels.csv": frame.to_csv(index=False).encode()})
        (drop,) = [b for b in completed_batches(
            s3io.list_objects(self.s3, spec.labels_bucket, spec.labels_prefix),
            spec.labels_prefix, spec.labels.completion_rule if spec.labels else "_SUCCESS")
            if b.batch_id == drop_id]
        return drop

    def train(self, batch_id: str, seed: int) -> str:
        """Land a labelled batch `batch_id`, ingest it and train on it alone; the version the
        train step registered (not promoted)."""
        # data of the example's concept (named after it), which its contract accepts
        return self.land_and_train(
            batch_id, datagen.generate_batch(self.example, 600, seed=seed)).trained.model_version

    def land_and_train(self, batch_id: str, frame: pd.DataFrame) -> TrainingRun:
        """`frame` as batch `batch_id`, ingested, and a manual training run on it alone."""
        spec, svc = self.spec, self.svc
        land_and_ingest(svc, spec, self.s3, batch_id, frame)
        run = f"manual__{batch_id}"
        planned = plan.plan_training(svc, spec, RunContext(
            dag_run_id=run, run_type="manual", triggered_by="tester",
            params={"reason": "scoring test", "batches": [batch_id]}))
        version = dataset.version_dataset(svc, spec, planned, run)
        return TrainingRun(run, planned, version, train.train(svc, spec, planned, version, run))

    def read(self, uri: str) -> bytes:
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        return bytes(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def land_and_ingest(svc: Services, spec: PipelineSpec, s3: Any, batch_id: str,
                    frame: pd.DataFrame) -> BatchRef:
    """`frame` as batch `batch_id` (one parquet file) on the landing prefix, registered and
    validated as the ingest DAG's tasks do; the batch as the sensor saw it."""
    s3io.upload_batch(s3, spec.source.bucket, spec.source.prefix, batch_id,
                      {"part-0000.parquet": datagen.to_file_bytes(frame, "parquet")})
    (batch,) = [b for b in completed_batches(
        s3io.list_objects(s3, spec.source.bucket, spec.source.prefix),
        spec.source.prefix, spec.source.completion_rule) if b.batch_id == batch_id]
    ingest.register_batch(svc, spec, batch, f"ingest__{batch_id}")
    ingest.validate(svc, spec, batch, f"ingest__{batch_id}")
    return batch


def serve(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, store_url: str,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    """A pipeline of its own whose champion the train step registered."""
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    env = {"CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
           "CT_STORE_URL": store_url, "MLFLOW_TRACKING_URI": mlflow_server,
           "CT_ARTIFACT_BUCKET": artifacts}
    name = f"score_{uuid.uuid4().hex[:8]}"
    svc = Services(Settings.from_env(env))
    example = spec
    spec = replace(spec, name=name, source=replace(spec.source, bucket=landing),
                   training=replace(spec.training, device="cpu", num_boost_round=5),
                   scoring=ScoringConfig())
    served = Served(svc, spec, s3, "", example)
    served.version = served.train("train-1", seed=5)
    promote_version(svc, spec.name, served.version, reason="scoring test", actor="tester")
    return served
