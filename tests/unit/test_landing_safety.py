"""Landed data that must never be read or written where it points: unsafe object keys, files
above the spec's size limit, ragged CSV; and the names derived from batch and run ids."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_lib.landing.batches import BatchRef, ObjectInfo, completed_batches
from mlops_lib.landing.keys import hashed_name, safe_name, safe_segment, unsafe_key_reason
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import DEFAULT_MAX_FILE_BYTES, PipelineSpec, SpecError, load_spec
from mlops_lib.steps import ingest as steps
from mlops_lib.stores import s3io
from mlops_lib.stores.versioning import _safe_ref
from mlops_lib.validation.csv_shape import check_csv_shape
from mlops_lib.validation.reading import read_batch
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.support import EXAMPLE_SPEC, migrated

pytestmark = pytest.mark.unit

PREFIX = "landing/credit_default/"
AT = "2024-01-01T00:00:00+00:00"


def obj(key: str, size: int = 10) -> ObjectInfo:
    return ObjectInfo(key=key, etag="e1", size=size, last_modified=AT)


# --- unsafe_key_reason -------------------------------------------------------------------------


@pytest.mark.parametrize("key", [
    PREFIX + "b1/../p.parquet",
    PREFIX + "../b1/p.parquet",
    PREFIX + "b1/..",
    PREFIX + "b1/./p.parquet",
    "/" + PREFIX + "b1/p.parquet",
    PREFIX + "b1//p.parquet",
    PREFIX + "b1/p\n.parquet",
    PREFIX + "b1/p\x00.parquet",
    PREFIX + "b1/p\t.parquet",
    PREFIX + "b1/p\r.parquet",
    PREFIX + "b1/p\x7f.parquet",
    PREFIX + "b1/p\x85.parquet",  # C1 NEXT LINE
    PREFIX + "b1/" + "x" * (1025 - len(PREFIX + "b1/")),  # 1025 bytes
    PREFIX + "b1/" + "é" * 600,  # 600 characters, 1200 bytes of UTF-8
    PREFIX + "b1/\udcff.parquet",  # a lone surrogate: no UTF-8 at all
    "",
], ids=repr)
def test_unsafe_keys(key: str) -> None:
    assert unsafe_key_reason(key) is not None


@pytest.mark.parametrize("key", [
    PREFIX + "b1/part-0000.parquet",
    PREFIX + "2026-01-15/données été/Übersicht 東京 ✓.csv",  # unicode, spaces
    PREFIX + "b1/a..b.parquet",  # `..` inside a name is no path segment
    PREFIX + "b1/.hidden",
    PREFIX + "b1/sub/",  # a console's folder object
    PREFIX + "b1/" + "x" * (1024 - len(PREFIX + "b1/")),  # exactly 1024 bytes
], ids=repr)
def test_safe_keys(key: str) -> None:
    assert unsafe_key_reason(key) is None


def test_safe_names_never_leave_their_folder() -> None:
    assert safe_name("part-0.parquet", fallback="file-0") == "part-0.parquet"
    assert safe_name("sub/part-0.parquet", fallback="file-0") == "sub/part-0.parquet"
    for name in ("../../x", "/etc/passwd", "a//b", "a\nb", "", "sub/", "x" * 2000):
        derived = safe_name(name, fallback="file-3")
        assert derived == hashed_name(name, "file-3")
        assert derived.startswith("file-3-") and len(derived) == len("file-3-") + 12
    assert safe_segment("b1", fallback="batch") == "b1"
    for batch_id in ("..", ".", "", "a/b", "x" * 300, "b\x00"):
        assert safe_segment(batch_id, fallback="batch").startswith("batch-")
    assert hashed_name("..", "batch") != hashed_name("...", "batch")


# --- completed_batches keeps unsafe keys, so the batch fails loudly ----------------------------


def test_a_dotdot_batch_folder_is_a_batch_not_a_crash() -> None:
    objects = [obj(PREFIX + "../x.parquet"), obj(PREFIX + "../_SUCCESS", 0),
               obj(PREFIX + "b1/p.parquet"), obj(PREFIX + "b1/_SUCCESS", 0)]
    batches = {b.batch_id: b for b in completed_batches(objects, PREFIX, "_SUCCESS")}
    assert set(batches) == {"..", "b1"}
    assert [f.key for f in batches[".."].files] == [PREFIX + "../x.parquet"]


def test_unsafe_names_count_as_data_files() -> None:
    """`..`-segments start with `.` and would be skipped as hidden; unsafe keys never are."""
    keys = [PREFIX + "b1/../../escape.parquet", PREFIX + "b1/sub//p.parquet",
            PREFIX + "b1/_tmp\n", PREFIX + "b1/p.parquet"]
    objects = [obj(k) for k in keys] + [obj(PREFIX + "b1/_SUCCESS", 0),
                                        obj(PREFIX + "b1/.hidden"), obj(PREFIX + "b1/_temporary/x")]
    (batch,) = completed_batches(objects, PREFIX, "_SUCCESS")
    assert sorted(f.key for f in batch.files) == sorted(keys)


def test_an_empty_batch_folder_name_is_kept() -> None:
    objects = [obj(PREFIX + "/p.parquet"), obj(PREFIX + "/_SUCCESS", 0)]
    (batch,) = completed_batches(objects, PREFIX, "_SUCCESS")
    assert batch.batch_id == ""
    assert batch.marker_key == PREFIX + "/_SUCCESS"


# --- ingest.validate refuses on the listing, before any download --------------------------------


class ListingOnlyS3:
    """Copies and puts, as quarantine does; a download is a test failure."""

    def __init__(self) -> None:
        self.copies: list[tuple[str, str]] = []
        self.puts: dict[str, bytes] = {}

    def get_object(self, **kwargs: Any) -> Any:
        raise AssertionError(f"downloaded {kwargs.get('Key')!r}")

    def copy_object(self, *, Bucket: str, Key: str, CopySource: dict[str, str]) -> None:  # noqa: N803
        self.copies.append((CopySource["Key"], Key))

    def copy(self, source: dict[str, str], bucket: str, key: str) -> None:
        self.copies.append((source["Key"], key))

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, **_: Any) -> None:  # noqa: N803
        self.puts[Key] = Body


@pytest.fixture
def svc(tmp_path: Path) -> Services:
    services = Services(Settings.from_env({"CT_HOME": str(tmp_path)}))
    migrated(services.settings.store_url)
    services.__dict__["s3"] = ListingOnlyS3()  # a cached_property: set it on the instance
    return services


def _run(svc: Services, spec: PipelineSpec, batch: BatchRef) -> BatchRejected:
    steps.register_batch(svc, spec, batch, "ingest-1")
    with pytest.raises(BatchRejected) as info:
        steps.validate(svc, spec, batch, "ingest-1")
    return info.value


@pytest.mark.parametrize("batch_id, name", [
    ("b1", "../../../etc/passwd"),
    ("b1", "p\n.parquet"),
    ("..", "p.parquet"),
    ("b1", "x" * 1100),
], ids=["dotdot-name", "newline", "dotdot-batch", "1100-bytes"])
def test_unsafe_keys_are_rejected_before_download(svc: Services, spec: PipelineSpec,
                                                  batch_id: str, name: str) -> None:
    prefix = f"{PREFIX}{batch_id}/"
    batch = BatchRef(batch_id, prefix, prefix + "_SUCCESS", AT, (obj(prefix + name),))
    exc = _run(svc, spec, batch)
    assert exc.code == ReasonCode.UNSAFE_KEY
    record = svc.store.get_quarantine(spec.name, batch_id)
    assert record is not None and record["reason_code"] == "UNSAFE_KEY"
    client: ListingOnlyS3 = svc.s3
    dest = s3io.quarantine_prefix(spec.name, batch_id)
    assert dest.startswith(f"quarantine/{spec.name}/") and dest.count("/") == 3
    assert all(unsafe_key_reason(k) is None for _, k in client.copies)
    written = [k for _, k in client.copies] + list(client.puts)
    assert all(k.startswith(dest) for k in written)
    reason = json.loads(client.puts[dest + "_REASON.json"])
    assert reason["reason_code"] == "UNSAFE_KEY"
    assert reason["batch_id"] == batch_id
    assert [o["key"] for o in reason["objects"]] == [prefix + name]
    assert reason["objects"][0]["quarantined_as"] == client.copies[0][1]
    assert svc.store.get_batch(spec.name, batch_id).status == "rejected"


def test_a_file_above_the_limit_is_rejected_before_download(svc: Services,
                                                            spec: PipelineSpec) -> None:
    prefix = PREFIX + "big/"
    limit = spec.source.max_file_bytes
    batch = BatchRef("big", prefix, prefix + "_SUCCESS", AT,
                     (obj(prefix + "p-0.parquet", limit), obj(prefix + "p-1.parquet", limit + 1)))
    exc = _run(svc, spec, batch)
    assert exc.code == ReasonCode.FILE_TOO_LARGE
    assert "p-1.parquet" in str(exc) and str(limit + 1) in str(exc) and str(limit) in str(exc)
    (check,) = [c for c in exc.report.failures]  # type: ignore[union-attr]
    assert (check.value, check.threshold) == (limit + 1, limit)
    record = svc.store.get_quarantine(spec.name, "big")
    assert record["reason_code"] == "FILE_TOO_LARGE"
    assert json.loads(record["report_json"])["checks"][1]["value"] == limit + 1
    assert sorted(k for _, k in svc.s3.copies) == [  # copied server-side, not downloaded
        f"quarantine/{spec.name}/big/p-0.parquet", f"quarantine/{spec.name}/big/p-1.parquet"]


def test_max_file_bytes_in_the_spec(tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    assert load_spec(EXAMPLE_SPEC).source.max_file_bytes == DEFAULT_MAX_FILE_BYTES == 2 * 1024**3
    raw["source"].pop("max_file_bytes", None)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(path).source.max_file_bytes == DEFAULT_MAX_FILE_BYTES
    raw["source"]["max_file_bytes"] = 1000
    path.write_text(yaml.safe_dump(raw))
    assert load_spec(path).source.max_file_bytes == 1000
    for bad in (0, -1, 1.5, "2GiB", True):
        raw["source"]["max_file_bytes"] = bad
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(SpecError, match="max_file_bytes"):
            load_spec(path)


# --- ragged CSV --------------------------------------------------------------------------------


def _ragged(body: bytes) -> BatchRejected:
    with pytest.raises(BatchRejected) as info:
        read_batch([("landing/b1/p.csv", body)], "csv")
    assert info.value.code == ReasonCode.RAGGED_CSV
    return info.value


def test_a_row_with_too_few_fields_is_ragged() -> None:
    exc = _ragged(b"a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n")
    assert "'landing/b1/p.csv' line 4: 2 fields where the header has 3" in str(exc)


def test_a_row_with_too_many_fields_is_ragged() -> None:
    exc = _ragged(b"a,b,c\n1,2,3\n4,5,6,7\n")
    assert "line 3: 4 fields" in str(exc)
    # pandas would read a long first row as an index, silently
    assert "line 2: 4 fields" in str(_ragged(b"a,b,c\n1,2,3,4\n5,6,7\n"))


def test_the_line_counts_quoted_newlines_and_blank_lines() -> None:
    body = b'a,b,c\r\n1,"two\r\nlines",3\r\n\r\n4,5,6\r\n7,8\r\n'
    assert "line 6: 2 fields" in str(_ragged(body))


def test_quoted_delimiters_and_newlines_are_not_ragged() -> None:
    body = (b'a,b,c\n1,"x,y",3\n2,"multi\nline, with comma",4\n\n   \n'
            b'5,"say ""hi""",6\n7,,\n')
    check_csv_shape("p.csv", body)  # no exception
    frame = read_batch([("p.csv", body)], "csv")
    assert len(frame) == 4
    assert frame.loc[1, "b"] == "multi\nline, with comma"


def test_other_csv_errors_stay_unreadable() -> None:
    with pytest.raises(BatchRejected) as info:
        read_batch([("p.csv", b"a,b\n\xff\xfe,1\n")], "csv")
    assert info.value.code == ReasonCode.UNREADABLE_FILE


def test_a_ragged_csv_in_a_manifest_batch_is_ragged_not_a_row_mismatch() -> None:
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.validation.manifest_check import check_manifest

    body = b"a,b\n1,2\n3\n4,5\n"
    manifest = build_manifest({"p.csv": body}, {"p.csv": 3})
    with pytest.raises(BatchRejected) as info:
        check_manifest(manifest, "b/", [("b/p.csv", body)], "csv")
    assert info.value.code == ReasonCode.RAGGED_CSV
    truncated = build_manifest({"p.csv": body + b"6,7\n"}, {"p.csv": 4})
    with pytest.raises(BatchRejected) as info:  # wrong bytes are still a mismatch, first
        check_manifest(truncated, "b/", [("b/p.csv", body)], "csv")
    assert info.value.code == ReasonCode.MANIFEST_MISMATCH


# --- local paths and git refs derived from ids -------------------------------------------------


@pytest.mark.parametrize("run_id", ["..", ".", "", "../../etc", "a/../../b", "x" * 300,
                                    "manual__2026-01-01T00:00:00+00:00"])
def test_scratch_dirs_stay_under_runs(tmp_path: Path, run_id: str) -> None:
    svc = Services(Settings.from_env({"CT_HOME": str(tmp_path)}))
    path = svc.scratch_dir("credit_default", run_id)
    assert path.resolve().parent == (tmp_path / "runs" / "credit_default").resolve()
    assert path.is_dir()


def test_scratch_dir_refuses_a_pipeline_outside(tmp_path: Path) -> None:
    svc = Services(Settings.from_env({"CT_HOME": str(tmp_path)}))
    with pytest.raises(ValueError, match="outside"):
        svc.scratch_dir("../..", "run")


@pytest.mark.parametrize("batch_id", ["b1", "..", ".", "", "a..b", "a/../b", "x.lock", ".hidden",
                                      "b@{1}", "b\n", "2026-01-15T00:00:00", "données"])
def test_git_tags_of_batch_ids_are_valid_single_components(batch_id: str) -> None:
    ref = _safe_ref(batch_id)
    assert ref and "/" not in ref and ".." not in ref
    proc = subprocess.run(["git", "check-ref-format", f"refs/tags/ct/credit_default/{ref}"],
                          capture_output=True, check=False)
    assert proc.returncode == 0, ref
    assert _safe_ref("b1") == "b1"
