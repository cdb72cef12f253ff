"""Lineage and reproduction of a model version, against real services: moto's S3 server (landing
bucket and DVC remote), a real MLflow server, the store. The pipeline's steps run as the DAG runs
them (register, validate, version, train, evaluate, reports, decide), only without Airflow."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import xgboost as xgb

from mlops_dev import datagen
from mlops_lib import cli
from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.operations.lineage import LineageError, lineage
from mlops_lib.operations.reproduce import first_difference, reproduce
from mlops_lib.services import Services, scratch_path
from mlops_lib.settings import REPO_ROOT, Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import dataset, decide, evaluate, ingest, plan, reports, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.stores import s3io
from mlops_lib.training.environment import gpu_name
from tests.support import fresh_buckets

pytestmark = pytest.mark.integration

PIPELINE = "credit_default"


@dataclass
class Trained:
    svc: Services
    env: dict[str, str]
    spec: PipelineSpec
    batch: BatchRef
    trigger: dict[str, Any]
    dag_run_id: str
    version: dict[str, Any]
    trained: dict[str, Any]
    decision: dict[str, Any]
    etags: dict[str, str]  # the uploaded data objects' ETags, from S3 itself


@pytest.fixture
def trained(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, flow_store_url: str,
            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Trained:
    """One CT cycle of a generated batch, step by step, as the DAG's tasks call them."""
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    env = {"CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
           "CT_STORE_URL": flow_store_url, "MLFLOW_TRACKING_URI": mlflow_server,
           "CT_ARTIFACT_BUCKET": artifacts}
    svc = Services(Settings.from_env(env))
    # CPU: the guarantee is "retrained on CPU gives the same file", which a GPU-trained model
    # need not meet (cuda's histograms sum in another order).
    spec = replace(spec, source=replace(spec.source, bucket=landing),
                   training=replace(spec.training, device="cpu"))

    batch_id = f"batch-{uuid.uuid4().hex[:8]}"
    body = datagen.to_file_bytes(datagen.generate_batch(spec, 3000, seed=11), "parquet")
    s3io.upload_batch(s3, landing, spec.source.prefix, batch_id, {"part-0000.parquet": body})
    listing = s3io.list_objects(s3, landing, spec.source.prefix)
    (batch,) = completed_batches(listing, spec.source.prefix, spec.source.completion_rule)
    ingest_run_id = f"ingest__{uuid.uuid4().hex[:8]}"
    ingest.register_batch(svc, spec, batch, ingest_run_id)
    ingest.validate(svc, spec, batch, ingest_run_id)
    dag_run_id = f"manual__{uuid.uuid4().hex[:8]}"
    planned = plan.plan_training(svc, spec, RunContext(
        dag_run_id=dag_run_id, run_type="manual", triggered_by="tester",
        params={"reason": "lineage test", "batches": [batch.batch_id]}))
    version = dataset.version_dataset(svc, spec, planned, dag_run_id)
    trained = train.train(svc, spec, planned, version, dag_run_id)
    evaluation = evaluate.evaluate(svc, spec, version, trained, planned.champion, dag_run_id)
    built = reports.build_reports(svc, spec, version, trained, planned.champion, dag_run_id)
    decision = decide.decide(svc, spec, planned, evaluation, built, dag_run_id)

    etags = {f"{spec.source.prefix}{batch_id}/part-0000.parquet": s3.head_object(
        Bucket=landing, Key=f"{spec.source.prefix}{batch_id}/part-0000.parquet")["ETag"]
        .strip('"')}
    return Trained(svc, env, spec, batch, dict(planned.trigger), dag_run_id, asdict(version),
                   asdict(trained), asdict(decision), etags)


def _git_head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_lineage_records_what_made_the_version(trained: Trained) -> None:
    t, svc = trained, trained.svc
    run = svc.store.get_training_run(PIPELINE, t.dag_run_id)
    assert run is not None and run["model_version"] == t.trained["model_version"]
    # The decision ended the run: its scratch (training set copy, report files) is gone, and
    # the lineage below comes from the store, MLflow and DVC alone.
    assert not scratch_path(svc.settings.home, PIPELINE, t.dag_run_id).exists()

    lin = lineage(svc, PIPELINE, t.trained["model_version"])

    assert lin.model_version == t.trained["model_version"]
    assert lin.model_name == f"ct_{PIPELINE}"
    assert lin.mlflow_run_id == t.trained["mlflow_run_id"] == run["mlflow_run_id"]
    assert lin.dag_run_id == t.dag_run_id
    assert lin.trigger == t.trigger
    assert t.batch.batch_id in lin.trigger_summary
    # Source files: exactly the uploaded data objects with the ETags S3 gives them.
    assert {f.key: f.etag for f in lin.source_files} == t.etags
    assert lin.batch_id == t.batch.batch_id and lin.batch_status == "accepted"
    assert lin.batch_fingerprint == t.batch.fingerprint
    # The DVC version the training run recorded.
    assert lin.data_rev == run["data_rev"] == t.version["rev"] and len(lin.data_rev) == 40
    assert lin.data_md5 == run["data_md5"] == t.version["md5"]
    assert lin.data_path == t.version["path"] and lin.data_size == t.version["size"]
    assert lin.data_tag == t.version["tag"] == f"ct/{PIPELINE}/{t.batch.batch_id}"
    assert lin.dvc_remote == f"s3://{t.env['CT_ARTIFACT_BUCKET']}/dvc" == t.version["remote_url"]
    # Code, environment and params.
    assert lin.uv_lock_sha256 == hashlib.sha256((REPO_ROOT / "uv.lock").read_bytes()).hexdigest()
    assert lin.code_git_sha == _git_head()
    assert lin.seed == t.spec.training.seed
    assert lin.num_boost_round == t.spec.training.num_boost_round
    assert lin.xgboost_params["max_depth"] == str(t.spec.training.params["max_depth"])
    assert lin.xgboost_params["objective"] == "binary:logistic"
    assert lin.xgboost_version == xgb.__version__
    assert lin.xgboost_use_cuda == bool(xgb.build_info().get("USE_CUDA"))
    assert lin.xgboost_build_info.get("USE_CUDA") == xgb.build_info().get("USE_CUDA")
    assert lin.gpu_name == gpu_name()
    assert lin.device == "cpu"
    assert lin.train_rows is not None and 0 < lin.train_rows < 3000
    # The run's decision and reports, as the store has them.
    assert lin.decision is not None and lin.decision["decision"] == t.decision["decision"]
    assert lin.decision["reason"] == t.decision["reason"]
    stored = svc.store.reports(PIPELINE, t.dag_run_id)
    assert stored and lin.report_uris == {f"{r['kind']}.{r['format']}": r["uri"]
                                          for r in stored}
    assert lin.inconsistencies == []
    assert json.loads(json.dumps(lin.to_dict()))["data_rev"] == lin.data_rev

    # A store that disagrees with MLflow is reported, not papered over.
    svc.store.update_training_run(PIPELINE, t.dag_run_id, data_md5="0" * 32)
    tampered = lineage(svc, PIPELINE, t.trained["model_version"])
    assert any("ct.data_md5" in p for p in tampered.inconsistencies)
    assert any("DVC md5" in p for p in tampered.inconsistencies)

    with pytest.raises(LineageError, match="no version 999"):
        lineage(svc, PIPELINE, "999")
    assert svc.store.training_run_of_version(PIPELINE, "999") is None


def test_reproduce_from_the_dvc_remote_gives_identical_data_and_model(trained: Trained,
                                                                      tmp_path: Path) -> None:
    t, svc = trained, trained.svc
    version = t.trained["model_version"]
    # Nothing local to fall back on: no DVC cache, no workspace copy in the service's repo.
    repo = svc.settings.dvc_repo_dir
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / t.version["path"]).unlink()

    rep = reproduce(svc, PIPELINE, version, tmp_path / "repro")

    assert rep.cache_files_before == 0 and rep.cache_files_after >= 1  # pulled from the remote
    assert Path(rep.cache_dir).is_relative_to(tmp_path / "repro")
    assert not (repo / ".dvc" / "cache").exists()  # the service's repo was not touched
    assert rep.data_rev == t.version["rev"]
    assert rep.data_md5_actual == rep.data_md5_expected == t.version["md5"]
    assert rep.data_identical and rep.data_size == t.version["size"]
    assert rep.params["device"] == "cpu" and rep.params["seed"] == t.spec.training.seed
    assert rep.model_identical, rep.first_difference
    assert rep.first_difference is None and rep.identical
    assert rep.model_sha256_retrained == rep.model_sha256_registered
    registered = (tmp_path / "repro" / "model.registered.json").read_bytes()
    assert json.loads(registered)["learner"]["gradient_booster"]  # a real XGBoost JSON model
    assert (tmp_path / "repro" / "model.retrained.json").read_bytes() == registered

    # The comparison can fail: one changed leaf value is found and located.
    model = json.loads(registered)
    tree = model["learner"]["gradient_booster"]["model"]["trees"][0]
    tree["base_weights"][0] = tree["base_weights"][0] + 1.0
    changed = json.dumps(model, separators=(",", ":")).encode()
    diff = first_difference(registered, changed)
    assert diff is not None and "trees[0].base_weights[0]" in diff

    # The split settings come from the run, not today's spec: editing them changes nothing.
    edited = replace(t.spec, training=replace(t.spec.training, holdout_share=0.3))
    assert reproduce(svc, PIPELINE, version, tmp_path / "edited-split", spec=edited).identical

    # Control: a model on other inputs (one feature fewer) is another model, and says so.
    other = replace(t.spec, features=t.spec.features[:-1])
    moved = reproduce(svc, PIPELINE, version, tmp_path / "other-inputs", spec=other)
    assert moved.data_identical and not moved.model_identical and not moved.identical
    assert moved.first_difference and moved.first_difference.startswith("$.")

    # Control: with the remote's copy gone there is nowhere to get the bytes from.
    md5 = t.version["md5"]
    svc.s3.delete_object(Bucket=t.env["CT_ARTIFACT_BUCKET"],
                         Key=f"dvc/files/md5/{md5[:2]}/{md5[2:]}")
    with pytest.raises(LineageError, match="pull"):
        reproduce(svc, PIPELINE, version, tmp_path / "again")


def test_cli_lineage_and_reproduce(trained: Trained, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    t = trained
    for key, value in {**t.env, "CT_PIPELINES_DIR": str(REPO_ROOT / "pipelines"),
                       "CT_MLFLOW_ARTIFACT_ROOT": f"s3://{t.env['CT_ARTIFACT_BUCKET']}/mlflow",
                       }.items():
        monkeypatch.setenv(key, value)  # so the CLI's local-stack defaults change nothing
    version = t.trained["model_version"]

    assert cli.main(["lineage", PIPELINE, version, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model_version"] == version and out["dag_run_id"] == t.dag_run_id
    assert out["data_rev"] == t.version["rev"]
    assert {f["key"]: f["etag"] for f in out["source_files"]} == t.etags

    assert cli.main(["lineage", PIPELINE, version]) == 0
    text = capsys.readouterr().out
    for expected in (t.version["rev"], *t.etags.values(), t.dag_run_id,
                     t.trained["mlflow_run_id"], "uv.lock", "seed:         42"):
        assert expected in text

    assert cli.main(["lineage", PIPELINE, "999"]) == 1
    assert "no version 999" in capsys.readouterr().err

    workdir = tmp_path / "cli-repro"
    assert cli.main(["reproduce", PIPELINE, version, "--workdir", str(workdir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["identical"] and result["data_md5_actual"] == t.version["md5"]
    assert result["workdir"] == str(workdir)
