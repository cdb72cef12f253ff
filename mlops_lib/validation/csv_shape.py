"""The shape of a CSV file: every record has as many fields as its header."""

from __future__ import annotations

import csv
import io
from typing import Any

import pyarrow as pa

from mlops_lib.validation.reasons import BatchRejected, ReasonCode


def check_csv_shape(key: str, content: bytes, *, stop_after: int | None = None) -> int:
    """Reject (RAGGED_CSV) a CSV file with a record of more or fewer fields than its header;
    return how many records follow the header.

    pandas pads a short row with nulls and reads a long first row as an index, so neither
    would be caught later. A quoted field may hold the delimiter or a newline; blank lines are
    skipped as pandas skips them. pyarrow's streaming tokenizer finds a bad record fast and
    holds one block at a time, whatever the file's size; only then is the file scanned again
    to name the line it starts on. Counting stops once past `stop_after` records (the caller's
    limit), so a huge file is not scanned to its end. Other parse errors (a record longer than
    a block, ...) are left to the reader, which reports them as UNREADABLE_FILE; the count is
    then the file's newlines, which is never less.
    """
    records, row = _scan(content, stop_after)
    if row is None:
        return records
    found = _first_ragged_line(content)
    if found is not None:
        line, fields, expected = found
        where = f"line {line}"
    else:  # the two tokenizers disagree on where: name the record instead
        fields, expected = row.actual_columns, row.expected_columns
        where = f"record {str(row.text)[:80]!r}"
    raise BatchRejected(ReasonCode.RAGGED_CSV, f"{key!r} {where}: {fields} "
                        f"field{'' if fields == 1 else 's'} where the header has {expected}")


def _scan(content: bytes, stop_after: int | None) -> tuple[int, Any | None]:
    """(records after the header, pyarrow's InvalidRow for the first ragged one or None)."""
    from pyarrow import csv as pacsv

    bad: list[Any] = []

    def first_bad(row: Any) -> str:
        if not (row.text or "").strip():  # a whitespace-only line, skipped by pandas
            return "skip"
        bad.append(row)
        return "error"

    rows = 0  # the header included: column names are generated, so it reads as a record
    try:
        reader = pacsv.open_csv(
            pa.BufferReader(content),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=first_bad),
            convert_options=pacsv.ConvertOptions(include_columns=["f0"],
                                                 column_types={"f0": pa.binary()}))
        for block in reader:
            rows += block.num_rows
            if stop_after is not None and rows - 1 > stop_after:
                break
    except (pa.ArrowException, ValueError):
        if not bad:  # another parse error: the reader reports it; bound the count all the same
            rows = max(rows, content.count(b"\n") + 1)
    return max(rows - 1, 0), (bad[0] if bad else None)


def _first_ragged_line(content: bytes) -> tuple[int, int, int] | None:
    """(line the record starts on, its fields, the header's fields) of the first ragged record."""
    text = io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", errors="replace",
                            newline="")
    reader = csv.reader(text)
    expected, start = None, 1
    try:
        for row in reader:
            if row and not (len(row) == 1 and not row[0].strip()):
                if expected is None:
                    expected = len(row)
                elif len(row) != expected:
                    return start, len(row), expected
            start = reader.line_num + 1
    except csv.Error:
        return None
    return None
