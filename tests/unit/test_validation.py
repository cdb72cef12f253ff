from __future__ import annotations

import copy
import json
import pickle  # noqa: TID251 - Airflow pickles task exceptions; BatchRejected must survive it
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlops_lib.datagen import generate_batch, to_file_bytes
from mlops_lib.manifest import build_manifest
from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec
from mlops_lib.validation import (
    BatchRejected,
    ReasonCode,
    ValidationReport,
    check_manifest,
    conform,
    read_batch,
    validate_batch,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def good(spec: PipelineSpec) -> pd.DataFrame:
    return generate_batch(spec, 200, seed=1)


@pytest.fixture(scope="module")
def regression_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, name="loan_amount", task="regression",
                   metric=MetricPolicy("rmse", "minimize", floor=1e9))


@pytest.fixture(scope="module")
def all_dtypes_spec(spec: PipelineSpec) -> PipelineSpec:
    features = (
        Feature("amount", "float"),
        Feature("count", "int"),
        Feature("flag", "bool"),
        Feature("colour", "category", ("red", "green", "blue")),
        Feature("customer_id", "string"),
        Feature("seen_at", "datetime"),
    )
    return replace(spec, name="all_dtypes", features=features, target="label")


def codes(report: ValidationReport) -> set[ReasonCode | None]:
    return {c.reason_code for c in report.failures}


# --- a good batch ------------------------------------------------------------------------------


def test_generated_batch_passes(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good, spec, batch_id="b1")
    assert report.passed
    assert report.failures == []
    assert report.reason_code is None
    assert report.n_rows == len(good)
    assert report.summary().startswith("passed ")
    report.raise_for_failures()  # no exception


def test_validation_does_not_mutate_the_batch(good: pd.DataFrame, spec: PipelineSpec) -> None:
    bad = good.copy()
    bad["age"] = bad["age"].astype(str)
    before = bad.copy()
    validate_batch(bad, spec, batch_id="b")
    pd.testing.assert_frame_equal(bad, before)


def test_report_to_dict_is_json(good: pd.DataFrame, spec: PipelineSpec) -> None:
    bad = good.drop(columns=["age"]).assign(extra=1)
    raw = json.loads(json.dumps(validate_batch(bad, spec, batch_id="b7").to_dict()))
    assert raw["pipeline"] == spec.name
    assert raw["batch_id"] == "b7"
    assert raw["passed"] is False
    assert raw["reason_code"] == "MISSING_COLUMNS"
    assert raw["summary"].startswith("[MISSING_COLUMNS] ")
    by_name = {c["name"]: c for c in raw["checks"]}
    assert by_name["required_columns"]["reason_code"] == "MISSING_COLUMNS"
    assert by_name["extra_columns"]["severity"] == "warning"


# --- one scenario per reason code --------------------------------------------------------------
# Each takes (good batch, spec, regression spec) and returns the outcome: a report from
# validate_batch or the BatchRejected that read_batch raised.

Outcome = ValidationReport | BatchRejected


def _rejected(read: Callable[[], object]) -> BatchRejected:
    with pytest.raises(BatchRejected) as info:
        read()
    return info.value


def _empty_batch(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.iloc[:0], spec, batch_id="b")


def _unreadable(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return _rejected(lambda: read_batch([("p.parquet", b"not parquet at all")], "parquet"))


def _inconsistent(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    a = to_file_bytes(df, "csv")
    b = to_file_bytes(df.drop(columns=["age"]), "csv")
    return _rejected(lambda: read_batch([("a.csv", a), ("b.csv", b)], "csv"))


def _missing(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.drop(columns=["age", "default"]), spec, batch_id="b")


def _duplicate(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(pd.concat([df, df[["age"]]], axis=1), spec, batch_id="b")


def _extra(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(zzz=1), spec, batch_id="b")


def _dtype(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(income="lots"), spec, batch_id="b")


def _target_missing(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad["default"] = bad["default"].astype(float)
    bad.loc[[0, 5], "default"] = np.nan
    return validate_batch(bad, spec, batch_id="b")


def _target_not_finite(df: pd.DataFrame, _: PipelineSpec, reg: PipelineSpec) -> Outcome:
    bad = generate_batch(reg, 50, seed=1)
    bad.loc[3, reg.target] = -np.inf
    return validate_batch(bad, reg, batch_id="b")


def _target_invalid_class(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad.loc[0, "default"] = 2
    return validate_batch(bad, spec, batch_id="b")


def _target_single_class(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(default=0), spec, batch_id="b")


def _non_finite(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad.loc[1, "income"] = np.inf
    return validate_batch(bad, spec, batch_id="b")


def _unknown_category(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad["region"] = bad["region"].astype(object)
    bad.loc[2, "region"] = "atlantis"
    return validate_batch(bad, spec, batch_id="b")


def _manifest_invalid(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    body = to_file_bytes(df, "parquet")
    return _rejected(lambda: check_manifest(b'{"files": []}', "b/", [("b/p.parquet", body)],
                                            "parquet"))


def _manifest_mismatch(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    body = to_file_bytes(df, "parquet")
    manifest = build_manifest({"p.parquet": body}, {"p.parquet": len(df) + 1})  # rows differ
    return _rejected(lambda: check_manifest(manifest, "b/", [("b/p.parquet", body)], "parquet"))


SCENARIOS: dict[ReasonCode, Callable[[pd.DataFrame, PipelineSpec, PipelineSpec], Outcome]] = {
    ReasonCode.EMPTY_BATCH: _empty_batch,
    ReasonCode.UNREADABLE_FILE: _unreadable,
    ReasonCode.INCONSISTENT_FILES: _inconsistent,
    ReasonCode.MISSING_COLUMNS: _missing,
    ReasonCode.DUPLICATE_COLUMNS: _duplicate,
    ReasonCode.EXTRA_COLUMNS: _extra,
    ReasonCode.DTYPE_MISMATCH: _dtype,
    ReasonCode.TARGET_MISSING_VALUES: _target_missing,
    ReasonCode.TARGET_NOT_FINITE: _target_not_finite,
    ReasonCode.TARGET_INVALID_CLASS: _target_invalid_class,
    ReasonCode.TARGET_SINGLE_CLASS: _target_single_class,
    ReasonCode.NON_FINITE_FEATURES: _non_finite,
    ReasonCode.UNKNOWN_CATEGORIES: _unknown_category,
    ReasonCode.MANIFEST_INVALID: _manifest_invalid,
    ReasonCode.MANIFEST_MISMATCH: _manifest_mismatch,
}


def test_every_reason_code_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(ReasonCode)


@pytest.mark.parametrize("code", list(ReasonCode), ids=str)
def test_reason_code(code: ReasonCode, good: pd.DataFrame, spec: PipelineSpec,
                     regression_spec: PipelineSpec) -> None:
    outcome = SCENARIOS[code](good, spec, regression_spec)
    if isinstance(outcome, BatchRejected):
        assert outcome.code == code
        assert str(outcome).startswith(f"[{code}] ")
        return
    if code == ReasonCode.EXTRA_COLUMNS:  # a warning: the batch still passes
        assert outcome.passed
        assert [c.reason_code for c in outcome.warnings] == [code]
        assert "zzz" in outcome.warnings[0].observed
        return
    assert not outcome.passed
    assert codes(outcome) == {code}, outcome.summary()
    assert outcome.reason_code == code
    assert outcome.summary().startswith(f"[{code}] ")


def test_missing_columns_names_them(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good.drop(columns=["age", "region"]), spec, batch_id="b")
    assert "age" in report.summary() and "region" in report.summary()


def test_all_failures_are_collected(good: pd.DataFrame, spec: PipelineSpec) -> None:
    bad = good.drop(columns=["tenure_months"])
    bad["age"] = bad["age"].astype(str)
    bad.loc[0, "income"] = np.inf
    bad["region"] = bad["region"].astype(object)
    bad.loc[0, "region"] = "mars"
    report = validate_batch(bad, spec, batch_id="b")
    assert codes(report) == {ReasonCode.MISSING_COLUMNS, ReasonCode.DTYPE_MISMATCH,
                             ReasonCode.NON_FINITE_FEATURES, ReasonCode.UNKNOWN_CATEGORIES}
    assert report.reason_code == ReasonCode.MISSING_COLUMNS  # the first failure leads
    assert "(+3 more failures)" in report.summary()


@pytest.mark.parametrize(("column", "values"), [
    ("age", [15.5]),  # non-integral float for an int
    ("age", ["15"]),  # text for an int
    ("region", [1.5]),  # fractional floats are no labels
])
def test_more_dtype_mismatches(good: pd.DataFrame, spec: PipelineSpec, column: str,
                               values: list[object]) -> None:
    bad = good.head(20).copy()
    bad[column] = values * len(bad)
    report = validate_batch(bad, spec, batch_id="b")
    assert ReasonCode.DTYPE_MISMATCH in codes(report)


@pytest.mark.parametrize(("column", "value", "ok"), [
    ("flag", "yes", False),
    ("flag", "TRUE", True),
    ("seen_at", "01/02/2024", False),  # not ISO 8601: ambiguous day/month
    ("seen_at", "2024-01-02T03:04:05+02:00", True),
    ("seen_at", 1_700_000_000, False),  # epoch numbers: unit unknown
    ("customer_id", 2.5, False),
    ("customer_id", "c-1", True),
    ("colour", "red", True),
])
def test_dtype_rules_of_other_dtypes(all_dtypes_spec: PipelineSpec, column: str, value: object,
                                     ok: bool) -> None:
    df = generate_batch(all_dtypes_spec, 20, seed=1)
    df[column] = [value] * len(df)
    report = validate_batch(df, all_dtypes_spec, batch_id="b")
    assert report.passed is ok, report.summary()
    if not ok:
        assert codes(report) == {ReasonCode.DTYPE_MISMATCH}


def test_null_features_are_allowed(good: pd.DataFrame, spec: PipelineSpec) -> None:
    df = good.copy()
    df["income"] = df["income"].where(df.index % 3 != 0)
    df["region"] = df["region"].astype(object).where(df.index % 4 != 0)
    assert validate_batch(df, spec, batch_id="b").passed


def test_regression_target_must_be_numeric(regression_spec: PipelineSpec) -> None:
    df = generate_batch(regression_spec, 20, seed=1).assign(default="high")
    report = validate_batch(df, regression_spec, batch_id="b")
    assert codes(report) == {ReasonCode.DTYPE_MISMATCH}


def test_boolean_target_is_a_valid_binary_label(good: pd.DataFrame, spec: PipelineSpec) -> None:
    df = good.assign(default=good["default"].astype(bool))
    assert validate_batch(df, spec, batch_id="b").passed
    assert conform(df, spec)["default"].tolist() == good["default"].tolist()


# --- reading -----------------------------------------------------------------------------------


def test_read_batch_skips_zero_byte_parts_and_concatenates(good: pd.DataFrame,
                                                          spec: PipelineSpec) -> None:
    files = [("a", to_file_bytes(good.iloc[:50], "parquet")), ("empty", b""),
             ("b", to_file_bytes(good.iloc[50:], "parquet"))]
    back = read_batch(files, "parquet")
    assert len(back) == len(good)
    assert list(back.index) == list(range(len(good)))
    pd.testing.assert_frame_equal(conform(back, spec), good)


@pytest.mark.parametrize(("files", "fragment"), [
    ([], "no data files"),
    ([("a", b""), ("b", b"")], "all 2 data files are empty"),
    ([("a", b"x,y\n")], "0 rows"),
])
def test_read_batch_empty(files: list[tuple[str, bytes]], fragment: str) -> None:
    with pytest.raises(BatchRejected, match=fragment) as info:
        read_batch(files, "csv")
    assert info.value.code == ReasonCode.EMPTY_BATCH


def test_read_batch_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown file format"):
        read_batch([("a", b"x")], "json")


# --- BatchRejected -----------------------------------------------------------------------------


def test_batch_rejected_from_report(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good.drop(columns=["age"]), spec, batch_id="b")
    with pytest.raises(BatchRejected) as info:
        report.raise_for_failures()
    exc = info.value
    assert exc.code == ReasonCode.MISSING_COLUMNS
    assert exc.report is report
    assert exc.message == report.detail()
    assert str(exc) == report.summary()


def test_batch_rejected_needs_a_failing_report(good: pd.DataFrame, spec: PipelineSpec) -> None:
    with pytest.raises(ValueError, match="passing report"):
        BatchRejected.from_report(validate_batch(good, spec, batch_id="b"))


def test_batch_rejected_pickles(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good.assign(default=1), spec, batch_id="b9")
    exc = BatchRejected.from_report(report)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is BatchRejected
    assert back.code == ReasonCode.TARGET_SINGLE_CLASS
    assert back.message == exc.message
    assert str(back) == str(exc)
    assert back.report is not None
    assert back.report.to_dict() == report.to_dict()
    copied = copy.deepcopy(exc)
    assert (copied.code, copied.message) == (exc.code, exc.message)


def test_batch_rejected_without_report_pickles() -> None:
    exc = BatchRejected(ReasonCode.EMPTY_BATCH, "nothing there")
    back = pickle.loads(pickle.dumps(exc))
    assert (back.code, back.message, back.report) == (ReasonCode.EMPTY_BATCH, "nothing there",
                                                      None)


# --- conform -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_conform_gives_spec_dtypes(all_dtypes_spec: PipelineSpec, fmt: str) -> None:
    df = generate_batch(all_dtypes_spec, 100, seed=4)
    back = read_batch([("p", to_file_bytes(df, fmt))], fmt)
    assert validate_batch(back, all_dtypes_spec, batch_id="b").passed
    out = conform(back, all_dtypes_spec)
    assert list(out.columns) == all_dtypes_spec.columns
    assert out["amount"].dtype == np.float64
    assert out["count"].dtype == np.int64
    assert out["flag"].dtype == bool
    assert isinstance(out["colour"].dtype, pd.CategoricalDtype)
    assert list(out["colour"].cat.categories) == ["red", "green", "blue"]
    assert out["customer_id"].dtype == object
    assert out["seen_at"].dtype == "datetime64[ns]"
    assert out["label"].dtype == np.int64
    pd.testing.assert_frame_equal(out, df)


def test_conform_casts_loose_types(good: pd.DataFrame, spec: PipelineSpec) -> None:
    loose = good.head(4).copy()
    loose["age"] = loose["age"].astype(float)  # integral floats, as CSV gaps produce
    loose["income"] = loose["income"].astype(object)
    loose["region"] = ["west", "west", "north", "west"]  # plain strings
    loose["default"] = [True, False, 1.0, 0]
    loose = loose.assign(extra="dropped")
    assert validate_batch(loose, spec, batch_id="b").passed
    out = conform(loose, spec)
    assert list(out.columns) == spec.columns
    assert out["age"].dtype == np.int64
    assert out["income"].dtype == np.float64
    # category codes follow the spec's order, whatever labels a batch happens to contain
    assert out["region"].cat.codes.tolist() == [3, 3, 0, 3]
    assert out["default"].tolist() == [1, 0, 1, 0]
    assert out["default"].dtype == np.int64


def test_conform_keeps_gaps(good: pd.DataFrame, spec: PipelineSpec,
                            all_dtypes_spec: PipelineSpec) -> None:
    df = good.head(3).copy()
    df["age"] = [30, None, 40]
    out = conform(df, spec)
    assert out["age"].dtype == np.float64  # int64 cannot hold NaN
    assert out["age"].isna().tolist() == [False, True, False]
    other = generate_batch(all_dtypes_spec, 3, seed=1)
    other["flag"] = [True, None, "false"]
    flags = conform(other, all_dtypes_spec)["flag"]
    assert str(flags.dtype) == "boolean"
    assert flags.isna().tolist() == [False, True, False]


def test_conform_converts_timestamps_to_naive_utc(all_dtypes_spec: PipelineSpec) -> None:
    df = generate_batch(all_dtypes_spec, 2, seed=1)
    df["seen_at"] = ["2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05Z"]
    out = conform(df, all_dtypes_spec)["seen_at"]
    assert out.tolist() == [pd.Timestamp("2024-01-02T01:04:05"),
                            pd.Timestamp("2024-01-02T03:04:05")]


def test_conform_requires_every_column(good: pd.DataFrame, spec: PipelineSpec) -> None:
    with pytest.raises(ValueError, match="missing columns"):
        conform(good.drop(columns=["age"]), spec)
