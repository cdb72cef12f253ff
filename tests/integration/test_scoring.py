"""Scoring with the champion against a real MLflow server, moto's S3 server and the store:
a model trained and registered by the train step, promoted, then an unlabelled batch scored by
the scoring step. Its predictions equal `mlflow.pyfunc.load_model("models:/...@champion")`
on the same raw rows byte for byte; a re-run writes the same bytes and the same record; a bad
batch is quarantined with a reason code; the logged model holds no pickle."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest

from mlops_lib.scoring.ct_serving import ScoringInputError
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import scoring
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    return serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)


def test_the_scoring_step_writes_the_pyfunc_numbers_and_a_rerun_changes_nothing(
        served: Served) -> None:
    raw = served.unlabelled(700, seed=11)
    batch = served.drop(raw)

    first = scoring.score_batch(served.svc, served.spec, batch, "score__1")

    record = first.record
    assert first.created and record.model_version == served.version
    assert record.role == "champion" and record.rows_scored == 700
    assert record.predictions_uri == (
        f"s3://{served.svc.settings.artifact_bucket}/predictions/{served.spec.name}/"
        f"{batch.batch_id}/champion-v{served.version}.parquet")
    written = served.read(record.predictions_uri)
    predictions = pd.read_parquet(io.BytesIO(written))
    assert list(predictions.columns) == ["row_number", "score", "predicted_label",
                                         "model_version", "scored_at"]
    assert predictions["row_number"].tolist() == list(range(700))
    assert set(predictions["model_version"]) == {served.version}
    champion = mlflow.pyfunc.load_model(
        f"models:/{served.spec.registered_model_name}@champion")
    expected = champion.predict(raw)
    assert predictions["score"].to_numpy().tobytes() == expected["score"].to_numpy().tobytes()
    assert predictions["predicted_label"].tolist() == expected["predicted_label"].tolist()

    again = scoring.score_batch(served.svc, served.spec, batch, "score__2")

    assert not again.created and again.record == record
    assert served.read(record.predictions_uri) == written  # the same bytes
    assert served.svc.store.predictions(served.spec.name) == [record]


def test_a_batch_the_contract_refuses_is_quarantined_with_its_reason(served: Served) -> None:
    raw = served.unlabelled(50, seed=3).drop(columns=["income"])
    batch = served.drop(raw)

    with pytest.raises(BatchRejected) as rejected:
        scoring.score_batch(served.svc, served.spec, batch, "score__1")

    assert rejected.value.code == ReasonCode.MISSING_COLUMNS
    stored = served.svc.store.get_quarantine(served.spec.name, f"scoring/{batch.batch_id}")
    assert stored is not None and stored["reason_code"] == "MISSING_COLUMNS"
    assert stored["quarantine_uri"].endswith(
        f"quarantine/{served.spec.name}/scoring/{batch.batch_id}/")
    assert served.svc.store.predictions(served.spec.name) == []
    champion = mlflow.pyfunc.load_model(
        f"models:/{served.spec.registered_model_name}@champion")
    with pytest.raises(ScoringInputError, match="MISSING_COLUMNS"):  # the pyfunc says it too
        champion.predict(raw)


def test_unknown_categories_score_as_missing_and_the_model_holds_no_pickle(
        served: Served, tmp_path: Path) -> None:
    raw = served.unlabelled(5, seed=4)
    unknown = raw.assign(region="atlantis")
    missing = raw.assign(region=None)
    uri = f"models:/{served.spec.registered_model_name}@champion"
    champion = mlflow.pyfunc.load_model(uri)

    assert champion.predict(unknown)["score"].tolist() == champion.predict(missing)[
        "score"].tolist()
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path)))
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"MLmodel", "artifacts/model.json", "artifacts/contract.json",
            "code/ct_serving.py"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert "python_model.pkl" not in (folder / "MLmodel").read_text()
