"""A stored drift reference (`drift_reference`) gives the statistics and verdicts of the
training set it was reduced from, to 1e-9, on data built to trip it: NaN and ±inf, -0.0
beside 0.0, heavy ties, integers with missing values, a constant, categories unused or unseen,
bools, strings with missing values; and it reads one feature at a time."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_lib.monitoring import drift
from mlops_lib.monitoring.drift_reference import (
    META,
    REPORT_ROWS,
    ParquetColumns,
    StoredReference,
    build_reference,
    fingerprint,
)
from mlops_lib.spec import DriftPolicy, Feature, MetricPolicy, PipelineSpec, Source
from mlops_lib.spec.trigger import TriggerConfig

pytestmark = pytest.mark.unit

FEATURES = {"x": "float", "heavy_ties": "float", "k": "int", "const": "float",
            "cat": "category", "flag": "bool", "s": "string", "ordered": "category"}


def make_spec(noise_floor: float | None = 0.99) -> PipelineSpec:
    feats = tuple(Feature(name, dtype, ("a", "b", "c") if dtype == "category" else ())  # type: ignore[arg-type]
                  for name, dtype in FEATURES.items())
    return PipelineSpec(name="ref_test", source=Source("b", "p/"), target="y",
                        task="binary_classification", features=feats,
                        metric=MetricPolicy("roc_auc", "maximize", 0.5),
                        trigger=TriggerConfig(drift=DriftPolicy(min_rows_per_test=30,
                                                          noise_floor_quantile=noise_floor)))


def tricky(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.02] = np.nan
    x[rng.random(n) < 0.005] = np.inf
    x[rng.random(n) < 0.005] = -np.inf
    ties = np.round(rng.normal(shift, 1.0, n), 1)
    ties[rng.random(n) < 0.05] = -0.0
    ties[rng.random(n) < 0.05] = 0.0
    k = pd.array(rng.integers(0, 7, n), dtype="Int64")
    k[rng.random(n) < 0.03] = pd.NA
    cats = pd.Categorical(rng.choice(["a", "b"] if not shift else ["a", "b", "c"], n),
                          categories=["a", "b", "c", "unused"])
    cats[rng.random(n) < 0.02] = np.nan
    strings = rng.choice(["p", "q", "r", "p_same_prefix", "p_same_prefiy"], n).astype(object)
    strings[rng.random(n) < 0.04] = None
    ordered = pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"],
                             ordered=True)
    return pd.DataFrame({"x": x, "heavy_ties": ties, "k": k, "const": np.full(n, 3.5),
                         "cat": cats, "flag": rng.random(n) < 0.3 + 0.1 * shift, "s": strings,
                         "ordered": ordered})


def through_parquet(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The frame as the monitor reads a versioned training set back."""
    frame.to_parquet(path)
    return pd.read_parquet(path)


def kinds(spec: PipelineSpec) -> dict[str, drift.FeatureKind]:
    return {f.name: ("numeric" if f.dtype in ("float", "int") else "categorical")
            for f in spec.features}


def stored(frame: pd.DataFrame, tmp_path: Path, spec: PipelineSpec) -> tuple[pd.DataFrame,
                                                                                   StoredReference]:
    data = tmp_path / "train.parquet"
    reference = through_parquet(frame, data)
    return reference, build_reference(data, kinds(spec), tmp_path / "ref", lambda n: None)


def assert_same(a: drift.DriftResult, b: drift.DriftResult) -> None:
    assert a.n_reference_rows == b.n_reference_rows and a.n_current_rows == b.n_current_rows
    assert [f.feature for f in a.features] == [f.feature for f in b.features]
    for fa, fb in zip(a.features, b.features, strict=True):
        for field in dataclasses.fields(fa):
            va, vb = getattr(fa, field.name), getattr(fb, field.name)
            if isinstance(va, float) and isinstance(vb, float):
                assert math.isclose(va, vb, rel_tol=1e-9, abs_tol=1e-12), (fa.feature, field.name)
            else:
                assert va == vb, (fa.feature, field.name, va, vb)


@pytest.mark.parametrize("shift", [0.0, 0.4, 2.0])
@pytest.mark.parametrize("n_current", [40, 3_000])
def test_a_stored_reference_gives_the_training_sets_statistics(
        tmp_path: Path, shift: float, n_current: int) -> None:
    rng = np.random.default_rng(int(shift * 10) + n_current)
    spec = make_spec()
    reference, ref = stored(tricky(rng, 20_000), tmp_path, spec)
    current = through_parquet(tricky(rng, n_current, shift), tmp_path / "batch.parquet")

    from_frame = drift.compute(reference, current, spec)
    from_store = drift.compute(ref, current, spec)

    assert_same(from_frame, from_store)
    assert from_frame.n_compared == len(FEATURES)
    if shift == 2.0 and n_current == 3_000:  # the case is not vacuous: verdicts both ways
        assert {"x", "heavy_ties"} <= set(from_store.drifted_features)
    if shift == 0.0 and n_current == 3_000:
        assert "x" not in from_store.drifted_features


def test_every_method_agrees_too(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    spec = make_spec(noise_floor=None)
    reference, ref = stored(tricky(rng, 5_000), tmp_path, spec)
    current = through_parquet(tricky(rng, 2_000, 0.3), tmp_path / "batch.parquet")
    for method in drift.METHODS:
        assert_same(drift.compute(reference, current, spec, method=method, threshold=0.05),  # type: ignore[arg-type]
                    drift.compute(ref, current, spec, method=method, threshold=0.05))  # type: ignore[arg-type]


def test_the_reference_keeps_categories_and_counts_missing_values(tmp_path: Path) -> None:
    spec = make_spec()
    frame = tricky(np.random.default_rng(1), 1_000)
    _, ref = stored(frame, tmp_path, spec)
    meta = json.loads((tmp_path / "ref" / META).read_text())
    assert meta["n_rows"] == 1_000
    by_name = {f["name"]: f for f in meta["features"]}
    assert by_name["cat"]["encoding"] == "category"
    assert by_name["cat"]["n_missing"] == int(frame["cat"].isna().sum()) > 0
    assert by_name["ordered"]["ordered"] is True
    assert by_name["s"]["n_missing"] == int(frame["s"].isna().sum()) > 0
    side = ref.side("cat", "categorical")
    assert side.series is not None
    assert list(side.series.cat.categories) == ["a", "b", "c", "unused"]
    assert side.series.value_counts(dropna=False).sort_index().equals(
        frame["cat"].value_counts(dropna=False).sort_index())
    numeric = ref.side("x", "numeric").column
    finite = frame["x"].to_numpy()[np.isfinite(frame["x"].to_numpy())]
    assert np.array_equal(numeric.sorted, np.sort(finite)) and numeric.n_rows == 1_000


def test_the_report_rows_are_the_sample_the_reports_take(tmp_path: Path) -> None:
    spec = make_spec()
    data = tmp_path / "train.parquet"
    frame = through_parquet(tricky(np.random.default_rng(2), 500), data)
    ref = build_reference(data, kinds(spec), tmp_path / "ref",
                          lambda n: np.arange(0, n, 7))
    shown = ref.report_rows()
    assert len(shown) == len(range(0, 500, 7))
    pd.testing.assert_frame_equal(shown, frame.iloc[::7].reset_index(drop=True))
    assert (tmp_path / "ref" / REPORT_ROWS).exists()


def test_an_unfinished_or_foreign_reference_is_refused(tmp_path: Path) -> None:
    spec = make_spec()
    _, ref = stored(tricky(np.random.default_rng(3), 200), tmp_path, spec)
    meta = tmp_path / "ref" / META
    text = json.loads(meta.read_text())
    meta.write_text(json.dumps({**text, "format": 99}))
    with pytest.raises(ValueError, match="format 99"):
        StoredReference(tmp_path / "ref")
    meta.unlink()
    with pytest.raises(FileNotFoundError):
        StoredReference(tmp_path / "ref")
    with pytest.raises(ValueError, match="is categorical, not numeric"):
        ref.side("cat", "numeric")


def test_the_fingerprint_follows_the_compared_features_and_their_kinds() -> None:
    base = {"x": "numeric", "c": "categorical"}
    assert fingerprint(base) == fingerprint(dict(reversed(base.items())))
    assert fingerprint(base) != fingerprint({**base, "c": "numeric"})
    assert fingerprint(base) != fingerprint({"x": "numeric"})


def test_a_batch_read_column_by_column_gives_the_same_result(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    spec = make_spec()
    reference, ref = stored(tricky(rng, 4_000), tmp_path, spec)
    tricky(rng, 1_500, 0.5).to_parquet(tmp_path / "batch.parquet", row_group_size=200)
    columns = ParquetColumns(tmp_path / "batch.parquet")

    assert len(columns) == 1_500 and set(FEATURES) <= set(columns.columns)
    assert_same(drift.compute(reference, pd.read_parquet(tmp_path / "batch.parquet"), spec),
                drift.compute(ref, columns, spec))


@pytest.mark.parametrize("positions", [None, [], [0], [5, 199, 200, 201, 999, 1499]])
def test_rows_at_positions_are_read_row_group_by_row_group(
        tmp_path: Path, positions: list[int] | None) -> None:
    frame = tricky(np.random.default_rng(8), 1_500)
    frame.to_parquet(tmp_path / "batch.parquet", row_group_size=200)
    at = None if positions is None else np.array(positions, dtype=np.int64)

    rows = ParquetColumns(tmp_path / "batch.parquet").rows(["x", "cat", "s"], at)

    expected = frame[["x", "cat", "s"]] if at is None else frame[["x", "cat", "s"]].iloc[at]
    pd.testing.assert_frame_equal(rows, expected.reset_index(drop=True), check_dtype=False,
                                  check_categorical=False)
    assert len(rows) == (1_500 if at is None else len(at))
