"""Bounded input on a real S3 API (moto's server), through the ingest steps as the DAG runs
them: a decompression bomb is refused on its footer before a byte of it is decoded, a CSV above
the spec's row limit before pandas reads it, and a manifest that names `./part-0.csv` completes
and is accepted. Rejected batches are quarantined with the originals untouched."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_dev import datagen
from mlops_lib.landing.manifest import build_manifest, ready_batch
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import DEFAULT_MAX_FILE_BYTES, PipelineSpec
from mlops_lib.spec.source import DEFAULT_MAX_ROWS
from mlops_lib.steps import ingest as steps
from mlops_lib.validation.reasons import ReasonCode
from tests.integration.test_unsafe_landing import Landing
from tests.support import fresh_buckets, migrated

pytestmark = pytest.mark.integration


@pytest.fixture
def landing(spec: PipelineSpec, s3: Any, s3_endpoint: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Landing:
    """A fresh landing bucket on moto's server, the ingest steps' services on it."""
    bucket, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": migrated(f"sqlite:///{tmp_path / 'store.db'}"),
        "CT_ARTIFACT_BUCKET": artifacts}))
    svc.__dict__["s3"] = s3
    return Landing(svc, replace(spec, source=replace(spec.source, bucket=bucket)), s3, bucket)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a data file fails the test: the batch must be refused on its footer first."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a data file was decoded")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)


def _parquet_bomb(landing: Landing, rows: int) -> bytes:
    """`rows` copies of one good row of the spec's columns, in row groups of 1M rows."""
    one = pa.Table.from_pandas(datagen.generate_batch(landing.spec, 1, seed=3),
                               preserve_index=False)
    group = one.take(pa.array([0] * 1_000_000, pa.int32()))
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, group.schema) as writer:
        for _ in range(rows // 1_000_000):
            writer.write_table(group)
    return buf.getvalue()


def test_a_parquet_bomb_is_refused_on_its_footer_with_the_default_limits(
        landing: Landing, no_decoding: None) -> None:
    rows = DEFAULT_MAX_ROWS + 1_000_000
    body = _parquet_bomb(landing, rows)
    assert len(body) < 4 * 2**20 < DEFAULT_MAX_FILE_BYTES  # max_file_bytes lets it through
    before = landing.land("b-bomb", {"part-0000.parquet": body})
    batch = landing.batch("b-bomb")
    allocated = pa.total_allocated_bytes()
    exc = landing.reject(batch)
    assert pa.total_allocated_bytes() - allocated < 2**20  # nothing decoded, nothing held
    assert exc.code == ReasonCode.TOO_MANY_ROWS
    assert f"{rows} rows" in str(exc) and f"source.max_rows {DEFAULT_MAX_ROWS}" in str(exc)
    landing.check_quarantined(batch, ReasonCode.TOO_MANY_ROWS, before)


def test_the_spec_limits_apply_in_manifest_mode_before_rows_are_counted(
        landing: Landing, no_decoding: None) -> None:
    landing.spec = replace(landing.spec, source=replace(
        landing.spec.source, format="csv", completion="manifest", marker="_manifest.json",
        max_rows=1000, max_uncompressed_bytes=2**20))
    body = datagen.to_file_bytes(datagen.generate_batch(landing.spec, 1001, seed=3), "csv")
    before = landing.land("b-rows", {"part-0000.csv": body},
                          marker_body=build_manifest({"part-0000.csv": body},
                                                     {"part-0000.csv": 1001}))
    batch = landing.batch("b-rows")
    exc = landing.reject(batch)
    assert exc.code == ReasonCode.TOO_MANY_ROWS and "source.max_rows 1000" in str(exc)
    landing.check_quarantined(batch, ReasonCode.TOO_MANY_ROWS, before)


def test_a_wide_bomb_is_decompressed_too_large(landing: Landing, no_decoding: None) -> None:
    landing.spec = replace(landing.spec, source=replace(landing.spec.source,
                                                        max_uncompressed_bytes=50 * 2**20))
    body = _parquet_bomb(landing, 1_000_000)  # 9 columns x 8 bytes x 1M rows: 72 MB decoded
    before = landing.land("b-wide", {"part-0000.parquet": body})
    batch = landing.batch("b-wide")
    exc = landing.reject(batch)
    assert exc.code == ReasonCode.DECOMPRESSED_TOO_LARGE
    landing.check_quarantined(batch, ReasonCode.DECOMPRESSED_TOO_LARGE, before)


def test_a_manifest_naming_dot_slash_files_completes_and_is_accepted(landing: Landing) -> None:
    landing.spec = replace(landing.spec, source=replace(
        landing.spec.source, format="csv", completion="manifest", marker="_manifest.json"))
    body = datagen.to_file_bytes(datagen.generate_batch(landing.spec, 300, seed=3), "csv")
    manifest = json.dumps({"files": [{"name": "./part-0.csv", "size": len(body),
                                      "rows": 300}]}).encode()
    landing.land("b-dot", {"part-0.csv": body, "stray.csv": b"x\n1\n"}, marker_body=manifest)
    found = ready_batch(manifest, landing.batch("b-dot"))  # what the sensor and trigger do
    assert found is not None and [f.key for f in found.files] == [
        f"{landing.spec.source.prefix}b-dot/part-0.csv"]
    run_id = f"ingest__{uuid.uuid4().hex[:8]}"
    steps.register_batch(landing.svc, landing.spec, found, run_id)
    assert steps.validate(landing.svc, landing.spec, found, run_id).rows == 300


def test_a_manifest_naming_a_hidden_file_is_refused_not_waited_for(landing: Landing) -> None:
    landing.spec = replace(landing.spec, source=replace(
        landing.spec.source, format="csv", completion="manifest", marker="_manifest.json"))
    body = datagen.to_file_bytes(datagen.generate_batch(landing.spec, 300, seed=3), "csv")
    manifest = json.dumps({"files": [{"name": ".part-0.csv", "size": len(body)}]}).encode()
    before = landing.land("b-hidden", {".part-0.csv": body, "part-1.csv": body},
                          marker_body=manifest)
    batch = ready_batch(manifest, landing.batch("b-hidden"))
    assert batch is not None  # complete: the listing never shows a hidden file as data
    exc = landing.reject(batch)
    assert exc.code == ReasonCode.MANIFEST_INVALID and "'.part-0.csv'" in str(exc)
    landing.check_quarantined(batch, ReasonCode.MANIFEST_INVALID, before)
