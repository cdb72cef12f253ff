"""How much a batch decodes to, judged before any of it is decoded: rows, bytes, column names.

`max_file_bytes` bounds what is downloaded, not what it expands to: a parquet file of constants
compresses a thousandfold, and reading it whole is what costs the memory. Parquet states its
rows and uncompressed sizes in its footer; a CSV's records are counted by a streaming scan (one
block in memory at a time). A batch above the spec's limits is refused on those numbers alone.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from mlops_lib.spec.source import DEFAULT_MAX_ROWS, DEFAULT_MAX_UNCOMPRESSED_BYTES, CsvOptions
from mlops_lib.validation.csv_shape import check_csv_shape
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

if TYPE_CHECKING:
    from mlops_lib.spec import Source

# Bytes a decoded cell takes at the least: a number, or a pointer to its text. Parquet's
# uncompressed size alone says little: dictionary and run-length encodings store a column of
# one repeated value in a few bytes, whatever its rows.
CELL_BYTES = 8


@dataclass(frozen=True)
class ReadRules:
    """How a batch's data files are read: the spec's `source` limits and CSV null cells."""

    max_rows: int = DEFAULT_MAX_ROWS
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    null_values: tuple[str, ...] = CsvOptions().null_values

    @classmethod
    def of(cls, source: Source) -> ReadRules:
        return cls(source.max_rows, source.max_uncompressed_bytes, source.csv.null_values)


def check_bounds(files: Sequence[tuple[str, bytes]], fmt: str, rules: ReadRules) -> None:
    """Refuse a batch, before any of it is decoded, whose files name a column twice
    (DUPLICATE_COLUMNS), are CSV that is not UTF-8 text (UNREADABLE_FILE) or ragged
    (RAGGED_CSV), or hold more rows (TOO_MANY_ROWS) or
    would decode to more bytes (DECOMPRESSED_TOO_LARGE) than `rules` allow, all files together.

    Decoded bytes are estimated: per parquet row group its uncompressed size, at least
    `CELL_BYTES` a cell; per CSV file its text plus `CELL_BYTES` a cell. A parquet file that
    decodes to more than its footer says is caught while it is read (`reading.read_batch`)."""
    rows = size = 0
    for key, content in files:
        if not content:
            continue
        count, estimate = _measure(key, content, fmt, rules.max_rows - rows)
        rows, size = rows + count, size + estimate
        if rows > rules.max_rows:
            raise BatchRejected(ReasonCode.TOO_MANY_ROWS, (
                f"at least {rows} rows, counted up to {key!r} before decoding: more than "
                f"source.max_rows {rules.max_rows}"))
        if size > rules.max_uncompressed_bytes:
            raise too_large(f"about {size} bytes decoded, estimated up to {key!r} before "
                            "decoding", rules.max_uncompressed_bytes)


def too_large(what: str, limit: int) -> BatchRejected:
    return BatchRejected(ReasonCode.DECOMPRESSED_TOO_LARGE,
                         f"{what}: more than source.max_uncompressed_bytes {limit}")


def unreadable(key: str, fmt: str, exc: Exception) -> BatchRejected:
    return BatchRejected(ReasonCode.UNREADABLE_FILE,
                         f"cannot read {key!r} as {fmt}: {type(exc).__name__}: {exc}")


def _measure(key: str, content: bytes, fmt: str, rows_left: int) -> tuple[int, int]:
    """(rows, estimated decoded bytes) of one file; CSV rows are counted to `rows_left` + 1."""
    if fmt == "parquet":
        try:
            meta = pq.ParquetFile(pa.BufferReader(content)).metadata  # the footer only
            names = meta.schema.to_arrow_schema().names
        except Exception as exc:  # any footer error means the same thing: the file is unusable
            raise unreadable(key, fmt, exc) from exc
        _require_unique(key, names)
        groups = (meta.row_group(i) for i in range(meta.num_row_groups))
        return meta.num_rows, sum(max(g.total_byte_size, CELL_BYTES * g.num_rows * len(names))
                                  for g in groups)
    _require_utf8_text(key, content)
    names = _csv_header(content)
    _require_unique(key, names)
    rows = check_csv_shape(key, content, stop_after=max(rows_left, 0))
    return rows, len(content) + CELL_BYTES * rows * len(names)


_TEXT_CHUNK = 1 << 20  # bytes of a CSV file decoded at a time by the UTF-8 check
_GZIP_MAGIC = b"\x1f\x8b"


def _require_utf8_text(key: str, content: bytes) -> None:
    """Refuse (UNREADABLE_FILE) a CSV file that is not UTF-8 text before its shape is judged:
    a gzip body, a parquet file named `.csv`, UTF-16 or Latin-1 text would otherwise be read as
    garbled records (RAGGED_CSV on a line that is no line) or crash the record scan. A NUL byte
    is refused too: valid UTF-8, but what UTF-16 text of ASCII or binary data holds, never a
    CSV cell. Decoded a chunk at a time: one chunk in memory, whatever the file's size."""
    why = None
    if content.startswith(_GZIP_MAGIC):
        why = "gzip-compressed; source.format csv reads plain UTF-8 text"
    elif content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        why = "UTF-16 (or UTF-32) text by its byte-order mark; source.format csv reads UTF-8"
    elif (nul := content.find(b"\0")) >= 0:
        why = f"a NUL byte at offset {nul} (UTF-16 or binary data, not UTF-8 text)"
    else:
        decoder, view = codecs.getincrementaldecoder("utf-8")(), memoryview(content)
        for start in range(0, len(content), _TEXT_CHUNK):
            try:
                decoder.decode(view[start:start + _TEXT_CHUNK],
                               final=start + _TEXT_CHUNK >= len(content))
            except UnicodeDecodeError as exc:
                why = f"not UTF-8 at byte {start + exc.start}: {exc.reason}"
                break
    if why is not None:
        raise BatchRejected(ReasonCode.UNREADABLE_FILE, f"cannot read {key!r} as csv: {why}")


def _csv_header(content: bytes) -> list[str]:
    """The header's field names as pandas reads them ([] if the csv module cannot tell)."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", errors="replace",
                            newline="")
    try:
        for row in csv.reader(text):
            if row and not (len(row) == 1 and not row[0].strip()):  # blank lines: skipped
                return row
    except csv.Error:  # a field over the csv module's size limit: the reader decides
        pass
    return []


def _require_unique(key: str, names: Sequence[str]) -> None:
    # pandas renames a repeated CSV column `a.1` and pyarrow refuses to pick one of two parquet
    # columns: either way the producer wrote one column name twice, so say that.
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise BatchRejected(ReasonCode.DUPLICATE_COLUMNS,
                            f"{key!r} names columns more than once: {repeated}")
