"""The data contract's checks on a read batch: `validate_batch` runs them all.

Validation collects every check instead of stopping at the first failure, so one quarantine
report tells the producer everything that is wrong with a batch. This module holds the checks
of the batch as a whole (rows, columns, duplicates, freshness); `feature_checks` those of one
feature column and `target_checks` those of the labels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from mlops_lib.spec import Contract, Feature, PipelineSpec
from mlops_lib.validation.columns import BatchColumns, FrameColumns
from mlops_lib.validation.distinct import single_value
from mlops_lib.validation.dtypes import dtype_problem
from mlops_lib.validation.duplicates import count_duplicate_rows
from mlops_lib.validation.feature_checks import (
    check_categories,
    check_feature_dtype,
    check_nulls,
    check_range,
    check_unique_ids,
    check_value_limits,
    finite_features_result,
    infinite_values,
)
from mlops_lib.validation.limits import stamps_beyond_ns
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult, ValidationReport
from mlops_lib.validation.target_checks import check_target
from mlops_lib.validation.values import clock, utc_stamps


def validate_batch(df: pd.DataFrame, spec: PipelineSpec, *, batch_id: str,
                   now: datetime | None = None, labelled: bool = True) -> ValidationReport:
    """Run every check of the contract on a batch; never mutates `df`.

    `now` is the clock freshness is judged by (default: the current UTC time; a naive value
    means UTC). Each column is visited a bounded number of times with vectorized operations.
    `labelled=False` judges a scoring batch: no target (one present is an extra column, as
    any column but the features and scoring.id_column), and
    none of the rules about a training set's size and redundancy (min/max rows, duplicate
    rows, constant columns); every feature rule holds as for training.
    """
    return validate_columns(FrameColumns(df), spec, batch_id=batch_id, now=now,
                            labelled=labelled)


def validate_columns(batch: BatchColumns, spec: PipelineSpec, *, batch_id: str,
                     now: datetime | None = None, labelled: bool = True) -> ValidationReport:
    """`validate_batch` on a batch served column by column: each feature column is asked for
    once (the freshness column once more), and only the duplicate-rows rule of a labelled
    batch asks for the whole frame."""
    n = batch.n_rows
    usable = _usable_columns(batch.names)
    judged = [_judge_feature(batch.column(f.name), f, n, labelled) for f in spec.features
              if f.name in usable]
    checks: list[CheckResult] = [_check_non_empty(n)]
    if labelled:
        checks += _check_row_count(n, spec.contract)
    checks += _check_columns(batch.names, spec, labelled)
    checks += [j.dtype for j in judged]
    if labelled and spec.target in usable:
        checks += check_target(batch.column(spec.target), spec)
    checks.append(finite_features_result({j.name: j.infinite for j in judged if j.infinite}))
    checks += [c for j in judged for c in j.values]
    if n:
        checks += _batch_level_checks(batch, spec, judged, labelled, clock(now))
    return ValidationReport(pipeline=spec.name, batch_id=batch_id, n_rows=n, checks=checks)


def _batch_level_checks(batch: BatchColumns, spec: PipelineSpec, judged: list[_JudgedFeature],
                        labelled: bool, now: pd.Timestamp) -> list[CheckResult]:
    """Duplicate rows and constant columns (a labelled batch), freshness (a non-empty one)."""
    contract = spec.contract
    checks = []
    if labelled and contract.max_duplicate_share is not None:
        checks.append(_check_duplicate_rows(batch.frame(), contract.max_duplicate_share))
    if contract.freshness is not None and contract.freshness.column in _usable_columns(
            batch.names):
        checks += _check_freshness(batch.column(contract.freshness.column), contract, now)
    if labelled and batch.n_rows >= 2:
        checks += _check_constant_columns([j.name for j in judged if j.constant])
    return checks


@dataclass(frozen=True)
class _JudgedFeature:
    """What one feature column's checks found, kept once the column itself is let go."""

    name: str
    dtype: CheckResult
    infinite: int
    values: list[CheckResult]  # nulls, categories, range and limits (none for an empty batch)
    constant: bool  # a single distinct non-null value (judged for a labelled batch only)


def _judge_feature(s: pd.Series, feature: Feature, n: int, labelled: bool) -> _JudgedFeature:
    dtype = check_feature_dtype(s, feature)
    return _JudgedFeature(
        name=feature.name, dtype=dtype,
        infinite=infinite_values(s, feature) if dtype.passed else 0,
        values=_check_feature_values(s, feature) if n else [],
        constant=labelled and single_value(s))


def _usable_columns(names: list[str]) -> set[str]:
    """Columns that can be checked alone: present once (df[name] is then a Series)."""
    counts = Counter(names)
    return {name for name, n in counts.items() if n == 1}


def _check_feature_values(s: pd.Series, feature: Feature) -> list[CheckResult]:
    """Nulls, categories, range, unique ids and limits of one feature (a non-empty batch)."""
    checks = [check_nulls(s, feature)]
    if feature.dtype == "category":
        checks.append(check_categories(s, feature))
    if feature.min_value is not None or feature.max_value is not None:
        checks.append(check_range(s, feature))
    if feature.role == "id":
        checks.append(check_unique_ids(s, feature))
    limits = check_value_limits(s, feature)
    if limits is not None:
        checks.append(limits)
    return checks


def _check_non_empty(n: int) -> CheckResult:
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


def _check_columns(present: list[str], spec: PipelineSpec,
                   labelled: bool) -> list[CheckResult]:
    required = spec.columns if labelled else spec.feature_names
    id_column = None if labelled else spec.scoring_id_column
    missing = [c for c in required if c not in present]
    duplicated = sorted({str(c) for c in present if present.count(c) > 1})
    return [
        CheckResult(
            "required_columns", not missing,
            f"missing columns: {missing}" if missing else f"all {len(required)} present",
            f"columns {required}", ReasonCode.MISSING_COLUMNS if missing else None,
            value=len(missing), threshold=0,
        ),
        CheckResult(
            "unique_columns", not duplicated,
            f"duplicated columns: {duplicated}" if duplicated else "no duplicates",
            "each column once", ReasonCode.DUPLICATE_COLUMNS if duplicated else None,
        ),
        _check_extra_columns(present, spec, required + ([id_column] if id_column else [])),
    ]


def _check_extra_columns(present: list[str], spec: PipelineSpec,
                         known: list[str]) -> CheckResult:
    # Policy drop (the default): conform() drops extra columns, and producers adding columns
    # do not stop training; policy reject makes them a failure. A scoring batch's known
    # columns are the features and its id column (scoring.id_column or the role-id feature).
    extra = sorted(str(c) for c in set(present) - set(known))
    drop = spec.contract.extra_columns == "drop"
    return CheckResult(
        "extra_columns", not extra,
        f"extra columns ({'dropped' if drop else 'rejected'}): {extra}" if extra else "none",
        "only spec columns", ReasonCode.EXTRA_COLUMNS if extra else None,
        "warning" if drop else "error", value=len(extra), threshold=0,
    )


def _check_duplicate_rows(df: pd.DataFrame, limit: float) -> CheckResult:
    if pd.Index(df.columns).has_duplicates:
        return CheckResult("duplicate_rows", True, "skipped: duplicated columns",
                           f"at most {limit:.2%} duplicated rows")
    try:
        # Every repeat of an earlier row counts; all columns take part, extra ones too.
        repeats = count_duplicate_rows(df)
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
    if dtype_problem(s, "datetime") is not None:
        return [CheckResult("freshness", True, "skipped: wrong dtype", "timestamps")]
    # A stamp beyond datetime64[ns] (year 9999) is TIMESTAMP_OUT_OF_RANGE's business, and
    # measuring its age would overflow a Timedelta: freshness is judged on the others.
    stamps = utc_stamps(s[~stamps_beyond_ns(s)])
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


def _check_constant_columns(constant: list[str]) -> list[CheckResult]:
    """A warning for the features holding a single distinct value: legal, but carries no
    signal."""
    if not constant:
        return []
    return [CheckResult(
        "constant_columns", False, f"features with a single value: {constant}",
        "at least 2 distinct values per feature", ReasonCode.CONSTANT_COLUMN, "warning",
        value=len(constant), threshold=0)]
