"""Report files on S3 (moto's server): each run's reports under `reports/<pipeline>/<run folder>/`
with their content types, the store pointing there, and a retry overwriting the same keys."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_lib.reports.builders import ReportFile
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.steps import reports as steps
from mlops_lib.stores.store import Store
from tests.support import migrated

pytestmark = pytest.mark.integration

PIPELINE = "credit_default"
RUN_ID = "manual__2026-01-02T03:04:05.123456+00:00"
FOLDER = f"reports/{PIPELINE}/manual__2026-01-02T03_04_05.123456_00_00/"


class FakeRegistry:
    def __init__(self) -> None:
        self.logged: list[tuple[str, list[str], str]] = []

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> str:
        self.logged.append((run_id, sorted(p.name for p in local_dir.iterdir()), artifact_path))
        return f"mlflow-artifacts:/1/{run_id}/artifacts/{artifact_path}"


def write_reports(out_dir: Path, text: str) -> list[ReportFile]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "data_drift.html").write_text(f"<html><body>{text}</body></html>")
    (out_dir / "data_drift.json").write_text(f'{{"text": "{text}"}}')
    return [ReportFile("data_drift", "html", out_dir / "data_drift.html"),
            ReportFile("data_drift", "json", out_dir / "data_drift.json")]


def test_reports_stored_per_run_and_a_retry_overwrites(s3: Any, tmp_path: Path) -> None:
    bucket = f"artifacts-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    svc = Services(Settings.from_env({"CT_HOME": str(tmp_path / "home"),
                                      "CT_ARTIFACT_BUCKET": bucket,
                                      "CT_STORE_URL": migrated(
                                          f"sqlite:///{tmp_path / 'store.db'}")}))
    svc.s3 = s3  # type: ignore[misc] - a cached_property: the moto server's client
    registry = svc.registry = FakeRegistry()  # type: ignore[assignment,misc]
    spec = SimpleNamespace(name=PIPELINE)
    out_dir = tmp_path / "reports"

    first = steps.store_reports(svc, spec, "run-1", out_dir,  # type: ignore[arg-type]
                                 write_reports(out_dir, "first try"), RUN_ID)
    retry = steps.store_reports(svc, spec, "run-1", out_dir,  # type: ignore[arg-type]
                                 write_reports(out_dir, "second try"), RUN_ID)

    expected = {name: f"s3://{bucket}/{FOLDER}{name}"
                for name in ("data_drift.html", "data_drift.json")}
    assert first == retry == expected
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="reports/")["Contents"]]
    assert sorted(keys) == sorted(f"{FOLDER}{name}" for name in expected)  # nothing added
    html = s3.get_object(Bucket=bucket, Key=f"{FOLDER}data_drift.html")
    assert html["ContentType"] == "text/html; charset=utf-8"
    assert b"second try" in html["Body"].read()  # the retry's bytes, at the same key
    assert s3.head_object(Bucket=bucket, Key=f"{FOLDER}data_drift.json")["ContentType"] == (
        "application/json")
    # The store points at the per-run copies (the index page and `mlops lineage` show these).
    rows = Store(svc.settings.store_url).reports(PIPELINE, RUN_ID)
    assert {(r["kind"], r["format"], r["uri"]) for r in rows} == {
        ("data_drift", "html", expected["data_drift.html"]),
        ("data_drift", "json", expected["data_drift.json"])}
    # And the MLflow run keeps its reports/ folder (its run page shows them).
    assert registry.logged == [("run-1", ["data_drift.html", "data_drift.json"], "reports")] * 2
