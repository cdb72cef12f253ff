"""Batch-level rules of the data contract.

`Contract` is the record the code uses; `ContractSection` is the YAML `contract:` section it is
read from (the per-class row minimum nests under `target:` there)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import (
    SPEC_CONFIG,
    Count,
    Integer,
    NonNegative,
    Number,
    OrEmpty,
    Positive,
    Share,
    problem,
)

ExtraColumnsPolicy = Literal["reject", "drop"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class Freshness:
    """The newest timestamp of `column` must be at most `max_age_hours` old, and no timestamp
    may lie more than `allow_future_minutes` ahead of the validation clock."""

    column: str
    """A datetime feature."""
    max_age_hours: Positive
    """The newest timestamp may be at most this old (STALE_DATA)."""
    allow_future_minutes: NonNegative = 5.0
    """Timestamps further ahead of the validation clock are FUTURE_TIMESTAMPS."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class Contract:
    """Batch-level rules of the data contract; the defaults check nothing beyond today's."""

    min_rows: Integer | None = None
    max_rows: Integer | None = None
    max_duplicate_share: Number | None = None    # share of rows that repeat an earlier row
    freshness: Freshness | None = None
    extra_columns: ExtraColumnsPolicy = "drop"   # drop (with a warning) or reject
    min_rows_per_class: Integer | None = None    # classification: rows of each class


@dataclass(frozen=True, config=SPEC_CONFIG)
class ContractTargetSection:
    """Rules on the target column."""

    min_rows_per_class: Count | None = None
    """Classification: fewer rows of any class rejects the batch (TARGET_TOO_FEW_PER_CLASS)."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class ContractSection:
    """The YAML `contract:` section; see docs/contract.md."""

    min_rows: Count | None = None
    """Fewer rows: TOO_FEW_ROWS."""
    max_rows: Count | None = None
    """More rows: TOO_MANY_ROWS."""
    max_duplicate_share: Share | None = None
    """A larger share of rows repeating an earlier row: DUPLICATE_ROWS."""
    freshness: Freshness | None = None
    """How old the newest timestamp of a datetime feature may be."""
    extra_columns: ExtraColumnsPolicy = "drop"
    """Columns the spec does not list: drop (warning EXTRA_COLUMNS) or reject (failure)."""
    target: Annotated[ContractTargetSection, OrEmpty] = ContractTargetSection()
    """Rules on the target column."""

    @model_validator(mode="after")
    def _rows_in_order(self) -> ContractSection:
        low, high = self.min_rows, self.max_rows
        if low is not None and high is not None and low > high:
            raise problem("min_rows", f"{low} is greater than contract.max_rows {high}")
        return self

    def contract(self) -> Contract:
        return Contract(min_rows=self.min_rows, max_rows=self.max_rows,
                        max_duplicate_share=self.max_duplicate_share, freshness=self.freshness,
                        extra_columns=self.extra_columns,
                        min_rows_per_class=self.target.min_rows_per_class)
