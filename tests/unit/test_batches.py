from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mlops_lib.landing.batches import (
    BatchRef,
    Completion,
    ObjectInfo,
    completed_batches,
    new_batches,
)
from mlops_lib.validation.reading import read_batch
from mlops_lib.validation.reasons import BatchRejected, ReasonCode

pytestmark = pytest.mark.unit

PREFIX = "landing/credit_default/"
MARKER = "_SUCCESS"


def obj(key: str, *, etag: str = "e1", size: int = 10, at: str = "2024-01-01T00:00:00+00:00"
        ) -> ObjectInfo:
    return ObjectInfo(key=key, etag=etag, size=size, last_modified=at)


def listing() -> list[ObjectInfo]:
    return [
        obj(PREFIX + "b2/part-0.parquet", at="2024-01-02T00:00:00+00:00"),
        obj(PREFIX + "b2/_SUCCESS", size=0, at="2024-01-02T00:00:05+00:00"),
        obj(PREFIX + "b1/part-1.parquet", etag="x1", at="2024-01-01T00:00:01+00:00"),
        obj(PREFIX + "b1/part-0.parquet", etag="x0", at="2024-01-01T00:00:00+00:00"),
        obj(PREFIX + "b1/_SUCCESS", size=0, at="2024-01-01T00:00:05+00:00"),
        # half-written: data but no marker yet
        obj(PREFIX + "b3/part-0.parquet", at="2024-01-03T00:00:00+00:00"),
    ]


def test_only_folders_with_a_marker_are_batches() -> None:
    batches = completed_batches(listing(), PREFIX, MARKER)
    assert [b.batch_id for b in batches] == ["b1", "b2"]


def test_batch_fields() -> None:
    b1 = completed_batches(listing(), PREFIX, MARKER)[0]
    assert b1.prefix == PREFIX + "b1/"
    assert b1.marker_key == PREFIX + "b1/_SUCCESS"
    assert b1.completed_at == "2024-01-01T00:00:05.000000+00:00"  # normalised UTC
    assert [f.key for f in b1.files] == [PREFIX + "b1/part-0.parquet",
                                         PREFIX + "b1/part-1.parquet"]  # sorted by key


def test_marker_is_not_a_data_file() -> None:
    for batch in completed_batches(listing(), PREFIX, MARKER):
        assert all(not f.key.endswith(MARKER) for f in batch.files)
        assert batch.files


def test_half_written_batch_becomes_visible_once_its_marker_lands() -> None:
    objects = listing()
    assert "b3" not in [b.batch_id for b in completed_batches(objects, PREFIX, MARKER)]
    objects.append(obj(PREFIX + "b3/_SUCCESS", size=0, at="2024-01-03T00:00:09+00:00"))
    assert [b.batch_id for b in completed_batches(objects, PREFIX, MARKER)] == ["b1", "b2", "b3"]


def test_marker_name_comes_from_the_caller() -> None:
    objects = [obj(PREFIX + "b1/data.csv"), obj(PREFIX + "b1/_DONE", size=0)]
    assert completed_batches(objects, PREFIX, MARKER) == []
    (batch,) = completed_batches(objects, PREFIX, "_DONE")
    assert [f.key for f in batch.files] == [PREFIX + "b1/data.csv"]


def test_temp_and_hidden_files_are_not_data() -> None:
    objects = [
        obj(PREFIX + "b1/part-0.csv"),
        obj(PREFIX + "b1/_committed_123"),
        obj(PREFIX + "b1/.part-0.csv.crc"),
        obj(PREFIX + "b1/sub/.hidden"),
        obj(PREFIX + "b1/_temporary/0/part-9.csv"),
        obj(PREFIX + "b1/_SUCCESS", size=0),
    ]
    (batch,) = completed_batches(objects, PREFIX, MARKER)
    keys = [f.key for f in batch.files]
    assert keys == [PREFIX + "b1/part-0.csv"]
    assert PREFIX + "b1/_committed_123" not in keys
    assert PREFIX + "b1/.part-0.csv.crc" not in keys
    assert PREFIX + "b1/sub/.hidden" not in keys


def test_zero_byte_folder_placeholders_and_stray_keys_are_ignored() -> None:
    objects = [
        obj(PREFIX + "b1/", size=0),  # console-created "folder" object
        obj(PREFIX + "b1/part-0.csv"),
        obj(PREFIX + "b1/_SUCCESS", size=0),
        obj(PREFIX + "README.txt"),  # directly under the prefix: no batch folder
        obj(PREFIX + "_SUCCESS", size=0),  # a marker without a batch folder
        obj("landing/other_pipeline/b9/_SUCCESS", size=0),  # another prefix
        obj("landing/credit_default_v2/b8/_SUCCESS", size=0),  # shares the string prefix only
    ]
    (batch,) = completed_batches(objects, PREFIX, MARKER)
    assert batch.batch_id == "b1"
    assert [f.key for f in batch.files] == [PREFIX + "b1/part-0.csv"]


def test_zero_byte_data_files_are_listed_but_skipped_when_read() -> None:
    # The listing keeps every data key (its ETag is part of the fingerprint); reading the batch
    # skips empty parts, which carry neither rows nor a schema.
    objects = [obj(PREFIX + "b1/part-0.csv", size=0), obj(PREFIX + "b1/part-1.csv", size=20),
               obj(PREFIX + "b1/_SUCCESS", size=0)]
    (batch,) = completed_batches(objects, PREFIX, MARKER)
    assert len(batch.files) == 2
    frame = read_batch([(PREFIX + "b1/part-0.csv", b""), (PREFIX + "b1/part-1.csv", b"a,b\n1,2\n")],
                       "csv")
    assert frame.to_dict("list") == {"a": [1], "b": [2]}
    with pytest.raises(BatchRejected) as info:
        read_batch([(PREFIX + "b1/part-0.csv", b"")], "csv")
    assert info.value.code == ReasonCode.EMPTY_BATCH


def test_marker_only_batch_has_no_files() -> None:
    (batch,) = completed_batches([obj(PREFIX + "b1/_SUCCESS", size=0)], PREFIX, MARKER)
    assert batch.files == ()


def test_prefix_with_or_without_trailing_slash() -> None:
    with_slash = completed_batches(listing(), PREFIX, MARKER)
    without = completed_batches(listing(), PREFIX.rstrip("/"), MARKER)
    assert with_slash == without


def test_batches_sorted_by_marker_time_then_id() -> None:
    objects = [
        obj(PREFIX + "z/_SUCCESS", at="2024-01-01T00:00:00+00:00"),
        obj(PREFIX + "a/_SUCCESS", at="2024-01-03T00:00:00+00:00"),
        obj(PREFIX + "m/_SUCCESS", at="2024-01-01T00:00:00+00:00"),
    ]
    assert [b.batch_id for b in completed_batches(objects, PREFIX, MARKER)] == ["m", "z", "a"]


# --- fingerprint -------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_order_independent() -> None:
    (b1, _) = completed_batches(listing(), PREFIX, MARKER)
    again = completed_batches(list(reversed(listing())), PREFIX, MARKER)[0]
    shuffled = replace(b1, files=tuple(reversed(b1.files)))
    assert b1.fingerprint == again.fingerprint == shuffled.fingerprint
    assert len(b1.fingerprint) == 64
    int(b1.fingerprint, 16)


def test_fingerprint_changes_with_an_etag_or_a_key() -> None:
    (b1, _) = completed_batches(listing(), PREFIX, MARKER)
    changed_etag = replace(b1, files=(replace(b1.files[0], etag="other"), *b1.files[1:]))
    changed_key = replace(b1, files=(replace(b1.files[0], key=b1.files[0].key + "x"),
                                     *b1.files[1:]))
    fewer = replace(b1, files=b1.files[:1])
    prints = {b1.fingerprint, changed_etag.fingerprint, changed_key.fingerprint,
              fewer.fingerprint}
    assert len(prints) == 4


def test_fingerprint_ignores_etag_quotes_and_metadata() -> None:
    # S3 returns ETags in quotes from some APIs and without from others.
    (b1, _) = completed_batches(listing(), PREFIX, MARKER)
    quoted = replace(b1, files=tuple(replace(f, etag=f'"{f.etag}"') for f in b1.files))
    touched = replace(b1, completed_at="2030-01-01T00:00:00+00:00",
                      files=tuple(replace(f, last_modified="2030-01-01") for f in b1.files))
    assert quoted.fingerprint == b1.fingerprint == touched.fingerprint


# --- serialisation -----------------------------------------------------------------------------


def test_batch_ref_round_trips_through_json() -> None:
    for batch in completed_batches(listing(), PREFIX, MARKER):
        raw = json.loads(json.dumps(batch.to_dict()))
        assert raw["fingerprint"] == batch.fingerprint
        assert raw["files"][0]["key"] == batch.files[0].key
        back = BatchRef.from_dict(raw)
        assert back == batch
        assert back.fingerprint == batch.fingerprint


def test_from_dict_ignores_a_stale_fingerprint_field() -> None:
    (b1, _) = completed_batches(listing(), PREFIX, MARKER)
    raw = {**b1.to_dict(), "fingerprint": "forged"}
    assert BatchRef.from_dict(raw).fingerprint == b1.fingerprint


# --- new_batches -------------------------------------------------------------------------------


def test_new_batches_are_the_unseen_contents_oldest_first() -> None:
    b1, b2 = completed_batches(listing(), PREFIX, MARKER)
    assert [b.batch_id for b in new_batches([b1, b2], [])] == ["b1", "b2"]
    assert new_batches([b1, b2], [("b1", b1.fingerprint)]) == [b2]
    assert new_batches([b1, b2], iter([("b2", b2.fingerprint)])) == [b1]
    assert new_batches([b1, b2], {("b1", b1.fingerprint), ("b2", b2.fingerprint)}) == []
    assert new_batches([], []) == []


def test_a_batch_id_seen_with_other_content_is_new_again() -> None:
    """A changed re-upload must reach the ingest run (which refuses it), not vanish."""
    b1, _ = completed_batches(listing(), PREFIX, MARKER)
    assert new_batches([b1], [("b1", "f" * 64)]) == [b1]


def test_only_a_marker_at_the_batch_root_completes_it() -> None:
    objects = [obj(PREFIX + "b1/part-0.csv"), obj(PREFIX + "b1/sub/_SUCCESS", size=0),
               obj(PREFIX + "b2/part-0.csv"), obj(PREFIX + "b2/x_SUCCESS")]
    assert completed_batches(objects, PREFIX, MARKER) == []


# --- completion rules ------------------------------------------------------------------------
QUIET = Completion(mode="quiet", quiet_period_s=60)


def test_quiet_batch_completes_only_after_the_quiet_period() -> None:
    objects = [obj(PREFIX + "b1/part-0.csv", at="2024-01-01T00:00:00+00:00"),
               obj(PREFIX + "b1/part-1.csv", at="2024-01-01T00:00:30+00:00")]
    early = datetime(2024, 1, 1, 0, 1, 29, tzinfo=UTC)  # 59 s after the newest object
    late = datetime(2024, 1, 1, 0, 1, 30, tzinfo=UTC)
    assert completed_batches(objects, PREFIX, QUIET, now=early) == []
    (batch,) = completed_batches(objects, PREFIX, QUIET, now=late)
    assert batch.marker_key == ""
    assert batch.completed_at == "2024-01-01T00:00:30.000000+00:00"
    assert [f.key for f in batch.files] == [PREFIX + "b1/part-0.csv", PREFIX + "b1/part-1.csv"]


def test_quiet_batch_of_zero_byte_objects_never_completes() -> None:
    objects = [obj(PREFIX + "b1/part-0.csv", size=0), obj(PREFIX + "b1/_SUCCESS", size=0)]
    assert completed_batches(objects, PREFIX, QUIET, now=datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_quiet_mode_ignores_markers_but_counts_them_as_activity() -> None:
    objects = [obj(PREFIX + "b1/part-0.csv", at="2024-01-01T00:00:00+00:00"),
               obj(PREFIX + "b1/_SUCCESS", size=0, at="2024-01-01T00:00:50+00:00")]
    now = datetime(2024, 1, 1, 0, 1, 30, tzinfo=UTC)  # 100 s after the data, 40 s after _SUCCESS
    assert completed_batches(objects, PREFIX, QUIET, now=now) == []


def test_completion_of_accepts_a_marker_name_a_dict_or_a_rule() -> None:
    assert Completion.of("_DONE") == Completion(mode="marker", marker="_DONE")
    rule = Completion(mode="manifest", marker="_manifest.json")
    assert Completion.of(rule.to_dict()) == rule
    assert Completion.of(rule) is rule


def test_completion_times_in_mixed_notations_sort_as_times() -> None:
    objects = [obj(PREFIX + "a/p", at="2024-01-01T10:00:00Z"),
               obj(PREFIX + "a/_SUCCESS", at="2024-01-01T10:00:02Z"),
               obj(PREFIX + "b/p", at="2024-01-01T09:00:00+00:00"),
               obj(PREFIX + "b/_SUCCESS", at="2024-01-01T11:00:01.5+02:00")]  # 09:00:01.5 UTC
    assert [b.batch_id for b in completed_batches(objects, PREFIX, MARKER)] == ["b", "a"]



def test_a_batch_with_a_multipart_upload_in_progress_is_not_complete() -> None:
    """In-progress uploads are not listed as objects; the caller passes their keys."""
    b1, b2 = completed_batches(listing(), PREFIX, MARKER)
    busy = completed_batches(listing(), PREFIX, MARKER,
                             uploading=[PREFIX + "b1/part-9.parquet", "elsewhere/b2/x"])
    assert busy == [b2]
    quiet = Completion(mode="quiet", quiet_period_s=1)
    late = datetime(2030, 1, 1, tzinfo=UTC)
    assert [b.batch_id for b in completed_batches(listing(), PREFIX, quiet, now=late)] == [
        "b1", "b2", "b3"]
    assert [b.batch_id for b in completed_batches(
        listing(), PREFIX, quiet, now=late, uploading=[PREFIX + "b2/big.parquet"])] == [
        "b1", "b3"]


@pytest.mark.parametrize("name", ["p.parquet", "p\x00\t.parquet", "%esc:odd", "é\x00/x"])
def test_batch_dicts_carry_any_key_through_json_without_a_nul(name: str) -> None:
    prefix = f"landing/p/b{name}/"
    batch = BatchRef(f"b{name}", prefix, prefix + "_SUCCESS", "2026-01-01T00:00:00",
                     (ObjectInfo(prefix + name, "e1", 3, "2026-01-01T00:00:00"),))
    text = json.dumps(batch.to_dict())
    assert "\\u0000" not in text  # PostgreSQL's json columns (trigger events, XCom) refuse it
    assert BatchRef.from_dict(json.loads(text)) == batch
    assert batch.to_dict()["fingerprint"] == batch.fingerprint
