"""Training and scoring XGBoost models: seeded, on the GPU when one is there.

The hot path: every model input becomes one column of a float32 matrix (Fortran order, so each
column is written contiguously): numeric and bool columns as their values, category columns as
their code in the spec's category order with feature type ``c`` (XGBoost's native categorical
support; an unknown or missing label is a missing value). The training rows become a
``QuantileDMatrix``; the early-stopping validation rows a second one built with ``ref=`` the first,
so it reuses the training cuts. Prediction goes through the same conversion, so a category means
the same code at training and at scoring time.

A multiclass target is encoded the same way: each label's index in the spec's `classes`
(``multi:softprob`` with ``num_class`` k), so ``predict`` returns a (rows, k) probability matrix
whose column j is class ``spec.classes[j]``.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import xgboost as xgb

from mlops_lib import metrics
from mlops_lib.sampling import stratified_sample
from mlops_lib.settings import REPO_ROOT
from mlops_lib.spec import Feature, PipelineSpec
from mlops_lib.validation import class_codes

log = logging.getLogger(__name__)

_OBJECTIVES = {
    "binary_classification": ("binary:logistic", "auc"),
    "multiclass_classification": ("multi:softprob", "mlogloss"),
    "regression": ("reg:squarederror", "rmse"),
}
MAX_TAG_CHARS = 5000  # MLflow tag values are capped; environment values are cut to this


@dataclass
class TrainedModel:
    booster: xgb.Booster
    params: dict[str, Any]
    num_boost_round: int
    device: str
    train_rows: int
    train_seconds: float
    environment: dict[str, str] = field(default_factory=dict)
    best_iteration: int = -1        # 0-based index of the last tree kept; trees = this + 1
    best_score: float | None = None  # validation metric at best_iteration (None: no validation)
    validation_rows: int = 0        # rows carved from the training frame for early stopping
    matrix_seconds: float = 0.0     # frame -> float32 -> QuantileDMatrix (train + validation)
    rows_available: int = 0         # training rows before training.max_train_rows sampled them

    @property
    def sampled(self) -> bool:
        return self.train_rows + self.validation_rows < self.rows_available

    @property
    def stopped_early(self) -> bool:
        return self.best_iteration + 1 < self.num_boost_round

    def to_json_bytes(self) -> bytes:
        """XGBoost's own JSON format: portable, inspectable, never pickled."""
        return bytes(self.booster.save_raw(raw_format="json"))


def gpu_name() -> str | None:
    """Name of the first visible NVIDIA GPU, or None."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
    return names[0] if out.returncode == 0 and names else None


def choose_device(preference: str) -> str:
    if preference in ("cpu", "cuda"):
        return preference
    return "cuda" if gpu_name() and xgb.build_info().get("USE_CUDA") else "cpu"


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores)


def cgroup_cpu_quota() -> float | None:
    """CPUs allowed by the cgroup's CFS quota (v2 `cpu.max` or v1), or None when unlimited."""
    root = Path("/sys/fs/cgroup")
    try:
        v2 = (root / "cpu.max").read_text().split()
        if v2 and v2[0] != "max":
            return float(v2[0]) / float(v2[1])
        if v2:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def split_holdout(df: pd.DataFrame, share: float, seed: int,
                  time_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/holdout; the holdout is never trained on by the challenger.

    Without `time_column`: a seeded random split. With it: the newest `share` of the rows (by
    that column) is the holdout, extended to every row sharing the cut-off time so that no
    timestamp straddles the split (unless that leaves nothing to train on); rows with a missing
    time count as the oldest. Both parts keep the frame's row order.
    """
    mask = holdout_mask(df, share, seed, time_column)
    return df.loc[~mask].reset_index(drop=True), df.loc[mask].reset_index(drop=True)


def holdout_mask(data: pd.DataFrame | pa.Table, share: float, seed: int | list[int],
                 time_column: str | None, rows: np.ndarray | None = None) -> np.ndarray:
    """True for the rows held out (see split_holdout), over `rows` of `data` (None: all)."""
    n = _n_rows(data, rows)
    if time_column is None:
        rng = np.random.default_rng(seed)
        return rng.random(n) < share
    times = column_series(data, time_column)
    times = (times if rows is None else times.iloc[rows]).reset_index(drop=True)
    n_holdout = min(n, max(1, round(share * n))) if n else 0
    order = times.sort_values(kind="stable", na_position="first").index.to_numpy()
    mask = np.zeros(n, dtype=bool)
    if n_holdout:
        mask[order[n - n_holdout:]] = True
        cutoff = times.iloc[order[n - n_holdout]]
        ties = (times >= cutoff).to_numpy() if not pd.isna(cutoff) else mask
        if not (mask | ties).all():  # keep something to train on when all times are equal
            mask |= ties
    return mask


def column_series(data: pd.DataFrame | pa.Table, name: str) -> pd.Series:
    """One column as pandas: the frame's own, or converted alone from an Arrow table."""
    return data[name] if isinstance(data, pd.DataFrame) else data.column(name).to_pandas()


# --- features -----------------------------------------------------------------------------------


def model_features(spec: PipelineSpec) -> list[Feature]:
    """The spec's features the model consumes, in model column order (spec.model_inputs)."""
    inputs = set(spec.model_inputs)
    return [f for f in spec.features if f.name in inputs]


def feature_types(spec: PipelineSpec) -> list[str]:
    """XGBoost feature types of the model columns: ``c`` (categorical) or ``q`` (numeric)."""
    return ["c" if f.dtype == "category" else "q" for f in model_features(spec)]


def feature_matrices(data: pd.DataFrame | pa.Table, spec: PipelineSpec,
                     *row_sets: np.ndarray | None) -> list[np.ndarray]:
    """One float32 (rows x model inputs) matrix per row set (row positions; None: all rows).

    Column by column, without a 2-D float64 intermediate: numeric and bool values cast to
    float32 (missing: NaN); category columns as their code in the spec's category order
    (unknown or missing: NaN). Fortran order, so each column is one contiguous write. An Arrow
    table is read column by column too, never as a whole pandas frame: the same values as
    its pandas conversion would give, bit for bit.
    """
    if not row_sets:
        row_sets = (None,)
    features = model_features(spec)
    n = _n_rows(data)
    out = [np.empty((n if rows is None else len(rows), len(features)), dtype=np.float32,
                    order="F") for rows in row_sets]
    for j, feature in enumerate(features):
        values = (_column_values(data[feature.name], feature) if isinstance(data, pd.DataFrame)
                  else _arrow_column_values(data.column(feature.name), feature))
        for matrix, rows in zip(out, row_sets, strict=True):
            matrix[:, j] = values if rows is None else values[rows]
    return out


def feature_matrix(df: pd.DataFrame, spec: PipelineSpec) -> np.ndarray:
    return feature_matrices(df, spec, None)[0]


def _column_values(series: pd.Series, feature: Feature) -> np.ndarray:
    """A column as a 1-D numeric array ready to be cast to float32 (NaN for missing)."""
    if feature.dtype == "category":
        categories = list(feature.categories)
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == categories:
            codes = series.cat.codes.to_numpy()  # conformed batches: codes are already ours
        else:
            codes = pd.Categorical(series, categories=categories).codes
        values = codes.astype(np.float32)
        values[codes < 0] = np.nan
        return values
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiub":
        return series.to_numpy()  # no copy; the cast happens in the write to the matrix
    return series.to_numpy(dtype=np.float32, na_value=np.nan)  # nullable / arrow-backed


def _arrow_column_values(column: pa.ChunkedArray, feature: Feature) -> np.ndarray:
    """An Arrow column as _column_values gives its pandas conversion (NaN for missing)."""
    if feature.dtype == "category":  # pandas' categorical holds int codes: cheap to convert
        return _column_values(column.to_pandas(), feature)
    # unsafe: int64 beyond 2**24 rounds to the nearest float32, as numpy's cast does
    return pc.cast(column, pa.float32(), safe=False).to_numpy(zero_copy_only=False)


def _labels(data: pd.DataFrame | pa.Table, spec: PipelineSpec,
            *row_sets: np.ndarray | None) -> list[np.ndarray]:
    y = (target_values(data, spec).astype(np.float32)
         if spec.task == "multiclass_classification"
         else column_series(data, spec.target).to_numpy(dtype=np.float32))
    return [y if rows is None else y[rows] for rows in row_sets]


def target_values(data: pd.DataFrame | pa.Table, spec: PipelineSpec) -> np.ndarray:
    """The target as the metrics and the model see it: 0/1 (binary), the value (regression), or
    the class index in spec.classes (multiclass; a label outside them is an error, which
    validation reports first as TARGET_INVALID_CLASS)."""
    target = column_series(data, spec.target)
    if spec.task != "multiclass_classification":
        return target.to_numpy()
    codes = class_codes(target, spec.classes)
    if (codes < 0).any():
        raise ValueError(f"{int((codes < 0).sum())} labels of {spec.target!r} are null or "
                         f"outside the classes {list(spec.classes)}")
    return codes


def to_dmatrix(df: pd.DataFrame, spec: PipelineSpec, *, with_label: bool = True) -> xgb.DMatrix:
    """A DMatrix through the same float32 / native-categorical conversion as training."""
    label = _labels(df, spec)[0] if with_label else None
    return xgb.DMatrix(feature_matrix(df, spec), label=label, feature_names=spec.model_inputs,
                       feature_types=feature_types(spec), enable_categorical=True,
                       nthread=available_cores())


def _quantile_matrix(x: np.ndarray, y: np.ndarray, spec: PipelineSpec, params: dict[str, Any],
                     ref: xgb.QuantileDMatrix | None = None) -> xgb.QuantileDMatrix:
    max_bin = params.get("max_bin")  # must match the booster's max_bin
    return xgb.QuantileDMatrix(x, label=y, feature_names=spec.model_inputs,
                               feature_types=feature_types(spec), enable_categorical=True,
                               nthread=int(params["nthread"]), ref=ref,
                               max_bin=None if max_bin is None else int(max_bin))


# --- training -----------------------------------------------------------------------------------


def validation_mask(train_data: pd.DataFrame | pa.Table, spec: PipelineSpec,
                    rows: np.ndarray | None = None) -> np.ndarray | None:
    """Training rows held back for early stopping (over `rows` of `train_data`; None: all
    rows), or None (no early stopping).

    Seeded like the holdout but from its own stream; with a time column, the newest rows. None
    when early stopping is off, when the split would leave either side empty, or when a binary
    target's validation rows hold one class only (AUC is undefined there). Not stratified, for
    binary or multiclass alike; a multiclass split needs no such check (mlogloss is defined on
    any mix of classes).
    """
    cfg = spec.training
    n = _n_rows(train_data, rows)
    if cfg.early_stopping_rounds <= 0 or n < 2:
        return None
    mask = holdout_mask(train_data, cfg.validation_share, [cfg.seed, 1], cfg.time_column, rows)
    if not mask.any() or mask.all():
        log.info("Early stopping off: a validation share of %s leaves no rows on one side",
                 cfg.validation_share)
        return None
    if spec.task == "binary_classification":
        target = column_series(train_data, spec.target).to_numpy()
        if np.unique((target if rows is None else target[rows])[mask]).size < 2:
            log.info("Early stopping off: the validation rows hold a single class")
            return None
    return mask


def capped_rows(data: pd.DataFrame | pa.Table, spec: PipelineSpec,
                rows: np.ndarray | None) -> np.ndarray | None:
    """`rows` (None: all) cut to `training.max_train_rows` by a seeded sample, stratified by
    class for classification, in the data's row order; unchanged when under the cap."""
    cap = spec.training.max_train_rows
    n = _n_rows(data, rows)
    if cap is None or n <= cap:
        return rows
    target = column_series(data, spec.target).to_numpy()
    picked = stratified_sample(target if rows is None else target[rows], spec.task, cap,
                               [spec.training.seed, 2])
    log.warning("Training on a sample: %d of %d training rows (training.max_train_rows, "
                "seeded%s); the holdout keeps every row", cap, n,
                "" if spec.task == "regression" else ", stratified by class")
    return picked if rows is None else rows[picked]


def _n_rows(data: pd.DataFrame | pa.Table, rows: np.ndarray | None = None) -> int:
    """Rows of `data`, or of the subset `rows` (positions) when given."""
    if rows is not None:
        return len(rows)
    return len(data) if isinstance(data, pd.DataFrame) else data.num_rows


def training_params(spec: PipelineSpec, device: str) -> dict[str, Any]:
    objective, eval_metric = _OBJECTIVES[spec.task]
    params: dict[str, Any] = {
        "objective": objective, "eval_metric": eval_metric, "tree_method": "hist",
        "device": device, "seed": spec.training.seed, "nthread": available_cores(),
        **spec.training.params,
    }
    if spec.task == "multiclass_classification":
        params["num_class"] = len(spec.classes)  # always the spec's: the columns of predict
    return params


def train_model(train_data: pd.DataFrame | pa.Table, spec: PipelineSpec,
                rows: np.ndarray | None = None) -> TrainedModel:
    """Train on `rows` (positions) of `train_data`, or on all of it.

    A pandas frame or an Arrow table (the versioned parquet as read): the same rows give the
    same model, byte for byte. Passing the whole table with the training rows' positions
    spares a copy of the training part of the data set.
    """
    cfg = spec.training
    device = choose_device(cfg.device)
    params = training_params(spec, device)
    started = time.perf_counter()
    available = _n_rows(train_data, rows)
    rows = capped_rows(train_data, spec, rows)
    mask = validation_mask(train_data, spec, rows)
    row_sets: tuple[np.ndarray | None, ...] = (rows,)
    if mask is not None:
        base = np.arange(len(mask)) if rows is None else rows
        row_sets = (base[~mask], base[mask])
    xs = feature_matrices(train_data, spec, *row_sets)
    ys = _labels(train_data, spec, *row_sets)
    if cfg.engine == "dask":
        matrix_seconds = time.perf_counter() - started
        started = time.perf_counter()
        booster = _fit_on_dask(params, xs, ys, spec, validation=mask is not None)
        evals_used = mask is not None
    else:
        dtrain = _quantile_matrix(xs[0], ys[0], spec, params)
        evals: list[tuple[xgb.DMatrix, str]] = []
        if mask is not None:
            evals = [(_quantile_matrix(xs[1], ys[1], spec, params, ref=dtrain), "validation")]
        del xs  # the quantile matrices hold their own compressed copy
        matrix_seconds = time.perf_counter() - started

        started = time.perf_counter()
        booster = xgb.train(params, dtrain, num_boost_round=cfg.num_boost_round, evals=evals,
                            early_stopping_rounds=cfg.early_stopping_rounds if evals else None,
                            verbose_eval=False)
        evals_used = bool(evals)
    train_seconds = time.perf_counter() - started
    best_score: float | None = None
    if evals_used:
        best_iteration = int(booster.best_iteration)
        best_score = float(booster.best_score)
        rounds_trained = booster.num_boosted_rounds()
        if rounds_trained > best_iteration + 1:
            booster = booster[: best_iteration + 1]  # the registered model is the best one
        log.info("Early stopping: best iteration %d (%d trees kept; %d of at most %d rounds "
                 "trained); validation %s %.6f on %d rows", best_iteration, best_iteration + 1,
                 rounds_trained, cfg.num_boost_round, params["eval_metric"], best_score,
                 len(ys[1]))
    else:
        best_iteration = booster.num_boosted_rounds() - 1
        log.info("No early stopping: %d trees", best_iteration + 1)
    log.info("Matrix build %.2fs, training %.2fs on %s, nthread %s, %d rows x %d features",
             matrix_seconds, train_seconds, device, params["nthread"], len(ys[0]),
             len(spec.model_inputs))
    return TrainedModel(booster=booster, params=params, num_boost_round=cfg.num_boost_round,
                        device=device, train_rows=len(ys[0]), train_seconds=train_seconds,
                        environment=capture_environment(device), best_iteration=best_iteration,
                        best_score=best_score,
                        validation_rows=0 if mask is None else len(ys[1]),
                        rows_available=available,
                        matrix_seconds=matrix_seconds)


def _fit_on_dask(params: dict[str, Any], xs: list[np.ndarray], ys: list[np.ndarray],
                 spec: PipelineSpec, *, validation: bool) -> xgb.Booster:
    from mlops_lib import training_dask  # dask is imported only by pipelines that use it

    cfg = spec.training
    return training_dask.fit(
        params, xs[0], ys[0], xs[1] if validation else None, ys[1] if validation else None,
        feature_names=spec.model_inputs, feature_types=feature_types(spec),
        num_boost_round=cfg.num_boost_round,
        early_stopping_rounds=cfg.early_stopping_rounds if validation else None,
        config=cfg.dask)


def load_booster(model_json: bytes) -> xgb.Booster:
    booster = xgb.Booster()
    booster.load_model(bytearray(model_json))
    return booster


def predict(booster: xgb.Booster, df: pd.DataFrame, spec: PipelineSpec) -> np.ndarray:
    return booster.predict(to_dmatrix(df, spec, with_label=False))


def score(y_true: np.ndarray, y_pred: np.ndarray, task: str,
          threshold: float = 0.5) -> dict[str, float]:
    """All metrics of the task type (see mlops_lib.metrics); the primary metric is one."""
    return metrics.compute(y_true, y_pred, task, threshold)


def capture_environment(device: str) -> dict[str, str]:
    """Where and with what a model was trained; string values, each at most MAX_TAG_CHARS long.

    Becomes the run's `ct.env.*` MLflow tags. GPU keys other than `gpu_name` ("none" without a
    GPU) and the CUDA runtime/driver keys are absent when there is no GPU or no CUDA library.
    """
    info = xgb.build_info()
    cuda_build = info.get("CUDA_VERSION")
    env: dict[str, Any] = {
        "xgboost_version": xgb.__version__,
        "xgboost_use_cuda": str(bool(info.get("USE_CUDA"))),
        "xgboost_build_info": json.dumps(
            {k: v for k, v in info.items() if k != "libxgboost"}, sort_keys=True, default=str),
        "xgboost_cuda_build": ".".join(map(str, cuda_build)) if cuda_build else "none",
        "device": device,
        "nthread": available_cores(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),          # kept for older runs' tag set: same as the total
        "cpu_cores_total": os.cpu_count(),
        "cpu_cores_available": available_cores(),
        "ram_total_gib": _ram_total_gib(),
        "gpu_name": gpu_name() or "none",
        "uv_lock_sha256": _file_sha256(REPO_ROOT / "uv.lock"),
        "code_git_sha": git_sha(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }
    gpus = query_gpus()
    if gpus:
        first = gpus[0]
        env.update({"gpu_count": len(gpus), "gpu_memory_mib": first.get("memory.total", ""),
                    "gpu_driver": first.get("driver_version", ""),
                    "gpus": "; ".join(g.get("name", "") for g in gpus)})
    env.update(cuda_versions())
    return {k: str(v)[:MAX_TAG_CHARS] for k, v in env.items()}


_GPU_FIELDS = ("name", "memory.total", "driver_version")


def query_gpus() -> list[dict[str, str]]:
    """Visible NVIDIA GPUs as reported by nvidia-smi (name, memory.total in MiB, driver)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, f"--query-gpu={','.join(_GPU_FIELDS)}",
                              "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    rows = [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines()]
    return [dict(zip(_GPU_FIELDS, r, strict=False)) for r in rows if r and r[0]]


def cuda_versions() -> dict[str, str]:
    """CUDA runtime (libcudart) and driver API versions, where those libraries load."""
    found: dict[str, str] = {}
    for key, names, symbol in (
        ("cuda_runtime", ("libcudart.so", "libcudart.so.13", "libcudart.so.12"),
         "cudaRuntimeGetVersion"),
        ("cuda_driver_api", ("libcuda.so.1", "libcuda.so"), "cuDriverGetVersion"),
    ):
        version = _cuda_library_version(names, symbol)
        if version:
            found[key] = f"{version // 1000}.{(version % 1000) // 10}"
    return found


def _cuda_library_version(names: tuple[str, ...], symbol: str) -> int | None:
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        value = ctypes.c_int(0)
        try:
            status = getattr(lib, symbol)(ctypes.byref(value))
        except (AttributeError, OSError):
            continue
        if status == 0 and value.value > 0:
            return int(value.value)
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_total_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f}"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def _file_sha256(path: Any) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unknown"


def git_sha() -> str:
    """The commit of the project code (the service's own repository), or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
