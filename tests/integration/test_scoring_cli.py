"""`mlops score` and `mlops predictions` against a real MLflow server, moto's S3 server and
the store: a local parquet or CSV file and an `s3://` object scored by the champion or
`--version`, written where `--out` says (default: beside the current folder), the numbers the
pyfunc's; the prediction log as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import yaml

from mlops_dev import datagen
from mlops_lib import cli
from mlops_lib.operations.champion import promote_version
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import scoring
from tests.integration.scoring_support import Served, serve
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.integration


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    served = serve(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path, monkeypatch)
    pipelines = tmp_path / "pipelines"  # the CLI finds the pipeline by name in its folder
    pipelines.mkdir()
    document = yaml.safe_load(EXAMPLE_SPEC.read_text())
    document["name"] = served.spec.name
    document["source"]["bucket"] = served.spec.source.bucket
    (pipelines / f"{served.spec.name}.yaml").write_text(yaml.safe_dump(document))
    settings = served.svc.settings
    for key, value in {"CT_HOME": str(settings.home), "CT_STORE_URL": settings.store_url,
                       "CT_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
                       "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
                       "CT_ARTIFACT_BUCKET": settings.artifact_bucket,
                       "CT_PIPELINES_DIR": str(pipelines)}.items():
        monkeypatch.setenv(key, value)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return served


def pyfunc(served: Served, version: str, raw: pd.DataFrame) -> pd.DataFrame:
    uri = f"models:/{served.spec.registered_model_name}/{version}"
    return mlflow.pyfunc.load_model(uri).predict(raw)


def assert_scored(path: Path, expected: pd.DataFrame, version: str) -> None:
    written = pd.read_parquet(path)
    assert written["row_number"].tolist() == list(range(len(expected)))
    assert written["score"].to_numpy().tobytes() == expected["score"].to_numpy().tobytes()
    assert written["predicted_label"].tolist() == expected["predicted_label"].tolist()
    assert set(written["model_version"]) == {version}


def test_score_a_local_parquet_and_csv_file_with_the_champion(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    raw = served.unlabelled(120, seed=31)
    Path("batch.parquet").write_bytes(datagen.to_file_bytes(raw, "parquet"))
    Path("batch.csv").write_bytes(datagen.to_file_bytes(raw, "csv"))
    expected = pyfunc(served, served.version, raw)

    assert cli.main(["score", served.spec.name, "batch.parquet"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"120 rows scored by {served.spec.registered_model_name} v{served.version} -> "
        "batch.predictions.parquet")
    assert_scored(Path("batch.predictions.parquet"), expected, served.version)

    assert cli.main(["score", served.spec.name, str(Path("batch.csv").resolve()),
                     "--out", "from_csv.parquet"]) == 0
    assert_scored(Path("from_csv.parquet"), expected, served.version)
    assert served.svc.store.predictions(served.spec.name) == []  # ad hoc: nothing logged


def test_score_an_s3_object_with_an_older_version(
        served: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    older = served.version
    newer = served.train("train-2", seed=6)
    promote_version(served.svc, served.spec.name, newer, reason="cli test", actor="tester")
    raw = served.unlabelled(80, seed=32)
    served.s3.put_object(Bucket=served.spec.scoring_bucket, Key="adhoc/rows.parquet",
                         Body=datagen.to_file_bytes(raw, "parquet"))
    source = f"s3://{served.spec.scoring_bucket}/adhoc/rows.parquet"
    out = tmp_path / "out" / "older.parquet"
    out.parent.mkdir()

    assert cli.main(["score", served.spec.name, source, "--version", older,
                     "--out", str(out)]) == 0
    assert f"v{older} -> {out}" in capsys.readouterr().out
    assert_scored(out, pyfunc(served, older, raw), older)

    assert cli.main(["score", served.spec.name, source]) == 0  # default: the champion
    assert f"v{newer} -> rows.predictions.parquet" in capsys.readouterr().out
    assert_scored(Path("rows.predictions.parquet"), pyfunc(served, newer, raw), newer)


def test_score_refuses_what_it_cannot_score(served: Served,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    raw = served.unlabelled(10, seed=33).drop(columns=["income"])
    Path("bad.parquet").write_bytes(datagen.to_file_bytes(raw, "parquet"))

    assert cli.main(["score", served.spec.name, "bad.parquet"]) == 1
    assert "MISSING_COLUMNS" in capsys.readouterr().err
    assert not Path("bad.predictions.parquet").exists()
    assert cli.main(["score", "no_such_pipeline", "bad.parquet"]) == 1
    assert "no pipeline 'no_such_pipeline'" in capsys.readouterr().err


def test_predictions_lists_the_log_as_a_table_and_as_json(
        served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    batches = [served.drop(served.unlabelled(n, seed=40 + n)) for n in (30, 40)]
    records = [scoring.score_batch(served.svc, served.spec, b, f"score__{i}").record
               for i, b in enumerate(batches)]

    assert cli.main(["predictions", served.spec.name, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {r["batch_id"]: r["rows_scored"] for r in listed} == {
        batches[0].batch_id: 30, batches[1].batch_id: 40}
    assert [r["predictions_uri"] for r in listed] == [
        r.predictions_uri for r in served.svc.store.predictions(served.spec.name)]

    assert cli.main(["predictions", served.spec.name]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for record in records:
        (line,) = [ln for ln in lines if f"  {record.batch_id}  " in ln]
        assert line.startswith(record.scored_at)
        assert f"v{served.version} champion" in line
        assert f"{record.rows_scored} rows  {record.predictions_uri}" in line

    assert cli.main(["predictions", served.spec.name, "--batch", batches[1].batch_id,
                     "--json"]) == 0
    assert [r["batch_id"] for r in json.loads(capsys.readouterr().out)] == [
        batches[1].batch_id]
    assert cli.main(["predictions", "nobody", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
