"""Bounded input: a batch is judged on its footers and a streaming count before it is decoded
(source.max_rows, source.max_uncompressed_bytes), duplicate columns are DUPLICATE_COLUMNS,
CSV null cells are the spec's, keys refuse invisible and line-breaking characters, and a
manifest entry either names a file that can land or completes the batch to be refused."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.landing.keys import unsafe_key_reason
from mlops_lib.landing.manifest import ManifestError, build_manifest, parse_manifest, ready_batch
from mlops_lib.spec import PipelineSpec, Source, json_schema, load_spec
from mlops_lib.spec.source import DEFAULT_MAX_ROWS, DEFAULT_MAX_UNCOMPRESSED_BYTES
from mlops_lib.validation.bounds import ReadRules
from mlops_lib.validation.manifest_check import check_manifest
from mlops_lib.validation.reading import read_batch
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.unit


def _parquet(table: pa.Table, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    return buf.getvalue()


def _bomb(rows: int, columns: int = 2, group: int = 100_000) -> bytes:
    """`rows` rows of constants: run-length encoded, a few KB whatever `rows` is."""
    chunk = pa.table({f"c{i}": pa.array([7] * group, pa.int64()) for i in range(columns)})
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, chunk.schema) as writer:
        for _ in range(rows // group):
            writer.write_table(chunk)
    return buf.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding a data file fails the test: the bounds must refuse the batch first."""
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a data file was decoded")

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)


def _rejected(files: list[tuple[str, bytes]], fmt: str, rules: ReadRules) -> BatchRejected:
    with pytest.raises(BatchRejected) as info:
        read_batch(files, fmt, rules)
    return info.value


# -- rows and decoded bytes, before decoding ---------------------------------------------------
def test_a_parquet_bomb_is_refused_on_its_footer(no_decoding: None) -> None:
    body = _bomb(1_000_000)
    assert len(body) < 100_000  # a thousandfold and more: what max_file_bytes cannot see
    exc = _rejected([("b/p.parquet", body)], "parquet", ReadRules(max_rows=999_999))
    assert exc.code == ReasonCode.TOO_MANY_ROWS
    assert "1000000 rows" in exc.message and "source.max_rows 999999" in exc.message


def test_decoded_bytes_are_estimated_at_least_a_cell_each(no_decoding: None) -> None:
    # 1M rows x 4 int64 columns: a few KB uncompressed in the footer, 32 MB decoded
    body = _bomb(1_000_000, columns=4)
    exc = _rejected([("b/p.parquet", body)], "parquet",
                    ReadRules(max_uncompressed_bytes=32_000_000 - 1))
    assert exc.code == ReasonCode.DECOMPRESSED_TOO_LARGE
    assert "source.max_uncompressed_bytes 31999999" in exc.message


def test_a_file_within_the_limit_is_read() -> None:
    # 4 int64 columns of 100k rows: 8 bytes a cell and a validity bit
    body = _bomb(100_000, columns=4)
    assert len(read_batch([("b/p.parquet", body)], "parquet",
                          ReadRules(max_uncompressed_bytes=3_250_000))) == 100_000
    with pytest.raises(BatchRejected, match="3250000 bytes decoded up to 'b/p.parquet'"):
        read_batch([("b/p.parquet", body)], "parquet", ReadRules(max_uncompressed_bytes=3_249_999))


def test_the_limits_hold_for_the_batch_not_each_file(no_decoding: None) -> None:
    files = [(f"b/p{i}.parquet", _bomb(100_000)) for i in range(3)]
    assert _rejected(files, "parquet", ReadRules(max_rows=250_000)).code == (
        ReasonCode.TOO_MANY_ROWS)


def test_parquet_decoding_more_than_its_footer_says_stops_at_the_limit() -> None:
    # One 1 KiB text repeated, dictionary encoded, without the Arrow schema that would read it
    # back as a dictionary: ~400 KB uncompressed in the footer, 200 MB as plain strings.
    rows = 200_000
    text = pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()),
                                          pa.array(["x" * 1024]))
    body = _parquet(pa.table({"s": text}), store_schema=False)
    limit = 32 * 2**20
    before = pa.total_allocated_bytes()
    exc = _rejected([("b/p.parquet", body)], "parquet", ReadRules(max_uncompressed_bytes=limit))
    assert exc.code == ReasonCode.DECOMPRESSED_TOO_LARGE
    assert "reading stopped there" in exc.message
    assert pa.total_allocated_bytes() - before < 2**20  # what was read is freed
    # within a generous limit the same file reads as text
    frame = read_batch([("b/p.parquet", body)], "parquet", ReadRules(max_uncompressed_bytes=2**30))
    assert len(frame) == rows and frame["s"].iloc[-1] == "x" * 1024


def test_a_csv_is_counted_in_blocks_before_pandas_reads_it(no_decoding: None) -> None:
    body = b"a,b\n" + b"1,2\n" * 300_000  # several of pyarrow's 1 MiB blocks
    exc = _rejected([("b/p.csv", body)], "csv", ReadRules(max_rows=100_000))
    assert exc.code == ReasonCode.TOO_MANY_ROWS
    exc = _rejected([("b/p.csv", body)], "csv", ReadRules(max_uncompressed_bytes=len(body)))
    assert exc.code == ReasonCode.DECOMPRESSED_TOO_LARGE  # text + 8 bytes a cell


def test_a_batch_at_its_limits_is_read() -> None:
    body = b"a,b\n" + b"1,2\n" * 1000
    frame = read_batch([("b/p.csv", body)], "csv",
                       ReadRules(max_rows=1000, max_uncompressed_bytes=len(body) + 16_000))
    assert len(frame) == 1000


def test_a_manifest_batch_is_bounded_before_its_rows_are_counted(no_decoding: None) -> None:
    body = b"a,b\n" + b"1,2\n" * 5000
    manifest = build_manifest({"p.csv": body}, {"p.csv": 5000})
    with pytest.raises(BatchRejected) as info:
        check_manifest(manifest, "b/", [("b/p.csv", body)], "csv", ReadRules(max_rows=4999))
    assert info.value.code == ReasonCode.TOO_MANY_ROWS


def test_default_limits_come_from_the_spec() -> None:
    source = Source("b", "p/")
    assert ReadRules.of(source) == ReadRules() == ReadRules(
        DEFAULT_MAX_ROWS, DEFAULT_MAX_UNCOMPRESSED_BYTES, ("",))
    assert (DEFAULT_MAX_ROWS, DEFAULT_MAX_UNCOMPRESSED_BYTES) == (50_000_000, 4 * 2**30)
    shipped = load_spec(EXAMPLE_SPEC)
    assert ReadRules.of(shipped.source) == ReadRules()


def test_spec_limits_and_null_values_load(tmp_path: Any) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["source"].update(max_rows=1000, max_uncompressed_bytes=2048,
                         csv={"null_values": ["", "NA", "NULL"]})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert ReadRules.of(load_spec(path).source) == ReadRules(1000, 2048, ("", "NA", "NULL"))
    props = json_schema()["$defs"]["Source"]["properties"]
    assert {"max_rows", "max_uncompressed_bytes", "csv"} <= set(props)


@pytest.mark.parametrize("field,value", [("max_rows", 0), ("max_uncompressed_bytes", -1),
                                         ("max_rows", True), ("csv", {"null_values": [None]}),
                                         ("csv", {"nulls": ["NA"]})])
def test_bad_limits_are_spec_errors(tmp_path: Any, field: str, value: Any) -> None:
    from mlops_lib.spec import SpecError

    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["source"][field] = value
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(SpecError, match=f"source.{field}"):
        load_spec(path)


# -- duplicate columns ---------------------------------------------------------------------------
def test_parquet_with_a_column_named_twice_is_duplicate_columns() -> None:
    body = _parquet(pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array([5, 6])],
                             names=["a", "b", "a"]))
    with pytest.raises(BatchRejected) as info:
        read_batch([("b/p.parquet", body)], "parquet")
    assert info.value.code == ReasonCode.DUPLICATE_COLUMNS
    assert "'b/p.parquet' names columns more than once: ['a']" in str(info.value)


def test_csv_with_a_column_named_twice_is_duplicate_columns() -> None:
    # pandas would rename the second one `a.1`, a column nobody wrote
    with pytest.raises(BatchRejected) as info:
        read_batch([("b/p.csv", b"\xef\xbb\xbfa,b,a\n1,2,3\n")], "csv")  # after a BOM
    assert info.value.code == ReasonCode.DUPLICATE_COLUMNS
    with pytest.raises(BatchRejected) as info:
        read_batch([("b/p.csv", b"\n\nb,b\n1,2\n")], "csv")  # after blank lines
    assert info.value.code == ReasonCode.DUPLICATE_COLUMNS
    assert "['b']" in str(info.value)


# -- CSV text ------------------------------------------------------------------------------------
_CSV = "a,b\n1,x\n2,\u00e9t\u00e9\n"


@pytest.mark.parametrize(("body", "why"), [
    (_CSV.encode("utf-16"), "UTF-16 (or UTF-32) text by its byte-order mark"),
    (_CSV.encode("utf-16-le"), "a NUL byte at offset 1"),        # no mark: ASCII with NULs
    (_CSV.encode("latin-1"), "not UTF-8 at byte 10: invalid continuation byte"),
    (gzip.compress(_CSV.encode()), "gzip-compressed"),
    (_parquet(pa.table({"a": [1, 2], "b": ["x", "y"]})), "a NUL byte at offset"),  # lying name
    # a ragged record that is not UTF-8 either: pyarrow's row handler would choke on its text
    (b"a,b\n1,x\n" + "2,\u00e9t\u00e9,3\n".encode("latin-1"), "not UTF-8 at byte 10"),
], ids=["utf-16", "utf-16-le", "latin-1", "gzip", "parquet", "ragged-latin-1"])
def test_a_csv_that_is_not_utf8_text_is_unreadable_before_its_shape_is_judged(
        no_decoding: None, body: bytes, why: str) -> None:
    exc = _rejected([("b/p.csv", body)], "csv", ReadRules())
    assert exc.code == ReasonCode.UNREADABLE_FILE
    assert str(exc).startswith("[UNREADABLE_FILE] cannot read 'b/p.csv' as csv: ")
    assert why in str(exc)


def test_utf8_split_across_the_check_chunks_and_a_bom_are_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_lib.validation import bounds

    monkeypatch.setattr(bounds, "_TEXT_CHUNK", 7)  # "\u00e9" straddles a chunk boundary
    frame = read_batch([("b/p.csv", b"\xef\xbb\xbf" + _CSV.encode())], "csv")
    assert frame.columns.tolist() == ["a", "b"] and frame["b"].tolist() == ["x", "\u00e9t\u00e9"]


# -- CSV null cells ------------------------------------------------------------------------------
TOKENS = ["NA", "N/A", "null", "NULL", "None", "nan", "NaN", "#N/A", "n/a", "<NA>"]


def test_csv_tokens_are_values_unless_the_spec_says_null() -> None:
    body = ("label,country,x\n" + "".join(f"{t},{t},{i}\n" for i, t in enumerate(TOKENS))
            + "yes,,1.5\n").encode()
    frame = read_batch([("b/p.csv", body)], "csv")
    assert frame["label"].tolist() == [*TOKENS, "yes"]
    assert frame["country"].iloc[:-1].tolist() == TOKENS
    assert frame["country"].isna().tolist() == [False] * len(TOKENS) + [True]  # empty: null
    nulls = read_batch([("b/p.csv", body)], "csv", ReadRules(null_values=("NA", "")))
    assert nulls["label"].isna().sum() == 1 and nulls["country"].isna().sum() == 2
    nothing = read_batch([("b/p.csv", body)], "csv", ReadRules(null_values=()))
    assert nothing["country"].iloc[-1] == ""


def test_a_na_category_survives_validation() -> None:
    spec = load_spec(EXAMPLE_SPEC)
    category = next(f for f in spec.features if f.dtype == "category")
    assert category.categories is not None
    df = generate_batch(spec, 400, seed=5)
    listed = category.categories[0]
    text = to_file_bytes(df, "csv").decode().replace(f",{listed},", ",NA,")
    frame = read_batch([("b/p.csv", text.encode())], "csv")
    assert (frame[category.name] == "NA").any() and frame[category.name].notna().all()


# -- keys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u202e", "\u2066", "\u200b", "\u200d",
                                  "\ufeff", "\u00ad", "\ufffe", "\U000e0001"])
def test_format_and_separator_characters_make_a_key_unsafe(char: str) -> None:
    why = unsafe_key_reason(f"landing/p/b1/part{char}0.parquet")
    assert why is not None and f"U+{ord(char):04X}" in why


@pytest.mark.parametrize("key", ["landing/p/caf\u00e9/na\u00efve.parquet",
                                 "landing/p/\u65e5\u672c/\U0001f600.csv",
                                 "landing/p/b1/\ue000.parquet", "landing/p/b 1/a\u00a0b.csv"])
def test_visible_unicode_is_a_safe_key(key: str) -> None:
    assert unsafe_key_reason(key) is None


# -- manifest names ------------------------------------------------------------------------------
PREFIX = "landing/p/b1/"


def _batch(*names: str, size: int = 4) -> BatchRef:
    files = tuple(ObjectInfo(PREFIX + n, "e", size, "2026-01-01T00:00:00+00:00") for n in names)
    return BatchRef("b1", PREFIX, PREFIX + "_manifest.json", "2026-01-01T00:00:00+00:00", files)


def _manifest(*names: str) -> bytes:
    return json.dumps({"files": [{"name": n, "size": 4} for n in names]}).encode()


def test_a_dot_slash_name_is_the_file_it_names() -> None:
    assert parse_manifest(_manifest("./part-0.csv", "sub/./part-1.csv")).names == [
        "part-0.csv", "sub/part-1.csv"]
    landed = ready_batch(_manifest("./part-0.csv"), _batch("part-0.csv", "stray.csv"))
    assert landed is not None and [f.key for f in landed.files] == [PREFIX + "part-0.csv"]
    assert ready_batch(_manifest("./part-0.csv", "./part-1.csv"), _batch("part-0.csv")) is None


@pytest.mark.parametrize("name", ["../x.csv", "/x.csv", "a//b.csv", "dir/", ".hidden.csv",
                                  "sub/_tmp.csv", "sub/.x/y.csv", "./", "a\u2028b.csv",
                                  "a\u202eb.csv"])
def test_a_name_no_data_file_can_have_completes_the_batch(name: str) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(_manifest(name))
    assert info.value.code == "MANIFEST_INVALID"
    batch = _batch("part-0.csv")
    assert ready_batch(_manifest(name), batch) == batch  # not None: validation refuses it


def test_a_name_too_long_for_a_key_completes_the_batch() -> None:
    name = "x" * (1024 - len(PREFIX) + 1)  # safe alone, over S3's limit under the prefix
    assert parse_manifest(_manifest(name)).names == [name]
    batch = _batch("part-0.csv")
    assert ready_batch(_manifest(name), batch) == batch


def test_the_same_file_named_twice_is_invalid() -> None:
    with pytest.raises(ManifestError, match="more than once"):
        parse_manifest(_manifest("part-0.csv", "./part-0.csv"))


def _spec_csv(spec: PipelineSpec) -> PipelineSpec:
    from dataclasses import replace

    return replace(spec, source=replace(spec.source, format="csv"))


def test_an_example_csv_batch_reads_the_same_with_the_default_null_cells() -> None:
    spec = _spec_csv(load_spec(EXAMPLE_SPEC))
    df = generate_batch(spec, 500, seed=9)
    body = to_file_bytes(df, "csv")
    frame = read_batch([("b/p.csv", body)], "csv", ReadRules.of(spec.source))
    pd.testing.assert_frame_equal(frame, pd.read_csv(io.BytesIO(body)))
