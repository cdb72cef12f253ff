"""Lineage of a registered model version, and its reproduction from that lineage.

`lineage()` assembles, from the store and MLflow, everything that made a model version: the
batch files it came from (keys, ETags), why the DAG run fired, the DVC revision and hash of the
exact training set and the remote holding it, the code (git sha), the locked environment
(`uv.lock` hash), the XGBoost params and seed, the xgboost build, the GPU, the run's decision and
its reports.

`reproduce()` proves the lineage is sufficient: in a fresh directory it clones the dataset repo,
checks out the recorded revision and `dvc pull`s the training set into an empty, private DVC cache
(so the bytes can only come from the DVC remote), checks their md5, retrains on CPU with the
recorded params and compares the model's XGBoost JSON byte for byte with the registered one.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.versioning import VersioningError, run_command

ENV_PREFIX = "ct.env."
# Recorded params that training_params() derives and reproduce() sets itself.
_NOT_SPEC_PARAMS = {"num_boost_round", "device"}
# How the run split its data (logged as params since they are not XGBoost's): reproduce uses
# the recorded values, so a later spec edit does not change the reproduction.
_SPLIT_PARAMS = {"holdout_share": float, "validation_share": float,
                 "early_stopping_rounds": int, "time_column": str}


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


@dataclass(frozen=True)
class Reproduction:
    pipeline: str
    model_version: str
    workdir: str
    clone_dir: str               # fresh `git clone` of the dataset repo, at the recorded rev
    cache_dir: str               # the clone's own DVC cache, empty before `dvc pull`
    cache_files_before: int      # objects in that cache before the pull (0: nothing local)
    cache_files_after: int
    data_rev: str
    data_md5_expected: str
    data_md5_actual: str
    data_size: int
    data_identical: bool
    params: dict[str, Any]       # what the CPU retraining used
    model_sha256_registered: str
    model_sha256_retrained: str
    model_identical: bool
    first_difference: str | None  # where the model files first differ (None: identical)

    @property
    def identical(self) -> bool:
        return self.data_identical and self.model_identical

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identical": self.identical}

    def describe(self) -> str:
        data = "byte-identical" if self.data_identical else "DIFFERENT"
        model = "identical" if self.model_identical else "DIFFERENT"
        lines = [f"{self.pipeline} v{self.model_version}: reproduced in {self.workdir}",
                 f"  data:  dvc pull of rev {self.data_rev} into a fresh clone "
                 f"(cache {self.cache_files_before} -> {self.cache_files_after} objects): "
                 f"md5 {self.data_md5_actual} vs recorded {self.data_md5_expected}: {data}",
                 f"  model: retrained on CPU, sha256 {self.model_sha256_retrained[:16]} vs "
                 f"registered {self.model_sha256_registered[:16]}: {model}"]
        if self.first_difference:
            lines.append(f"  first difference: {self.first_difference}")
        return "\n".join(lines)


# --- lineage ------------------------------------------------------------------------------------


def lineage(svc: Services, pipeline: str, version: str) -> Lineage:
    """Everything that made `pipeline`'s model version `version`, from the store and MLflow."""
    from mlflow.exceptions import MlflowException

    version = str(version).removeprefix("v")
    model_name = f"ct_{pipeline}"
    client = svc.registry.client
    try:
        mv = client.get_model_version(model_name, version)
    except MlflowException as exc:
        raise LineageError(f"{model_name} has no version {version}") from exc
    mv_tags = dict(mv.tags or {})
    run_row = svc.store.training_run_of_version(pipeline, version)
    if run_row is None and mv_tags.get("ct.dag_run_id"):
        run_row = svc.store.get_training_run(pipeline, mv_tags["ct.dag_run_id"])
    if run_row is None:
        raise LineageError(f"no training run in the store registered {model_name} v{version}")
    run_id = run_row.get("mlflow_run_id") or mv.run_id
    run = client.get_run(run_id)
    tags, params, metrics = dict(run.data.tags), dict(run.data.params), dict(run.data.metrics)
    env = {k[len(ENV_PREFIX):]: v for k, v in tags.items() if k.startswith(ENV_PREFIX)}

    dag_run_id = run_row["dag_run_id"]
    data_rev = run_row.get("data_rev") or tags.get("ct.data_rev") or ""
    data_md5 = run_row.get("data_md5") or tags.get("ct.data_md5") or ""
    problems = _inconsistencies(run_row, mv, tags, mv_tags, version)

    # The training set's batches; runs recorded before multi-batch training name one.
    batch_ids = svc.store.training_batch_ids(pipeline, dag_run_id) or [run_row["batch_id"]]
    batches = [b for b in (svc.store.get_batch(pipeline, i) for i in batch_ids) if b]
    batch = batches[0] if len(batches) == 1 else None
    trigger = run_row.get("trigger") or {}
    files = [SourceFile(str(f["key"]), str(f["etag"]).strip('"'),
                        None if f.get("size") is None else int(f["size"]))
             for b in batches for f in b.files]
    if len(batches) != len(batch_ids):
        problems.append(f"the store lacks some of the run's batches {batch_ids}")
    announced = {f["key"]: str(f["etag"]).strip('"') for a in trigger.get("arrivals", [])
                 if a.get("batch_id") in batch_ids for f in a.get("files", [])}
    if any({f.key: f.etag for f in files}.get(k) != v for k, v in announced.items()):
        problems.append("the files announced on arrival differ from the batches' files")

    data_path, data_tag, data_size = f"data/{pipeline}/train.parquet", None, None
    repo = svc.settings.dvc_repo_dir
    if data_rev and (repo / ".git").exists():  # describe the version without creating a repo
        try:
            dv = svc.versioner.at(pipeline, data_rev)
        except Exception as exc:  # noqa: BLE001 - lineage still reports what the stores say
            problems.append(f"dataset repo {repo} has no version at {data_rev}: {exc}")
        else:
            data_path, data_size = dv.path, dv.size
            data_tag = _tag_of(repo, data_rev, pipeline)
            if dv.md5 != data_md5:
                problems.append(f"DVC md5 at rev {data_rev} is {dv.md5}, recorded {data_md5}")

    decision = svc.store.get_decision(pipeline, dag_run_id)
    reports = {f"{r['kind']}.{r['format']}": r["uri"]
               for r in svc.store.reports(pipeline, dag_run_id)}
    xgb_params = {k: v for k, v in params.items()
                  if k != "num_boost_round" and k not in _SPLIT_PARAMS}
    gpu = env.get("gpu_name")
    return Lineage(
        pipeline=pipeline, model_name=model_name, model_version=version,
        model_source=str(mv.source), mlflow_run_id=run_id, dag_run_id=dag_run_id,
        trigger=trigger, trigger_summary=tags.get("ct.trigger", ""),
        batch_id=run_row["batch_id"], batch_ids=[b.batch_id for b in batches],
        batch_status=None if batch is None else batch.status,
        batch_fingerprint=None if batch is None else batch.fingerprint, source_files=files,
        data_rev=data_rev, data_md5=data_md5, data_path=data_path, data_tag=data_tag,
        data_size=data_size, dvc_remote=svc.settings.dvc_remote_url,
        code_git_sha=env.get("code_git_sha", "unknown"),
        uv_lock_sha256=env.get("uv_lock_sha256", "unknown"),
        xgboost_params=xgb_params,
        split_params={k: v for k, v in params.items() if k in _SPLIT_PARAMS},
        seed=_int_or_none(params.get("seed")),
        num_boost_round=_int_or_none(params.get("num_boost_round")),
        xgboost_version=env.get("xgboost_version", "unknown"),
        xgboost_use_cuda=env.get("xgboost_use_cuda") == "True",
        xgboost_cuda_build=env.get("xgboost_cuda_build", "none"),
        xgboost_build_info=_json_or_empty(env.get("xgboost_build_info")),
        device=env.get("device", params.get("device", "unknown")),
        gpu_name=None if gpu in (None, "", "none") else gpu,
        train_rows=_int_or_none(metrics.get("train_rows")),
        decision=None if decision is None else {
            "decision": decision.decision, "reason": decision.reason,
            "metric": decision.metric, "candidate_value": decision.candidate_value,
            "baseline_version": decision.baseline_version,
            "baseline_value": decision.baseline_value, "created_at": decision.created_at},
        report_uris=reports, environment=env, inconsistencies=problems)


def _inconsistencies(run_row: dict[str, Any], mv: Any, tags: dict[str, str],
                     mv_tags: dict[str, str], version: str) -> list[str]:
    out = []
    checks = [("store training run's MLflow run", run_row.get("mlflow_run_id"), mv.run_id),
              ("MLflow run's ct.dag_run_id", tags.get("ct.dag_run_id"), run_row["dag_run_id"]),
              ("model version's ct.dag_run_id", mv_tags.get("ct.dag_run_id"),
               run_row["dag_run_id"]),
              ("MLflow run's ct.data_rev", tags.get("ct.data_rev"), run_row.get("data_rev")),
              ("model version's ct.data_rev", mv_tags.get("ct.data_rev"),
               run_row.get("data_rev")),
              ("MLflow run's ct.data_md5", tags.get("ct.data_md5"), run_row.get("data_md5")),
              ("store training run's model version", run_row.get("model_version"), version)]
    for what, seen, expected in checks:
        if seen is not None and expected is not None and str(seen) != str(expected):
            out.append(f"{what} is {seen}, expected {expected}")
    return out


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


# --- reproduction -------------------------------------------------------------------------------


def reproduce(svc: Services, pipeline: str, version: str, workdir: str | Path, *,
              spec: PipelineSpec | None = None,
              dataset_repo: str | Path | None = None) -> Reproduction:
    """Rebuild `version` from its lineage in `workdir` and compare it with the registered one.

    `spec`: the pipeline's spec (default: the current file in the pipelines folder); its XGBoost
    params, seed and rounds are replaced by those recorded on the run, the device by the CPU.
    `dataset_repo`: where to clone the dataset repo from (default: the service's own).
    """
    from mlops_lib.training import split_holdout, train_model

    lin = lineage(svc, pipeline, version)
    if not lin.data_rev:
        raise LineageError(f"{lin.model_name} v{lin.model_version}: no data revision recorded")
    spec = spec or _current_spec(svc, pipeline)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    clone = workdir / "datasets"
    cache = workdir / "dvc-cache"
    if clone.exists() or cache.exists():
        raise FileExistsError(f"{workdir} already holds a reproduction; use an empty folder")
    source = str(dataset_repo or svc.settings.dvc_repo_dir)
    _cmd(["git", "clone", "-q", "--no-checkout", source, str(clone)], workdir)
    _cmd(["git", "checkout", "-q", "--detach", lin.data_rev], clone)
    _dvc(clone, "config", "--local", "cache.dir", str(cache))
    _dvc(clone, "remote", "modify", "--local", "storage", "url", lin.dvc_remote)
    if svc.settings.s3_endpoint_url:
        _dvc(clone, "remote", "modify", "--local", "storage", "endpointurl",
             svc.settings.s3_endpoint_url)
    data_file = clone / lin.data_path
    if data_file.exists():
        raise LineageError(f"{data_file} is in git: the training set is not DVC-tracked")
    before = _count_files(cache)
    _dvc(clone, "pull", "-q", f"{lin.data_path}.dvc")
    after = _count_files(cache)
    data = data_file.read_bytes()
    md5 = hashlib.md5(data).hexdigest()

    import pandas as pd

    repro_spec, used = _spec_from_run(spec, lin)
    frame = pd.read_parquet(io.BytesIO(data))
    train_df, _ = split_holdout(frame, repro_spec.training.holdout_share,
                                repro_spec.training.seed, repro_spec.training.time_column)
    retrained = train_model(train_df, repro_spec).to_json_bytes()
    registered = registered_model_bytes(svc, lin.model_name, lin.model_version)
    (workdir / "model.retrained.json").write_bytes(retrained)
    (workdir / "model.registered.json").write_bytes(registered)
    return Reproduction(
        pipeline=pipeline, model_version=lin.model_version, workdir=str(workdir),
        clone_dir=str(clone), cache_dir=str(cache), cache_files_before=before,
        cache_files_after=after, data_rev=lin.data_rev, data_md5_expected=lin.data_md5,
        data_md5_actual=md5, data_size=len(data), data_identical=md5 == lin.data_md5,
        params=used, model_sha256_registered=hashlib.sha256(registered).hexdigest(),
        model_sha256_retrained=hashlib.sha256(retrained).hexdigest(),
        model_identical=retrained == registered,
        first_difference=first_difference(registered, retrained))


def registered_model_bytes(svc: Services, model_name: str, version: str) -> bytes:
    """The registered model file (XGBoost JSON) as MLflow stores it."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name}/{version}", dst_path=tmp,
            tracking_uri=svc.registry.tracking_uri)
        files = sorted(Path(local).glob("model.*"))
        json_files = [p for p in files if p.suffix == ".json"]
        if not json_files:
            raise LineageError(f"{model_name} v{version} has no XGBoost JSON model file "
                               f"(found {[p.name for p in files]})")
        return json_files[0].read_bytes()


def first_difference(expected: bytes, actual: bytes) -> str | None:
    """Where two model files first differ: the JSON path when both parse, and the byte offset."""
    if expected == actual:
        return None
    n = min(len(expected), len(actual))
    offset = next((i for i in range(n) if expected[i] != actual[i]), n)
    where = (f"byte {offset}: registered {expected[max(0, offset - 20):offset + 20]!r} vs "
             f"retrained {actual[max(0, offset - 20):offset + 20]!r} (sizes {len(expected)} "
             f"and {len(actual)})")
    try:
        path = _json_difference(json.loads(expected), json.loads(actual), "$")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return where
    return f"{path}; {where}" if path else where


def _json_difference(a: Any, b: Any, path: str) -> str | None:
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'retrained' if key in b else 'registered'}"
            found = _json_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _json_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None if len(a) == len(b) else f"{path}: length {len(a)} vs {len(b)}"
    return None if a == b else f"{path}: registered {a!r} vs retrained {b!r}"


def _spec_from_run(spec: PipelineSpec, lin: Lineage) -> tuple[PipelineSpec, dict[str, Any]]:
    """The spec with the run's recorded XGBoost params, seed and rounds, on the CPU."""
    params = {k: _parse_param(v) for k, v in lin.xgboost_params.items()
              if k not in _NOT_SPEC_PARAMS}
    params["device"] = "cpu"
    training = spec.training
    seed = lin.seed if lin.seed is not None else training.seed
    rounds = lin.num_boost_round if lin.num_boost_round is not None else training.num_boost_round
    split = {k: cast(lin.split_params[k]) or None if k == "time_column" else
             cast(lin.split_params[k]) for k, cast in _SPLIT_PARAMS.items()
             if k in lin.split_params}
    training = replace(training, seed=seed, num_boost_round=rounds, device="cpu", params=params,
                       **split)
    return replace(spec, training=training), {**params, "num_boost_round": rounds, **split}


def _parse_param(value: str) -> Any:
    """An MLflow param (a string) back as the value XGBoost got: int, float, bool or string."""
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(value, value)


def _current_spec(svc: Services, pipeline: str) -> PipelineSpec:
    from mlops_lib.spec import load_specs

    for spec in load_specs(svc.settings.pipelines_dir):
        if spec.name == pipeline:
            return spec
    raise LineageError(f"no spec named {pipeline} in {svc.settings.pipelines_dir}")


def _count_files(directory: Path) -> int:
    return sum(1 for p in directory.rglob("*") if p.is_file()) if directory.exists() else 0


def _dvc(repo: Path, *args: str) -> str:
    return _cmd([sys.executable, "-m", "dvc", *args], repo)


def _cmd(cmd: list[str], cwd: Path) -> str:
    try:
        return run_command(cmd, cwd)
    except VersioningError as exc:
        raise LineageError(str(exc)) from exc
