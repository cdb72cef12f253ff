from __future__ import annotations

import copy
import io
import json
import pickle  # noqa: TID251 - Airflow pickles task exceptions; BatchRejected must survive it
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.landing.manifest import build_manifest
from mlops_lib.spec import Contract, Feature, Freshness, MetricPolicy, PipelineSpec, load_spec
from mlops_lib.validation import labels
from mlops_lib.validation.bounds import ReadRules
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.conform import conform
from mlops_lib.validation.listing import check_listing
from mlops_lib.validation.manifest_check import check_manifest
from mlops_lib.validation.reading import read_batch
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from mlops_lib.validation.report import ValidationReport
from tests.support import HOUSE_SPEC, migrated

pytestmark = pytest.mark.unit

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # the fixed clock freshness is judged by


@pytest.fixture(scope="module")
def good(spec: PipelineSpec) -> pd.DataFrame:
    return generate_batch(spec, 200, seed=1)


@pytest.fixture(scope="module")
def regression_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, name="loan_amount", task="regression",
                   metric=MetricPolicy("rmse", "minimize", floor=1e9), contract=Contract())


@pytest.fixture(scope="module")
def lenient(spec: PipelineSpec) -> PipelineSpec:
    """The example spec without its contract section, for frames of a handful of rows."""
    return replace(spec, contract=Contract())


def with_contract(spec: PipelineSpec, **changes: object) -> PipelineSpec:
    return replace(spec, contract=replace(spec.contract, **changes))


def with_feature(spec: PipelineSpec, name: str, **changes: object) -> PipelineSpec:
    features = tuple(replace(f, **changes) if f.name == name else f for f in spec.features)
    return replace(spec, features=features)


def timed(spec: PipelineSpec, df: pd.DataFrame, newest: datetime, *, max_age_hours: float = 24,
          allow_future_minutes: float = 5) -> tuple[pd.DataFrame, PipelineSpec]:
    """The spec with a datetime feature `applied_at` under a freshness rule, and the batch with
    that column: one row per minute, the last one at `newest`."""
    timed_spec = replace(
        spec, features=(*spec.features, Feature("applied_at", "datetime")),
        contract=replace(spec.contract, freshness=Freshness(
            "applied_at", max_age_hours, allow_future_minutes)))
    stamps = pd.date_range(end=newest, periods=len(df), freq="min").tz_localize(None)
    frame = df.assign(applied_at=stamps.to_numpy())[timed_spec.columns]
    return frame, timed_spec


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
    bad = generate_batch(reg, 200, seed=1)
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


def _new_categories_above_limit(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad["region"] = bad["region"].astype(object)
    bad.loc[:19, "region"] = "atlantis"  # 20 of 200 rows: 10% > 5%
    tolerant = with_feature(spec, "region", max_new_category_share=0.05)
    return validate_batch(bad, tolerant, batch_id="b")


def _nulls_above_limit(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad.loc[7, "income"] = np.nan  # income is `nullable: false` in the example spec
    return validate_batch(bad, spec, batch_id="b")


def _all_null_column(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(debt_ratio=np.nan), spec, batch_id="b")  # nullable, but empty


def _out_of_range(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.copy()
    bad.loc[4, "age"] = 150  # max 120
    return validate_batch(bad, spec, batch_id="b")


def _too_few_rows(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df, with_contract(spec, min_rows=len(df) + 1), batch_id="b")


def _too_many_rows(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df, with_contract(spec, max_rows=len(df) - 1), batch_id="b")


def _duplicate_rows(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    doubled = pd.concat([df, df.head(10)], ignore_index=True)  # 10 of 210 rows: 4.8% > 1%
    return validate_batch(doubled, spec, batch_id="b")


def _duplicate_ids(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    keyed = replace(spec, features=(*spec.features, Feature("loan_id", "int", role="id")))
    ids = np.arange(len(df))
    ids[9] = ids[2]
    return validate_batch(df.assign(loan_id=ids), keyed, batch_id="b")


def _stale(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    frame, timed_spec = timed(spec, df, NOW - timedelta(hours=30), max_age_hours=24)
    return validate_batch(frame, timed_spec, batch_id="b", now=NOW)


def _future(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    frame, timed_spec = timed(spec, df, NOW + timedelta(minutes=30), allow_future_minutes=5)
    return validate_batch(frame, timed_spec, batch_id="b", now=NOW)


def _target_too_few_per_class(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    bad = df.assign(default=0)
    bad.loc[:4, "default"] = 1  # 5 positives; the example spec wants 10 of each class
    return validate_batch(bad, spec, batch_id="b")


def _constant_column(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(late_payments=3), spec, batch_id="b")


def _manifest_invalid(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    body = to_file_bytes(df, "parquet")
    return _rejected(lambda: check_manifest(b'{"files": []}', "b/", [("b/p.parquet", body)],
                                            "parquet"))


def _manifest_mismatch(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    body = to_file_bytes(df, "parquet")
    manifest = build_manifest({"p.parquet": body}, {"p.parquet": len(df) + 1})  # rows differ
    return _rejected(lambda: check_manifest(manifest, "b/", [("b/p.parquet", body)], "parquet"))


def _batch_changed(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    """The same batch id lands again with other bytes: the ingest run's claim refuses it."""
    import tempfile

    from mlops_lib.landing.batches import BatchRef, ObjectInfo
    from mlops_lib.services import Services
    from mlops_lib.settings import Settings
    from mlops_lib.steps import ingest as steps

    def landed(etag: str) -> BatchRef:
        return BatchRef("b1", "landing/b1/", "landing/b1/_SUCCESS", "2026-01-01T00:00:00",
                        (ObjectInfo("landing/b1/p.parquet", etag, 10, "2026-01-01T00:00:00"),))

    with tempfile.TemporaryDirectory() as home:
        svc = Services(Settings.from_env({"CT_HOME": home}))
        migrated(svc.settings.store_url)
        steps.register_batch(svc, spec, landed("e1"), "ingest-1")
        outcome = _rejected(lambda: steps.register_batch(svc, spec, landed("e2"), "ingest-2"))
        first, changed = landed("e1").fingerprint, landed("e2").fingerprint
        assert svc.store.get_batch(spec.name, "b1").fingerprint == first  # kept as accepted
        assert svc.store.known_batches(spec.name) == {("b1", first), ("b1", changed)}
        svc.store.engine.dispose()
    return outcome


def _listed(key: str, size: int = 10) -> BatchRef:
    """A marker-completed batch `b1` holding one listed file `key` of `size` bytes."""
    prefix = "landing/credit_default/b1/"
    return BatchRef("b1", prefix, prefix + "_SUCCESS", "2026-01-01T00:00:00",
                    (ObjectInfo(key, "e1", size, "2026-01-01T00:00:00"),))


def _unsafe_key(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return _rejected(lambda: check_listing(
        _listed("landing/credit_default/b1/../../etc/p.parquet"), spec))


def _file_too_large(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    size = spec.source.max_file_bytes + 1
    return _rejected(lambda: check_listing(_listed("landing/credit_default/b1/p.parquet",
                                                   size), spec))


def _ragged_csv(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    lines = to_file_bytes(df, "csv").decode().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]  # one field short: pandas would pad it with a null
    body = ("\n".join(lines) + "\n").encode()
    return _rejected(lambda: read_batch([("b1/p.csv", body)], "csv"))


def _value_overflow(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return validate_batch(df.assign(income=df["income"].where(df.index != 5, 1e39)), spec,
                          batch_id="b")  # float32 would make it inf


def _timestamp_out_of_range(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    stamps = pd.date_range("2025-01-01", periods=len(df), freq="min").to_numpy("datetime64[us]")
    stamps[3] = np.datetime64("9999-01-01", "us")  # a parquet timestamp[us] can hold it
    dated = replace(spec, features=(*spec.features, Feature("applied_at", "datetime")))
    return validate_batch(df.assign(applied_at=stamps), dated, batch_id="b")


class _MemoryS3:
    """The S3 calls the validate step makes, on a dict, to keep this table in the unit lane
    (tests/integration/test_ingest_failures.py runs the same on the real S3 API)."""

    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, **kw: str) -> dict[str, object]:
        return {"Body": io.BytesIO(self.objects[kw["Bucket"], kw["Key"]])}

    def copy_object(self, **kw: Any) -> None:
        source = kw["CopySource"]
        self.objects[kw["Bucket"], kw["Key"]] = self.objects[source["Bucket"], source["Key"]]

    def put_object(self, **kw: Any) -> None:
        self.objects[kw["Bucket"], kw["Key"]] = kw["Body"]

    def upload_file(self, path: str, bucket: str, key: str) -> None:
        self.objects[bucket, key] = Path(path).read_bytes()


def _crashed(df: pd.DataFrame, spec: PipelineSpec, crashing: str) -> Outcome:
    """The validate step on a claimed batch whose `crashing` function raises ValueError."""
    import tempfile
    from unittest.mock import patch

    from mlops_lib.services import Services
    from mlops_lib.settings import Settings
    from mlops_lib.steps import ingest as steps

    body = to_file_bytes(df, "parquet")
    batch = _listed("landing/credit_default/b1/p.parquet", len(body))
    with tempfile.TemporaryDirectory() as home, patch(crashing, side_effect=ValueError("boom")):
        svc = Services(Settings.from_env({"CT_HOME": home}))
        migrated(svc.settings.store_url)
        svc.__dict__["s3"] = _MemoryS3({(spec.source.bucket, batch.files[0].key): body})
        steps.register_batch(svc, spec, batch, "ingest-1")
        outcome = _rejected(lambda: steps.validate(svc, spec, batch, "ingest-1"))
        assert svc.store.get_batch(spec.name, "b1").status == "rejected"  # not left claimed
        svc.store.engine.dispose()
    return outcome


def _conform_failed(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return _crashed(df, spec, "mlops_lib.validation.conform.conform")


def _internal_error(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    return _crashed(df, spec, "mlops_lib.validation.checks.validate_batch")


def _decompressed_too_large(df: pd.DataFrame, spec: PipelineSpec, _: PipelineSpec) -> Outcome:
    body = to_file_bytes(df, "parquet")  # its footer: len(df) rows x 9 columns, 8 bytes a cell
    return _rejected(lambda: read_batch([("b1/p.parquet", body)], "parquet",
                                        ReadRules(max_uncompressed_bytes=len(df) * 8)))


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
    ReasonCode.NEW_CATEGORIES_ABOVE_LIMIT: _new_categories_above_limit,
    ReasonCode.NULLS_ABOVE_LIMIT: _nulls_above_limit,
    ReasonCode.ALL_NULL_COLUMN: _all_null_column,
    ReasonCode.OUT_OF_RANGE: _out_of_range,
    ReasonCode.TOO_FEW_ROWS: _too_few_rows,
    ReasonCode.TOO_MANY_ROWS: _too_many_rows,
    ReasonCode.DUPLICATE_ROWS: _duplicate_rows,
    ReasonCode.DUPLICATE_IDS: _duplicate_ids,
    ReasonCode.STALE_DATA: _stale,
    ReasonCode.FUTURE_TIMESTAMPS: _future,
    ReasonCode.TARGET_TOO_FEW_PER_CLASS: _target_too_few_per_class,
    ReasonCode.CONSTANT_COLUMN: _constant_column,
    ReasonCode.MANIFEST_INVALID: _manifest_invalid,
    ReasonCode.MANIFEST_MISMATCH: _manifest_mismatch,
    ReasonCode.BATCH_CHANGED: _batch_changed,
    ReasonCode.UNSAFE_KEY: _unsafe_key,
    ReasonCode.FILE_TOO_LARGE: _file_too_large,
    ReasonCode.RAGGED_CSV: _ragged_csv,
    ReasonCode.VALUE_OVERFLOW: _value_overflow,
    ReasonCode.TIMESTAMP_OUT_OF_RANGE: _timestamp_out_of_range,
    ReasonCode.CONFORM_FAILED: _conform_failed,
    ReasonCode.INTERNAL_ERROR: _internal_error,
    ReasonCode.DECOMPRESSED_TOO_LARGE: _decompressed_too_large,
}


# Codes whose scenario passes with a warning, and the word the warning must name.
WARNING_CODES = {ReasonCode.EXTRA_COLUMNS: "zzz", ReasonCode.CONSTANT_COLUMN: "late_payments"}


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
    if code in WARNING_CODES:  # a warning: the batch still passes
        assert outcome.passed, outcome.summary()
        assert [c.reason_code for c in outcome.warnings] == [code]
        assert WARNING_CODES[code] in outcome.warnings[0].observed
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
    # Nullable is the default; the example spec makes an exception of income only.
    df = good.copy()
    df["debt_ratio"] = df["debt_ratio"].where(df.index % 3 != 0)
    df["region"] = df["region"].astype(object).where(df.index % 4 != 0)
    assert validate_batch(df, spec, batch_id="b").passed
    df["income"] = df["income"].where(df.index % 3 != 0)
    assert codes(validate_batch(df, spec, batch_id="b")) == {ReasonCode.NULLS_ABOVE_LIMIT}


def test_regression_target_must_be_numeric(regression_spec: PipelineSpec) -> None:
    df = generate_batch(regression_spec, 20, seed=1).assign(default="high")
    report = validate_batch(df, regression_spec, batch_id="b")
    assert codes(report) == {ReasonCode.DTYPE_MISMATCH}


def test_boolean_target_is_a_valid_binary_label(good: pd.DataFrame, spec: PipelineSpec) -> None:
    df = good.assign(default=good["default"].astype(bool))
    assert validate_batch(df, spec, batch_id="b").passed
    assert conform(df, spec)["default"].tolist() == good["default"].tolist()


# --- multiclass target -------------------------------------------------------------------------

MULTICLASS_SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "product_tier.yaml"


@pytest.fixture(scope="module")
def tiers() -> PipelineSpec:
    return load_spec(MULTICLASS_SPEC)  # classes bronze, silver, gold; 10 rows per class


@pytest.fixture(scope="module")
def tier_batch(tiers: PipelineSpec) -> pd.DataFrame:
    return generate_batch(tiers, 300, seed=3)


def test_generated_multiclass_batch_passes(tiers: PipelineSpec, tier_batch: pd.DataFrame) -> None:
    report = validate_batch(tier_batch, tiers, batch_id="b")
    assert report.passed, report.summary()
    assert set(tier_batch["tier"]) == {"bronze", "silver", "gold"}
    assert check(report, "target_classes")["passed"]


def test_labels_outside_the_class_set(tiers: PipelineSpec, tier_batch: pd.DataFrame) -> None:
    df = tier_batch.copy()
    df.loc[:4, "tier"] = "platinum"
    report = validate_batch(df, tiers, batch_id="b")
    assert codes(report) == {ReasonCode.TARGET_INVALID_CLASS}
    result = check(report, "target_classes")
    assert "platinum" in str(result["observed"]) and result["value"] == 5


def test_null_multiclass_labels(tiers: PipelineSpec, tier_batch: pd.DataFrame) -> None:
    df = tier_batch.copy()
    df.loc[:2, "tier"] = None
    assert codes(validate_batch(df, tiers, batch_id="b")) == {ReasonCode.TARGET_MISSING_VALUES}
    df.loc[:2, "tier"] = np.nan
    assert codes(validate_batch(df, tiers, batch_id="b")) == {ReasonCode.TARGET_MISSING_VALUES}


def test_single_class_and_too_few_per_class(tiers: PipelineSpec,
                                            tier_batch: pd.DataFrame) -> None:
    one = tier_batch.assign(tier="gold")
    assert codes(validate_batch(one, tiers, batch_id="b")) == {ReasonCode.TARGET_SINGLE_CLASS}
    # Two classes are enough to learn from, but every class of the set needs its rows.
    two = tier_batch.assign(tier=np.where(tier_batch["tier"] == "gold", "silver",
                                          tier_batch["tier"]))
    report = validate_batch(two, tiers, batch_id="b")
    assert codes(report) == {ReasonCode.TARGET_TOO_FEW_PER_CLASS}
    result = check(report, "target_rows_per_class")
    assert (result["value"], result["threshold"]) == (0, 10)
    assert validate_batch(two, replace(tiers, contract=Contract()), batch_id="b").passed


def test_integer_classes_match_ints_floats_and_text(tiers: PipelineSpec) -> None:
    spec = replace(tiers, classes=("3", "1", "2"), contract=Contract())
    df = generate_batch(tiers, 6, seed=1).assign(tier=[1, 2.0, "3", 3, 1.0, 2])
    assert validate_batch(df, spec, batch_id="b").passed
    conformed = conform(df, spec)["tier"]
    assert list(conformed.cat.categories) == ["3", "1", "2"]  # the spec's order fixes the codes
    assert conformed.cat.codes.tolist() == [1, 2, 0, 0, 1, 2]
    bad = df.assign(tier=[1, 2.5, "3", "x", "1.0", 2])
    result = check(validate_batch(bad, spec, batch_id="b"), "target_classes")
    assert result["reason_code"] == ReasonCode.TARGET_INVALID_CLASS and result["value"] == 3


def test_conform_maps_labels_to_class_indices_as_training_does(
        tiers: PipelineSpec, tier_batch: pd.DataFrame) -> None:
    from mlops_lib.training.trainer import target_values

    conformed = conform(tier_batch, tiers)
    expected = tier_batch["tier"].map({"bronze": 0, "silver": 1, "gold": 2}).to_numpy()
    assert conformed["tier"].cat.codes.tolist() == expected.tolist()
    assert target_values(conformed, tiers).tolist() == expected.tolist()
    assert target_values(tier_batch, tiers).tolist() == expected.tolist()  # raw labels too
    # Staged as parquet and read back (as training reads it), the codes stay the same.
    buf = to_file_bytes(conformed, "parquet")
    back = read_batch([("part-0.parquet", buf)], "parquet")
    assert target_values(back, tiers).tolist() == expected.tolist()
    with pytest.raises(ValueError, match="outside the class set"):
        conform(tier_batch.assign(tier="platinum"), tiers)


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


def test_conform_casts_loose_types(good: pd.DataFrame, lenient: PipelineSpec) -> None:
    spec = lenient  # four rows: below the example contract's min_rows
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


# --- the contract: values, thresholds, warnings, policies, the clock ---------------------------


def check(report: ValidationReport, name: str) -> dict[str, object]:
    """One check of the report as stored with the run (report.to_dict(), through JSON)."""
    raw = json.loads(json.dumps(report.to_dict()))
    return next(c for c in raw["checks"] if c["name"] == name)


def test_checks_carry_observed_value_and_threshold(good: pd.DataFrame,
                                                   spec: PipelineSpec) -> None:
    bad = pd.concat([good, good.head(4)], ignore_index=True)  # 4 repeats of 204 rows
    bad.loc[[10, 11, 12], "income"] = np.nan  # rows 0-3 are the repeated ones: keep them
    bad.loc[[15, 16], "age"] = [-1, 121]
    report = validate_batch(bad, spec, batch_id="b")
    assert codes(report) == {ReasonCode.NULLS_ABOVE_LIMIT, ReasonCode.OUT_OF_RANGE,
                             ReasonCode.DUPLICATE_ROWS}
    nulls = check(report, "nulls:income")
    assert (nulls["value"], nulls["threshold"]) == (pytest.approx(3 / 204), 0.0)
    assert nulls["reason_code"] == "NULLS_ABOVE_LIMIT" and "3 null rows" in nulls["observed"]
    age = check(report, "range:age")
    assert (age["value"], age["threshold"]) == (2, 0)
    assert "[-1, 121]" in age["observed"] and "[0, 120]" in age["expected"]
    dup = check(report, "duplicate_rows")
    assert (dup["value"], dup["threshold"]) == (pytest.approx(4 / 204), 0.01)
    rows = check(report, "min_rows")
    assert (rows["passed"], rows["value"], rows["threshold"]) == (True, 204, 100)
    per_class = check(report, "target_rows_per_class")
    assert per_class["passed"] and per_class["threshold"] == 10
    assert per_class["value"] == int(bad["default"].value_counts().min())


def test_too_few_and_too_many_rows_report_the_count(good: pd.DataFrame,
                                                    spec: PipelineSpec) -> None:
    small = validate_batch(good.head(60), with_contract(spec, min_rows_per_class=None),
                           batch_id="b")
    assert codes(small) == {ReasonCode.TOO_FEW_ROWS}
    assert (check(small, "min_rows")["value"], check(small, "min_rows")["threshold"]) == (60, 100)
    big = validate_batch(good, with_contract(spec, max_rows=150), batch_id="b")
    assert (check(big, "max_rows")["value"], check(big, "max_rows")["threshold"]) == (200, 150)
    # An empty batch is EMPTY_BATCH alone, not also TOO_FEW_ROWS.
    assert codes(validate_batch(good.iloc[:0], spec, batch_id="b")) == {ReasonCode.EMPTY_BATCH}


def test_warnings_do_not_fail_the_batch(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good.assign(zzz=1, late_payments=3), spec, batch_id="b")
    assert report.passed and report.failures == [] and report.reason_code is None
    assert {c.reason_code for c in report.warnings} == {ReasonCode.EXTRA_COLUMNS,
                                                        ReasonCode.CONSTANT_COLUMN}
    assert report.summary().endswith("(2 warnings)")
    report.raise_for_failures()  # no exception
    assert check(report, "constant_columns")["severity"] == "warning"


def test_extra_columns_are_dropped_under_the_drop_policy(good: pd.DataFrame,
                                                         spec: PipelineSpec) -> None:
    assert spec.contract.extra_columns == "drop"
    df = good.assign(zzz=1, note="x")
    report = validate_batch(df, spec, batch_id="b")
    assert report.passed
    extra = check(report, "extra_columns")
    assert (extra["severity"], extra["value"], extra["threshold"]) == ("warning", 2, 0)
    assert "dropped" in extra["observed"]
    assert list(conform(df, spec).columns) == spec.columns


def test_extra_columns_fail_under_the_reject_policy(good: pd.DataFrame,
                                                   spec: PipelineSpec) -> None:
    strict = with_contract(spec, extra_columns="reject")
    report = validate_batch(good.assign(zzz=1), strict, batch_id="b")
    assert not report.passed
    assert codes(report) == {ReasonCode.EXTRA_COLUMNS}
    assert report.summary().startswith("[EXTRA_COLUMNS] extra columns (rejected): ['zzz']")
    assert validate_batch(good, strict, batch_id="b").passed  # no extra column, no failure


def test_freshness_is_judged_by_the_given_clock(good: pd.DataFrame, spec: PipelineSpec) -> None:
    frame, timed_spec = timed(spec, good, NOW - timedelta(hours=2), max_age_hours=24)
    fresh = validate_batch(frame, timed_spec, batch_id="b", now=NOW)
    assert fresh.passed, fresh.summary()
    age = check(fresh, "freshness")
    assert (age["value"], age["threshold"]) == (pytest.approx(2.0), 24.0)
    # The same batch two days later is stale; a naive clock means UTC.
    later = validate_batch(frame, timed_spec, batch_id="b",
                           now=(NOW + timedelta(days=2)).replace(tzinfo=None))
    assert codes(later) == {ReasonCode.STALE_DATA}
    assert check(later, "freshness")["value"] == pytest.approx(50.0)
    assert "50.0 h old" in later.summary()


def test_future_timestamps_within_the_allowance_pass(good: pd.DataFrame,
                                                    spec: PipelineSpec) -> None:
    frame, timed_spec = timed(spec, good, NOW + timedelta(minutes=3), allow_future_minutes=5)
    assert validate_batch(frame, timed_spec, batch_id="b", now=NOW).passed
    report = validate_batch(frame, timed_spec, batch_id="b", now=NOW - timedelta(minutes=10))
    assert codes(report) == {ReasonCode.FUTURE_TIMESTAMPS}
    future = check(report, "future_timestamps")
    assert (future["value"], future["threshold"]) == (pytest.approx(13.0), 5.0)
    assert "8 rows" in str(future["observed"])  # 13, 12, ..., 6 minutes ahead: 8 rows over 5


def test_freshness_reads_timestamps_with_offsets(good: pd.DataFrame, spec: PipelineSpec) -> None:
    frame, timed_spec = timed(spec, good.head(150), NOW, max_age_hours=1)
    # ISO strings with a +02:00 offset, as a CSV producer might write them: the same instants.
    frame["applied_at"] = (pd.to_datetime(frame["applied_at"]).dt.tz_localize("UTC")
                           .dt.tz_convert("+02:00").map(lambda t: t.isoformat()))
    assert validate_batch(frame, timed_spec, batch_id="b", now=NOW).passed
    assert validate_batch(frame, timed_spec, batch_id="b",
                          now=NOW + timedelta(hours=2)).reason_code == ReasonCode.STALE_DATA


def test_a_year_9999_stamp_is_out_of_range_and_freshness_judges_the_others(
        good: pd.DataFrame, spec: PipelineSpec) -> None:
    # Its age would overflow a Timedelta: the batch crashed validation (INTERNAL_ERROR).
    frame, timed_spec = timed(spec, good, NOW - timedelta(hours=2))
    stamps = frame["applied_at"].to_numpy("datetime64[us]").copy()
    stamps[7] = np.datetime64("9999-12-31", "us")
    report = validate_batch(frame.assign(applied_at=stamps), timed_spec, batch_id="b", now=NOW)
    assert codes(report) == {ReasonCode.TIMESTAMP_OUT_OF_RANGE}
    assert check(report, "freshness")["value"] == pytest.approx(2.0)
    assert check(report, "future_timestamps")["passed"] is True


def test_freshness_without_a_clock_uses_utc_now(good: pd.DataFrame, spec: PipelineSpec) -> None:
    frame, timed_spec = timed(spec, good, datetime.now(UTC) - timedelta(hours=1))
    assert validate_batch(frame, timed_spec, batch_id="b").passed
    old, _ = timed(spec, good, datetime.now(UTC) - timedelta(days=3))
    assert validate_batch(old, timed_spec, batch_id="b").reason_code == ReasonCode.STALE_DATA


def test_datetime_range(good: pd.DataFrame, spec: PipelineSpec) -> None:
    frame, timed_spec = timed(spec, good, NOW)
    bounded = with_feature(timed_spec, "applied_at", min_value=NOW - timedelta(hours=1),
                           max_value=NOW)
    report = validate_batch(frame, bounded, batch_id="b", now=NOW)
    assert codes(report) == {ReasonCode.OUT_OF_RANGE}
    assert check(report, "range:applied_at")["value"] == len(good) - 61  # the last hour passes


def test_new_categories_within_the_tolerated_share_pass(good: pd.DataFrame,
                                                        spec: PipelineSpec) -> None:
    df = good.copy()
    df["region"] = df["region"].astype(object)
    df.loc[:9, "region"] = "atlantis"  # 10 of 200 rows: 5%
    tolerant = with_feature(spec, "region", max_new_category_share=0.05)
    report = validate_batch(df, tolerant, batch_id="b")
    assert report.passed, report.summary()
    region = check(report, "categories:region")
    assert (region["value"], region["threshold"]) == (pytest.approx(0.05), 0.05)
    assert conform(df, tolerant)["region"].isna().sum() == 10  # unknown labels become missing
    # With the default tolerance of 0 a single unknown label is UNKNOWN_CATEGORIES, as before.
    assert codes(validate_batch(df, spec, batch_id="b")) == {ReasonCode.UNKNOWN_CATEGORIES}


def test_max_null_share(good: pd.DataFrame, spec: PipelineSpec) -> None:
    shared = with_feature(spec, "debt_ratio", max_null_share=0.1)
    df = good.copy()
    df.loc[:19, "debt_ratio"] = np.nan  # exactly 10%
    assert validate_batch(df, shared, batch_id="b").passed
    df.loc[20, "debt_ratio"] = np.nan
    report = validate_batch(df, shared, batch_id="b")
    assert codes(report) == {ReasonCode.NULLS_ABOVE_LIMIT}
    assert check(report, "nulls:debt_ratio")["threshold"] == 0.1


def test_an_all_null_column_is_reported_once(good: pd.DataFrame, spec: PipelineSpec) -> None:
    report = validate_batch(good.assign(income=np.nan), spec, batch_id="b")  # not nullable
    assert [c.reason_code for c in report.failures] == [ReasonCode.ALL_NULL_COLUMN]


def test_duplicates_within_the_share_pass(good: pd.DataFrame, spec: PipelineSpec) -> None:
    df = pd.concat([good, good.head(2)], ignore_index=True)  # 2 of 202: under 1%
    assert validate_batch(df, spec, batch_id="b").passed


def test_rows_per_class_is_only_for_two_classes(good: pd.DataFrame, spec: PipelineSpec) -> None:
    # A single class is TARGET_SINGLE_CLASS alone, not also TARGET_TOO_FEW_PER_CLASS.
    assert codes(validate_batch(good.assign(default=1), spec, batch_id="b")) == {
        ReasonCode.TARGET_SINGLE_CLASS}


@pytest.mark.parametrize("pipeline", ["credit_default", "house_prices"])
@pytest.mark.parametrize(("seed", "drift"), [(11, 0.0), (12, 0.6)])
def test_example_specs_accept_their_generated_batches(pipeline: str, seed: int,
                                                      drift: float) -> None:
    # The demo drops exactly these two batches; the contract must not reject them.
    path = HOUSE_SPEC if pipeline == "house_prices" else PIPELINES / f"{pipeline}.yaml"
    example = load_spec(path)
    df = generate_batch(example, 6000, seed=seed, drift=drift)
    back = read_batch([("part-0", to_file_bytes(df, example.source.format))],
                      example.source.format)
    report = validate_batch(back, example, batch_id="b")
    assert report.passed, report.summary()
    assert report.warnings == []


# --- parts of one batch that disagree ---------------------------------------------------------

def test_parts_with_numbers_and_text_in_one_column_are_inconsistent(good: pd.DataFrame) -> None:
    a = to_file_bytes(good, "parquet")
    b = to_file_bytes(good.assign(age=good["age"].astype(str)), "parquet")
    with pytest.raises(BatchRejected) as info:
        read_batch([("b/p0.parquet", a), ("b/p1.parquet", b)], "parquet")
    assert info.value.code == ReasonCode.INCONSISTENT_FILES
    assert "'age'" in str(info.value) and "b/p1.parquet" in str(info.value)


def test_parts_with_ints_floats_or_only_nulls_in_a_column_are_consistent(
        good: pd.DataFrame) -> None:
    floats = good.assign(age=good["age"].astype("float64"))
    nulls = good.assign(region=None)
    parts = [(f"b/p{i}.parquet", to_file_bytes(frame, "parquet"))
             for i, frame in enumerate((good, floats, nulls))]
    assert len(read_batch(parts, "parquet")) == 3 * len(good)


def test_an_unreadable_file_under_a_manifest_is_unreadable_not_a_mismatch(
        good: pd.DataFrame) -> None:
    body = to_file_bytes(good, "csv").decode().replace("north", "nord-\u00e9").encode("latin-1")
    manifest = build_manifest({"p.csv": body}, {"p.csv": len(good)})
    with pytest.raises(BatchRejected) as info:
        check_manifest(manifest, "b/", [("b/p.csv", body)], "csv")
    assert info.value.code == ReasonCode.UNREADABLE_FILE
    assert "b/p.csv" in str(info.value)


@pytest.mark.parametrize("values", [
    pd.Series([0, 1, 1]), pd.Series([0, 1, 2]), pd.Series([0.0, 1.0, 0.5, np.inf, -0.0]),
    pd.Series([True, False]), pd.Series(pd.array([1, None, 0], dtype="Int64")),
    pd.Series(pd.array([True, None], dtype="boolean")), pd.Series(["0", "1", "x"], dtype=object),
    pd.Series([0, "1", True, None, 1.0], dtype=object), pd.Series(pd.Categorical([0, 1, 1])),
    pd.Series(np.array([0, 1, 7], dtype=np.uint8)), pd.Series([np.nan, 1.0]),
], ids=lambda s: str(s.dtype) + ":" + ",".join(map(str, s.tolist())))
def test_vectorised_binary_labels_match_the_per_label_rule(values: pd.Series) -> None:
    fast, slow = labels.binary_labels(values), values.map(labels._to_binary_label)
    np.testing.assert_array_equal(fast.isna().to_numpy(), slow.isna().to_numpy())
    np.testing.assert_array_equal(fast.dropna().astype(int).to_numpy(),
                                  slow.dropna().astype(int).to_numpy())
