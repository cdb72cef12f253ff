"""The training set of a run: its batches' staged copies as one parquet file, versioned with DVC.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import DatasetVersion, TrainingPlan
from mlops_lib.steps.shared import staged_object
from mlops_lib.training.window_rows import select_rows

log = logging.getLogger(__name__)


def version_dataset(svc: Services, spec: PipelineSpec, plan: TrainingPlan,
                    dag_run_id: str) -> DatasetVersion:
    """Assemble the run's batches (their staged, validated copies) into one training set, the
    rows of its training window (`plan.rows`), and version it with DVC; the version's tag is
    the dataset key, so a re-run reuses it."""
    folder = svc.scratch_dir(spec.name, dag_run_id)
    path = folder / "train.parquet"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        parts = []
        for i, batch_id in enumerate(plan.batch_ids):
            record = svc.store.get_batch(spec.name, batch_id)
            if record is None or not record.staged_uri:
                raise RuntimeError(f"batch {batch_id} has no staged copy (status "
                                   f"{None if record is None else record.status})")
            bucket, key = staged_object(record.staged_uri)
            parts.append(Path(tmp) / f"{i}.parquet")
            svc.s3.download_file(bucket, key, str(parts[-1]))  # streamed, never held whole
        if len(parts) == 1 and plan.rows.keeps_all:  # the staged copy as it is
            Path(parts[0]).replace(path)
            rows = pq.ParquetFile(path).metadata.num_rows
        else:  # in Arrow: no pandas copy of the whole training set
            tables = select_rows([pq.read_table(p) for p in parts], plan.rows)
            table = pa.concat_tables(tables, promote_options="permissive")  # as pd.concat
            del tables
            pq.write_table(table, path)
            rows = table.num_rows
            del table
    if rows == 0:
        raise RuntimeError(f"the training window keeps no row of batches {plan.batch_ids} "
                           f"({plan.rows})")
    version = svc.versioner.version(spec.name, plan.dataset_key, path)
    # Pushed: later tasks read the version from DVC, so the scratch copy (1.3 GB at 10M rows)
    # goes now, not at the run's end; a retry of this task assembles it again.
    path.unlink(missing_ok=True)
    svc.store.update_training_run(spec.name, dag_run_id, data_rev=version.rev,
                                  data_md5=version.md5)
    log.info("Training set of %d batch(es), %d rows, versioned with DVC: rev %s, md5 %s, "
             "remote %s", len(parts), rows, version.rev[:12], version.md5,
             version.remote_url)
    return version
