"""Checks of the target column: no missing labels, labels the task can learn from, and enough
rows of each class."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlops_lib.spec import PipelineSpec
from mlops_lib.validation.dtypes import float_problem
from mlops_lib.validation.labels import binary_labels, class_codes
from mlops_lib.validation.limits import FLOAT32_MAX, beyond_float32, limit_check
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult
from mlops_lib.validation.values import as_float, examples


def check_target(s: pd.Series, spec: PipelineSpec) -> list[CheckResult]:
    name = spec.target
    nulls = int(s.isna().sum())
    checks = [CheckResult(
        "target_missing_values", nulls == 0, f"{nulls} null labels in {name!r}", "no null labels",
        ReasonCode.TARGET_MISSING_VALUES if nulls else None, value=nulls, threshold=0,
    )]
    labels = s.dropna()
    if spec.task == "regression":
        return checks + _check_regression_target(s, labels, name)
    if spec.task == "multiclass_classification":
        return checks + _check_multiclass_target(labels, spec)
    return checks + _check_binary_target(labels, spec)


def _check_regression_target(s: pd.Series, labels: pd.Series, name: str) -> list[CheckResult]:
    problem = float_problem(s, labels) if len(labels) else None
    checks = [CheckResult(
        f"dtype:{name}", problem is None, f"{name}: {problem or s.dtype}", "float",
        ReasonCode.DTYPE_MISMATCH if problem else None,
    )]
    if problem is None:
        # NaN is pandas' null and is reported above; this check is about +/-inf.
        n_inf = int(np.isinf(as_float(labels)).sum())
        checks.append(CheckResult(
            "target_finite", n_inf == 0, f"{n_inf} infinite labels in {name!r}",
            "finite labels", ReasonCode.TARGET_NOT_FINITE if n_inf else None,
        ))
        # Training reads labels as float32: a larger finite label would become inf there.
        checks.append(limit_check(
            "target_limits", name, labels, beyond_float32(as_float(labels)),
            f"|label| at most float32's {FLOAT32_MAX:g}", ReasonCode.VALUE_OVERFLOW))
    return checks


def _check_binary_target(labels: pd.Series, spec: PipelineSpec) -> list[CheckResult]:
    name = spec.target
    classes = binary_labels(labels)
    invalid = labels[classes.isna()]
    checks = [CheckResult(
        "target_classes", invalid.empty,
        f"labels outside {{0, 1}} in {name!r}: {examples(invalid)}" if len(invalid)
        else f"labels in {sorted(classes.unique().tolist())}",
        "0/1 or False/True", None if invalid.empty else ReasonCode.TARGET_INVALID_CLASS,
    )]
    if not invalid.empty or not len(classes):
        return checks
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
        f"labels outside the class set in {name!r}: {examples(invalid)}" if len(invalid)
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
