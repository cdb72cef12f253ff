"""Values the staged batch or the model cannot hold are rejected, never wrapped or made inf.

Training reads model inputs and regression labels as float32; `conform` stages int features as
int64 and datetimes as datetime64[ns]. Each limit is checked on the batch as it is read (parquet
and CSV), and a value exactly at a limit passes and comes out of conform (and the model matrix)
unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy.exc import OperationalError

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.spec import Contract, Feature, MetricPolicy, PipelineSpec
from mlops_lib.steps.ingest import is_infrastructure_failure
from mlops_lib.training.matrix import feature_matrix, labels
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.conform import conform
from mlops_lib.validation.limits import FLOAT32_MAX, INT64_MAX, INT64_MIN
from mlops_lib.validation.reading import read_batch
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import ValidationReport
from mlops_lib.validation.values import parse_datetimes

pytestmark = pytest.mark.unit

UINT64_MAX = 2**64 - 1
ROWS = 200
Reader = Callable[[pd.DataFrame], pd.DataFrame]


@pytest.fixture(scope="module")
def lenient(spec: PipelineSpec) -> PipelineSpec:
    """The example spec (income float, credit_lines int with min 0, ...) with a datetime
    feature and no batch-level rules, so a batch of a few rows can pass."""
    unbounded = tuple(replace(f, min_value=None) if f.name == "late_payments" else f
                      for f in spec.features)  # the int feature whose sign is free here
    return replace(spec, contract=Contract(),
                   features=(*unbounded, Feature("applied_at", "datetime")))


@pytest.fixture(scope="module")
def good(lenient: PipelineSpec) -> pd.DataFrame:
    df = generate_batch(lenient, ROWS, seed=5)
    return df.assign(applied_at=pd.date_range("2025-01-01", periods=ROWS, freq="h"))


def parquet(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as the validate step reads it back from a parquet file."""
    return read_batch([("p.parquet", to_file_bytes(df, "parquet"))], "parquet")


def csv(df: pd.DataFrame) -> pd.DataFrame:
    return read_batch([("p.csv", to_file_bytes(df, "csv"))], "csv")


def failures(report: ValidationReport) -> dict[str, ReasonCode | None]:
    return {c.name: c.reason_code for c in report.failures}


# --- float32: model inputs and regression labels ------------------------------------------------


@pytest.mark.parametrize("read", [parquet, csv], ids=["parquet", "csv"])
@pytest.mark.parametrize("value", [3.5e38, -1e39, 1e300])
def test_a_float_beyond_float32_is_value_overflow(good: pd.DataFrame, lenient: PipelineSpec,
                                                  read: Reader, value: float) -> None:
    batch = read(good.assign(income=good["income"].where(good.index != 7, value)))
    report = validate_batch(batch, lenient, batch_id="b")
    assert failures(report) == {"limits:income": ReasonCode.VALUE_OVERFLOW}
    check = report.failures[0]
    assert check.value == 1 and check.threshold == 0
    assert check.observed == f"income: 1 values beyond the limit, such as [{value!r}]"
    assert report.summary().startswith("[VALUE_OVERFLOW] income: 1 values")


def test_a_regression_label_beyond_float32_is_value_overflow(spec: PipelineSpec) -> None:
    reg = replace(spec, name="loan_amount", task="regression", contract=Contract(),
                  metric=MetricPolicy("rmse", "minimize", floor=1e9))
    batch = generate_batch(reg, ROWS, seed=2)
    batch.loc[[3, 9], reg.target] = [4e38, -4e38]
    report = validate_batch(parquet(batch), reg, batch_id="b")
    assert failures(report) == {"target_limits": ReasonCode.VALUE_OVERFLOW}
    assert report.failures[0].observed == (
        f"{reg.target}: 2 values beyond the limit, such as [4e+38, -4e+38]")
    # exactly float32's largest value is a label training can hold
    batch.loc[[3, 9], reg.target] = [FLOAT32_MAX, -FLOAT32_MAX]
    assert validate_batch(parquet(batch), reg, batch_id="b").passed
    y = labels(conform(parquet(batch), reg), reg)[0]
    assert np.isfinite(y).all() and y[3] == np.float32(FLOAT32_MAX)


def test_float32_max_itself_passes_and_reaches_the_model_unchanged(
        good: pd.DataFrame, lenient: PipelineSpec) -> None:
    edge = good.assign(income=good["income"].where(good.index != 7, FLOAT32_MAX)
                       .where(good.index != 8, -FLOAT32_MAX))
    report = validate_batch(parquet(edge), lenient, batch_id="b")
    assert report.passed, report.summary()
    staged = conform(parquet(edge), lenient)
    assert staged["income"].iloc[7] == FLOAT32_MAX and staged["income"].iloc[8] == -FLOAT32_MAX
    column = feature_matrix(staged, lenient)[:, 0]  # income is the first model input
    assert np.isfinite(column).all() and column[7] == np.float32(FLOAT32_MAX)
    # the next float64 above it is out
    above = edge.assign(income=edge["income"].where(edge.index != 7,
                                                    np.nextafter(FLOAT32_MAX, np.inf)))
    assert failures(validate_batch(above, lenient, batch_id="b")) == {
        "limits:income": ReasonCode.VALUE_OVERFLOW}


# --- int64: int features ----------------------------------------------------------------------


@pytest.mark.parametrize("read", [parquet, csv], ids=["parquet", "csv"])
def test_uint64_max_in_an_int_feature_is_value_overflow_not_minus_one(
        good: pd.DataFrame, lenient: PipelineSpec, read: Reader) -> None:
    bad = good.assign(credit_lines=good["credit_lines"].astype("uint64"))
    bad.loc[7, "credit_lines"] = np.uint64(UINT64_MAX)
    batch = read(bad)
    assert batch["credit_lines"].dtype == "uint64"
    report = validate_batch(batch, lenient, batch_id="b")
    # min: 0 holds (it is positive); what fails is that int64 cannot hold it
    assert failures(report) == {"limits:credit_lines": ReasonCode.VALUE_OVERFLOW}
    assert report.failures[0].observed == (
        f"credit_lines: 1 values beyond the limit, such as [{UINT64_MAX}]")
    with pytest.raises(ValueError, match="1 values of 'credit_lines' beyond int64"):
        conform(batch, lenient)  # never staged as -1, even unvalidated


@pytest.mark.parametrize(("values", "dtype"), [
    ([INT64_MAX, INT64_MIN], "int64"),
    ([INT64_MAX, 0], "uint64"),                 # a uint64 column whose values all fit
    ([2**62 + 1, -(2**62) - 1], object),        # Python ints: exact, not through float64
    ([float(-(2**63)), 2.0**62], "float64"),    # integral floats at int64's edge
], ids=["int64", "uint64", "python-ints", "floats"])
def test_int64_edges_pass_and_are_staged_exactly(good: pd.DataFrame, lenient: PipelineSpec,
                                                  values: list[object], dtype: object) -> None:
    column = pd.Series([*values, *[1] * (len(good) - 2)], dtype=dtype, index=good.index)
    batch = good.assign(tenure_months=1, late_payments=column)
    report = validate_batch(batch, lenient, batch_id="b")
    assert report.passed, report.summary()
    staged = conform(batch, lenient)["late_payments"]
    assert staged.dtype == "int64"
    assert staged.iloc[:2].tolist() == [int(v) for v in values]


@pytest.mark.parametrize(("value", "dtype"), [
    (INT64_MAX + 1, "uint64"), (2.0**63, "float64"), (-1e19, "float64"), (2**70, object),
], ids=["uint64", "float-2**63", "float-negative", "python-int"])
def test_an_int_beyond_int64_is_value_overflow(good: pd.DataFrame, lenient: PipelineSpec,
                                               value: object, dtype: object) -> None:
    column = pd.Series([value, *[1] * (len(good) - 1)], dtype=dtype, index=good.index)
    report = validate_batch(good.assign(late_payments=column), lenient, batch_id="b")
    assert failures(report) == {"limits:late_payments": ReasonCode.VALUE_OVERFLOW}


@pytest.mark.parametrize("value", ["99999999999999999999", "-99999999999999999999"])
def test_a_csv_int_beyond_uint64_is_value_overflow_not_text(
        good: pd.DataFrame, lenient: PipelineSpec, value: str) -> None:
    # pandas leaves such a column as text: it was refused as "non-numeric values such as
    # ['99999999999999999999', '1', '1']", numbers and all
    batch = csv(good.assign(late_payments=[value, *["1"] * (len(good) - 1)]))
    assert batch["late_payments"].dtype == object
    report = validate_batch(batch, lenient, batch_id="b")
    assert failures(report) == {"limits:late_payments": ReasonCode.VALUE_OVERFLOW}
    assert report.failures[0].observed == (
        f"late_payments: 1 values beyond the limit, such as ['{value}']")


def test_a_bad_cell_in_a_csv_number_column_is_the_example_given(
        good: pd.DataFrame, lenient: PipelineSpec) -> None:
    batch = csv(good.assign(late_payments=[*["1"] * (len(good) - 1), "three"]))
    report = validate_batch(batch, lenient, batch_id="b")
    assert failures(report) == {"dtype:late_payments": ReasonCode.DTYPE_MISMATCH}
    assert report.failures[0].observed == (
        "late_payments: object with non-numeric values such as ['three']")


def test_float_category_labels_beyond_int64_are_refused_not_crashed(
        good: pd.DataFrame, lenient: PipelineSpec) -> None:
    coded = replace(lenient, features=tuple(
        replace(f, categories=("1", "2")) if f.name == "region" else f for f in lenient.features))
    labels_ = pd.Series([1.0, np.nan, 1e20, *[2.0] * (len(good) - 3)], index=good.index)
    report = validate_batch(good.assign(region=labels_), coded, batch_id="b")
    assert failures(report) == {"dtype:region": ReasonCode.DTYPE_MISMATCH}
    assert "labels beyond int64 such as [1e+20]" in report.failures[0].observed


@pytest.mark.parametrize("infinite", [np.inf, -np.inf], ids=["inf", "-inf"])
def test_float_category_labels_that_are_infinite_are_refused_not_crashed(
        good: pd.DataFrame, lenient: PipelineSpec, infinite: float) -> None:
    coded = replace(lenient, features=tuple(
        replace(f, categories=("1", "2")) if f.name == "region" else f for f in lenient.features))
    labels_ = pd.Series([1.0, infinite, *[2.0] * (len(good) - 2)], index=good.index)
    report = validate_batch(good.assign(region=labels_), coded, batch_id="b")
    assert failures(report) == {"dtype:region": ReasonCode.DTYPE_MISMATCH}
    assert f"labels that are not finite such as [{infinite}]" in report.failures[0].observed


# --- datetime64[ns] ---------------------------------------------------------------------------


def _stamps(good: pd.DataFrame, edge: str, unit: str = "us") -> pd.DataFrame:
    """The batch with applied_at as a parquet timestamp[unit] column, row 7 set to `edge`."""
    stamps = good["applied_at"].to_numpy(f"datetime64[{unit}]").copy()
    stamps[7] = np.datetime64(edge, unit)
    table = pa.Table.from_pandas(good.drop(columns="applied_at"), preserve_index=False)
    table = table.append_column("applied_at", pa.array(stamps, pa.timestamp(unit)))
    out = io.BytesIO()
    pq.write_table(table, out)
    return read_batch([("p.parquet", out.getvalue())], "parquet")


@pytest.mark.parametrize("edge", ["9999-12-31T00:00:00", "1500-01-01T00:00:00",
                                  "2262-04-12T00:00:00"])
def test_a_timestamp_beyond_datetime64_ns_is_timestamp_out_of_range(
        good: pd.DataFrame, lenient: PipelineSpec, edge: str) -> None:
    batch = _stamps(good, edge)
    assert batch["applied_at"].dtype == "datetime64[us]"  # how pyarrow hands it to pandas
    report = validate_batch(batch, lenient, batch_id="b")
    assert failures(report) == {"limits:applied_at": ReasonCode.TIMESTAMP_OUT_OF_RANGE}
    assert report.failures[0].observed.startswith("applied_at: 1 values beyond the limit, such "
                                                  f"as [Timestamp('{edge.replace('T', ' ')}')]")


@pytest.mark.parametrize("text", ["9999-01-01", "9999-01-01T00:00:00Z", "0001-01-01 00:00:00",
                                  "2262-04-11T23:00:00-05:00"])  # the offset puts it past the end
def test_a_timestamp_text_beyond_datetime64_ns_is_out_of_range_not_a_dtype_mismatch(
        good: pd.DataFrame, lenient: PipelineSpec, text: str) -> None:
    column = good["applied_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").astype(object)
    column.iloc[7] = text
    report = validate_batch(csv(good.assign(applied_at=column)), lenient, batch_id="b")
    assert failures(report) == {"limits:applied_at": ReasonCode.TIMESTAMP_OUT_OF_RANGE}
    assert report.failures[0].observed == (
        f"applied_at: 1 values beyond the limit, such as [{text!r}]")


@pytest.mark.parametrize("text", ["2023-02-29", "not a date", "31/12/2024"])
def test_text_that_is_no_timestamp_stays_a_dtype_mismatch(
        good: pd.DataFrame, lenient: PipelineSpec, text: str) -> None:
    column = good["applied_at"].dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
    column.iloc[7] = text
    report = validate_batch(good.assign(applied_at=column), lenient, batch_id="b")
    assert failures(report) == {"dtype:applied_at": ReasonCode.DTYPE_MISMATCH}


def test_an_offset_past_the_end_is_never_wrapped_to_the_other_end() -> None:
    # pandas 2 parses this as 1677-09-21T04:25:26 without an error; it is 2262-04-12 04:00 UTC
    text = pd.Series(["2262-04-11T23:00:00-05:00", "1677-09-21T00:20:00+05:00",
                      "2262-04-11T18:00:00-05:00", "2025-01-01T00:00:00Z"])
    parsed = parse_datetimes(text, errors="coerce")
    assert parsed.isna().tolist() == [True, True, False, False]
    assert parsed.iloc[2] == pd.Timestamp("2262-04-11T23:00:00", tz="UTC")
    with pytest.raises(pd.errors.OutOfBoundsDatetime, match="2 timestamps beyond"):
        parse_datetimes(text, errors="raise")  # what conform() casts with


def test_the_last_ns_timestamps_pass_and_are_staged_unchanged(
        good: pd.DataFrame, lenient: PipelineSpec) -> None:
    batch = _stamps(good, "2262-04-11T23:47:16.854775", "us")  # the last us before the end
    report = validate_batch(batch, lenient, batch_id="b")
    assert report.passed, report.summary()
    staged = conform(batch, lenient)["applied_at"]
    assert staged.dtype == "datetime64[ns]"
    assert staged.iloc[7] == pd.Timestamp("2262-04-11T23:47:16.854775")
    assert (staged == batch["applied_at"]).all()


# --- the boundary between the batch's fault and the infrastructure's ---------------------------


@pytest.mark.parametrize("exc", [
    EndpointConnectionError(endpoint_url="http://s3"),
    ClientError({"Error": {"Code": "SlowDown", "Message": "busy"}}, "GetObject"),
    OperationalError("SELECT 1", {}, Exception("could not connect")),
    ConnectionResetError("reset"), TimeoutError("slow"), OSError(28, "No space left on device"),
    MemoryError(), ModuleNotFoundError("pyarrow"),
], ids=type)
def test_infrastructure_failures_are_retried(exc: Exception) -> None:
    assert is_infrastructure_failure(exc)


@pytest.mark.parametrize("exc", [
    ValueError("cannot convert"), TypeError("unhashable"), KeyError("x"),
    OverflowError("int too large"), pd.errors.OutOfBoundsDatetime("9999"),
    pa.ArrowInvalid("bad"), pa.ArrowTypeError("mixed"), ZeroDivisionError(),
], ids=type)
def test_failures_on_the_data_are_the_batchs(exc: Exception) -> None:
    assert not is_infrastructure_failure(exc)
