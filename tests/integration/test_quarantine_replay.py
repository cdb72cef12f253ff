"""`mlops quarantine replay` on a real S3 API (moto's server) and store: a batch the ingest step
quarantined is judged again after the producer uploads a fix under its landing folder (or
after a spec change, from its quarantine copy); accepted, staged and its rejected_batch alert
resolved, the quarantine row and copy kept, the replay audited, and a second replay of the
same content under the same spec changes nothing. `mlops reports` downloads a batch's drift
report from the same S3."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib import cli_ops
from mlops_lib.cli import main
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.operations import quarantine
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import Feature, PipelineSpec
from mlops_lib.steps import ingest
from mlops_lib.stores import s3io
from mlops_lib.stores.alerts import AlertRecord
from mlops_lib.validation.reasons import BatchRejected
from tests.support import fresh_buckets

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(spec: PipelineSpec, s3: Any, s3_endpoint: str, store_url: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[Services, PipelineSpec]:
    bucket, artifacts = fresh_buckets(s3, monkeypatch)
    env = {"CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
           "CT_STORE_URL": store_url, "CT_ARTIFACT_BUCKET": artifacts}
    for key, value in env.items():  # the CLI reads its settings from the environment
        monkeypatch.setenv(key, value)
    svc = Services(Settings.from_env(env))
    svc.__dict__["s3"] = s3
    spec = replace(spec, source=replace(spec.source, bucket=bucket))
    monkeypatch.setattr(cli_ops, "_specs", lambda settings, name: [spec])
    return svc, spec


def _land(svc: Services, spec: PipelineSpec, batch_id: str, frame: pd.DataFrame) -> BatchRef:
    s3io.upload_batch(svc.s3, spec.source.bucket, spec.source.prefix, batch_id,
                      {"part-0.parquet": datagen.to_file_bytes(frame, "parquet")})
    (batch,) = [b for b in completed_batches(
        s3io.list_objects(svc.s3, spec.source.bucket, spec.source.prefix),
        spec.source.prefix, spec.source.completion_rule) if b.batch_id == batch_id]
    return batch


def _quarantined(svc: Services, spec: PipelineSpec, batch_id: str) -> BatchRef:
    """A batch with ages above the spec's 120, ingested: quarantined OUT_OF_RANGE."""
    frame = datagen.generate_batch(spec, 200, seed=3)
    frame.loc[:4, "age"] = 150
    batch = _land(svc, spec, batch_id, frame)
    ingest.register_batch(svc, spec, batch, f"ingest__{batch_id}")
    with pytest.raises(BatchRejected):
        ingest.validate(svc, spec, batch, f"ingest__{batch_id}")
    svc.store.raise_alert(AlertRecord(spec.name, "rejected_batch", batch_id, "ticket",
                                      f"batch {batch_id} quarantined",
                                      "docs/runbooks/quarantine.md"))
    return batch


def _objects(svc: Services, bucket: str, prefix: str) -> dict[str, str]:
    return {o.key: o.etag for o in s3io.list_objects(svc.s3, bucket, prefix)}


def test_a_fixed_upload_is_accepted_by_a_replay_and_the_quarantine_copy_stays(
        landed: tuple[Services, PipelineSpec], capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    svc, spec = landed
    bad = _quarantined(svc, spec, "b1")
    assert [(a.kind, a.subject) for a in svc.store.alerts(spec.name, open_only=True)] == [
        ("rejected_batch", "b1")]
    copy = _objects(svc, spec.source.bucket, s3io.quarantine_prefix(spec.name, "b1"))
    assert len(copy) == 2  # the data file and _REASON.json

    assert main(["quarantine", "list", spec.name]) == 0
    assert capsys.readouterr().out.startswith("b1  quarantined ")
    # the producer has not fixed it yet: the same bytes are refused again, and audited
    assert main(["quarantine", "replay", spec.name, "b1", "--reason", "retry",
                 "--actor", "oncall"]) == 1
    assert "rejected again [OUT_OF_RANGE]" in capsys.readouterr().out

    fixed = _land(svc, spec, "b1", datagen.generate_batch(spec, 200, seed=4))  # same folder
    # the landing sensor sees new content under a judged id: the ingest run refuses it
    # (BATCH_CHANGED) and copies it beside the first copy, which stays as it was
    with pytest.raises(BatchRejected) as changed:
        ingest.register_batch(svc, spec, fixed, "ingest__b1_again")
    ingest.quarantine(svc, spec, fixed, changed.value, "ingest__b1_again")
    kept = _objects(svc, spec.source.bucket, s3io.quarantine_prefix(spec.name, "b1"))
    assert {k: v for k, v in kept.items() if "/changed-" not in k} == copy
    assert len(kept) == 4  # and the changed upload's copy and reason in their subfolder
    assert main(["quarantine", "replay", spec.name, "b1", "--reason", "producer fixed ages",
                 "--actor", "oncall"]) == 0
    out = capsys.readouterr().out
    assert "batch b1: accepted" in out and f"mlops trigger {spec.name}" in out

    record = svc.store.get_batch(spec.name, "b1")
    assert record is not None and record.status == "accepted" and record.reason_code is None
    assert record.fingerprint != bad.fingerprint and record.rows_accepted == 200
    assert record.staged_uri and record.staged_uri.startswith(
        f"s3://{svc.settings.artifact_bucket}/staging/{spec.name}/b1/")
    assert [b.batch_id for b in svc.store.accepted_batches(spec.name, untrained_only=True)] \
        == ["b1"]  # the next training run takes it
    assert svc.store.get_quarantine(spec.name, "b1") is not None  # never deleted
    assert _objects(svc, spec.source.bucket, s3io.quarantine_prefix(spec.name, "b1")) == kept
    assert svc.store.quarantined_batches(spec.name) == []
    assert svc.store.alerts(spec.name, open_only=True) == []
    replays = svc.store.replays(spec.name, "b1")
    assert [(r.outcome, r.reason_code, r.actor, r.source) for r in replays] == [
        ("rejected", "OUT_OF_RANGE", "oncall", "landing"),
        ("accepted", None, "oncall", "landing")]
    assert replays[1].fingerprint == record.fingerprint

    staged = _objects(svc, svc.settings.artifact_bucket, "staging/")
    again = quarantine.replay(svc, spec, "b1", reason="once more", actor="someone")
    assert again.repeated and again.replay == replays[1]
    assert svc.store.replays(spec.name, "b1") == replays
    assert _objects(svc, svc.settings.artifact_bucket, "staging/") == staged

    assert main(["quarantine", "show", spec.name, "b1", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "accepted" and shown["reason_code"] == "OUT_OF_RANGE"
    assert [c["reason_code"] for c in shown["failed_checks"]] == ["OUT_OF_RANGE"]
    assert [r["outcome"] for r in shown["replays"]] == ["rejected", "accepted"]

    # a monitored batch's drift report, filed as drift/<batch>, found by the batch id
    uri = s3io.put_file(svc.s3, svc.settings.artifact_bucket,
                        f"reports/{spec.name}/drift/b1/batch_drift.html", b"<html>drift</html>")
    svc.store.record_report(spec.name, "drift/b1", "batch_drift", "html", uri)
    assert main(["reports", spec.name]) == 0
    assert "drift/b1  (1 reports)" in capsys.readouterr().out
    assert main(["reports", spec.name, "b1", "--download", str(tmp_path / "got")]) == 0
    assert uri in capsys.readouterr().out
    assert (tmp_path / "got" / "batch_drift.html").read_bytes() == b"<html>drift</html>"


def test_after_a_spec_change_the_quarantine_copy_is_replayed(
        landed: tuple[Services, PipelineSpec]) -> None:
    svc, spec = landed
    bad = _quarantined(svc, spec, "b2")
    with pytest.raises(quarantine.ReplayError, match="never quarantined"):
        quarantine.replay(svc, spec, "b3", reason="typo", actor="oncall")

    age = Feature(**{"name": "age", "dtype": "int", "min": 0, "max": 200})
    wider = replace(spec, features=tuple(age if f.name == "age" else f for f in spec.features))
    assert quarantine.spec_digest(wider) != quarantine.spec_digest(spec)
    outcome = quarantine.replay(svc, wider, "b2", reason="ages up to 200 are valid",
                                actor="oncall", source="quarantine")
    assert outcome.accepted and not outcome.repeated
    record = svc.store.get_batch(spec.name, "b2")
    # the landing content is unchanged: the record keeps the fingerprint the sensor knows
    assert record is not None and record.status == "accepted"
    assert record.fingerprint == bad.fingerprint and record.rows_accepted == 200
    assert outcome.replay.source == "quarantine"
