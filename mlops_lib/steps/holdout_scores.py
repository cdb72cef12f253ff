"""What a model version predicted on its own holdout, kept beside its artifacts: the reference
of its prediction drift and calibration drift once it scores live rows, and the rows its
label-free estimate is calibrated on (`monitoring.prediction_drift`, `monitoring.estimated`).

Written by the evaluate step as `s3://<artifacts>/holdout/<pipeline>/v<version>.parquet`: the
label (`label`: 0/1, the class index, or the number) and the serving contract's score columns.
A re-run writes the same rows (the model and the holdout are fixed by the version).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_lib.scoring.contract import serving_contract
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec

log = logging.getLogger(__name__)

LABEL = "label"


@dataclass(frozen=True)
class HoldoutScores:
    y: np.ndarray
    p: np.ndarray  # one score per row, or (rows, k) class probabilities

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])


def score_columns(spec: PipelineSpec) -> list[str]:
    """The prediction files' score columns (the serving contract's outputs but the label)."""
    return [c for c in serving_contract(spec).output_columns if c != "predicted_label"]


def holdout_key(pipeline: str, version: str) -> str:
    return f"holdout/{pipeline}/v{version}.parquet"


def save_holdout_scores(svc: Services, spec: PipelineSpec, version: str, y: np.ndarray,
                        predictions: np.ndarray) -> str:
    from mlops_lib.stores import s3io

    p = np.asarray(predictions, dtype="float64")
    scores = p.reshape(len(p), -1)
    frame = pd.DataFrame(scores, columns=score_columns(spec))
    frame.insert(0, LABEL, np.asarray(y, dtype="float64"))
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return s3io.put_file(svc.s3, svc.settings.artifact_bucket,
                         holdout_key(spec.name, version), buf.getvalue())


def load_holdout_scores(svc: Services, spec: PipelineSpec,
                        version: str) -> HoldoutScores | None:
    """The version's holdout scores; None for a version trained before they were kept."""
    try:
        body = svc.s3.get_object(Bucket=svc.settings.artifact_bucket,
                                 Key=holdout_key(spec.name, version))["Body"].read()
    except Exception as exc:  # NoSuchKey: an older version; anything else: no reference
        log.info("No holdout scores of v%s: %s", version, type(exc).__name__)
        return None
    frame = pd.read_parquet(io.BytesIO(body))
    scores = frame[score_columns(spec)].to_numpy(dtype="float64")
    return HoldoutScores(frame[LABEL].to_numpy(dtype="float64"),
                         scores[:, 0] if scores.shape[1] == 1 else scores)
