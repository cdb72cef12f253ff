"""Late labels end to end below Airflow, on a real MLflow server, moto's S3 server and the
store (SQLite and PostgreSQL): a champion scores a batch, label drops land for part of it, in
pieces, again and corrected; a bad drop is quarantined; realized performance is the metric of
the labelled rows of the logged predictions, with its interval, coverage and estimate."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.evaluation import metrics
from mlops_lib.monitoring.labels import LabelReason, LabelsRejected
from mlops_lib.spec import PipelineSpec, ScoringConfig
from mlops_lib.spec.labels import LabelsConfig
from mlops_lib.steps import scoring
from mlops_lib.steps.labels import ingest_label_drop
from mlops_lib.steps.performance import measure_performance
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration

FIRST_ID = 1000
ROWS = 600


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    served = serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)
    served.spec = replace(served.spec, scoring=ScoringConfig(id_column="loan_id"),
                          labels=LabelsConfig(window_rows=200))
    return served


def test_labels_arrive_late_in_pieces_are_corrected_and_measure_the_champion(
        served: Served) -> None:
    svc, spec = served.svc, served.spec
    truth = datagen.generate_batch(served.example, ROWS, seed=21)
    ids = np.arange(FIRST_ID, FIRST_ID + ROWS)
    unlabelled = truth.drop(columns=[spec.target]).assign(loan_id=ids)
    unlabelled["region"] = unlabelled["region"].astype(object)
    scored = scoring.score_batch(svc, spec, served.drop(unlabelled), "score__1").record
    predictions = pd.read_parquet(io.BytesIO(served.read(scored.predictions_uri)))
    labels = pd.DataFrame({"loan_id": ids, spec.target: truth[spec.target].astype(int)})

    first = ingest_label_drop(svc, spec, served.land_labels("day-1", labels[:300]), "l__1")
    again = ingest_label_drop(svc, spec, served.land_labels("day-1", labels[:300]), "l__1")

    assert first.created and (first.rows, first.new_labels, first.corrections) == (300, 300, 0)
    assert not again.created and again.rows == 300
    measured = measure_performance(svc, spec)
    (batch_window,) = [w for w in measured.windows if w.window_kind == "batch"]
    y, p = labels[spec.target][:300].to_numpy(), predictions["score"][:300].to_numpy()
    assert batch_window.value == pytest.approx(metrics.metric("roc_auc", y, p))
    assert batch_window.ci_low is not None and batch_window.ci_high is not None
    assert batch_window.ci_low < batch_window.value < batch_window.ci_high
    assert (batch_window.rows_labelled, batch_window.rows_scored) == (300, ROWS)
    assert batch_window.model_version == served.version and batch_window.role == "champion"
    assert batch_window.estimated is not None and 0.5 < batch_window.estimated <= 1.0
    assert json.loads(batch_window.metrics_json)["accuracy"] == pytest.approx(
        metrics.metric("accuracy", y, p))
    assert sum(b["rows"] for b in json.loads(batch_window.reliability_json)) == 300
    assert [w.window_key for w in measured.windows if w.window_kind == "rows"] == \
        ["0-199"]  # 300 labelled rows: one full window of 200

    corrected = labels[300:].copy()
    flip = labels[:1].assign(**{spec.target: 1 - labels[spec.target][:1]})
    second = ingest_label_drop(svc, spec, served.land_labels(
        "day-2", pd.concat([corrected, flip])), "l__2")

    assert (second.rows, second.new_labels, second.corrections) == (301, 300, 1)
    (audit,) = svc.store.label_corrections(spec.name)
    assert audit.row_id == str(FIRST_ID) and audit.new_label == 1 - audit.old_label
    assert audit.old_drop_ref.startswith("day-1@") and audit.new_drop_ref.startswith("day-2@")
    stored = {lab.row_id: lab.label for lab in svc.store.labels(spec.name)}
    assert len(stored) == ROWS and stored[str(FIRST_ID)] == audit.new_label
    windows = measure_performance(svc, spec).windows
    assert [w.rows_labelled for w in windows if w.window_kind == "batch"] == [ROWS]
    assert [w.window_key for w in windows if w.window_kind == "rows"] == \
        ["0-199", "200-399", "400-599"]
    assert len(svc.store.performance(spec.name)) == 4  # replaced, not added to


BAD_DROPS = {  # drop id: (file, the reason it is refused for)
    "never-scored": (pd.DataFrame({"loan_id": [99_999], "default": [1]}),
                     LabelReason.LABELS_NEVER_SCORED),
    "bad-target": (pd.DataFrame({"loan_id": [FIRST_ID], "default": [7]}),
                   LabelReason.LABELS_INVALID_TARGET),
    "no-id": (pd.DataFrame({"id": [FIRST_ID], "default": [1]}),
              LabelReason.LABELS_MISSING_COLUMNS),
}


def test_a_bad_label_drop_is_quarantined_untouched_and_stays_refused(served: Served) -> None:
    svc, spec = served.svc, served.spec
    unlabelled = served.unlabelled(50, seed=3).assign(loan_id=np.arange(FIRST_ID, FIRST_ID + 50))
    scoring.score_batch(svc, spec, served.drop(unlabelled), "score__1")
    for drop_id, (frame, code) in BAD_DROPS.items():
        drop = served.land_labels(drop_id, frame)
        raw = served.read(f"s3://{spec.labels_bucket}/{drop.files[0].key}")

        for attempt in ("l__1", "l__1"):  # a retry refuses it again, for the same reason
            with pytest.raises(LabelsRejected) as refused:
                ingest_label_drop(svc, spec, drop, attempt)
            assert refused.value.code == code, drop_id

        claim = svc.store.label_drop(spec.name, drop.batch_id, drop.fingerprint)
        assert claim is not None and (claim.status, claim.reason_code) == ("rejected", code)
        quarantined = svc.store.get_quarantine(spec.name, f"labels/{drop_id}")
        assert quarantined is not None and quarantined["reason_code"] == code
        reason = json.loads(served.read(quarantined["quarantine_uri"] + "_REASON.json"))
        assert reason["reason_code"] == code and reason["kind"] == "labels"
        assert served.read(f"s3://{spec.labels_bucket}/{drop.files[0].key}") == raw
    assert svc.store.labels(spec.name) == []
