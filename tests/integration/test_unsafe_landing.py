"""Unsafe keys, oversized files or manifests and ragged CSV on a real S3 API (moto's server), run
through the ingest steps as the DAG runs them: each batch ends rejected with its reason code, a
quarantine record, a copy under `quarantine/<pipeline>/<batch>/` and nothing else written, and
the originals untouched (same bytes, same ETag)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mlops_dev import datagen
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.landing.keys import unsafe_key_reason
from mlops_lib.landing.manifest import build_manifest
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import ingest as steps
from mlops_lib.stores import s3io
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.support import fresh_buckets, migrated

pytestmark = pytest.mark.integration


class NoDownload:
    """The real client, except that downloading an object fails the test."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_object(self, **kwargs: Any) -> Any:
        raise AssertionError(f"downloaded {kwargs.get('Key')!r}")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@dataclass
class Landing:
    svc: Services
    spec: PipelineSpec
    s3: Any
    bucket: str

    def land(self, batch_id: str, files: dict[str, bytes],
             marker_body: bytes = b"") -> dict[str, tuple[bytes, str]]:
        """Put the files and then the marker; return every key's bytes and ETag."""
        base = f"{self.spec.source.prefix}{batch_id}/"
        for name, body in {**files, self.spec.source.marker: marker_body}.items():
            self.s3.put_object(Bucket=self.bucket, Key=base + name, Body=body)
        return self.snapshot(base)

    def snapshot(self, prefix: str) -> dict[str, tuple[bytes, str]]:
        return {o.key: (self.s3.get_object(Bucket=self.bucket, Key=o.key)["Body"].read(), o.etag)
                for o in s3io.list_objects(self.s3, self.bucket, prefix)}

    def batch(self, batch_id: str) -> BatchRef:
        listing = s3io.list_objects(self.s3, self.bucket, self.spec.source.prefix)
        found = {b.batch_id: b for b in completed_batches(
            listing, self.spec.source.prefix, self.spec.source.completion_rule)}
        return found[batch_id]

    def reject(self, batch: BatchRef, *, downloads: bool = True) -> BatchRejected:
        run_id = f"ingest__{uuid.uuid4().hex[:8]}"
        steps.register_batch(self.svc, self.spec, batch, run_id)
        if not downloads:
            self.svc.__dict__["s3"] = NoDownload(self.s3)
        try:
            with pytest.raises(BatchRejected) as info:
                steps.validate(self.svc, self.spec, batch, run_id)
        finally:
            self.svc.__dict__["s3"] = self.s3
        return info.value

    def check_quarantined(self, batch: BatchRef, code: ReasonCode,
                          before: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
        """The record, the copy and nothing else under quarantine/, the originals as they were."""
        record = self.svc.store.get_quarantine(self.spec.name, batch.batch_id)
        assert record is not None and record["reason_code"] == str(code)
        assert self.svc.store.get_batch(self.spec.name, batch.batch_id).status == "rejected"
        dest = s3io.quarantine_prefix(self.spec.name, batch.batch_id)
        assert record["quarantine_uri"] == f"s3://{self.bucket}/{dest}"
        copies = {o.key for o in s3io.list_objects(self.s3, self.bucket, "quarantine/")}
        assert copies and all(k.startswith(dest) and unsafe_key_reason(k) is None
                              for k in copies)
        reason = json.loads(self.s3.get_object(Bucket=self.bucket,
                                               Key=dest + "_REASON.json")["Body"].read())
        assert reason["reason_code"] == str(code) and reason["batch_id"] == batch.batch_id
        mapping = {o["key"]: o["quarantined_as"] for o in reason["objects"]}
        assert set(mapping) == {f.key for f in batch.files}
        assert set(mapping.values()) | {dest + "_REASON.json"} == copies
        for key, copy in mapping.items():
            body = self.s3.get_object(Bucket=self.bucket, Key=copy)["Body"].read()
            assert body == before[key][0]
        # the originals: the same keys, bytes and ETags as landed; nothing outside the two
        # prefixes appeared (a `..` in a copy's key would have written one)
        assert self.snapshot(self.spec.source.prefix) == before
        everything = {o.key for o in s3io.list_objects(self.s3, self.bucket, "")}
        assert everything == set(before) | copies
        assert self.svc.store.accepted_batches(self.spec.name) == []
        return reason


@pytest.fixture
def landing(spec: PipelineSpec, s3: Any, s3_endpoint: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Landing:
    bucket, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": migrated(f"sqlite:///{tmp_path / 'store.db'}"),
        "CT_ARTIFACT_BUCKET": artifacts}))
    svc.__dict__["s3"] = s3
    return Landing(svc, replace(spec, source=replace(spec.source, bucket=bucket)), s3, bucket)


def _parquet(spec: PipelineSpec, rows: int = 300) -> bytes:
    return datagen.to_file_bytes(datagen.generate_batch(spec, rows, seed=3), "parquet")


def test_unsafe_keys_are_quarantined_under_the_batch_folder(landing: Landing) -> None:
    good = _parquet(landing.spec)
    before = landing.land("b-unsafe", {
        "part-0000.parquet": good,
        "../../escape.parquet": b"dotdot",          # would leave the batch folder
        "sub//p.parquet": b"empty segment",
        "p\x00.parquet": b"nul",
        "p\t\x7f.parquet": b"tab and del",
        "x" * 1000: b"a key over 1024 bytes",
    })
    batch = landing.batch("b-unsafe")
    assert len(batch.files) == 6  # the unsafe names are data files, not skipped as hidden
    exc = landing.reject(batch, downloads=False)
    assert exc.code == ReasonCode.UNSAFE_KEY
    reason = landing.check_quarantined(batch, ReasonCode.UNSAFE_KEY, before)
    dest = s3io.quarantine_prefix(landing.spec.name, "b-unsafe")
    assert dest == f"quarantine/{landing.spec.name}/b-unsafe/"
    as_ = {o["key"][len(batch.prefix):]: o["quarantined_as"][len(dest):]
           for o in reason["objects"]}
    assert as_["part-0000.parquet"] == "part-0000.parquet"
    for name in ("../../escape.parquet", "sub//p.parquet", "p\x00.parquet", "x" * 1000):
        assert as_[name].startswith("file-")


def test_a_dotdot_batch_folder_fails_loudly(landing: Landing) -> None:
    before = landing.land("..", {"part-0000.parquet": _parquet(landing.spec)})
    assert set(before) == {landing.spec.source.prefix + "../part-0000.parquet",
                           landing.spec.source.prefix + "../_SUCCESS"}
    batch = landing.batch("..")
    exc = landing.reject(batch, downloads=False)
    assert exc.code == ReasonCode.UNSAFE_KEY and "'..' path segment" in str(exc)
    landing.check_quarantined(batch, ReasonCode.UNSAFE_KEY, before)
    dest = s3io.quarantine_prefix(landing.spec.name, "..")
    assert dest.startswith(f"quarantine/{landing.spec.name}/batch-")


def test_a_file_above_the_size_limit_is_never_downloaded(landing: Landing) -> None:
    body = _parquet(landing.spec)
    landing.spec = replace(landing.spec, source=replace(landing.spec.source,
                                                        max_file_bytes=len(body) - 1))
    before = landing.land("b-big", {"part-0000.parquet": body})
    batch = landing.batch("b-big")
    exc = landing.reject(batch, downloads=False)
    assert exc.code == ReasonCode.FILE_TOO_LARGE
    assert f"{len(body)} bytes" in str(exc) and str(len(body) - 1) in str(exc)
    landing.check_quarantined(batch, ReasonCode.FILE_TOO_LARGE, before)
    record = landing.svc.store.get_quarantine(landing.spec.name, "b-big")
    check = json.loads(record["report_json"])["checks"][1]
    assert (check["value"], check["threshold"]) == (len(body), len(body) - 1)


def test_a_ragged_csv_is_quarantined(landing: Landing) -> None:
    landing.spec = replace(landing.spec, source=replace(landing.spec.source, format="csv"))
    lines = datagen.to_file_bytes(datagen.generate_batch(landing.spec, 300, seed=3),
                                  "csv").decode().splitlines()
    lines[41] = lines[41].rsplit(",", 2)[0]  # two fields short
    before = landing.land("b-ragged", {"part-0000.csv": ("\n".join(lines) + "\n").encode()})
    batch = landing.batch("b-ragged")
    exc = landing.reject(batch)
    assert exc.code == ReasonCode.RAGGED_CSV
    assert "part-0000.csv' line 42:" in str(exc)
    landing.check_quarantined(batch, ReasonCode.RAGGED_CSV, before)


def _manifest_batch(landing: Landing, **source: Any) -> tuple[bytes, bytes]:
    """Switch the spec to manifest completion; a data file and its (valid) manifest."""
    landing.spec = replace(landing.spec, source=replace(
        landing.spec.source, completion="manifest", marker="_manifest.json", **source))
    body = _parquet(landing.spec)
    return body, build_manifest({"part-0000.parquet": body}, {"part-0000.parquet": 300})


@pytest.mark.parametrize("limit", ["MANIFEST_MAX_BYTES", "max_file_bytes"])
def test_an_oversized_manifest_is_refused_unread(landing: Landing, limit: str) -> None:
    body, manifest = _manifest_batch(landing)
    size = s3io.MANIFEST_MAX_BYTES + 1
    if limit == "max_file_bytes":  # the spec's limit is the smaller one: it applies
        size = len(body) + 1
        landing.spec = replace(landing.spec, source=replace(landing.spec.source,
                                                            max_file_bytes=len(body)))
    # valid JSON padded with blanks: its size alone rejects it
    padded = manifest + b" " * (size - len(manifest))
    before = landing.land("b-manifest", {"part-0000.parquet": body}, marker_body=padded)
    batch = landing.batch("b-manifest")
    exc = landing.reject(batch, downloads=False)  # neither the manifest nor the data file
    assert exc.code == ReasonCode.MANIFEST_INVALID
    assert f"{size} bytes, more than the limit of {size - 1} bytes" in str(exc)
    reason = landing.check_quarantined(batch, ReasonCode.MANIFEST_INVALID, before)
    assert reason["reason_code"] == "MANIFEST_INVALID"


def test_a_manifest_at_the_limit_is_read_and_the_batch_accepted(landing: Landing) -> None:
    body, manifest = _manifest_batch(landing)
    padded = manifest + b" " * (s3io.MANIFEST_MAX_BYTES - len(manifest))
    landing.land("b-manifest-ok", {"part-0000.parquet": body}, marker_body=padded)
    batch = landing.batch("b-manifest-ok")
    run_id = "ingest__manifest_ok"
    steps.register_batch(landing.svc, landing.spec, batch, run_id)
    result = steps.validate(landing.svc, landing.spec, batch, run_id)
    assert result.rows == 300
    assert landing.svc.store.get_batch(landing.spec.name, "b-manifest-ok").status == "accepted"


def test_read_small_never_downloads_an_object_above_the_limit(landing: Landing) -> None:
    landing.s3.put_object(Bucket=landing.bucket, Key="k", Body=b"x" * 11)
    assert s3io.read_small(landing.s3, landing.bucket, "k", 11) == b"x" * 11
    with pytest.raises(s3io.ObjectTooLarge, match="11 bytes, more than the limit of 10"):
        s3io.read_small(NoDownload(landing.s3), landing.bucket, "k", 10)
