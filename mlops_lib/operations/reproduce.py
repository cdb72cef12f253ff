"""Reproduction of a registered model version from its lineage.

`reproduce()` proves the lineage is sufficient: in a fresh directory it clones the dataset repo,
checks out the recorded revision and `dvc pull`s the training set into an empty, private DVC cache
(so the bytes can only come from the DVC remote), checks their md5, retrains on CPU with the
recorded params and compares the model's XGBoost JSON byte for byte with the registered one.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mlops_lib.operations.lineage import SPLIT_PARAMS, Lineage, LineageError, lineage
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.versioning import VersioningError, run_command

# Recorded params that training_params() derives and reproduce() sets itself.
_NOT_SPEC_PARAMS = {"num_boost_round", "device"}


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


def reproduce(svc: Services, pipeline: str, version: str, workdir: str | Path, *,
              spec: PipelineSpec | None = None,
              dataset_repo: str | Path | None = None,
              progress: Callable[[str], None] | None = None) -> Reproduction:
    """Rebuild `version` from its lineage in `workdir` and compare it with the registered one.

    `spec`: the pipeline's spec (default: the current file in the pipelines folder); its XGBoost
    params, seed and rounds are replaced by those recorded on the run, the device by the CPU.
    `dataset_repo`: where to clone the dataset repo from (default: the service's own).
    `progress`: told each stage as it starts (the CLI prints them with the time taken).
    """
    from mlops_lib.training.split import split_holdout
    from mlops_lib.training.trainer import train_model

    say = progress or (lambda _: None)
    say(f"reading the lineage of {pipeline} v{version}")
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
    say(f"cloning the dataset repo at {lin.data_rev[:12]}")
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
    say(f"fetching data version {lin.data_rev[:12]} ({lin.data_path}) from DVC")
    _dvc(clone, "pull", "-q", f"{lin.data_path}.dvc")
    after = _count_files(cache)
    data = data_file.read_bytes()
    md5 = hashlib.md5(data).hexdigest()

    import pandas as pd

    repro_spec, used = _spec_from_run(spec, lin)
    frame = pd.read_parquet(io.BytesIO(data))
    train_df, _ = split_holdout(frame, repro_spec.training.holdout_share,
                                repro_spec.training.seed, repro_spec.training.time_column)
    say(f"retraining on CPU on {len(train_df)} rows")
    retrained = train_model(train_df, repro_spec).to_json_bytes()
    say(f"comparing with the registered {lin.model_name} v{lin.model_version}")
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
    found = svc.registry.model_file_bytes(model_name, version)
    if found is None or not found[0].endswith(".json"):
        raise LineageError(f"{model_name} v{version} has no XGBoost JSON model file "
                           f"(found {found[0] if found else 'none'})")
    return found[1]


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
    """The spec with the run's recorded XGBoost params, seed, rounds and split, on the CPU."""
    params = {k: _parse_param(v) for k, v in lin.xgboost_params.items()
              if k not in _NOT_SPEC_PARAMS}
    params["device"] = "cpu"
    training = spec.training
    recorded = lin.split_params
    training = replace(
        training, device="cpu", params=params,
        seed=lin.seed if lin.seed is not None else training.seed,
        num_boost_round=(lin.num_boost_round if lin.num_boost_round is not None
                         else training.num_boost_round),
        holdout_share=float(recorded.get("holdout_share", training.holdout_share)),
        validation_share=float(recorded.get("validation_share", training.validation_share)),
        early_stopping_rounds=int(recorded.get("early_stopping_rounds",
                                               training.early_stopping_rounds)),
        time_column=(recorded["time_column"] or None if "time_column" in recorded
                     else training.time_column),
        max_train_rows=(int(recorded["max_train_rows"]) if recorded.get("max_train_rows")
                        else None if "max_train_rows" in recorded
                        else training.max_train_rows))
    split = {k: getattr(training, k) for k in SPLIT_PARAMS if k in recorded}
    used = {**params, "num_boost_round": training.num_boost_round, **split}
    return replace(spec, training=training), used


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

    for spec in load_specs(*svc.settings.spec_dirs):
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
