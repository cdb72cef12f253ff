"""Helpers several steps share: the champion as a run sees it, and the versioned data.

The data helpers import pyarrow inside the function: the light tasks that only read the
champion must not pay for it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import ChampionSnapshot, DatasetVersion

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa


def champion_snapshot(svc: Services, spec: PipelineSpec) -> ChampionSnapshot | None:
    """The store's champion now; None before the first promotion."""
    champion = svc.store.get_champion(spec.name)
    return None if champion is None else ChampionSnapshot(
        version=champion.model_version, data_rev=champion.data_rev, epoch=champion.epoch,
        dag_run_id=champion.dag_run_id)


def staged_object(uri: str) -> tuple[str, str]:
    """(bucket, key) of an `s3://bucket/key` URI the store recorded."""
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return bucket, key


def versioned_table(svc: Services, spec: PipelineSpec, version: DatasetVersion, dag_run_id: str,
                    columns: Sequence[str] | None = None) -> pa.Table:
    """Exactly the versioned bytes (so lineage is what was trained on), as an Arrow table.

    Streamed to a scratch file and read from there: the process never holds the file's bytes
    beside the table, and the file is gone once read.
    """
    import pyarrow.parquet as pq

    with versioned_file(svc, spec, version, dag_run_id) as path:
        return pq.read_table(path, columns=None if columns is None else list(columns))


@contextmanager
def versioned_file(svc: Services, spec: PipelineSpec, version: DatasetVersion,
                   dag_run_id: str) -> Iterator[Path]:
    """The versioned parquet file in the run's scratch, removed when the block ends."""
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        yield svc.versioner.read_to(version, Path(tmp) / "data.parquet")


def champion_table(svc: Services, spec: PipelineSpec, champion: ChampionSnapshot | None,
                   dag_run_id: str, columns: Sequence[str] | None = None) -> pa.Table | None:
    """The champion's training data, exactly as versioned; None without a champion."""
    if champion is None or not champion.data_rev:
        return None
    return versioned_table(svc, spec, svc.versioner.at(spec.name, champion.data_rev),
                           dag_run_id, columns)


def holdout_mask(table: pa.Table, spec: PipelineSpec) -> np.ndarray:
    """True for the holdout rows: the same split for the challenger's training, the scoring of
    both models and any later reproduction (training.split_holdout on a pandas frame)."""
    from mlops_lib.training.trainer import holdout_mask as mask

    return mask(table, spec.training.holdout_share, spec.training.seed,
                spec.training.time_column)


def to_frame(table: pa.Table) -> pd.DataFrame:
    """A table the caller no longer needs as pandas, releasing Arrow memory column by column
    while converting (the peak is about one copy, not two)."""
    return table.to_pandas(self_destruct=True, split_blocks=True)


def remove_scratch(svc: Services, spec: PipelineSpec, dag_run_id: str) -> None:
    """A run's end: its scratch (training set copy, report files) is read by no later task,
    and its lineage is in DVC, S3 and the store. A cleanup failure is logged, never raised
    (`mlops gc` removes what is left); a task cleared later re-creates its files."""
    from mlops_lib.operations.gc import remove_run_scratch

    try:
        remove_run_scratch(svc.settings.home, spec.name, dag_run_id)
    except Exception as exc:
        log.warning("Scratch of run %s not removed (mlops gc will): %s: %s", dag_run_id,
                    type(exc).__name__, exc)
