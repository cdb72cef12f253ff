"""Score a batch chunk by chunk into one parquet file: never the whole frame at once.

Parquet files are read one record batch (`chunk_rows`, within row groups) at a time, CSV files
`chunk_rows` rows at a time; each chunk goes through the same `ServingModel.predict` as the
registered pyfunc, so each row's numbers are the pyfunc's on the same row, byte for byte (an
XGBoost prediction depends on its row only). Output columns, in order: the id column
(scoring.id_column, as it is in the batch) or `row_number` (int64, 0-based across the batch's
files in order), the contract's score columns, `model_version` (text) and `scored_at` (UTC
timestamp, the same value on every row: the prediction log's, so a re-run writes the same
bytes).
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib.scoring.ct_serving import ServingModel

CHUNK_ROWS = 262_144
ROW_NUMBER = "row_number"


@dataclass(frozen=True)
class ScoredBatch:
    rows: int
    path: Path


def read_chunks(files: Sequence[tuple[str, bytes]], fmt: str, *,
                null_values: Sequence[str] = ("",),
                chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The batch's rows as frames of at most `chunk_rows` rows, file by file, in order.

    A frame is what pandas makes of those rows alone (as `pd.read_parquet` / `pd.read_csv`
    of the file would for them); CSV cells are read as ingest reads them (only `null_values`
    are nulls)."""
    for _key, content in files:
        if fmt == "parquet":
            # Arrow's own reader over the bytes (no copy): ~3x faster than a Python file object
            for record_batch in pq.ParquetFile(pa.BufferReader(content)).iter_batches(
                    batch_size=chunk_rows):
                yield pa.Table.from_batches([record_batch]).to_pandas()
        else:
            yield from pd.read_csv(io.BytesIO(content), keep_default_na=False,
                                   na_values=list(null_values), chunksize=chunk_rows)


def score_chunks(model: ServingModel, chunks: Iterator[pd.DataFrame], out: Path, *,
                 model_version: str, scored_at: datetime,
                 id_column: str | None = None) -> ScoredBatch:
    """Score every chunk and write the predictions to `out` (parquet), one row group per
    chunk; raises ct_serving.ScoringInputError on a chunk the model cannot score."""
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for chunk in chunks:
            table = _scored_table(model, chunk, rows, model_version, scored_at, id_column)
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema)
            else:
                table = table.cast(writer.schema)  # an id column read apart per chunk (CSV)
            writer.write_table(table)
            rows += len(chunk)
        if writer is None:  # no rows at all: an empty file with the output's columns
            empty = pd.DataFrame({c.name: pd.Series([], dtype=object)
                                  for c in model.contract.inputs})
            table = _scored_table(model, empty, 0, model_version, scored_at, None)
            writer = pq.ParquetWriter(out, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return ScoredBatch(rows=rows, path=out)


def _scored_table(model: ServingModel, chunk: pd.DataFrame, offset: int, model_version: str,
                  scored_at: datetime, id_column: str | None) -> pa.Table:
    predictions = model.predict(chunk).reset_index(drop=True)
    n = len(chunk)
    ids = (chunk[id_column].reset_index(drop=True) if id_column is not None
           else pd.Series(np.arange(offset, offset + n, dtype=np.int64), name=ROW_NUMBER))
    out = pd.concat([ids.rename(id_column or ROW_NUMBER), predictions], axis=1)
    out["model_version"] = np.full(n, str(model_version), dtype=object)
    out["scored_at"] = pd.Series(pd.Timestamp(scored_at).tz_convert("UTC"), index=out.index,
                                 dtype="datetime64[us, UTC]")
    return pa.Table.from_pandas(out, preserve_index=False)
