"""Train the challenger on the run's versioned data and register it, once per data revision."""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import planning, registration
from mlops_lib.steps.records import DatasetVersion, TrainedModel, TrainingPlan
from mlops_lib.stores.registry import CHALLENGER
from mlops_lib.training import trainer

if TYPE_CHECKING:
    from mlops_lib.training.trainer import TrainedModel as Model

log = logging.getLogger(__name__)


def train(svc: Services, spec: PipelineSpec, plan: TrainingPlan, version: DatasetVersion,
          dag_run_id: str) -> TrainedModel:
    """Train the challenger on the versioned data and register it (once per data revision).

    A retried or re-run task finds the version of its idempotency key instead of training
    again. Registering goes through the store's claim on the key (`registration`): whoever
    else trains on the same data at the same time, the key gets one version, and every run
    that trained on that data points its challenger at it. Any attempt may fail or be killed
    at any point and be retried: what it logged again is stamped anew (`log_run_data`), and a
    model it left half-logged is never registered."""
    trigger = plan.trigger
    run_id = svc.registry.ensure_run(spec.registered_model_name, dag_run_id, {
        "ct.pipeline": spec.name, "ct.data_rev": version.rev,
        "ct.data_md5": version.md5, "ct.trigger": planning.describe(trigger)[:5000],
        "ct.trigger.type": str(trigger.get("type", "unknown")),
        "ct.trigger.detail": json.dumps(trigger, sort_keys=True)[:5000]})
    model_name = spec.registered_model_name
    key = idempotency_key(spec, version.rev)
    model_version = registration.registered_version(svc, spec.name, model_name, key, run_id)
    if model_version is None:
        model = _train_on_version(svc, spec, version, dag_run_id)
        _log_training(svc, spec, run_id, model)
        reports = svc.store.validation_reports(
            spec.name, svc.store.training_batch_ids(spec.name, dag_run_id))
        if reports:  # what the training data passed, beside the model it made
            svc.registry.client.log_dict(run_id, reports, "validation/reports.json")
        model_version = registration.register_once(svc, registration.Candidate(
            pipeline=spec.name, model_name=model_name, key=key, dag_run_id=dag_run_id,
            mlflow_run_id=run_id, booster=model.booster, spec=spec,
            tags={"ct.dag_run_id": dag_run_id, "ct.data_rev": version.rev,
                  registration.KEY_TAG: key}))
        log.info("Trained on %s (%d rows, %.1fs); %s v%s is the model of this data",
                 model.device, model.train_rows, model.train_seconds, model_name,
                 model_version)
    svc.registry.set_alias(model_name, CHALLENGER, model_version)
    svc.store.update_training_run(spec.name, dag_run_id, mlflow_run_id=run_id,
                                  model_version=model_version)
    return TrainedModel(mlflow_run_id=run_id, model_version=model_version)


def _train_on_version(svc: Services, spec: PipelineSpec, version: DatasetVersion,
                      dag_run_id: str) -> Model:
    """Train on exactly the versioned bytes, from a scratch copy of the file: in memory, or from
    external memory when the matrix would not fit `training.memory_budget_gib`."""
    from mlops_lib.training.external_memory import train_from_parquet

    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        path = svc.versioner.read_to(version, Path(tmp) / "data.parquet")
        return train_from_parquet(path, spec, Path(tmp))


def _log_training(svc: Services, spec: PipelineSpec, run_id: str, model: Model) -> None:
    """The model's parameters, training metrics and environment, on its MLflow run."""
    svc.registry.log_run_data(
        run_id, params={**model.params, "num_boost_round": model.num_boost_round,
                        "holdout_share": spec.training.holdout_share,
                        "validation_share": spec.training.validation_share,
                        "early_stopping_rounds": spec.training.early_stopping_rounds,
                        "time_column": spec.training.time_column or "",
                        "max_train_rows": spec.training.max_train_rows or "",
                        **_engine_params(spec)},
        metrics={"train_rows": model.train_rows, "train_seconds": model.train_seconds,
                 "train_rows_available": model.rows_available,
                 "matrix_seconds": model.matrix_seconds,
                 "validation_rows": model.validation_rows,
                 "best_iteration": model.best_iteration}
        | ({} if model.best_score is None else {"best_score": model.best_score}),
        tags={f"ct.env.{k}": v for k, v in model.environment.items()}
        | {"ct.train_sampled": str(model.sampled).lower()})


def idempotency_key(spec: PipelineSpec, data_rev: str) -> str:
    """Same pipeline, data revision, code and training settings: the same model, registered once
    (a retried or re-run task finds the version instead of creating another)."""
    material = {"pipeline": spec.name, "data_rev": data_rev, "code": trainer.git_sha(),
                "training": asdict(spec.training), "inputs": spec.model_inputs,
                "target": spec.target, "task": spec.task}
    if spec.classes:  # multiclass: the class order fixes what each output column means
        material["classes"] = list(spec.classes)
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def _engine_params(spec: PipelineSpec) -> dict[str, Any]:
    """Where the model was trained: the engine and, on Dask, the cluster, whose worker count
    changes the model (each worker sketches the quantile cuts of its own rows)."""
    cfg = spec.training
    if cfg.engine != "dask":
        return {"engine": cfg.engine}
    return {"engine": "dask", "dask_cluster": cfg.dask.scheduler_address
            or f"LocalCluster {cfg.dask.n_workers}x{cfg.dask.threads_per_worker} threads"}
