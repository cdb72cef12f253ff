"""Reading a landed batch: its data files as one frame, with the types each format infers."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib.validation.bounds import ReadRules, check_bounds, too_large, unreadable
from mlops_lib.validation.columns import BatchColumns, FrameColumns
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

_KIND_SAMPLE = 1000  # values of an object column that decide whether it holds numbers
# Rows a parquet record batch holds: small enough that a file's Arrow memory is checked often,
# large enough to cost nothing against reading a whole table at once.
_BATCH_ROWS = 65_536
DEFAULT_RULES = ReadRules()


def read_batch(files: Sequence[tuple[str, bytes]], fmt: str,
               rules: ReadRules = DEFAULT_RULES) -> pd.DataFrame:
    """Concatenate a batch's data files, keeping the types each format's reader infers.

    Nothing is decoded before `bounds.check_bounds` has judged the batch on its footers and a
    streaming count; parquet is then read in record batches, the Arrow memory it takes counted
    as it grows, so a file that decodes to more than its footer said stops at the limit."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown file format {fmt!r}; expected parquet or csv")
    if not files:
        raise BatchRejected(ReasonCode.EMPTY_BATCH, "batch has no data files")
    check_bounds(files, fmt, rules)
    budget = _Budget(rules.max_uncompressed_bytes)
    # A zero-byte part carries neither rows nor a schema; writers emit them for empty partitions.
    frames = [(key, _decode(key, content, fmt, rules, budget)) for key, content in files
              if content]
    if not frames:
        raise BatchRejected(ReasonCode.EMPTY_BATCH, f"all {len(files)} data files are empty")
    _require_same_columns(frames)
    non_empty = [frame for _, frame in frames if len(frame)]
    if not non_empty:
        raise BatchRejected(ReasonCode.EMPTY_BATCH, f"0 rows in {len(files)} data files")
    if len(non_empty) == 1:
        frame = non_empty[0]
        # A new RangeIndex in place: reset_index would copy (and consolidate) the whole batch.
        frame.index = pd.RangeIndex(len(frame))
        return frame
    return _concat(non_empty)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    with warnings.catch_warnings():
        # pandas 2 leaves a part's all-null column out when it picks a column's dtype (a part
        # with no value says nothing about the type; _require_same_columns checked the others)
        # and warns that pandas 3 will not. That is the behaviour wanted; pandas is held < 3.
        warnings.filterwarnings("ignore", category=FutureWarning,
                                message="The behavior of DataFrame concatenation with empty")
        return pd.concat(frames, ignore_index=True)


def read_columns(files: Sequence[tuple[str, bytes]], fmt: str,
                 rules: ReadRules = DEFAULT_RULES) -> BatchColumns:
    """The batch for `checks.validate_columns`: parquet column by column (`ParquetColumns`),
    CSV (whose cells are text until the whole file is parsed) read whole."""
    if fmt == "parquet":
        return ParquetColumns(files, rules)
    return FrameColumns(read_batch(files, fmt, rules))


class ParquetColumns:
    """A parquet batch served column by column (validation.columns.BatchColumns): each column
    is decoded from all the batch's files when it is asked for, as `read_batch` would give it.

    The same refusals as `read_batch` (the bounds judge the whole batch by its footers first),
    with two differences: files are judged for a column's kind (numbers or text) when that
    column is read, so a column that is never read (an extra one) is never judged; and a file
    decoding to more than its footer said is caught per column read (never more is held at
    once), not for the whole batch together."""

    def __init__(self, files: Sequence[tuple[str, bytes]],
                 rules: ReadRules = DEFAULT_RULES) -> None:
        if not files:
            raise BatchRejected(ReasonCode.EMPTY_BATCH, "batch has no data files")
        check_bounds(files, "parquet", rules)
        self._limit = rules.max_uncompressed_bytes
        present = [(key, content) for key, content in files if content]
        if not present:
            raise BatchRejected(ReasonCode.EMPTY_BATCH, f"all {len(files)} data files are empty")
        shapes = [(key, content, *_parquet_shape(key, content)) for key, content in present]
        _require_same_names([(key, names) for key, _, names, _ in shapes])
        self._names = shapes[0][2]
        # Files without rows add nothing to a column (read_batch leaves them out too).
        self._parts = [(key, content) for key, content, _, rows in shapes if rows]
        self._rows = sum(rows for *_, rows in shapes)
        if not self._rows:
            raise BatchRejected(ReasonCode.EMPTY_BATCH, f"0 rows in {len(files)} data files")

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def n_rows(self) -> int:
        return self._rows

    def column(self, name: str) -> pd.Series:
        budget = _Budget(self._limit)
        parts = [(key, _decode_columns(key, content, budget, [name]))
                 for key, content in self._parts]
        _require_same_kinds(parts)
        if len(parts) == 1:
            frame = parts[0][1]
            frame.index = pd.RangeIndex(len(frame))
        else:
            frame = _concat([part for _, part in parts])
        return frame[name]

    def frame(self) -> pd.DataFrame:
        return read_batch(self._parts, "parquet",
                          ReadRules(max_uncompressed_bytes=self._limit))


def _parquet_shape(key: str, content: bytes) -> tuple[list[str], int]:
    """A parquet file's column names as pandas reads them (an index written with the frame is
    not one), and its rows, from the footer alone."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(content))
        names = [str(c) for c in parquet.schema_arrow.empty_table().to_pandas().columns]
        return names, int(parquet.metadata.num_rows)
    except Exception as exc:
        raise unreadable(key, "parquet", exc) from exc


def _decode_columns(key: str, content: bytes, budget: _Budget,
                    columns: list[str]) -> pd.DataFrame:
    try:
        return _read_parquet(key, content, budget, columns)
    except BatchRejected:
        raise
    except Exception as exc:
        raise unreadable(key, "parquet", exc) from exc


def read_file(key: str, content: bytes, fmt: str,
              rules: ReadRules = DEFAULT_RULES) -> pd.DataFrame:
    """One data file as a frame; BatchRejected (UNREADABLE_FILE, RAGGED_CSV, the bounds'
    codes) if unusable."""
    check_bounds([(key, content)], fmt, rules)
    return _decode(key, content, fmt, rules, _Budget(rules.max_uncompressed_bytes))


class _Budget:
    """Decoded bytes left to a batch; parquet spends it record batch by record batch."""

    def __init__(self, limit: int) -> None:
        self.limit, self.spent = limit, 0

    def exceeded(self, key: str, live: int) -> BatchRejected:
        return too_large(f"{self.spent + live} bytes decoded up to {key!r} (more than its "
                         "footer let estimate), reading stopped there", self.limit)


def _decode(key: str, content: bytes, fmt: str, rules: ReadRules,
            budget: _Budget) -> pd.DataFrame:
    try:
        if fmt == "parquet":
            return _read_parquet(key, content, budget)
        # Only the spec's null cells are nulls: pandas' own list would read a label "NA" as one.
        return pd.read_csv(io.BytesIO(content), keep_default_na=False,
                           na_values=list(rules.null_values))
    except BatchRejected:
        raise
    except Exception as exc:  # any parser error means the same thing: the file is unusable
        raise unreadable(key, fmt, exc) from exc


def _read_parquet(key: str, content: bytes, budget: _Budget,
                  columns: list[str] | None = None) -> pd.DataFrame:
    """pd.read_parquet's conversion (of `columns`, default all), in record batches, stopped
    once over the budget.

    to_pandas frees Arrow memory column by column as it goes: a large file's peak is about
    one frame, not an Arrow table plus a frame."""
    table, live = _arrow_table(content, budget, columns)
    if table is None:  # raised here, not in _arrow_table: its batches are freed by now
        raise budget.exceeded(key, live)
    budget.spent += live
    return table.to_pandas(self_destruct=True, split_blocks=True)


def _arrow_table(content: bytes, budget: _Budget,
                 columns: list[str] | None = None) -> tuple[pa.Table | None, int]:
    """(the file, or its `columns`, as a table, its decoded bytes), or (None, the bytes so far)
    once past the budget."""
    parquet = pq.ParquetFile(pa.BufferReader(content))
    batches, size, dictionaries = [], 0, set[tuple[int, ...]]()
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        batches.append(batch)
        size += _decoded_bytes(batch, dictionaries)
        if budget.spent + size > budget.limit:
            return None, size
    schema = parquet.schema_arrow
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    return pa.Table.from_batches(batches, schema=schema), size


def _decoded_bytes(batch: pa.RecordBatch, dictionaries: set[tuple[int, ...]]) -> int:
    """The bytes of a record batch; a dictionary the file's earlier batches share counts once
    (a row group's batches all point at its one dictionary)."""
    size = 0
    for column in batch.columns:
        if not pa.types.is_dictionary(column.type):
            size += column.nbytes
            continue
        size += column.indices.nbytes
        where = tuple(b.address for b in column.dictionary.buffers() if b is not None)
        if where not in dictionaries:
            dictionaries.add(where)
            size += column.dictionary.nbytes
    return size


def row_count(content: bytes, fmt: str) -> int | None:
    """Rows in one data file; parquet from its footer, without decoding; None if unreadable."""
    if not content:
        return 0
    try:
        if fmt == "parquet":
            return int(pq.ParquetFile(io.BytesIO(content)).metadata.num_rows)
        return len(pd.read_csv(io.BytesIO(content)))
    except Exception:
        return None


def _require_same_columns(frames: list[tuple[str, pd.DataFrame]]) -> None:
    _require_same_names([(key, list(map(str, frame.columns))) for key, frame in frames])
    _require_same_kinds(frames)


def _require_same_names(files: list[tuple[str, list[str]]]) -> None:
    # Concatenating files with different columns would silently fill the gaps with nulls.
    first_key, first = files[0]
    expected = set(first)
    for key, names in files[1:]:
        got = set(names)
        if got != expected:
            raise BatchRejected(
                ReasonCode.INCONSISTENT_FILES,
                f"{key!r} has columns differing from {first_key!r}: "
                f"missing {sorted(expected - got)}, extra {sorted(got - expected)}",
            )


def _require_same_kinds(frames: list[tuple[str, pd.DataFrame]]) -> None:
    # Numbers in one file and text in another: concatenating would turn the whole column into
    # text, blaming the column (DTYPE_MISMATCH) for what is a producer writing parts apart.
    # Columns that are entirely null in a file say nothing about its type and are skipped.
    first_key, first = frames[0]
    kinds = {str(c): _kind(first[c]) for c in first.columns}
    for key, frame in frames[1:]:
        for column in frame.columns:
            kind, seen = _kind(frame[column]), kinds.get(str(column))
            if None not in (kind, seen) and kind != seen:
                raise BatchRejected(
                    ReasonCode.INCONSISTENT_FILES,
                    f"{key!r} has {column!r} as {kind} ({frame[column].dtype}) where "
                    f"{first_key!r} has it as {seen} ({first[column].dtype})")
            if seen is None:
                kinds[str(column)] = kind


def _kind(column: pd.Series) -> str | None:
    """'number' or 'text' for a column with values; None if all null or of another type."""
    if column.isna().all():
        return None
    if pd.api.types.is_bool_dtype(column):
        return None
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    if pd.api.types.is_string_dtype(column) or pd.api.types.is_object_dtype(column):
        # an object column of numbers only (a parquet column written from Python ints) is one;
        # its first values decide (the contract's dtype checks still look at every row)
        values = column.dropna().iloc[:_KIND_SAMPLE]
        if values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all():
            return "number"
        return "text" if values.map(lambda v: isinstance(v, str)).any() else None
    return None
