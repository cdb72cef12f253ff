"""Helpers several steps share: the champion as a run sees it, and the versioned data.

The data helpers import pyarrow inside the function: the light tasks that only read the
champion must not pay for it.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
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


@contextmanager
def versioned_file(svc: Services, spec: PipelineSpec, version: DatasetVersion,
                   dag_run_id: str) -> Iterator[Path]:
    """The versioned parquet file in the run's scratch, removed when the block ends."""
    with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
        yield svc.versioner.read_to(version, Path(tmp) / "data.parquet")


def versioned_rows(svc: Services, spec: PipelineSpec, version: DatasetVersion, dag_run_id: str,
                   pick: Callable[[pa.Table], np.ndarray | None],
                   by: Sequence[str] = ()) -> pd.DataFrame:
    """The rows `pick` chooses of the versioned data, as a frame, read row group by row group
    (`stores.parquet_rows`): the whole data set is never in memory. `pick` sees the columns
    `by` (those the file has) of every row, or a table of no column that knows the row count,
    and returns sorted positions (None: every row)."""
    import pyarrow.parquet as pq

    from mlops_lib.stores.parquet_rows import read_positions

    with versioned_file(svc, spec, version, dag_run_id) as path:
        source = pq.ParquetFile(path)
        names = source.schema_arrow.names
        picked = pick(source.read(columns=[c for c in by if c in names]))
        return to_frame(read_positions(source, names, picked))


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
