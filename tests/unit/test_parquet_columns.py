"""A parquet batch validated column by column judges it exactly as the whole frame does."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from mlops_dev.datagen import generate_batch
from mlops_lib.spec import Contract, Feature, Freshness, PipelineSpec
from mlops_lib.validation.checks import validate_batch, validate_columns
from mlops_lib.validation.reading import ParquetColumns, read_batch
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

pytestmark = pytest.mark.unit

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
Files = list[tuple[str, bytes]]


def _parts(df: pd.DataFrame, cuts: tuple[int, ...], *, index: bool = False) -> Files:
    """`df` cut at `cuts` into parquet files, written as pandas writes them."""
    files = []
    bounds = [0, *cuts, len(df)]
    for i, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        part = df.iloc[start:stop]
        buf = io.BytesIO()
        part.to_parquet(buf, engine="pyarrow", index=index)
        files.append((f"b/part-{i}.parquet", buf.getvalue()))
    return files


def _assorted() -> pd.DataFrame:
    n = 12
    return pd.DataFrame({
        "ints": np.arange(n, dtype=np.int64),
        "floats": [1.5, np.nan] * (n // 2),
        "labels": ["north", None, "south", "east"] * (n // 4),
        "categorical": pd.Categorical(["a", "b", "a"] * (n // 3)),
        "flags": [True, False] * (n // 2),
        "flags_with_nulls": [True, None, False] * (n // 3),
        "utc": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        "naive": pd.date_range("2026-01-01", periods=n, freq="D"),
        "text": [f"t{i}" for i in range(n)],
    }, index=pd.Index(range(100, 100 + n), name="row"))


@pytest.mark.parametrize("index", [False, True], ids=["no index", "index written"])
def test_each_column_reads_as_the_whole_batch_gives_it(index: bool) -> None:
    df = _assorted()
    files = [*_parts(df, (5, 9), index=index), ("b/empty.parquet", b""),
             *_parts(df.iloc[:0], (), index=index)]
    whole = read_batch(files, "parquet")
    columns = ParquetColumns(files)
    assert columns.names == [str(c) for c in whole.columns]
    assert columns.n_rows == len(whole) == len(df)
    for name in columns.names:
        pd.testing.assert_series_equal(columns.column(name), whole[name], check_exact=True)
    pd.testing.assert_frame_equal(columns.frame(), whole)


def test_a_part_with_a_column_all_null_takes_the_type_of_the_others() -> None:
    df = pd.DataFrame({"x": [1.5, 2.5, 3.5, 4.5]})
    files = _parts(df.iloc[:2], ()) + _parts(pd.DataFrame({"x": [None, None]}, dtype=object), ())
    whole = read_batch(files, "parquet")
    pd.testing.assert_series_equal(ParquetColumns(files).column("x"), whole["x"])
    assert whole["x"].dtype == np.float64


def _timed(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, features=(*spec.features, Feature("applied_at", "datetime")),
                   contract=replace(spec.contract, freshness=Freshness("applied_at", 24, 5)))


def _scoring_batch(spec: PipelineSpec, seed: int = 3) -> pd.DataFrame:
    df = generate_batch(spec, 300, seed=seed).drop(columns=[spec.target])
    stamps = pd.date_range(end=NOW, periods=len(df), freq="min", tz="UTC")
    return df.assign(applied_at=stamps)


def _set(column: str, rows: slice, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        if isinstance(df[column].dtype, pd.CategoricalDtype) or (
                not isinstance(value, (int, float)) and df[column].dtype.kind in "if"):
            df[column] = df[column].astype(object)
        df.loc[df.index[rows], column] = value
        return df
    return change


BAD = {
    "good": lambda df: df,
    "unknown category": _set("region", slice(250, 260), "atlantis"),
    "out of range": _set("age", slice(10, 12), 400),
    "nulls in a non-nullable feature": _set("income", slice(0, 3), np.nan),
    "infinite": _set("debt_ratio", slice(299, 300), np.inf),
    "text in a number column": lambda df: df.assign(
        age=df["age"].astype(str).where(df.index != 5, "old")),
    "missing column": lambda df: df.drop(columns=["age"]),
    "extra column": lambda df: df.assign(zzz=1),
    "stale only in the last part": lambda df: df.assign(
        applied_at=pd.date_range(end="2026-01-10", periods=len(df), freq="min", tz="UTC")),
    "a feature all null": _set("utilization", slice(None), np.nan),
}


@pytest.mark.parametrize("change", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize("labelled", [False, True], ids=["scoring", "labelled"])
def test_the_report_is_the_whole_frames(spec: PipelineSpec, change: Callable[..., pd.DataFrame],
                                        labelled: bool) -> None:
    timed = _timed(replace(spec, contract=Contract()) if labelled else spec)
    df = change(_scoring_batch(spec))
    if labelled:
        df = df.assign(**{spec.target: generate_batch(spec, len(df), seed=3)[spec.target]})
    files = _parts(df, (100, 200))
    expected = validate_batch(read_batch(files, "parquet"), timed, batch_id="b", now=NOW,
                              labelled=labelled)
    got = validate_columns(ParquetColumns(files), timed, batch_id="b", now=NOW,
                           labelled=labelled)
    assert got.to_dict() == expected.to_dict()


def test_a_good_batch_passes(spec: PipelineSpec) -> None:
    files = _parts(_scoring_batch(spec), (150,))
    report = validate_columns(ParquetColumns(files), _timed(spec), batch_id="b", now=NOW,
                              labelled=False)
    assert report.passed, report.summary()


@pytest.mark.parametrize(("files", "code"), [
    ([], ReasonCode.EMPTY_BATCH),
    ([("b/a.parquet", b"")], ReasonCode.EMPTY_BATCH),
    (_parts(pd.DataFrame({"x": [1.0]}).iloc[:0], ()), ReasonCode.EMPTY_BATCH),
    ([("b/a.parquet", b"not parquet at all")], ReasonCode.UNREADABLE_FILE),
    (_parts(pd.DataFrame({"x": [1.0]}), ()) + _parts(pd.DataFrame({"y": [1.0]}), ()),
     ReasonCode.INCONSISTENT_FILES),
], ids=["no files", "zero bytes", "zero rows", "not parquet", "different columns"])
def test_a_batch_that_cannot_be_read_is_refused_as_read_batch_refuses_it(
        files: Files, code: ReasonCode) -> None:
    with pytest.raises(BatchRejected) as whole:
        read_batch(files, "parquet")
    with pytest.raises(BatchRejected) as by_column:
        ParquetColumns(files)
    assert by_column.value.code == whole.value.code == code


def test_numbers_in_one_part_and_text_in_another_are_refused_when_the_column_is_read() -> None:
    files = _parts(pd.DataFrame({"x": [1.0, 2.0], "y": [1, 2]}), ()) + \
        _parts(pd.DataFrame({"x": ["a", "b"], "y": [3, 4]}), ())
    columns = ParquetColumns(files)
    assert columns.column("y").tolist() == [1, 2, 3, 4]
    with pytest.raises(BatchRejected) as rejected:
        columns.column("x")
    assert rejected.value.code == ReasonCode.INCONSISTENT_FILES
    assert "'x'" in str(rejected.value)


def test_a_batch_decoding_beyond_the_limit_is_refused_before_any_column_is_read() -> None:
    from mlops_lib.validation.bounds import ReadRules

    files = _parts(pd.DataFrame({"x": np.zeros(100_000), "y": np.ones(100_000)}), ())
    rules = ReadRules(max_uncompressed_bytes=1_000_000)
    with pytest.raises(BatchRejected) as whole:
        read_batch(files, "parquet", rules)
    with pytest.raises(BatchRejected) as by_column:
        ParquetColumns(files, rules)
    assert by_column.value.code == whole.value.code == ReasonCode.DECOMPRESSED_TOO_LARGE
