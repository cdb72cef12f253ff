"""Bad drops of the strict parquet pipeline (tests/e2e/pipelines.py: the credit example with
freshness on `applied_at`, a 5% tolerance of new `region` labels, extra columns refused and a
1 MB file limit). `E2E` is what the end-to-end run lands; `MORE` the rest of the catalogue."""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlops_dev.datagen import to_file_bytes
from mlops_lib.spec import Feature, PipelineSpec
from tests.catalogue.cases import Case, Files, Good, contract, feature, source
from tests.e2e.pipelines import MAX_FILE_BYTES

C = Case


def _unsafe(name: str) -> Callable[[Good], Files]:
    """A good file beside a file whose key is unsafe."""
    return lambda g: {g.name: g.body, name: b"unsafe key"}


def _labels(g: Good) -> pd.Series:
    return g.frame["default"].astype("float64")


def _shift(g: Good, delta: pd.Timedelta) -> pd.DataFrame:
    return g.frame.assign(applied_at=g.frame["applied_at"] + delta)


E2E = [
    C("empty-object", "EMPTY_BATCH", lambda g: {g.name: b""}),
    C("missing-column", "MISSING_COLUMNS", lambda g: g.one(g.frame.drop(columns=["age"]))),
    C("extra-column", "EXTRA_COLUMNS", lambda g: g.one(g.frame.assign(zzz=1))),
    C("renamed-column", "MISSING_COLUMNS",
      lambda g: g.one(g.frame.rename(columns={"age": "Age"}))),
    C("strings-in-numeric", "DTYPE_MISMATCH",
      lambda g: g.one(g.frame.assign(income=g.frame["income"].map("{:.2f} EUR".format)))),
    C("all-null-column", "ALL_NULL_COLUMN", lambda g: g.one(g.frame.assign(debt_ratio=np.nan))),
    C("duplicated-rows", "DUPLICATE_ROWS",
      lambda g: g.one(pd.concat([g.frame, g.frame.head(60)], ignore_index=True))),
    C("truncated-parquet", "UNREADABLE_FILE", lambda g: g.one(g.body[:len(g.body) // 2])),
    C("schema-per-file", "INCONSISTENT_FILES",
      lambda g: {"part-0000.parquet": g.body, "part-0001.parquet": to_file_bytes(
          g.frame.assign(age=g.frame["age"].astype(str)), "parquet")}),
    C("file-too-large", "FILE_TOO_LARGE",
      lambda g: {"part-0000.parquet": g.body,
                 "part-0001.parquet": b"\0" * (MAX_FILE_BYTES + 1)}),
    C("nan-labels", "TARGET_MISSING_VALUES",
      lambda g: g.one(g.frame.assign(default=_labels(g).where(g.frame.index % 50 != 0)))),
    C("labels-outside-class-set", "TARGET_INVALID_CLASS",
      lambda g: g.one(g.frame.assign(default=_labels(g).where(g.frame.index % 50 != 0, 2.0)))),
    C("single-class-labels", "TARGET_SINGLE_CLASS", lambda g: g.one(g.frame.assign(default=0))),
    C("too-few-rows", "TOO_FEW_ROWS", lambda g: g.one(g.frame.head(60))),
    C("inf-features", "NON_FINITE_FEATURES",
      lambda g: g.one(g.frame.assign(
          income=g.frame["income"].where(g.frame.index % 50 != 0, np.inf)))),
    C("future-timestamps", "FUTURE_TIMESTAMPS",
      lambda g: g.one(_shift(g, pd.Timedelta(days=1)))),
    C("stale-data", "STALE_DATA", lambda g: g.one(_shift(g, -pd.Timedelta(days=10)))),
    C("unseen-categories", "NEW_CATEGORIES_ABOVE_LIMIT",
      lambda g: g.one(g.every(5, "region", "atlantis"))),
    C("key-dotdot", "UNSAFE_KEY", _unsafe("../../escape.parquet")),
    C("key-leading-slash", "UNSAFE_KEY", _unsafe("/root.parquet")),
    C("key-control-chars", "UNSAFE_KEY", _unsafe("p\x00\t\x7f.parquet")),
    C("key-over-1024-bytes", "UNSAFE_KEY", _unsafe("é" * 520 + ".parquet")),
]


# --- the rest of the catalogue ------------------------------------------------------------------


def _table_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _duplicate_column(g: Good) -> Files:
    table = pa.Table.from_pandas(g.frame, preserve_index=False)
    return g.one(_table_bytes(table.append_column("age", table.column("age"))))


def _nested(g: Good, column: str, value: pa.Array) -> Files:
    """The good batch with `column` replaced by a nested (struct or list) column."""
    table = pa.Table.from_pandas(g.frame, preserve_index=False)
    if column in table.column_names:
        table = table.set_column(table.column_names.index(column), column, value)
    else:
        table = table.append_column(column, value)
    return g.one(_table_bytes(table))


def _struct(g: Good) -> pa.Array:
    return pa.array([{"amount": float(v), "currency": "EUR"} for v in g.frame["income"]])


def _lists(g: Good) -> pa.Array:
    return pa.array([[v, v] for v in g.frame["region"].astype(str)])


def _bomb(g: Good, rows: int) -> Files:
    """`rows` copies of one good row: a few kilobytes of parquet that decode to megabytes."""
    one = pa.Table.from_pandas(g.frame.head(1), preserve_index=False)
    return g.one(_table_bytes(one.take(pa.array(np.zeros(rows, dtype=np.int32)))))


def _stamp_text(g: Good, bad: str) -> pd.DataFrame:
    """`applied_at` as ISO 8601 text, one row of it `bad`."""
    text = g.frame["applied_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    return g.frame.assign(applied_at=text.where(text.index != 7, bad))


def _year_9999(g: Good) -> pd.DataFrame:
    stamps = g.frame["applied_at"].to_numpy("datetime64[us]").copy()
    stamps[7] = np.datetime64("9999-12-31T00:00:00", "us")
    return g.frame.assign(applied_at=stamps)


def _uint64_max(g: Good) -> pd.DataFrame:
    lines = g.frame["credit_lines"].astype("uint64")
    lines.iloc[7] = np.uint64(2**64 - 1)
    return g.frame.assign(credit_lines=lines)


def _few_of_one_class(g: Good) -> pd.DataFrame:
    labels = np.zeros(len(g.frame), dtype=np.int64)
    labels[:5] = 1
    return g.frame.assign(default=labels)


def _mixed_parts(g: Good) -> Files:
    """Two parts: one with `age`, one without (a producer that dropped a column midway)."""
    half = len(g.frame) // 2
    return {"part-0000.parquet": to_file_bytes(g.frame.iloc[:half], "parquet"),
            "part-0001.parquet": to_file_bytes(g.frame.iloc[half:].drop(columns=["age"]),
                                               "parquet")}


def _with_loan_ids(spec: PipelineSpec) -> PipelineSpec:
    """The spec with a key column, `loan_id` (role id)."""
    return replace(spec, features=(*spec.features, Feature("loan_id", "int", role="id")))


def _repeated_loan_id(g: Good) -> pd.DataFrame:
    ids = np.arange(len(g.frame), dtype=np.int64)
    ids[7] = ids[3]  # two rows named by one id: a prediction or label would join both
    return g.frame.assign(loan_id=ids)


# A label with an accent, in the spec as NFC (one code point, U+00E9) and in the data as NFD
# ("e" and U+0301, the combining acute accent): the same text to a reader, not to a comparison.
NFC_LABEL = "e\u00e9st"
NFD_LABEL = unicodedata.normalize("NFD", NFC_LABEL)
assert NFD_LABEL != NFC_LABEL and len(NFD_LABEL) == len(NFC_LABEL) + 1

MORE = [
    # Values the model or the staged batch cannot hold.
    C("float32-overflow-feature", "VALUE_OVERFLOW", lambda g: g.one(g.every(97, "income", 1e39))),
    C("uint64-max-in-int-feature", "VALUE_OVERFLOW", lambda g: g.one(_uint64_max(g))),
    C("float-beyond-int64-in-int-feature", "VALUE_OVERFLOW",
      lambda g: g.one(g.frame.assign(late_payments=g.frame["late_payments"].astype(float)
                                     .where(g.frame.index != 7, 1e19)))),
    C("timestamp-year-9999", "TIMESTAMP_OUT_OF_RANGE", lambda g: g.one(_year_9999(g))),
    C("timestamp-text-year-1500", "TIMESTAMP_OUT_OF_RANGE",
      lambda g: g.one(_stamp_text(g, "1500-01-01T00:00:00"))),
    C("timestamp-offset-wraps-around", "TIMESTAMP_OUT_OF_RANGE",
      lambda g: g.one(_stamp_text(g, "2262-04-11T23:00:00-05:00"))),
    C("timestamp-not-iso", "DTYPE_MISMATCH", lambda g: g.one(_stamp_text(g, "01/02/2025"))),
    C("timestamp-as-epoch-seconds", "DTYPE_MISMATCH",
      lambda g: g.one(g.frame.assign(applied_at=g.frame["applied_at"].astype("int64") // 10**9))),
    # Bounded input: refused on the footers, before decoding.
    C("rows-above-source-max-rows", "TOO_MANY_ROWS", lambda g: g.one(g.frame),
      tweak=source(max_rows=500)),
    C("rows-above-contract-max-rows", "TOO_MANY_ROWS", lambda g: g.one(g.frame),
      tweak=contract(max_rows=500)),
    C("parquet-bomb-rows", "TOO_MANY_ROWS", lambda g: _bomb(g, 300_000),
      tweak=source(max_rows=200_000)),
    C("parquet-bomb-bytes", "DECOMPRESSED_TOO_LARGE", lambda g: _bomb(g, 300_000),
      tweak=source(max_uncompressed_bytes=4_000_000)),
    # Columns: named twice, nested, in one part only.
    C("parquet-duplicate-columns", "DUPLICATE_COLUMNS", _duplicate_column),
    C("nested-struct-feature", "DTYPE_MISMATCH", lambda g: _nested(g, "income", _struct(g))),
    C("nested-list-category", "DTYPE_MISMATCH", lambda g: _nested(g, "region", _lists(g))),
    C("nested-extra-column", "EXTRA_COLUMNS", lambda g: _nested(g, "meta", _struct(g))),
    C("column-missing-in-one-part", "INCONSISTENT_FILES", _mixed_parts),
    # Types and values.
    C("csv-named-parquet", "UNREADABLE_FILE", lambda g: g.one(to_file_bytes(g.frame, "csv"))),
    C("booleans-for-float", "DTYPE_MISMATCH",
      lambda g: g.one(g.frame.assign(debt_ratio=g.frame.index % 2 == 0))),
    C("numbers-as-text", "DTYPE_MISMATCH",
      lambda g: g.one(g.frame.assign(income=g.frame["income"].map("{:.2f}".format)))),
    C("fractional-int", "DTYPE_MISMATCH",
      lambda g: g.one(g.frame.assign(credit_lines=g.frame["credit_lines"] + 0.5))),
    C("below-min", "OUT_OF_RANGE", lambda g: g.one(g.every(50, "age", -1))),
    C("above-max", "OUT_OF_RANGE", lambda g: g.one(g.every(50, "age", 130))),
    C("minus-inf-feature", "NON_FINITE_FEATURES",
      lambda g: g.one(g.frame.assign(utilization=g.frame["utilization"]
                                     .where(g.frame.index != 3, -np.inf)))),
    C("repeated-id", "DUPLICATE_IDS", lambda g: g.one(_repeated_loan_id(g)),
      tweak=_with_loan_ids),
    C("null-in-non-nullable", "NULLS_ABOVE_LIMIT",
      lambda g: g.one(g.frame.assign(income=g.frame["income"].where(g.frame.index != 3)))),
    C("nulls-above-share", "NULLS_ABOVE_LIMIT",
      lambda g: g.one(g.frame.assign(debt_ratio=g.frame["debt_ratio"]
                                     .where(g.frame.index % 3 != 0))),
      tweak=feature("debt_ratio", max_null_share=0.1)),
    # Labels.
    C("labels-yes-no", "TARGET_INVALID_CLASS",
      lambda g: g.one(g.frame.assign(default=np.where(g.frame["default"] == 1, "yes", "no")))),
    C("labels-fractional", "TARGET_INVALID_CLASS", lambda g: g.one(g.every(40, "default", 0.5))),
    C("labels-all-null", "TARGET_MISSING_VALUES",
      lambda g: g.one(g.frame.assign(default=np.nan))),
    C("too-few-of-one-class", "TARGET_TOO_FEW_PER_CLASS", lambda g: g.one(_few_of_one_class(g))),
    # Category labels: not the spec's text.
    C("empty-string-category", "NEW_CATEGORIES_ABOVE_LIMIT",
      lambda g: g.one(g.every(5, "region", ""))),
    C("padded-category", "NEW_CATEGORIES_ABOVE_LIMIT",
      lambda g: g.one(g.every(5, "region", " north"))),
    C("nfd-category", "NEW_CATEGORIES_ABOVE_LIMIT",
      lambda g: g.one(g.frame.assign(region=g.frame["region"].astype(str).replace(
          NFC_LABEL, NFD_LABEL))),
      tweak=feature("region", categories=("north", "south", NFC_LABEL, "west"))),
    # Empty batches.
    C("marker-without-data-files", "EMPTY_BATCH", lambda g: {}),
    C("zero-row-parquet", "EMPTY_BATCH", lambda g: g.one(g.frame.head(0))),
    C("all-parts-empty", "EMPTY_BATCH",
      lambda g: {"part-0000.parquet": b"", "part-0001.parquet": b""}),
    # Keys no producer should write: line and paragraph separators, bidi and zero-width
    # characters, unassigned code points, `.` and empty segments, a terminal escape, a bad folder.
    # (A newline in a key: moto's server answers its PUT with 404.)
    C("key-u2028-line-separator", "UNSAFE_KEY", _unsafe("part\u2028x.parquet")),
    C("key-u2029-paragraph-separator", "UNSAFE_KEY", _unsafe("part\u2029x.parquet")),
    C("key-u202e-bidi-override", "UNSAFE_KEY", _unsafe("part\u202e4pm.parquet")),
    C("key-u2066-bidi-isolate", "UNSAFE_KEY", _unsafe("part\u2066x.parquet")),
    C("key-u200b-zero-width-space", "UNSAFE_KEY", _unsafe("part\u200b-0000.parquet")),
    C("key-ufeff-byte-order-mark", "UNSAFE_KEY", _unsafe("\ufeffpart.parquet")),
    C("key-unassigned-code-point", "UNSAFE_KEY", _unsafe("part\u0378.parquet")),
    C("key-dot-segment", "UNSAFE_KEY", _unsafe("./part-0001.parquet")),
    C("key-empty-segment", "UNSAFE_KEY", _unsafe("sub//part-0001.parquet")),
    C("key-escape-sequence", "UNSAFE_KEY", _unsafe("part\x1b[2J-0001.parquet")),
    C("batch-folder-bidi\u202e", "UNSAFE_KEY", lambda g: g.one(g.body)),
]
