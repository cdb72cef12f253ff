"""A batch id is its folder name, and S3 keys run to 1024 bytes: a 700-character id goes through
the ingest steps on a real S3 API (moto's HTTP server) and the store on SQLite and, when
CT_TEST_PG is set, PostgreSQL (whose `batch_id` columns were VARCHAR(512) before migration 006).
Every key or name derived from the id stays within its limit."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlops_dev import datagen
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.landing.keys import MAX_KEY_BYTES, unsafe_key_reason
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import ingest as steps
from mlops_lib.stores import s3io
from mlops_lib.stores.versioning import _safe_ref
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.support import fresh_buckets

pytestmark = pytest.mark.integration

LONG_ID = "batch-" + "0123456789" * 69 + "abcd"  # 700 characters


@pytest.fixture
def landed(spec: PipelineSpec, s3: Any, s3_endpoint: str, store_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Services, PipelineSpec]:
    bucket, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": store_url, "CT_ARTIFACT_BUCKET": artifacts}))
    svc.__dict__["s3"] = s3
    return svc, replace(spec, source=replace(spec.source, bucket=bucket))


def _land(svc: Services, spec: PipelineSpec, batch_id: str, body: bytes) -> BatchRef:
    base = f"{spec.source.prefix}{batch_id}/"
    svc.s3.put_object(Bucket=spec.source.bucket, Key=base + "part-0000.parquet", Body=body)
    svc.s3.put_object(Bucket=spec.source.bucket, Key=base + spec.source.marker, Body=b"")
    listing = s3io.list_objects(svc.s3, spec.source.bucket, spec.source.prefix)
    found = {b.batch_id: b for b in completed_batches(listing, spec.source.prefix,
                                                      spec.source.completion_rule)}
    return found[batch_id]


def test_a_700_character_batch_id_is_registered_validated_and_staged(
        landed: tuple[Services, PipelineSpec]) -> None:
    svc, spec = landed
    assert len(LONG_ID) == 700 and len(f"{spec.source.prefix}{LONG_ID}/_SUCCESS") < MAX_KEY_BYTES
    body = datagen.to_file_bytes(datagen.generate_batch(spec, 300, seed=3), "parquet")
    batch = _land(svc, spec, LONG_ID, body)
    steps.register_batch(svc, spec, batch, "ingest__long")
    assert svc.store.get_batch(spec.name, LONG_ID).status == "claimed"
    result = steps.validate(svc, spec, batch, "ingest__long")
    record = svc.store.get_batch(spec.name, LONG_ID)
    assert record.batch_id == LONG_ID and record.status == "accepted"
    key = record.staged_uri.removeprefix(f"s3://{svc.settings.artifact_bucket}/")
    assert result.staged_uri == record.staged_uri
    assert key.startswith(f"staging/{spec.name}/batch-") and LONG_ID not in key
    assert unsafe_key_reason(key) is None and len(key.encode()) < 200
    svc.s3.head_object(Bucket=svc.settings.artifact_bucket, Key=key)
    # the same id again with other content: refused and recorded, not a database error
    changed = datagen.to_file_bytes(datagen.generate_batch(spec, 300, seed=4), "parquet")
    again = _land(svc, spec, LONG_ID, changed)
    with pytest.raises(BatchRejected) as info:
        steps.register_batch(svc, spec, again, "ingest__long_again")
    assert info.value.code == ReasonCode.BATCH_CHANGED


def test_a_rejected_700_character_batch_is_quarantined(
        landed: tuple[Services, PipelineSpec]) -> None:
    svc, spec = landed
    frame = datagen.generate_batch(spec, 300, seed=3).drop(columns=["income"])
    batch = _land(svc, spec, LONG_ID, datagen.to_file_bytes(frame, "parquet"))
    steps.register_batch(svc, spec, batch, "ingest__long")
    with pytest.raises(BatchRejected) as info:
        steps.validate(svc, spec, batch, "ingest__long")
    assert info.value.code == ReasonCode.MISSING_COLUMNS
    record = svc.store.get_quarantine(spec.name, LONG_ID)
    assert record is not None and record["batch_id"] == LONG_ID
    assert record["quarantine_uri"].startswith(f"s3://{spec.source.bucket}/quarantine/"
                                               f"{spec.name}/batch-")


def test_the_dataset_tag_of_a_long_batch_id_is_a_valid_git_tag(tmp_path: Path) -> None:
    ref = _safe_ref(LONG_ID)
    assert len(ref.encode()) < 200 and ref.startswith(LONG_ID[:100])
    assert _safe_ref("é" * 300).startswith("é" * 50) and len(_safe_ref("é" * 300).encode()) < 200
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    # a loose ref is a file: a 700-byte name would fail with "File name too long"
    subprocess.run([*git, "tag", f"ct/credit_default/{ref}"], check=True)
