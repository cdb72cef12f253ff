"""Training and scoring XGBoost models: seeded, on the GPU when one is there."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from mlops_lib import metrics
from mlops_lib.settings import REPO_ROOT
from mlops_lib.spec import PipelineSpec

_OBJECTIVES = {
    "binary_classification": ("binary:logistic", "auc"),
    "regression": ("reg:squarederror", "rmse"),
}


@dataclass
class TrainedModel:
    booster: xgb.Booster
    params: dict[str, Any]
    num_boost_round: int
    device: str
    train_rows: int
    train_seconds: float
    environment: dict[str, str] = field(default_factory=dict)

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


def split_holdout(df: pd.DataFrame, share: float, seed: int,
                  time_column: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/holdout; the holdout is never trained on by the challenger.

    Without `time_column`: a seeded random split. With it: the newest `share` of the rows (by
    that column) is the holdout, extended to every row sharing the cut-off time so that no
    timestamp straddles the split (unless that leaves nothing to train on); rows with a missing
    time count as the oldest. Both parts keep the frame's row order.
    """
    if time_column is None:
        rng = np.random.default_rng(seed)
        mask = rng.random(len(df)) < share
    else:
        n_holdout = min(len(df), max(1, round(share * len(df)))) if len(df) else 0
        times = df[time_column].reset_index(drop=True)
        order = times.sort_values(kind="stable", na_position="first").index.to_numpy()
        mask = np.zeros(len(df), dtype=bool)
        if n_holdout:
            mask[order[len(df) - n_holdout:]] = True
            cutoff = times.iloc[order[len(df) - n_holdout]]
            ties = (times >= cutoff).to_numpy() if not pd.isna(cutoff) else mask
            if not (mask | ties).all():  # keep something to train on when all times are equal
                mask |= ties
    return df.loc[~mask].reset_index(drop=True), df.loc[mask].reset_index(drop=True)


def to_dmatrix(df: pd.DataFrame, spec: PipelineSpec, *, with_label: bool = True) -> xgb.DMatrix:
    label = df[spec.target].to_numpy() if with_label else None
    return xgb.DMatrix(df[spec.model_inputs], label=label, enable_categorical=True,
                       nthread=os.cpu_count() or 1)


def train_model(train_df: pd.DataFrame, spec: PipelineSpec) -> TrainedModel:
    objective, eval_metric = _OBJECTIVES[spec.task]
    device = choose_device(spec.training.device)
    params: dict[str, Any] = {
        "objective": objective, "eval_metric": eval_metric, "tree_method": "hist",
        "device": device, "seed": spec.training.seed, "nthread": os.cpu_count() or 1,
        **spec.training.params,
    }
    dtrain = to_dmatrix(train_df, spec)
    started = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=spec.training.num_boost_round)
    return TrainedModel(booster=booster, params=params,
                        num_boost_round=spec.training.num_boost_round, device=device,
                        train_rows=len(train_df), train_seconds=time.perf_counter() - started,
                        environment=capture_environment(device))


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
    info = xgb.build_info()
    env = {
        "xgboost_version": xgb.__version__,
        "xgboost_use_cuda": str(bool(info.get("USE_CUDA"))),
        "device": device,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": str(os.cpu_count()),
        "gpu_name": gpu_name() or "none",
        "uv_lock_sha256": _file_sha256(REPO_ROOT / "uv.lock"),
        "code_git_sha": _git_sha(),
    }
    return env


def _file_sha256(path: Any) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unknown"


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
