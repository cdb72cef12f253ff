"""The data contract: read a landed batch, check it against its spec, and cast it for training.

Validation collects every check instead of stopping at the first failure, so one quarantine
report tells the producer everything that is wrong with a batch. Each failure carries a stable
`ReasonCode` that dashboards and alerts can group by; the human text may change, the code won't.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pandas.api import types as pdt

from mlops_lib.batches import BatchRef
from mlops_lib.keys import MAX_KEY_BYTES, unsafe_key_reason
from mlops_lib.spec import Contract, Feature, PipelineSpec

Severity = Literal["error", "warning"]
Scalar = int | float | str | None  # JSON-safe: a check's measured value and its threshold

_EXAMPLES = 3
_BOOL_STRINGS = {"true": True, "false": False, "1": True, "0": False}


class ReasonCode(StrEnum):
    EMPTY_BATCH = "EMPTY_BATCH"
    UNREADABLE_FILE = "UNREADABLE_FILE"
    INCONSISTENT_FILES = "INCONSISTENT_FILES"
    MISSING_COLUMNS = "MISSING_COLUMNS"
    DUPLICATE_COLUMNS = "DUPLICATE_COLUMNS"
    EXTRA_COLUMNS = "EXTRA_COLUMNS"
    DTYPE_MISMATCH = "DTYPE_MISMATCH"
    TARGET_MISSING_VALUES = "TARGET_MISSING_VALUES"
    TARGET_NOT_FINITE = "TARGET_NOT_FINITE"
    TARGET_INVALID_CLASS = "TARGET_INVALID_CLASS"
    TARGET_SINGLE_CLASS = "TARGET_SINGLE_CLASS"
    NON_FINITE_FEATURES = "NON_FINITE_FEATURES"
    UNKNOWN_CATEGORIES = "UNKNOWN_CATEGORIES"
    NEW_CATEGORIES_ABOVE_LIMIT = "NEW_CATEGORIES_ABOVE_LIMIT"
    NULLS_ABOVE_LIMIT = "NULLS_ABOVE_LIMIT"
    ALL_NULL_COLUMN = "ALL_NULL_COLUMN"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    TOO_FEW_ROWS = "TOO_FEW_ROWS"
    TOO_MANY_ROWS = "TOO_MANY_ROWS"
    DUPLICATE_ROWS = "DUPLICATE_ROWS"
    STALE_DATA = "STALE_DATA"
    FUTURE_TIMESTAMPS = "FUTURE_TIMESTAMPS"
    TARGET_TOO_FEW_PER_CLASS = "TARGET_TOO_FEW_PER_CLASS"
    CONSTANT_COLUMN = "CONSTANT_COLUMN"  # a warning
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_MISMATCH = "MANIFEST_MISMATCH"
    BATCH_CHANGED = "BATCH_CHANGED"  # a batch id landed again with other content
    UNSAFE_KEY = "UNSAFE_KEY"  # `..`, leading `/`, `//`, control characters, over 1024 bytes
    FILE_TOO_LARGE = "FILE_TOO_LARGE"  # a listed size above source.max_file_bytes
    RAGGED_CSV = "RAGGED_CSV"  # a CSV row with more or fewer fields than the header


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    observed: str
    expected: str
    reason_code: ReasonCode | None = None
    severity: Severity = "error"
    # The measured quantity and the limit it was held to, for dashboards (observed/expected are
    # the human text). A check fails when value exceeds threshold, or for minimums
    # (non_empty, min_rows, min_rows_per_class) when it falls below.
    value: Scalar = None
    threshold: Scalar = None


@dataclass
class ValidationReport:
    pipeline: str
    batch_id: str
    n_rows: int
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "warning"]

    @property
    def reason_code(self) -> ReasonCode | None:
        failures = self.failures
        return failures[0].reason_code if failures else None

    def detail(self) -> str:
        """The summary without its `[CODE]` prefix."""
        failures = self.failures
        if not failures:
            note = f" ({len(self.warnings)} warnings)" if self.warnings else ""
            return f"passed {len(self.checks)} checks{note}"
        more = f" (+{len(failures) - 1} more failures)" if len(failures) > 1 else ""
        return f"{failures[0].observed}{more}"

    def summary(self) -> str:
        code = self.reason_code
        return f"[{code}] {self.detail()}" if code else self.detail()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "batch_id": self.batch_id,
            "n_rows": int(self.n_rows),
            "passed": self.passed,
            "reason_code": None if self.reason_code is None else str(self.reason_code),
            "summary": self.summary(),
            "checks": [
                {**asdict(c), "reason_code": None if c.reason_code is None else str(c.reason_code)}
                for c in self.checks
            ],
        }

    def raise_for_failures(self) -> None:
        if not self.passed:
            raise BatchRejected.from_report(self)


class BatchRejected(Exception):
    """A batch that must not be trained on; `code` says why, `report` has the full checks."""

    def __init__(
        self, code: ReasonCode, message: str, report: ValidationReport | None = None
    ) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message
        self.report = report

    @classmethod
    def from_report(cls, report: ValidationReport) -> BatchRejected:
        if report.reason_code is None:
            raise ValueError("a passing report cannot reject a batch")
        return cls(report.reason_code, report.detail(), report)

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions re-create themselves from self.args on unpickling (task results, subprocess
        # boundaries); our __init__ takes different arguments, so spell them out.
        return (type(self), (self.code, self.message, self.report))


# --- the listing, before any download ---------------------------------------------------------


def check_listing(batch: BatchRef, spec: PipelineSpec) -> None:
    """Refuse a batch on its listing alone, before a byte of it is downloaded.

    Every key (the batch folder, its data files, its marker) must be safe
    (`mlops_lib.keys.unsafe_key_reason`; else UNSAFE_KEY) and every data file at most
    `source.max_file_bytes` by its listed size (else FILE_TOO_LARGE). Raises BatchRejected
    with a report holding both checks.
    """
    keys = [batch.prefix, *(f.key for f in batch.files)]
    keys += [batch.marker_key] if batch.marker_key else []
    unsafe = [(key, why) for key in keys if (why := unsafe_key_reason(key)) is not None]
    checks = [CheckResult(
        "safe_keys", not unsafe,
        f"{len(unsafe)} unsafe object keys, first {_show_key(unsafe[0][0])}: {unsafe[0][1]}"
        if unsafe else f"{len(keys)} keys are safe",
        "no `.`/`..` or empty segment, no leading '/', no control character, at most "
        f"{MAX_KEY_BYTES} bytes of UTF-8", ReasonCode.UNSAFE_KEY, value=len(unsafe),
        threshold=0)]
    limit = spec.source.max_file_bytes
    large = [f for f in batch.files if f.size > limit]
    biggest = max(large, key=lambda f: f.size) if large else None
    checks.append(CheckResult(
        "max_file_bytes", biggest is None,
        f"{len(large)} of {len(batch.files)} files above the limit of {limit} bytes, the "
        f"largest {_show_key(biggest.key)} of {biggest.size} bytes" if biggest
        else f"{len(batch.files)} files within the limit",
        f"each file at most {limit} bytes (source.max_file_bytes)", ReasonCode.FILE_TOO_LARGE,
        value=None if biggest is None else biggest.size, threshold=limit))
    ValidationReport(spec.name, batch.batch_id, 0, checks).raise_for_failures()


def _show_key(key: str, limit: int = 120) -> str:
    """A key for a message: repr'd (control characters escaped) and cut short."""
    shown = repr(key)
    return shown if len(shown) <= limit else f"{shown[:limit]}...({len(key)} characters)"


# --- reading -----------------------------------------------------------------------------------


def read_batch(files: Sequence[tuple[str, bytes]], fmt: str) -> pd.DataFrame:
    """Concatenate a batch's data files, keeping the types each format's reader infers."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"unknown file format {fmt!r}; expected parquet or csv")
    if not files:
        raise BatchRejected(ReasonCode.EMPTY_BATCH, "batch has no data files")
    # A zero-byte part carries neither rows nor a schema; writers emit them for empty partitions.
    frames = [(key, _read_file(key, content, fmt)) for key, content in files if content]
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
    return pd.concat(non_empty, ignore_index=True)


def check_manifest(raw_manifest: bytes, prefix: str, files: Sequence[tuple[str, bytes]],
                   fmt: str) -> None:
    """Reject a batch whose bytes or row counts differ from its manifest.

    The bytes (sizes, sha256) are compared first; a CSV file whose bytes are right but whose
    rows are ragged is then RAGGED_CSV, not a row-count mismatch."""
    from mlops_lib.manifest import ManifestError, parse_manifest, verify_contents

    try:
        manifest = parse_manifest(raw_manifest)
        verify_contents(manifest, prefix, files)
        if fmt == "csv":
            for key, content in files:
                if content:
                    check_csv_shape(key, content)
        rows = {}
        for key, content in files:
            count = row_count(content, fmt)
            if count is None:  # unreadable: say why (UNREADABLE_FILE), not "None rows"
                _read_file(key, content, fmt)
            rows[key[len(prefix):]] = count
        counted = replace(manifest, entries=tuple(replace(e, size=None, sha256=None)
                                                  for e in manifest.entries))
        verify_contents(counted, prefix, files, rows)
    except ManifestError as exc:
        raise BatchRejected(ReasonCode(exc.code), str(exc)) from exc


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


def _read_file(key: str, content: bytes, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        check_csv_shape(key, content)
    try:
        if fmt == "parquet":
            # pd.read_parquet's conversion, but freeing Arrow memory column by column as it
            # goes: a large file's peak is about one frame, not an Arrow table plus a frame.
            return pq.read_table(pa.BufferReader(content)).to_pandas(self_destruct=True,
                                                                     split_blocks=True)
        return pd.read_csv(io.BytesIO(content))
    except Exception as exc:  # any parser error means the same thing: the file is unusable
        raise BatchRejected(
            ReasonCode.UNREADABLE_FILE, f"cannot read {key!r} as {fmt}: {type(exc).__name__}: {exc}"
        ) from exc


def check_csv_shape(key: str, content: bytes) -> None:
    """Reject (RAGGED_CSV) a CSV file with a record of more or fewer fields than its header.

    pandas pads a short row with nulls and reads a long first row as an index, so neither
    would be caught later. A quoted field may hold the delimiter or a newline; blank lines are
    skipped as pandas skips them. pyarrow's tokenizer finds a bad record fast; only then is
    the file scanned again to name the line it starts on. Other parse errors (bad UTF-8, ...)
    are left to the reader, which reports them as UNREADABLE_FILE.
    """
    from pyarrow import csv as pacsv

    bad: list[Any] = []

    def first_bad(row: Any) -> str:
        if not (row.text or "").strip():  # a whitespace-only line, skipped by pandas
            return "skip"
        bad.append(row)
        return "error"

    try:
        pacsv.read_csv(
            io.BytesIO(content),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=first_bad),
            convert_options=pacsv.ConvertOptions(include_columns=["f0"],
                                                 column_types={"f0": pa.binary()}))
    except (pa.ArrowException, ValueError):
        if not bad:
            return
    if not bad:
        return
    row = bad[0]
    found = _first_ragged_line(content)
    if found is not None:
        line, fields, expected = found
        where = f"line {line}"
    else:  # the two tokenizers disagree on where: name the record instead
        fields, expected = row.actual_columns, row.expected_columns
        where = f"record {str(row.text)[:80]!r}"
    raise BatchRejected(ReasonCode.RAGGED_CSV, f"{key!r} {where}: {fields} "
                        f"field{'' if fields == 1 else 's'} where the header has {expected}")


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


def _require_same_columns(frames: list[tuple[str, pd.DataFrame]]) -> None:
    # Concatenating files with different columns would silently fill the gaps with nulls.
    first_key, first = frames[0]
    expected = set(map(str, first.columns))
    for key, frame in frames[1:]:
        got = set(map(str, frame.columns))
        if got != expected:
            raise BatchRejected(
                ReasonCode.INCONSISTENT_FILES,
                f"{key!r} has columns differing from {first_key!r}: "
                f"missing {sorted(expected - got)}, extra {sorted(got - expected)}",
            )
    # Numbers in one file and text in another: concatenating would turn the whole column into
    # text, blaming the column (DTYPE_MISMATCH) for what is a producer writing parts apart.
    # Columns that are entirely null in a file say nothing about its type and are skipped.
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
        values = column.dropna().iloc[:1000]
        if values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all():
            return "number"
        return "text" if values.map(lambda v: isinstance(v, str)).any() else None
    return None


# --- validation --------------------------------------------------------------------------------


def validate_batch(df: pd.DataFrame, spec: PipelineSpec, *, batch_id: str,
                   now: datetime | None = None) -> ValidationReport:
    """Run every check of the contract on a batch; never mutates `df`.

    `now` is the clock freshness is judged by (default: the current UTC time; a naive value
    means UTC). Each column is visited a bounded number of times with vectorized operations.
    """
    contract = spec.contract
    n = len(df)
    checks: list[CheckResult] = [_check_non_empty(df)]
    checks += _check_row_count(n, contract)
    checks += _check_columns(df, spec)
    usable = _usable_columns(df)
    for feature in spec.features:
        if feature.name in usable:
            checks.append(_check_feature_dtype(df[feature.name], feature))
    if spec.target in usable:
        checks += _check_target(df[spec.target], spec)
    checks.append(_check_finite_features(df, spec, usable))
    for feature in spec.features:
        if feature.name not in usable or n == 0:
            continue
        s = df[feature.name]
        checks.append(_check_nulls(s, feature))
        if feature.dtype == "category":
            checks.append(_check_categories(s, feature))
        if feature.min_value is not None or feature.max_value is not None:
            checks.append(_check_range(s, feature))
    if contract.max_duplicate_share is not None and n:
        checks.append(_check_duplicate_rows(df, contract.max_duplicate_share))
    if contract.freshness is not None and contract.freshness.column in usable and n:
        checks += _check_freshness(df[contract.freshness.column], contract, _clock(now))
    checks += _check_constant_columns(df, spec, usable)
    return ValidationReport(pipeline=spec.name, batch_id=batch_id, n_rows=n, checks=checks)


def _usable_columns(df: pd.DataFrame) -> set[str]:
    """Columns that can be checked alone: present once (df[name] is then a Series)."""
    counts = pd.Index(df.columns).value_counts()
    return {name for name, n in counts.items() if n == 1}


def _check_non_empty(df: pd.DataFrame) -> CheckResult:
    n = len(df)
    return CheckResult("non_empty", n > 0, f"{n} rows", "at least 1 row",
                       None if n else ReasonCode.EMPTY_BATCH, value=n, threshold=1)


def _check_row_count(n: int, contract: Contract) -> list[CheckResult]:
    if n == 0:
        return []  # EMPTY_BATCH says it already
    checks = []
    if contract.min_rows is not None:
        ok = n >= contract.min_rows
        checks.append(CheckResult(
            "min_rows", ok, f"{n} rows", f"at least {contract.min_rows} rows",
            None if ok else ReasonCode.TOO_FEW_ROWS, value=n, threshold=contract.min_rows))
    if contract.max_rows is not None:
        ok = n <= contract.max_rows
        checks.append(CheckResult(
            "max_rows", ok, f"{n} rows", f"at most {contract.max_rows} rows",
            None if ok else ReasonCode.TOO_MANY_ROWS, value=n, threshold=contract.max_rows))
    return checks


def _check_columns(df: pd.DataFrame, spec: PipelineSpec) -> list[CheckResult]:
    present = list(df.columns)
    missing = [c for c in spec.columns if c not in present]
    duplicated = sorted({str(c) for c in present if present.count(c) > 1})
    extra = sorted(str(c) for c in set(present) - set(spec.columns))
    drop = spec.contract.extra_columns == "drop"
    return [
        CheckResult(
            "required_columns", not missing,
            f"missing columns: {missing}" if missing else f"all {len(spec.columns)} present",
            f"columns {spec.columns}", ReasonCode.MISSING_COLUMNS if missing else None,
            value=len(missing), threshold=0,
        ),
        CheckResult(
            "unique_columns", not duplicated,
            f"duplicated columns: {duplicated}" if duplicated else "no duplicates",
            "each column once", ReasonCode.DUPLICATE_COLUMNS if duplicated else None,
        ),
        # Policy drop (the default): conform() drops extra columns, and producers adding columns
        # do not stop training; policy reject makes them a failure.
        CheckResult(
            "extra_columns", not extra,
            f"extra columns ({'dropped' if drop else 'rejected'}): {extra}" if extra else "none",
            "only spec columns", ReasonCode.EXTRA_COLUMNS if extra else None,
            "warning" if drop else "error", value=len(extra), threshold=0,
        ),
    ]


def _check_feature_dtype(s: pd.Series, feature: Feature) -> CheckResult:
    problem = _dtype_problem(s, feature.dtype)
    observed = f"{feature.name}: {problem}" if problem else f"{feature.name}: {s.dtype}"
    return CheckResult(f"dtype:{feature.name}", problem is None, observed, feature.dtype,
                       ReasonCode.DTYPE_MISMATCH if problem else None)


def _dtype_problem(s: pd.Series, dtype: str) -> str | None:
    """Why `s` cannot be read as the spec dtype, or None when conform() can cast it."""
    values = s.dropna()
    if values.empty:
        return None  # an all-null column contradicts no dtype
    return _DTYPE_RULES[dtype](s, values)


def _float_problem(s: pd.Series, values: pd.Series) -> str | None:
    if _is_number_dtype(s) or _inferred(values) in _NUMBER_KINDS:
        return None
    return f"{s.dtype} with non-numeric values such as {_examples(values, _not_number)}"


def _int_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_integer_dtype(s) and not pdt.is_bool_dtype(s):
        return None
    if not (_is_number_dtype(s) or _inferred(values) in _NUMBER_KINDS):
        return f"{s.dtype} with non-numeric values such as {_examples(values, _not_number)}"
    numbers = _as_float(values)
    # Non-finite values are NON_FINITE_FEATURES' business, not a dtype question.
    finite = numbers[np.isfinite(numbers)]
    fractional = finite[finite != np.round(finite)]
    if len(fractional):
        return f"{s.dtype} with non-integral values such as {fractional[:_EXAMPLES].tolist()}"
    return None


def _bool_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_bool_dtype(s):
        return None
    bad = values[values.map(_to_bool).isna()]
    if len(bad):
        return f"{s.dtype} with values that are not booleans or 0/1: {_examples(bad)}"
    return None


def _category_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_integer_dtype(s) and not pdt.is_bool_dtype(s):
        return None  # integer labels such as store ids
    if pdt.is_float_dtype(s) and _integral(values):
        return None  # integer labels read from a CSV with gaps arrive as floats
    kind = _inferred(values.astype(object))
    if pdt.is_numeric_dtype(s) or pdt.is_bool_dtype(s) or pdt.is_datetime64_any_dtype(s):
        return f"{s.dtype} ({kind}) cannot hold labels"
    if kind in ("string", "integer", "mixed-integer"):
        return None
    return f"{s.dtype} ({kind}) cannot hold labels"


def _string_problem(s: pd.Series, values: pd.Series) -> str | None:
    return None if _category_problem(s, values) is None else (
        f"{s.dtype} ({_inferred(values)}) is not text")


def _datetime_problem(s: pd.Series, values: pd.Series) -> str | None:
    if pdt.is_datetime64_any_dtype(s):
        return None
    if pdt.is_numeric_dtype(s) or pdt.is_bool_dtype(s):
        return f"{s.dtype} is not a timestamp (epoch numbers are ambiguous about their unit)"
    parsed = _parse_datetimes(values, errors="coerce")
    bad = values[parsed.isna().to_numpy()]
    if len(bad):
        return f"{s.dtype} with values that are not ISO 8601 timestamps: {_examples(bad)}"
    return None


_DTYPE_RULES: dict[str, Callable[[pd.Series, pd.Series], str | None]] = {
    "float": _float_problem,
    "int": _int_problem,
    "bool": _bool_problem,
    "category": _category_problem,
    "string": _string_problem,
    "datetime": _datetime_problem,
}
_NUMBER_KINDS = {"integer", "floating", "mixed-integer-float", "decimal"}


def _check_target(s: pd.Series, spec: PipelineSpec) -> list[CheckResult]:
    name = spec.target
    nulls = int(s.isna().sum())
    checks = [CheckResult(
        "target_missing_values", nulls == 0, f"{nulls} null labels in {name!r}", "no null labels",
        ReasonCode.TARGET_MISSING_VALUES if nulls else None, value=nulls, threshold=0,
    )]
    labels = s.dropna()
    if spec.task == "regression":
        problem = _float_problem(s, labels) if len(labels) else None
        checks.append(CheckResult(
            f"dtype:{name}", problem is None, f"{name}: {problem or s.dtype}", "float",
            ReasonCode.DTYPE_MISMATCH if problem else None,
        ))
        if problem is None:
            # NaN is pandas' null and is reported above; this check is about +/-inf.
            n_inf = int(np.isinf(_as_float(labels)).sum())
            checks.append(CheckResult(
                "target_finite", n_inf == 0, f"{n_inf} infinite labels in {name!r}",
                "finite labels", ReasonCode.TARGET_NOT_FINITE if n_inf else None,
            ))
        return checks
    if spec.task == "multiclass_classification":
        return checks + _check_multiclass_target(labels, spec)
    classes = binary_labels(labels)
    invalid = labels[classes.isna()]
    checks.append(CheckResult(
        "target_classes", invalid.empty,
        f"labels outside {{0, 1}} in {name!r}: {_examples(invalid)}" if len(invalid)
        else f"labels in {sorted(classes.unique().tolist())}",
        "0/1 or False/True", None if invalid.empty else ReasonCode.TARGET_INVALID_CLASS,
    ))
    if invalid.empty and len(classes):
        distinct = sorted(classes.unique().tolist())
        checks.append(CheckResult(
            "target_two_classes", len(distinct) == 2,
            f"only class {distinct} in {name!r}" if len(distinct) < 2 else "both classes",
            "both classes 0 and 1", None if len(distinct) == 2 else ReasonCode.TARGET_SINGLE_CLASS,
        ))
        per_class = spec.contract.min_rows_per_class
        if len(distinct) == 2 and per_class is not None:
            counts = {int(k): int(v) for k, v in classes.value_counts().items()}
            smallest = min(counts.values())
            ok = smallest >= per_class
            checks.append(CheckResult(
                "target_rows_per_class", ok, f"rows per class in {name!r}: {counts}",
                f"at least {per_class} rows of each class",
                None if ok else ReasonCode.TARGET_TOO_FEW_PER_CLASS,
                value=smallest, threshold=per_class,
            ))
    return checks


def _check_multiclass_target(labels: pd.Series, spec: PipelineSpec) -> list[CheckResult]:
    """Labels (nulls already dropped) in spec.classes, at least two classes present, and
    `min_rows_per_class` rows of *every* class of the spec (an absent class has 0)."""
    name, classes = spec.target, spec.classes
    codes = class_codes(labels, classes)
    invalid = labels[codes < 0]
    checks = [CheckResult(
        "target_classes", invalid.empty,
        f"labels outside the class set in {name!r}: {_examples(invalid)}" if len(invalid)
        else f"labels in {[classes[c] for c in np.unique(codes)]}",
        f"one of {list(classes)}", None if invalid.empty else ReasonCode.TARGET_INVALID_CLASS,
        value=len(invalid), threshold=0,
    )]
    if not invalid.empty or not len(codes):
        return checks
    counts = np.bincount(codes, minlength=len(classes))
    present = int((counts > 0).sum())
    checks.append(CheckResult(
        "target_two_classes", present >= 2,
        f"only class {[classes[c] for c in np.flatnonzero(counts)]} in {name!r}" if present < 2
        else f"{present} of {len(classes)} classes", "at least two classes",
        None if present >= 2 else ReasonCode.TARGET_SINGLE_CLASS, value=present, threshold=2,
    ))
    per_class = spec.contract.min_rows_per_class
    if present >= 2 and per_class is not None:
        smallest = int(counts.min())
        ok = smallest >= per_class
        checks.append(CheckResult(
            "target_rows_per_class", ok,
            f"rows per class in {name!r}: {dict(zip(classes, counts.tolist(), strict=True))}",
            f"at least {per_class} rows of each of {len(classes)} classes",
            None if ok else ReasonCode.TARGET_TOO_FEW_PER_CLASS,
            value=smallest, threshold=per_class,
        ))
    return checks


def _check_finite_features(df: pd.DataFrame, spec: PipelineSpec, usable: set[str]) -> CheckResult:
    # NaN is fine (XGBoost treats it as missing); +/-inf is not a value any producer means.
    offending: dict[str, int] = {}
    for f in spec.features:
        if f.dtype not in ("float", "int") or f.name not in usable:
            continue
        s = df[f.name]
        if _dtype_problem(s, f.dtype) is not None:
            continue
        n_inf = int(np.isinf(_as_float(s.dropna())).sum())
        if n_inf:
            offending[f.name] = n_inf
    return CheckResult(
        "finite_features", not offending,
        f"infinite values in features: {offending}" if offending else "all finite",
        "no +/-inf in numeric features",
        ReasonCode.NON_FINITE_FEATURES if offending else None,
        value=sum(offending.values()), threshold=0,
    )


def _check_categories(s: pd.Series, feature: Feature) -> CheckResult:
    name = f"categories:{feature.name}"
    limit = feature.max_new_category_share
    if _dtype_problem(s, "category") is not None:
        return CheckResult(name, True, "skipped: wrong dtype", "known categories")
    labels = _category_labels(s).dropna()
    unknown_mask = ~labels.isin(feature.categories)
    n_unknown = int(unknown_mask.sum())
    share = n_unknown / len(s)
    unknown = sorted(set(labels[unknown_mask]))
    # With no tolerance any unknown label rejects (UNKNOWN_CATEGORIES, as always); with one,
    # unknown labels become missing values in conform() until their share exceeds it.
    ok = n_unknown == 0 if limit == 0 else share <= limit
    code = ReasonCode.UNKNOWN_CATEGORIES if limit == 0 else ReasonCode.NEW_CATEGORIES_ABOVE_LIMIT
    expected = f"one of {list(feature.categories)}"
    if limit:
        expected += f", or other labels in at most {limit:.2%} of rows"
    return CheckResult(
        name, ok,
        f"{feature.name}: unknown categories {unknown[:10]} in {n_unknown} rows ({share:.2%})"
        if unknown else f"{feature.name}: all known",
        expected, None if ok else code, value=share, threshold=limit,
    )


def _check_nulls(s: pd.Series, feature: Feature) -> CheckResult:
    n = len(s)
    nulls = int(s.isna().sum())
    share = nulls / n
    limit = feature.null_limit
    observed = f"{feature.name}: {nulls} null rows ({share:.2%})"
    if nulls == n:
        # Nothing to learn from and nothing to check a dtype against: a broken export.
        return CheckResult(f"nulls:{feature.name}", False, f"{feature.name}: all {n} rows null",
                           "at least one non-null value", ReasonCode.ALL_NULL_COLUMN,
                           value=share, threshold=limit)
    if limit is None:
        return CheckResult(f"nulls:{feature.name}", True, observed, "nulls allowed",
                           value=share, threshold=None)
    ok = share <= limit
    return CheckResult(
        f"nulls:{feature.name}", ok, observed,
        "no nulls" if limit == 0 else f"at most {limit:.2%} null rows",
        None if ok else ReasonCode.NULLS_ABOVE_LIMIT, value=share, threshold=limit)


def _check_range(s: pd.Series, feature: Feature) -> CheckResult:
    name = f"range:{feature.name}"
    low, high = feature.min_value, feature.max_value
    expected = f"within [{_text(low) if low is not None else '-inf'}, " \
               f"{_text(high) if high is not None else '+inf'}]"
    if _dtype_problem(s, feature.dtype) is not None:
        return CheckResult(name, True, "skipped: wrong dtype", expected)
    if feature.dtype == "datetime":
        values: Any = _utc_stamps(s)
        present = values.notna().to_numpy()
        bound: Callable[[Any], Any] = pd.Timestamp
    else:
        values = _as_float(s)
        present = np.isfinite(values)  # NaN is a null, +/-inf is NON_FINITE_FEATURES' business
        bound = float
    outside = np.zeros(len(s), dtype=bool)
    if low is not None:
        outside |= np.asarray(values < bound(low)) & present
    if high is not None:
        outside |= np.asarray(values > bound(high)) & present
    n_out = int(outside.sum())
    kept = values[present]
    seen = f"[{_text(kept.min())}, {_text(kept.max())}]" if present.any() else "no values"
    return CheckResult(
        name, n_out == 0, f"{feature.name}: {n_out} rows out of range; values span {seen}",
        expected, ReasonCode.OUT_OF_RANGE if n_out else None, value=n_out, threshold=0)


def _check_duplicate_rows(df: pd.DataFrame, limit: float) -> CheckResult:
    if pd.Index(df.columns).has_duplicates:
        return CheckResult("duplicate_rows", True, "skipped: duplicated columns",
                           f"at most {limit:.2%} duplicated rows")
    try:
        # Every repeat of an earlier row counts; all columns take part, extra ones too.
        repeats = int(df.duplicated(keep="first").sum())
    except TypeError:  # unhashable cells (lists in an object column): DTYPE_MISMATCH's business
        return CheckResult("duplicate_rows", True, "skipped: unhashable values",
                           f"at most {limit:.2%} duplicated rows")
    share = repeats / len(df)
    ok = share <= limit
    return CheckResult(
        "duplicate_rows", ok, f"{repeats} rows repeat an earlier row ({share:.2%})",
        f"at most {limit:.2%} duplicated rows", None if ok else ReasonCode.DUPLICATE_ROWS,
        value=share, threshold=limit)


def _check_freshness(s: pd.Series, contract: Contract, now: pd.Timestamp) -> list[CheckResult]:
    rule = contract.freshness
    assert rule is not None
    column = rule.column
    if _dtype_problem(s, "datetime") is not None:
        return [CheckResult("freshness", True, "skipped: wrong dtype", "timestamps")]
    stamps = _utc_stamps(s)
    newest = stamps.max()
    if pd.isna(newest):
        return [CheckResult("freshness", True, "skipped: no timestamps", "timestamps")]
    age_h = (now - newest) / pd.Timedelta(hours=1)
    fresh = age_h <= rule.max_age_hours
    limit = now + pd.Timedelta(minutes=rule.allow_future_minutes)
    n_future = int((stamps > limit).sum())
    ahead_min = (newest - now) / pd.Timedelta(minutes=1)
    return [
        CheckResult(
            "freshness", fresh,
            f"newest {column} {newest.isoformat()} is {age_h:.1f} h old at {now.isoformat()}",
            f"newest {column} at most {rule.max_age_hours:g} h old",
            None if fresh else ReasonCode.STALE_DATA, value=round(age_h, 6),
            threshold=rule.max_age_hours),
        CheckResult(
            "future_timestamps", n_future == 0,
            f"{n_future} rows of {column} later than {limit.isoformat()}; newest "
            f"{newest.isoformat()}",
            f"{column} at most {rule.allow_future_minutes:g} min after {now.isoformat()}",
            ReasonCode.FUTURE_TIMESTAMPS if n_future else None, value=round(ahead_min, 6),
            threshold=rule.allow_future_minutes),
    ]


def _check_constant_columns(df: pd.DataFrame, spec: PipelineSpec,
                            usable: set[str]) -> list[CheckResult]:
    """A warning per feature holding a single distinct value: legal, but carries no signal."""
    if len(df) < 2:
        return []
    constant = []
    for f in spec.features:
        if f.name not in usable:
            continue
        try:
            distinct = df[f.name].nunique(dropna=True)
        except TypeError:
            continue
        if distinct == 1:
            constant.append(f.name)
    if not constant:
        return []
    return [CheckResult(
        "constant_columns", False, f"features with a single value: {constant}",
        "at least 2 distinct values per feature", ReasonCode.CONSTANT_COLUMN, "warning",
        value=len(constant), threshold=0)]


# --- conforming --------------------------------------------------------------------------------


def conform(df: pd.DataFrame, spec: PipelineSpec) -> pd.DataFrame:
    """A new frame with exactly the spec's columns and dtypes, for a batch that passed."""
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"cannot conform: missing columns {missing}; validate the batch first")
    out = {f.name: _CASTS[f.dtype](df[f.name], f) for f in spec.features}
    out[spec.target] = _conform_target(df[spec.target], spec)
    # copy=False: the casts already made new arrays where the dtype changed; copying (and
    # consolidating) them again would hold a third copy of a large batch.
    return pd.DataFrame(out, columns=spec.columns, index=df.index.copy(), copy=False)


def _cast_float(s: pd.Series, _: Feature) -> pd.Series:
    return pd.Series(_as_float(s), index=s.index, dtype="float64")


def _cast_int(s: pd.Series, _: Feature) -> pd.Series:
    if s.isna().any():
        # int64 cannot hold NaN; float64 concatenates with int64 batches without going to object.
        return _cast_float(s, _)
    if pdt.is_integer_dtype(s):
        return s.astype("int64")
    return pd.Series(_as_float(s), index=s.index).astype("int64")


def _cast_bool(s: pd.Series, _: Feature) -> pd.Series:
    if pdt.is_bool_dtype(s) and not s.isna().any():
        return s.astype("bool")
    flags = s.map(_to_bool)
    if flags.isna().any():
        # pandas' nullable boolean keeps the gaps and stays boolean when concatenated with bool.
        return pd.Series(pd.array(flags.tolist(), dtype="boolean"), index=s.index)
    return flags.astype("bool")


def _cast_category(s: pd.Series, feature: Feature) -> pd.Series:
    # Spec order fixes the category codes, so code 2 means the same label in every batch.
    labels = _category_labels(s)
    return pd.Series(pd.Categorical(labels, categories=list(feature.categories)), index=s.index)


def _cast_string(s: pd.Series, _: Feature) -> pd.Series:
    labels = _category_labels(s)
    return labels.astype(object)


def _cast_datetime(s: pd.Series, _: Feature) -> pd.Series:
    if pdt.is_datetime64_any_dtype(s):
        stamps = s
    else:
        stamps = _parse_datetimes(s, errors="raise")
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps.astype("datetime64[ns]")


_CASTS: dict[str, Callable[[pd.Series, Feature], pd.Series]] = {
    "float": _cast_float,
    "int": _cast_int,
    "bool": _cast_bool,
    "category": _cast_category,
    "string": _cast_string,
    "datetime": _cast_datetime,
}


def _conform_target(s: pd.Series, spec: PipelineSpec) -> pd.Series:
    if spec.task == "regression":
        return pd.Series(_as_float(s), index=s.index, dtype="float64")
    if spec.task == "multiclass_classification":
        # Like a category feature: the labels as text, categories in the spec's class order, so
        # a label's code is its class index 0..k-1, the index training and evaluation use.
        codes = class_codes(s, spec.classes)
        if (codes < 0).any():
            raise ValueError(f"cannot conform: labels of {spec.target!r} outside the class set; "
                             "validate the batch first")
        return pd.Series(pd.Categorical.from_codes(codes, categories=list(spec.classes)),
                         index=s.index)
    return binary_labels(s).astype("int64")


def class_codes(labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Class index (0..k-1, the order of `classes`) of each label; -1 for a null or a label
    outside the set. A label matches a class by its text: "2", 2 and 2.0 are class "2"."""
    index = {c: i for i, c in enumerate(classes)}
    values = labels.astype(object)  # a categorical's map would keep the dtype
    mapping = {v: index.get(_class_key(v), -1) for v in values.dropna().unique()}
    mapped = pd.to_numeric(values.map(mapping), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan)
    return np.where(np.isnan(mapped), -1, mapped).astype("int64")


def _class_key(v: object) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating) and np.isfinite(v) and float(v).is_integer():
        return str(int(v))
    return None


# --- value helpers -----------------------------------------------------------------------------


def _is_number_dtype(s: pd.Series) -> bool:
    return pdt.is_numeric_dtype(s) and not pdt.is_bool_dtype(s)


def _inferred(values: pd.Series) -> str:
    return pd.api.types.infer_dtype(values, skipna=True)


def _not_number(v: object) -> bool:
    return isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number)


def _examples(values: pd.Series, keep: Callable[[object], bool] | None = None) -> list[Any]:
    picked = [v for v in values.tolist() if keep is None or keep(v)]
    return picked[:_EXAMPLES]


def _as_float(s: pd.Series) -> np.ndarray:
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _integral(values: pd.Series) -> bool:
    numbers = _as_float(values)
    finite = numbers[np.isfinite(numbers)]
    return bool((finite == np.round(finite)).all())


def _to_bool(v: object) -> bool | None:
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | float | np.number) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        return _BOOL_STRINGS.get(v.strip().lower())
    return None


def binary_labels(s: pd.Series) -> pd.Series:
    """`s.map(_to_binary_label)`: 0/1 for each label that is 0, 1, False or True, missing
    otherwise; int64 when every label is valid. Vectorised for bool and real-number columns
    (a per-row Python call was half of validation time on large batches); text, categories and
    mixed objects go through the per-label function."""
    if (pdt.is_bool_dtype(s) or pdt.is_numeric_dtype(s)) and not pdt.is_complex_dtype(s) \
            and not isinstance(s.dtype, pd.CategoricalDtype):
        values = s.astype("float64")  # bools -> 0/1; nullable NA -> NaN
        valid = values.isin((0.0, 1.0))
        return values.astype("int64") if valid.all() else values.where(valid)
    return s.map(_to_binary_label)


def _to_binary_label(v: object) -> int | None:
    if isinstance(v, bool | np.bool_):
        return int(v)
    if isinstance(v, int | float | np.number) and v in (0, 1):
        return int(v)
    return None


def _category_labels(s: pd.Series) -> pd.Series:
    """Labels as text with None for nulls; integral floats lose their `.0` (CSV gaps)."""
    if pdt.is_float_dtype(s):
        s = s.astype("Int64")
    text = s.astype(object).map(str, na_action="ignore")
    return text.where(s.notna().to_numpy(), None)


def _clock(now: datetime | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz=UTC)
    stamp = pd.Timestamp(now)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _utc_stamps(s: pd.Series) -> pd.Series:
    """Timestamps as aware UTC; naive ones are UTC already (conform() keeps them so)."""
    if pdt.is_datetime64_any_dtype(s):
        if isinstance(s.dtype, pd.DatetimeTZDtype):
            return s.dt.tz_convert(UTC)
        return s.dt.tz_localize(UTC)
    return _parse_datetimes(s, errors="coerce")


def _text(v: object) -> str:
    if isinstance(v, datetime):
        return pd.Timestamp(v).isoformat()
    if isinstance(v, float | np.floating):
        return f"{float(v):g}"
    return str(v)


def _parse_datetimes(values: pd.Series, *, errors: Literal["raise", "coerce"]) -> pd.Series:
    # ISO 8601 only: "01/02/2024" means different days to different producers.
    parsed = pd.to_datetime(values, errors=errors, format="ISO8601", utc=True)
    return pd.Series(parsed, index=values.index)
