"""Lineage of a registered model version: everything that made it, from the store and MLflow.

`lineage()` assembles the batch files the model came from (keys, ETags), why the DAG run fired,
the DVC revision and hash of the exact training set and the remote holding it, the code (git
sha), the locked environment (`uv.lock` hash), the XGBoost params and seed, the xgboost build,
the GPU, the run's decision and its reports. Each source of facts has its own reader (the
registry's model version, the store's training run, the MLflow run, the batches, the dataset
repo); `lineage()` puts their answers together and lists where they disagree.

`operations.reproduce` proves the lineage is sufficient by retraining from it.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops_lib.services import Services

ENV_PREFIX = "ct.env."
# How the run split its data (logged as params since they are not XGBoost's): reproduce uses
# the recorded values, so a later spec edit does not change the reproduction.
SPLIT_PARAMS = ("holdout_share", "validation_share", "early_stopping_rounds", "time_column",
                "max_train_rows")
# Logged beside the model's parameters to say where it was trained; not XGBoost parameters.
ENGINE_PARAMS = ("engine", "dask_cluster")


class LineageError(LookupError):
    """The model version, or a part of its lineage, cannot be found."""


@dataclass(frozen=True)
class SourceFile:
    key: str
    etag: str
    size: int | None = None


@dataclass(frozen=True)
class Lineage:
    pipeline: str
    model_name: str
    model_version: str
    model_source: str            # where MLflow stores the model (its artifact URI)
    mlflow_run_id: str
    dag_run_id: str
    trigger: dict[str, Any]      # why the DAG run fired, as recorded by register_batch
    trigger_summary: str         # the run's ct.trigger tag
    batch_id: str                # the training set's name: its one batch or set-<digest>
    batch_ids: list[str]         # the accepted batches it was assembled from
    batch_status: str | None
    batch_fingerprint: str | None
    source_files: list[SourceFile]
    data_rev: str                # git commit of the DVC dataset repo
    data_md5: str                # DVC content hash of the training set
    data_path: str               # the training set inside the dataset repo
    data_tag: str | None         # the version's git tag, when the dataset repo is at hand
    data_size: int | None
    dvc_remote: str
    code_git_sha: str
    uv_lock_sha256: str
    xgboost_params: dict[str, str]  # as logged on the MLflow run (strings)
    split_params: dict[str, str]    # holdout/validation split and early stopping, as logged
    seed: int | None
    num_boost_round: int | None
    xgboost_version: str
    xgboost_use_cuda: bool
    xgboost_cuda_build: str
    xgboost_build_info: dict[str, Any]
    device: str                  # where it was trained: cpu or cuda
    gpu_name: str | None
    train_rows: int | None
    decision: dict[str, Any] | None
    report_uris: dict[str, str]  # "<kind>.<format>" -> URI
    environment: dict[str, str] = field(default_factory=dict)  # every ct.env.* tag
    inconsistencies: list[str] = field(default_factory=list)   # store vs MLflow disagreements

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """A human-readable summary, as `mlops lineage` prints it."""
        lines = [f"{self.model_name} v{self.model_version} ({self.pipeline})",
                 f"  model:        {self.model_source}",
                 f"  MLflow run:   {self.mlflow_run_id}",
                 f"  DAG run:      {self.dag_run_id}",
                 f"  trigger:      {self.trigger_summary or self.trigger.get('type', '-')}",
                 f"  batches:      {', '.join(self.batch_ids) or self.batch_id} "
                 f"({self.batch_status or 'accepted'})"]
        for f in self.source_files:
            size = "" if f.size is None else f", {f.size} bytes"
            lines.append(f"    {f.key}  ETag {f.etag}{size}")
        lines += [f"  data:         rev {self.data_rev}  md5 {self.data_md5}",
                  f"                {self.data_path}"
                  + (f" (tag {self.data_tag})" if self.data_tag else "")
                  + f" on DVC remote {self.dvc_remote}",
                  f"  code:         git {self.code_git_sha}",
                  f"  uv.lock:      sha256 {self.uv_lock_sha256}",
                  f"  xgboost:      {self.xgboost_version}, CUDA build "
                  f"{'yes (' + self.xgboost_cuda_build + ')' if self.xgboost_use_cuda else 'no'}"
                  f"; trained on {self.device}"
                  + (f" ({self.gpu_name})" if self.gpu_name else ""),
                  f"  seed:         {self.seed}  rounds: {self.num_boost_round}"
                  + ("" if self.train_rows is None else f"  train rows: {self.train_rows}"),
                  "  params:       " + ", ".join(f"{k}={v}" for k, v in
                                                 sorted(self.xgboost_params.items()))]
        if self.decision:
            d = self.decision
            lines.append(f"  decision:     {str(d['decision']).upper()}: {d['reason']}")
        else:
            lines.append("  decision:     none recorded")
        lines.append("  reports:" + ("" if self.report_uris else "      none recorded"))
        lines += [f"    {name}: {uri}" for name, uri in sorted(self.report_uris.items())]
        lines += [f"  WARNING: {msg}" for msg in self.inconsistencies]
        return "\n".join(lines)


# --- the sources of facts -----------------------------------------------------------------------


@dataclass(frozen=True)
class _RegisteredVersion:
    """The model version as the MLflow registry holds it."""

    source: str                  # its artifact URI
    run_id: str | None
    tags: dict[str, str]


@dataclass(frozen=True)
class _MlflowRun:
    """The MLflow run that trained the model: what it logged."""

    run_id: str
    tags: dict[str, str]
    params: dict[str, str]
    metrics: dict[str, float]

    @property
    def environment(self) -> dict[str, str]:
        """The ct.env.* tags, without the prefix."""
        return {k[len(ENV_PREFIX):]: v for k, v in self.tags.items() if k.startswith(ENV_PREFIX)}


@dataclass(frozen=True)
class _Batches:
    """The accepted batches the training set was assembled from, as the store has them."""

    batch_ids: list[str]         # those the store has, in the run's order
    status: str | None           # of the one batch; None for a set of several
    fingerprint: str | None
    files: list[SourceFile]
    problems: list[str]


@dataclass(frozen=True)
class _DatasetVersion:
    """The training set in the dataset repo at the recorded revision."""

    path: str
    tag: str | None
    size: int | None
    problems: list[str]


def _registered_version(svc: Services, model_name: str, version: str) -> _RegisteredVersion:
    from mlflow.exceptions import MlflowException

    try:
        mv = svc.registry.client.get_model_version(model_name, version)
    except MlflowException as exc:
        raise LineageError(f"{model_name} has no version {version}") from exc
    return _RegisteredVersion(source=str(mv.source), run_id=mv.run_id, tags=dict(mv.tags or {}))


def _store_training_run(svc: Services, pipeline: str, model_name: str, version: str,
                        registered: _RegisteredVersion) -> dict[str, Any]:
    """The store's training run that registered the version (found by the version, else by the
    version's ct.dag_run_id tag)."""
    run_row = svc.store.training_run_of_version(pipeline, version)
    if run_row is None and registered.tags.get("ct.dag_run_id"):
        run_row = svc.store.get_training_run(pipeline, registered.tags["ct.dag_run_id"])
    if run_row is None:
        raise LineageError(f"no training run in the store registered {model_name} v{version}")
    return run_row


def _mlflow_run(svc: Services, run_id: str | None, model_name: str, version: str) -> _MlflowRun:
    if not run_id:
        raise LineageError(f"{model_name} v{version} names no MLflow run")
    run = svc.registry.client.get_run(run_id)
    return _MlflowRun(run_id=run_id, tags=dict(run.data.tags), params=dict(run.data.params),
                      metrics=dict(run.data.metrics))


def _batches(svc: Services, pipeline: str, run_row: dict[str, Any],
             trigger: dict[str, Any]) -> _Batches:
    """The training set's batches and their files, checked against the files announced when
    they arrived. Runs recorded before multi-batch training name one batch."""
    batch_ids = (svc.store.training_batch_ids(pipeline, run_row["dag_run_id"])
                 or [run_row["batch_id"]])
    batches = [b for b in (svc.store.get_batch(pipeline, i) for i in batch_ids) if b]
    batch = batches[0] if len(batches) == 1 else None
    files = [_source_file(f) for b in batches for f in b.files]
    problems = []
    if len(batches) != len(batch_ids):
        problems.append(f"the store lacks some of the run's batches {batch_ids}")
    if _announced_files_differ(trigger, batch_ids, files):
        problems.append("the files announced on arrival differ from the batches' files")
    return _Batches(batch_ids=[b.batch_id for b in batches],
                    status=None if batch is None else batch.status,
                    fingerprint=None if batch is None else batch.fingerprint,
                    files=files, problems=problems)


def _source_file(listed: dict[str, Any]) -> SourceFile:
    size = listed.get("size")
    return SourceFile(str(listed["key"]), str(listed["etag"]).strip('"'),
                      None if size is None else int(size))


def _announced_files_differ(trigger: dict[str, Any], batch_ids: list[str],
                            files: list[SourceFile]) -> bool:
    """Whether a file the trigger announced on arrival of these batches is missing from their
    files or has another ETag there."""
    announced = {f["key"]: str(f["etag"]).strip('"') for a in trigger.get("arrivals", [])
                 if a.get("batch_id") in batch_ids for f in a.get("files", [])}
    etags = {f.key: f.etag for f in files}
    return any(etags.get(key) != etag for key, etag in announced.items())


def _dataset_version(svc: Services, pipeline: str, data_rev: str,
                     data_md5: str) -> _DatasetVersion:
    """The training set at `data_rev`, when the dataset repo is at hand (it is read, never
    created: without it, the default path and no tag or size)."""
    default = _DatasetVersion(path=f"data/{pipeline}/train.parquet", tag=None, size=None,
                              problems=[])
    repo = svc.settings.dvc_repo_dir
    if not data_rev or not (repo / ".git").exists():
        return default
    try:
        dv = svc.versioner.at(pipeline, data_rev)
    except Exception as exc:  # noqa: BLE001 - lineage still reports what the stores say
        return replace(default,
                       problems=[f"dataset repo {repo} has no version at {data_rev}: {exc}"])
    problems = ([] if dv.md5 == data_md5 else
                [f"DVC md5 at rev {data_rev} is {dv.md5}, recorded {data_md5}"])
    return _DatasetVersion(path=dv.path, tag=_tag_of(repo, data_rev, pipeline), size=dv.size,
                           problems=problems)


def _decision(svc: Services, pipeline: str, dag_run_id: str) -> dict[str, Any] | None:
    decision = svc.store.get_decision(pipeline, dag_run_id)
    if decision is None:
        return None
    return {"decision": decision.decision, "reason": decision.reason,
            "metric": decision.metric, "candidate_value": decision.candidate_value,
            "baseline_version": decision.baseline_version,
            "baseline_value": decision.baseline_value, "created_at": decision.created_at}


def _report_uris(svc: Services, pipeline: str, dag_run_id: str) -> dict[str, str]:
    return {f"{r['kind']}.{r['format']}": r["uri"]
            for r in svc.store.reports(pipeline, dag_run_id)}


# --- the record ---------------------------------------------------------------------------------


def lineage(svc: Services, pipeline: str, version: str) -> Lineage:
    """Everything that made `pipeline`'s model version `version`, from the store and MLflow."""
    version = str(version).removeprefix("v")
    model_name = f"ct_{pipeline}"
    registered = _registered_version(svc, model_name, version)
    run_row = _store_training_run(svc, pipeline, model_name, version, registered)
    run = _mlflow_run(svc, run_row.get("mlflow_run_id") or registered.run_id, model_name,
                      version)
    dag_run_id = run_row["dag_run_id"]
    data_rev = run_row.get("data_rev") or run.tags.get("ct.data_rev") or ""
    data_md5 = run_row.get("data_md5") or run.tags.get("ct.data_md5") or ""
    trigger = run_row.get("trigger") or {}
    batches = _batches(svc, pipeline, run_row, trigger)
    dataset = _dataset_version(svc, pipeline, data_rev, data_md5)
    env, params = run.environment, run.params
    gpu = env.get("gpu_name")
    return Lineage(
        pipeline=pipeline, model_name=model_name, model_version=version,
        model_source=registered.source, mlflow_run_id=run.run_id, dag_run_id=dag_run_id,
        trigger=trigger, trigger_summary=run.tags.get("ct.trigger", ""),
        batch_id=run_row["batch_id"], batch_ids=batches.batch_ids,
        batch_status=batches.status, batch_fingerprint=batches.fingerprint,
        source_files=batches.files,
        data_rev=data_rev, data_md5=data_md5, data_path=dataset.path, data_tag=dataset.tag,
        data_size=dataset.size, dvc_remote=svc.settings.dvc_remote_url,
        code_git_sha=env.get("code_git_sha", "unknown"),
        uv_lock_sha256=env.get("uv_lock_sha256", "unknown"),
        xgboost_params={k: v for k, v in params.items()
                        if k != "num_boost_round" and k not in SPLIT_PARAMS
                        and k not in ENGINE_PARAMS},
        split_params={k: v for k, v in params.items() if k in SPLIT_PARAMS},
        seed=_int_or_none(params.get("seed")),
        num_boost_round=_int_or_none(params.get("num_boost_round")),
        xgboost_version=env.get("xgboost_version", "unknown"),
        xgboost_use_cuda=env.get("xgboost_use_cuda") == "True",
        xgboost_cuda_build=env.get("xgboost_cuda_build", "none"),
        xgboost_build_info=_json_or_empty(env.get("xgboost_build_info")),
        device=env.get("device", params.get("device", "unknown")),
        gpu_name=None if gpu in (None, "", "none") else gpu,
        train_rows=_int_or_none(run.metrics.get("train_rows")),
        decision=_decision(svc, pipeline, dag_run_id),
        report_uris=_report_uris(svc, pipeline, dag_run_id), environment=env,
        inconsistencies=[*_inconsistencies(run_row, registered, run.tags, version),
                         *batches.problems, *dataset.problems])


def _inconsistencies(run_row: dict[str, Any], registered: _RegisteredVersion,
                     tags: dict[str, str], version: str) -> list[str]:
    """Where the store, the MLflow run and the model version's tags disagree."""
    mv_tags = registered.tags
    checks = [("store training run's MLflow run", run_row.get("mlflow_run_id"),
               registered.run_id),
              ("MLflow run's ct.dag_run_id", tags.get("ct.dag_run_id"), run_row["dag_run_id"]),
              ("model version's ct.dag_run_id", mv_tags.get("ct.dag_run_id"),
               run_row["dag_run_id"]),
              ("MLflow run's ct.data_rev", tags.get("ct.data_rev"), run_row.get("data_rev")),
              ("model version's ct.data_rev", mv_tags.get("ct.data_rev"),
               run_row.get("data_rev")),
              ("MLflow run's ct.data_md5", tags.get("ct.data_md5"), run_row.get("data_md5")),
              ("store training run's model version", run_row.get("model_version"), version)]
    return [f"{what} is {seen}, expected {expected}" for what, seen, expected in checks
            if seen is not None and expected is not None and str(seen) != str(expected)]


def _tag_of(repo: Path, rev: str, pipeline: str) -> str | None:
    proc = subprocess.run(["git", "tag", "--points-at", rev, "--list", f"ct/{pipeline}/*"],
                          cwd=repo, capture_output=True, text=True)
    tags = proc.stdout.split() if proc.returncode == 0 else []
    return tags[0] if tags else None


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def _json_or_empty(value: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(value or "{}")
    except json.JSONDecodeError:
        return {"raw": value}
    return parsed if isinstance(parsed, dict) else {"raw": value}
