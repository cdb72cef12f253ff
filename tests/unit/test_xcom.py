"""The one JSON boundary (ct_airflow.xcom): every record the steps hand each other survives a
trip through XCom JSON, and the JSON keeps the keys its readers use (the report links, the
approval task, the asset events, the training plan)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import (ct_airflow.links)

from ct_airflow.links import returned_report_names  # noqa: E402
from ct_airflow.xcom import from_xcom, to_xcom  # noqa: E402

from mlops_lib.evaluation.approval import approval_skip_reason  # noqa: E402
from mlops_lib.landing.batches import BatchRef, ObjectInfo  # noqa: E402
from mlops_lib.steps.records import (  # noqa: E402
    ChampionSnapshot,
    DatasetVersion,
    Decision,
    DriftMeasurement,
    DriftVerdict,
    Evaluation,
    LandedFile,
    ReconcileResult,
    ReportSet,
    TrainedModel,
    TrainingPlan,
    ValidatedBatch,
)

pytestmark = pytest.mark.unit

AT = "2026-01-01T00:00:00+00:00"
CHAMPION = ChampionSnapshot(version="2", data_rev="abc", epoch=3, dag_run_id="manual__0")
PLAN = TrainingPlan(trigger={"type": "arrival", "arrivals": [{"batch_id": "b1"}]},
                    batch_ids=("b1", "b2"), may_promote=True, dataset_key="set-1",
                    skip_reason=None, champion=CHAMPION)
EVALUATION = Evaluation(
    candidate_version="3", baseline_version="2", champion_epoch=3, data_rev="def",
    verdict={"decision": "promote", "reasons": ["better"], "slices": []}, decision="promote",
    reason="better", metric="roc_auc", candidate_value=0.91, baseline_value=0.88,
    holdout_rows=500, performance_reports={"model_performance.html": "s3://a/mp.html"})
REPORTS = ReportSet(reports={"data_drift.html": "s3://a/dd.html"}, run_page="http://m/run",
                    downloads={"data_drift.html": "http://m/get"}, skipped=("no reference",))

RECORDS = [
    PLAN,
    TrainingPlan(trigger={"type": "manual"}, batch_ids=(), may_promote=False, dataset_key="-",
                 skip_reason="nothing new", champion=None),
    ValidatedBatch(batch_id="b1", fingerprint="f" * 64, rows=300, staged_uri="s3://a/s.parquet",
                   files=(LandedFile("landing/b1/p.parquet", "e1"),),
                   report={"n_rows": 300, "checks": [{"name": "non_empty", "passed": True}]}),
    DatasetVersion(pipeline="p", tag="ct/p/b1", rev="r" * 40, path="data/p/train.parquet",
                   md5="m", size=10, remote_url="s3://a/dvc"),
    TrainedModel(mlflow_run_id="run-1", model_version="3"),
    EVALUATION,
    REPORTS,
    ReportSet(error="ValueError: boom"),
    Decision(decision="promote", reason="better", metric="roc_auc", candidate_version="3",
             candidate_value=0.91, baseline_version=None, baseline_value=None, moved=True),
    ReconcileResult(champion="2", alias_before=None, repaired=True),
    DriftMeasurement(measured=("b1", "b2"), champion="2"),
    DriftVerdict(crossed=True, reason="2 of 3 features drifted", batch_ids=("b2",),
                 evidence={"share_drifted": 0.67}),
]


def through_xcom(record: Any) -> Any:
    """What the downstream task gets: the JSON the metadata database keeps, read back."""
    return from_xcom(type(record), json.loads(json.dumps(to_xcom(record))))


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_survives_xcom(record: Any) -> None:
    assert through_xcom(record) == record


def test_a_batch_travels_with_portable_names() -> None:
    """A NUL in an S3 key cannot be stored in PostgreSQL's JSON: it travels escaped."""
    key = "landing/b\x00/p.parquet"
    batch = BatchRef("b\x00", "landing/b\x00/", "landing/b\x00/_SUCCESS", AT,
                     (ObjectInfo(key, "e1", 3, AT),))
    data = to_xcom(batch)
    assert "\x00" not in json.dumps(data)
    assert data == batch.to_dict() and data["fingerprint"] == batch.fingerprint
    assert through_xcom(batch) == batch


def test_the_plan_json_is_what_the_training_tasks_read() -> None:
    data = to_xcom(PLAN)
    assert data == {"trigger": dict(PLAN.trigger), "batch_ids": ["b1", "b2"],
                    "may_promote": True, "dataset_key": "set-1", "skip_reason": None,
                    "champion": {"version": "2", "data_rev": "abc", "epoch": 3,
                                 "dag_run_id": "manual__0"},
                    "rows": {"column": None, "start": None, "end": None, "max_rows": None,
                             "seed": 0}}
    assert from_xcom(TrainingPlan, data) == PLAN


def test_the_validated_batch_carries_the_asset_event_extra() -> None:
    """validate_batch announces these keys; the drift monitor and the plan read them."""
    data = to_xcom(RECORDS[2])
    assert data["batch_id"] == "b1" and data["rows"] == 300
    assert data["files"] == [{"key": "landing/b1/p.parquet", "etag": "e1"}]
    assert {"batch_id", "fingerprint", "rows", "files", "staged_uri", "report"} == set(data)


def test_the_report_links_find_the_reports_in_the_json() -> None:
    assert returned_report_names(to_xcom(REPORTS)) == ["data_drift.html"]
    assert returned_report_names(to_xcom(EVALUATION)) == ["model_performance.html"]


def test_the_approval_task_reads_the_json() -> None:
    plan, evaluation = to_xcom(PLAN), to_xcom(EVALUATION)
    assert approval_skip_reason(evaluation, to_xcom(REPORTS), plan) is None
    assert "report missing" in str(approval_skip_reason(
        evaluation, to_xcom(ReportSet(error="boom")), plan))


def test_older_json_still_loads() -> None:
    """Keys a record does not know are ignored, missing defaults are filled, and JSON's one
    number type becomes the field's float."""
    reports = from_xcom(ReportSet, {"reports": {}, "error": "ValueError: x", "extra": 1})
    assert reports == ReportSet(error="ValueError: x")
    evaluation = to_xcom(EVALUATION) | {"candidate_value": 1}
    del evaluation["performance_reports"]
    loaded = from_xcom(Evaluation, evaluation)
    assert loaded.candidate_value == 1.0 and isinstance(loaded.candidate_value, float)
    assert loaded.performance_reports == {}
