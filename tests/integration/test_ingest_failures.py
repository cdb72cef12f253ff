"""No batch is stranded `claimed`: on a real S3 API (moto's server) and the SQLite and PostgreSQL
stores, every failure of the validate step after the batch was claimed either ends the batch
(rejected, with a reason code, a quarantine record and a byte-identical copy beside
`_REASON.json`, the original untouched) or, when the infrastructure failed, is raised with the
batch still this run's, so Airflow's retry of the same run accepts it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy.exc import OperationalError

from mlops_dev import datagen
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import Contract, Feature, PipelineSpec
from mlops_lib.steps import ingest as steps
from mlops_lib.stores import s3io
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.support import fresh_buckets

pytestmark = pytest.mark.integration

RUN = "ingest__1"


@dataclass
class Landing:
    svc: Services
    spec: PipelineSpec
    s3: Any
    bucket: str

    def land(self, batch_id: str, frame: pd.DataFrame) -> BatchRef:
        """Land one parquet part and the marker, and claim the batch for RUN."""
        base = f"{self.spec.source.prefix}{batch_id}/"
        self.s3.put_object(Bucket=self.bucket, Key=base + "part-0.parquet",
                           Body=datagen.to_file_bytes(frame, "parquet"))
        self.s3.put_object(Bucket=self.bucket, Key=base + self.spec.source.marker, Body=b"")
        listing = s3io.list_objects(self.s3, self.bucket, self.spec.source.prefix)
        batch = {b.batch_id: b for b in completed_batches(
            listing, self.spec.source.prefix, self.spec.source.completion_rule)}[batch_id]
        steps.register_batch(self.svc, self.spec, batch, RUN)
        return batch

    def objects(self, prefix: str) -> dict[str, bytes]:
        return {o.key: self.s3.get_object(Bucket=self.bucket, Key=o.key)["Body"].read()
                for o in s3io.list_objects(self.s3, self.bucket, prefix)}

    def staged(self) -> list[str]:
        bucket = self.svc.settings.artifact_bucket
        return [o.key for o in s3io.list_objects(self.s3, bucket, "staging/")]

    def assert_quarantined(self, batch: BatchRef, code: ReasonCode) -> dict[str, Any]:
        """Rejected with `code`: the record, the copy byte for byte, the original as landed."""
        record = self.svc.store.get_batch(self.spec.name, batch.batch_id)
        assert record is not None and (record.status, record.reason_code) == ("rejected", code)
        quarantined = self.svc.store.get_quarantine(self.spec.name, batch.batch_id)
        assert quarantined is not None and quarantined["reason_code"] == code
        dest = s3io.quarantine_prefix(self.spec.name, batch.batch_id)
        reason = json.loads(self.s3.get_object(Bucket=self.bucket,
                                               Key=dest + "_REASON.json")["Body"].read())
        assert reason["reason_code"] == code and reason["dag_run_id"] == RUN
        originals = self.objects(batch.prefix)
        for entry in reason["objects"]:
            assert "copy_error" not in entry
            copy = self.s3.get_object(Bucket=self.bucket, Key=entry["quarantined_as"])
            assert copy["Body"].read() == originals[entry["key"]]
        etags = {o.key: o.etag for o in s3io.list_objects(self.s3, self.bucket, batch.prefix)}
        assert all(etags[f.key] == f.etag for f in batch.files)  # the drop is as it landed
        assert self.svc.store.accepted_batches(self.spec.name) == []
        assert self.staged() == []
        return reason

    def assert_retryable(self, batch: BatchRef) -> None:
        """Still claimed by RUN, nothing quarantined: a retry of the same run picks it up."""
        record = self.svc.store.get_batch(self.spec.name, batch.batch_id)
        assert record is not None
        assert (record.status, record.reason_code, record.dag_run_id) == ("claimed", None, RUN)
        assert self.svc.store.get_quarantine(self.spec.name, batch.batch_id) is None
        assert self.objects("quarantine/") == {}


@pytest.fixture
def landing(spec: PipelineSpec, s3: Any, s3_endpoint: str, store_url: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Landing:
    bucket, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": store_url, "CT_ARTIFACT_BUCKET": artifacts}))
    svc.__dict__["s3"] = s3
    dated = replace(spec, contract=Contract(), source=replace(spec.source, bucket=bucket),
                    features=(*spec.features, Feature("applied_at", "datetime")))
    return Landing(svc, dated, s3, bucket)


def good_frame(spec: PipelineSpec, rows: int = 200) -> pd.DataFrame:
    frame = datagen.generate_batch(spec, rows, seed=7)
    return frame.assign(applied_at=pd.date_range("2025-01-01", periods=rows, freq="h")
                        .to_numpy("datetime64[us]"))


def validate_rejected(landing: Landing, batch: BatchRef) -> BatchRejected:
    with pytest.raises(BatchRejected) as info:
        steps.validate(landing.svc, landing.spec, batch, RUN)
    return info.value


# --- values conform() could not cast end the batch before it is cast ---------------------------


def test_a_year_9999_timestamp_is_quarantined_not_stranded(landing: Landing) -> None:
    frame = good_frame(landing.spec)
    frame.loc[7, "applied_at"] = np.datetime64("9999-12-31", "us")
    batch = landing.land("b-9999", frame)
    exc = validate_rejected(landing, batch)
    assert exc.code == ReasonCode.TIMESTAMP_OUT_OF_RANGE
    assert "applied_at: 1 values beyond the limit" in str(exc)
    reason = landing.assert_quarantined(batch, ReasonCode.TIMESTAMP_OUT_OF_RANGE)
    assert reason["report"]["reason_code"] == "TIMESTAMP_OUT_OF_RANGE"


def test_uint64_max_in_an_int_feature_is_quarantined_not_staged_as_minus_one(
        landing: Landing) -> None:
    frame = good_frame(landing.spec).astype({"credit_lines": "uint64"})
    frame.loc[7, "credit_lines"] = np.uint64(2**64 - 1)
    batch = landing.land("b-uint64", frame)
    assert validate_rejected(landing, batch).code == ReasonCode.VALUE_OVERFLOW
    landing.assert_quarantined(batch, ReasonCode.VALUE_OVERFLOW)


# --- a crash on the batch's data ends it ----------------------------------------------------------


@pytest.mark.parametrize(("crashing", "code"), [
    ("mlops_lib.validation.conform.conform", ReasonCode.CONFORM_FAILED),
    ("pandas.DataFrame.to_parquet", ReasonCode.CONFORM_FAILED),
    ("mlops_lib.validation.checks.validate_batch", ReasonCode.INTERNAL_ERROR),
    ("mlops_lib.validation.reading.read_batch", ReasonCode.INTERNAL_ERROR),
], ids=["conform", "staged-parquet", "checks", "reading"])
def test_a_crash_after_the_claim_quarantines_the_batch(
        landing: Landing, monkeypatch: pytest.MonkeyPatch, crashing: str,
        code: ReasonCode) -> None:
    batch = landing.land(f"b-crash-{uuid.uuid4().hex[:6]}", good_frame(landing.spec))
    monkeypatch.setattr(crashing, _raise(ValueError("cannot cast this batch")))
    exc = validate_rejected(landing, batch)
    assert exc.code == code
    assert str(exc) == f"[{code}] ValueError: cannot cast this batch"
    assert isinstance(exc.__cause__, ValueError)
    reason = landing.assert_quarantined(batch, code)
    assert reason["reason"] == str(exc)
    # the same run retried (a cleared task): the same verdict, nothing duplicated
    assert validate_rejected(landing, batch).code == code
    landing.assert_quarantined(batch, code)


def test_a_rejected_batch_stays_rejected_when_its_task_is_cleared(
        landing: Landing, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash that quarantined a batch was transient, and someone clears the task: the
    batch keeps its verdict (a quarantined batch is never also accepted, staged or trained)."""
    batch = landing.land(f"b-cleared-{uuid.uuid4().hex[:6]}", good_frame(landing.spec))
    with monkeypatch.context() as during:
        during.setattr("mlops_lib.validation.conform.conform",
                       _raise(ValueError("a transient crash")))
        assert validate_rejected(landing, batch).code == ReasonCode.CONFORM_FAILED
    again = validate_rejected(landing, batch)  # the same bytes, no crash this time
    assert again.code == ReasonCode.CONFORM_FAILED and "a transient crash" in str(again)
    landing.assert_quarantined(batch, ReasonCode.CONFORM_FAILED)
    assert [key for key in landing.staged() if batch.batch_id in key] == []
    # nor can a late accept (a zombie attempt) overwrite the verdict
    landing.svc.store.accept_batch(landing.spec.name, batch.batch_id, 1, "s3://x/y")
    record = landing.svc.store.get_batch(landing.spec.name, batch.batch_id)
    assert record is not None and record.status == "rejected"


# --- the infrastructure failing is retried, never quarantined ----------------------------------


@pytest.mark.parametrize("failure", ["upload", "download", "accept"])
def test_an_infrastructure_failure_is_raised_and_the_retry_accepts(
        landing: Landing, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    batch = landing.land(f"b-{failure}", good_frame(landing.spec))
    outage: Exception
    with monkeypatch.context() as during:
        if failure == "accept":
            outage = OperationalError("UPDATE batches", {}, ConnectionRefusedError("store down"))
            during.setattr(landing.svc.store, "accept_batch", _raise(outage))
        else:
            outage = EndpointConnectionError(endpoint_url="http://s3.invalid")
            target = "upload_path" if failure == "upload" else "read_batch_files"
            during.setattr(s3io, target, _raise(outage))
        with pytest.raises(type(outage)):
            steps.validate(landing.svc, landing.spec, batch, RUN)
        landing.assert_retryable(batch)
    # the outage is over: Airflow's retry of the same run
    validated = steps.validate(landing.svc, landing.spec, batch, RUN)
    record = landing.svc.store.get_batch(landing.spec.name, batch.batch_id)
    assert record is not None and record.status == "accepted"
    assert validated.staged_uri.endswith(landing.staged()[0])
    assert landing.objects("quarantine/") == {}


def _raise(exc: Exception) -> Any:
    def fail(*_: Any, **__: Any) -> Any:
        raise exc
    return fail
