from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.spec import MetricPolicy, PipelineSpec
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.conform import conform
from mlops_lib.validation.reading import read_batch

pytestmark = pytest.mark.unit

N = 2000


@pytest.fixture(scope="module")
def regression_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, name="loan_amount", task="regression",
                   metric=MetricPolicy("rmse", "minimize", floor=1e9))


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_same_frame(spec: PipelineSpec) -> None:
    pd.testing.assert_frame_equal(generate_batch(spec, 500, seed=7),
                                  generate_batch(spec, 500, seed=7))


def test_different_seeds_differ(spec: PipelineSpec) -> None:
    a = generate_batch(spec, 500, seed=7)
    b = generate_batch(spec, 500, seed=8)
    assert not a["income"].equals(b["income"])


def test_seed_and_drift_are_both_part_of_the_sample(spec: PipelineSpec) -> None:
    pd.testing.assert_frame_equal(generate_batch(spec, 300, seed=1, drift=0.4),
                                  generate_batch(spec, 300, seed=1, drift=0.4))


# --- shape and types ---------------------------------------------------------------------------


def test_columns_and_dtypes_match_the_spec(spec: PipelineSpec) -> None:
    df = generate_batch(spec, N, seed=1)
    assert list(df.columns) == spec.columns
    assert len(df) == N
    for f in spec.features:
        s = df[f.name]
        if f.dtype == "float":
            assert s.dtype == np.float64, f.name
        elif f.dtype == "int":
            assert s.dtype == np.int64, f.name
            assert (s >= 0).all(), f.name
        elif f.dtype == "category":
            assert isinstance(s.dtype, pd.CategoricalDtype)
            assert list(s.cat.categories) == list(f.categories)
    assert df[spec.target].dtype == np.int64
    assert set(df[spec.target].unique()) == {0, 1}


def test_every_dtype_is_generated_and_passes_validation(all_dtypes_spec: PipelineSpec) -> None:
    df = generate_batch(all_dtypes_spec, N, seed=2)
    assert list(df.columns) == all_dtypes_spec.columns
    assert df["amount"].dtype == np.float64
    assert df["count"].dtype == np.int64
    assert df["flag"].dtype == bool
    assert isinstance(df["colour"].dtype, pd.CategoricalDtype)
    assert df["customer_id"].map(type).eq(str).all()
    assert pd.api.types.is_datetime64_any_dtype(df["seen_at"])
    report = validate_batch(df, all_dtypes_spec, batch_id="b")
    assert report.passed, report.summary()


def test_generated_batch_needs_no_casting(spec: PipelineSpec) -> None:
    df = generate_batch(spec, N, seed=1)
    pd.testing.assert_frame_equal(conform(df, spec), df)


def test_base_rate_is_plausible(spec: PipelineSpec) -> None:
    rate = generate_batch(spec, 5000, seed=3)[spec.target].mean()
    assert 0.1 < rate < 0.5


def test_regression_target_is_float(regression_spec: PipelineSpec) -> None:
    df = generate_batch(regression_spec, N, seed=1)
    y = df[regression_spec.target]
    assert y.dtype == np.float64
    assert np.isfinite(y).all()
    assert y.nunique() > N // 2


def test_zero_rows(spec: PipelineSpec) -> None:
    df = generate_batch(spec, 0, seed=1)
    assert list(df.columns) == spec.columns
    assert len(df) == 0


@pytest.mark.parametrize(("n_rows", "drift"), [(-1, 0.0), (10, -0.1), (10, 1.5)])
def test_bad_arguments(spec: PipelineSpec, n_rows: int, drift: float) -> None:
    with pytest.raises(ValueError):
        generate_batch(spec, n_rows, seed=1, drift=drift)


# --- drift -------------------------------------------------------------------------------------


def test_drift_shifts_numeric_feature_means(spec: PipelineSpec) -> None:
    base = generate_batch(spec, N, seed=11, drift=0.0)
    drifted = generate_batch(spec, N, seed=12, drift=0.6)
    for f in spec.features:
        if f.dtype not in ("float", "int"):
            continue
        a, b = base[f.name].astype(float), drifted[f.name].astype(float)
        # Drift moves the mean by 0.6 standard deviations; two samples of the same
        # distribution differ by a few hundredths of one at this size.
        shift = abs(b.mean() - a.mean()) / a.std()
        assert shift > 0.3, (f.name, shift)
        assert b.std() > a.std(), f.name  # and widens the spread


def test_no_drift_means_no_shift(spec: PipelineSpec) -> None:
    a = generate_batch(spec, N, seed=11)
    b = generate_batch(spec, N, seed=12)
    for name in ("income", "age", "utilization"):
        assert abs(b[name].mean() - a[name].mean()) / a[name].std() < 0.15, name


def test_drift_changes_category_frequencies(spec: PipelineSpec) -> None:
    base = generate_batch(spec, N, seed=11)["region"].value_counts(normalize=True)
    drifted = generate_batch(spec, N, seed=12, drift=0.6)["region"].value_counts(normalize=True)
    total_variation = 0.5 * (base - drifted).abs().sum()
    assert total_variation > 0.1


def test_drift_keeps_the_schema(spec: PipelineSpec) -> None:
    df = generate_batch(spec, N, seed=1, drift=1.0)
    assert validate_batch(df, spec, batch_id="drifted").passed


# --- files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_bytes_round_trip_through_read_batch(spec: PipelineSpec, fmt: str) -> None:
    df = generate_batch(spec, 300, seed=5)
    blob = to_file_bytes(df, fmt)
    if fmt == "parquet":
        assert blob[:4] == b"PAR1"
    else:
        assert blob.decode().splitlines()[0] == ",".join(spec.columns)
    back = read_batch([("part-0", blob)], fmt)
    report = validate_batch(back, spec, batch_id="b")
    assert report.passed, report.summary()
    conformed = conform(back, spec)
    pd.testing.assert_frame_equal(conformed, df, check_exact=False, rtol=1e-12)


def test_split_files_round_trip(spec: PipelineSpec) -> None:
    df = generate_batch(spec, 300, seed=5)
    files = [("part-0", to_file_bytes(df.iloc[:100], "csv")),
             ("part-1", to_file_bytes(df.iloc[100:], "csv"))]
    pd.testing.assert_frame_equal(conform(read_batch(files, "csv"), spec), df,
                                  check_exact=False, rtol=1e-12)


def test_unknown_file_format(spec: PipelineSpec) -> None:
    with pytest.raises(ValueError, match="unknown file format"):
        to_file_bytes(generate_batch(spec, 5, seed=1), "json")
