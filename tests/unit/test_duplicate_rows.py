"""The fast duplicate-row count equals `DataFrame.duplicated(keep="first").sum()` exactly.

Every frame is drawn from small pools of values, so rows repeat often and the tricky values
(NaN of any payload, -0.0 beside 0.0, None beside NaN, unused and missing categories, strings
sharing a long prefix) meet each other in the same rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from mlops_lib.validation import duplicates
from mlops_lib.validation.checks import _check_duplicate_rows
from mlops_lib.validation.duplicates import count_duplicate_rows

pytestmark = pytest.mark.unit

Rng = np.random.Generator

_NAN_PAYLOAD = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)[0]
_NEGATIVE_NAN = np.array([0xFFF8000000000000], dtype=np.uint64).view(np.float64)[0]
_PREFIX = "shared-prefix-" * 40  # longer than any hash's look at a string's first bytes


def _floats(rng: Rng, n: int) -> pd.Series:
    pool = np.array([0.0, -0.0, np.nan, _NAN_PAYLOAD, _NEGATIVE_NAN, np.inf, -np.inf, 1.5])
    return pd.Series(rng.choice(pool, n))


def _float32(rng: Rng, n: int) -> pd.Series:
    return pd.Series(rng.choice(np.array([0.0, -0.0, np.nan, 0.1], dtype=np.float32), n))


def _ints(rng: Rng, n: int) -> pd.Series:
    return pd.Series(rng.integers(-2, 2, n, dtype=np.int64))


def _int8(rng: Rng, n: int) -> pd.Series:
    return pd.Series(rng.integers(-128, 127, n, dtype=np.int8) // 64)


def _uint64(rng: Rng, n: int) -> pd.Series:
    # 2**64 - 1 and -1 share their bits: a uint64 column must not be read as int64 elsewhere.
    return pd.Series(rng.choice(np.array([0, 2**63, 2**64 - 1], dtype=np.uint64), n))


def _bools(rng: Rng, n: int) -> pd.Series:
    return pd.Series(rng.integers(0, 2, n).astype(bool))


def _categories(rng: Rng, n: int) -> pd.Series:
    values = rng.choice(np.array(["b", "a", None], dtype=object), n)
    return pd.Series(pd.Categorical(values, categories=["unused", "a", "b", "never"]))


def _prefixed_strings(rng: Rng, n: int) -> pd.Series:
    pool = np.array([_PREFIX + "a", _PREFIX + "b", _PREFIX, _PREFIX + "a" * 3, None],
                    dtype=object)
    return pd.Series(rng.choice(pool, n))


def _mixed_objects(rng: Rng, n: int) -> pd.Series:
    # pandas' object equality: 1 == 1.0 == True, "1" differs; nulls of several kinds.
    pool = [1, 1.0, True, "1", None, np.nan, float("nan"), pd.NaT, pd.NA, -0.0, 0.0, 0]
    return pd.Series([pool[i] for i in rng.integers(0, len(pool), n)], dtype=object)


def _string_dtype(storage: str) -> Callable[[Rng, int], pd.Series]:
    def draw(rng: Rng, n: int) -> pd.Series:
        pool = [_PREFIX + "x", _PREFIX + "y", None]
        return pd.Series([pool[i] for i in rng.integers(0, len(pool), n)],
                         dtype=f"string[{storage}]")
    return draw


def _nullable_ints(rng: Rng, n: int) -> pd.Series:
    return pd.Series(pd.array([None if i == 2 else int(i) for i in rng.integers(0, 3, n)],
                              dtype="Int64"))


def _nullable_floats(rng: Rng, n: int) -> pd.Series:
    pool = [0.0, -0.0, None, 2.5]
    return pd.Series(pd.array([pool[i] for i in rng.integers(0, len(pool), n)],
                              dtype="Float64"))


def _timestamps(rng: Rng, n: int) -> pd.Series:
    pool = pd.to_datetime(["2024-01-01", "2024-01-02", None])
    return pd.Series(pool[rng.integers(0, len(pool), n)])


def _aware_timestamps(rng: Rng, n: int) -> pd.Series:
    return _timestamps(rng, n).dt.tz_localize("UTC")


def _durations(rng: Rng, n: int) -> pd.Series:
    return pd.Series(pd.to_timedelta(rng.choice(np.array([0, 1, -1]), n), unit="s"))


def _complex(rng: Rng, n: int) -> pd.Series:
    pool = np.array([0j, complex(np.nan, 0), complex(0, np.nan), 1 + 1j])
    return pd.Series(rng.choice(pool, n))


KINDS: dict[str, Callable[[Rng, int], pd.Series]] = {
    "float": _floats, "float32": _float32, "int": _ints, "int8": _int8, "uint64": _uint64,
    "bool": _bools, "category": _categories, "prefixed_str": _prefixed_strings,
    "object": _mixed_objects, "string_python": _string_dtype("python"),
    "string_pyarrow": _string_dtype("pyarrow"), "Int64": _nullable_ints,
    "Float64": _nullable_floats, "datetime": _timestamps, "datetime_utc": _aware_timestamps,
    "timedelta": _durations, "complex": _complex,
}


def random_frame(seed: int, n: int, kinds: list[str]) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"{kind}_{i}": KINDS[kind](rng, n) for i, kind in enumerate(kinds)})


def assert_counts_like_pandas(df: pd.DataFrame) -> int:
    before = df.copy(deep=True)
    expected = int(df.duplicated(keep="first").sum())
    assert count_duplicate_rows(df) == expected
    pd.testing.assert_frame_equal(df, before)  # keys may view the frame's data: never written
    return expected


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_alone_and_beside_another(kind: str) -> None:
    # Alone, pandas takes Series.duplicated's path; beside a column, factorize's. They differ
    # for an object column's nulls (None and NaN are one group only in the second).
    assert assert_counts_like_pandas(random_frame(1, 400, [kind])) > 0
    assert assert_counts_like_pandas(random_frame(2, 400, [kind, "bool"])) > 0


@pytest.mark.parametrize("seed", range(25))
def test_random_mixed_frames(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    kinds = list(rng.choice(sorted(KINDS), int(rng.integers(2, 7))))
    n = int(rng.integers(2, 600))
    assert_counts_like_pandas(random_frame(seed, n, kinds))


def test_many_columns_of_every_kind() -> None:
    df = random_frame(7, 3000, sorted(KINDS) * 2)
    assert_counts_like_pandas(df)
    repeated = pd.concat([df, df.iloc[::3]], ignore_index=True)
    assert assert_counts_like_pandas(repeated) >= len(df.iloc[::3])


def test_negative_zero_and_nan_payloads_are_the_same_value() -> None:
    df = pd.DataFrame({"x": [0.0, -0.0, np.nan, _NAN_PAYLOAD, _NEGATIVE_NAN],
                       "y": [1, 1, 2, 2, 2]})
    assert count_duplicate_rows(df) == int(df.duplicated().sum()) == 3


def test_categories_compare_by_value_not_by_code_order() -> None:
    df = pd.DataFrame({"c": pd.Categorical(["a", "b", None, None, "a"],
                                           categories=["z", "b", "a"]),
                       "k": [1, 1, 1, 1, 1]})
    assert count_duplicate_rows(df) == int(df.duplicated().sum()) == 2


def test_unique_rows_give_zero_without_confirming(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"a": np.arange(1000, dtype=float), "b": np.arange(1000) % 7})

    def no_confirmation(*args: object, **kwargs: object) -> pd.Series:
        raise AssertionError("rows with unique hashes need no confirmation")
    monkeypatch.setattr(pd.DataFrame, "duplicated", no_confirmation)
    assert count_duplicate_rows(df) == 0


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (3, 0), (1, 2)])
def test_empty_and_tiny_frames(shape: tuple[int, int]) -> None:
    rows, columns = shape
    df = pd.DataFrame(np.zeros(shape), index=range(rows), columns=[f"c{i}" for i in
                                                                   range(columns)])
    assert_counts_like_pandas(df)


def test_a_name_twice() -> None:
    df = random_frame(3, 300, ["int", "float", "category"])
    df.columns = ["a", "a", "b"]
    assert_counts_like_pandas(df)


def _constant_hashes(df: pd.DataFrame) -> duplicates.Hashes:
    return np.zeros(len(df), dtype=np.uint64)


def test_every_row_hash_colliding_still_counts_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(duplicates, "row_hashes", _constant_hashes)
    for seed in range(5):
        df = random_frame(seed, 500, ["float", "category", "prefixed_str", "object"])
        assert assert_counts_like_pandas(df) > 0
    unique = pd.DataFrame({"a": np.arange(50), "b": np.arange(50.0)})
    assert count_duplicate_rows(unique) == 0


def test_colliding_column_keys_still_count_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    # Keys of one bit: distinct values of a column collide all the time.
    real = duplicates.column_key
    monkeypatch.setattr(duplicates, "column_key",
                        lambda column: real(column) & np.uint64(1))
    for seed in range(5):
        assert_counts_like_pandas(random_frame(seed, 500, ["float", "int", "prefixed_str"]))


def test_unhashable_cells_raise_as_pandas_does() -> None:
    df = pd.DataFrame({"a": [[1], [1], [2]], "b": [1, 1, 1]})
    with pytest.raises(TypeError):
        df.duplicated()
    with pytest.raises(TypeError):
        count_duplicate_rows(df)
    assert _check_duplicate_rows(df, 0.01).observed == "skipped: unhashable values"


def test_the_check_reports_the_exact_share() -> None:
    df = random_frame(5, 400, ["float", "category", "prefixed_str"])
    repeats = int(df.duplicated().sum())
    share = repeats / len(df)
    result = _check_duplicate_rows(df, 0.01)
    assert result.name == "duplicate_rows"
    assert result.observed == f"{repeats} rows repeat an earlier row ({share:.2%})"
    assert result.value == share
    assert result.passed is (share <= 0.01)
