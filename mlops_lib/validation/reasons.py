"""Why a batch is refused: stable reason codes and the exception that carries one.

Light on purpose (no pandas): the task that registers a batch imports this module only.
Dashboards and alerts group by the code; the human text may change, the code won't.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lib.validation.report import ValidationReport


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
    DUPLICATE_IDS = "DUPLICATE_IDS"  # an id (role id) that names two rows of one batch
    STALE_DATA = "STALE_DATA"
    FUTURE_TIMESTAMPS = "FUTURE_TIMESTAMPS"
    TARGET_TOO_FEW_PER_CLASS = "TARGET_TOO_FEW_PER_CLASS"
    CONSTANT_COLUMN = "CONSTANT_COLUMN"  # a warning
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_MISMATCH = "MANIFEST_MISMATCH"
    BATCH_CHANGED = "BATCH_CHANGED"  # a batch id landed again with other content
    UNSAFE_KEY = "UNSAFE_KEY"  # `..`, leading `/`, `//`, control/format chars, over 1024 bytes
    FILE_TOO_LARGE = "FILE_TOO_LARGE"  # a listed size above source.max_file_bytes
    RAGGED_CSV = "RAGGED_CSV"  # a CSV row with more or fewer fields than the header
    VALUE_OVERFLOW = "VALUE_OVERFLOW"  # beyond float32 (model inputs, labels) or int64 (ints)
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"  # outside datetime64[ns]: 1677..2262
    CONFORM_FAILED = "CONFORM_FAILED"  # a batch that passed its checks crashed the cast/staging
    INTERNAL_ERROR = "INTERNAL_ERROR"  # reading or checking crashed on this batch's data
    DECOMPRESSED_TOO_LARGE = "DECOMPRESSED_TOO_LARGE"  # above source.max_uncompressed_bytes


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
