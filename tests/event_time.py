"""What the two event-time window tests share (tests/e2e/test_event_time_window.py on the local
stack, tests/integration/test_event_time_slide.py through the steps without Airflow): the
example spec with the time each application was made (role event_time) and a window of 45 days
of it, monthly batches of that data, and a model version's training rows read back."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mlops_dev.datagen import generate_batch
from mlops_lib.operations.lineage import lineage
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec

COLUMN, DAYS = "applied_at", 45


def with_event_time(raw: dict[str, Any]) -> dict[str, Any]:
    """The spec `raw` (as YAML gives it) with the event-time column and its window."""
    return {**raw,
            "features": [*raw["features"],
                         {"name": COLUMN, "dtype": "datetime", "role": "event_time"}],
            "training": {**raw["training"],
                         "window": {"event_time": {"column": COLUMN, "days": DAYS}}}}


def month_frame(spec: PipelineSpec, year: int, month: int, rows: int,
                seed: int) -> pd.DataFrame:
    """Rows of `spec`'s synthetic data whose applications spread over that month."""
    frame = generate_batch(spec, rows, seed=seed)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    offsets = np.random.default_rng(seed).uniform(0, (end - start).total_seconds(), rows)
    frame[COLUMN] = pd.to_datetime([start + timedelta(seconds=float(s))
                                    for s in offsets]).floor("ms")
    return frame


def iso_ms(moment: pd.Timestamp) -> str:
    """A time as the store writes it (UTC, milliseconds)."""
    return moment.tz_convert("UTC").isoformat(timespec="milliseconds")


def trained_rows(svc: Services, pipeline: str, version: str) -> pd.DataFrame:
    """The model version's training set, read back through its lineage (DVC)."""
    found = lineage(svc, pipeline, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = svc.versioner.read_to(svc.versioner.at(pipeline, found.data_rev),
                                     Path(tmp) / "train.parquet")
        return pq.read_table(path).to_pandas()
