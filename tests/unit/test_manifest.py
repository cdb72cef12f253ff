from __future__ import annotations

import hashlib
import json

import pytest

from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.landing.manifest import (
    MANIFEST_INVALID,
    MANIFEST_MISMATCH,
    ManifestError,
    build_manifest,
    landed,
    parse_manifest,
    ready_batch,
    restrict,
    verify_contents,
)

pytestmark = pytest.mark.unit

PREFIX = "landing/x/b1/"
FILES = {"part-0.csv": b"a,b\n1,2\n", "part-1.csv": b"a,b\n3,4\n5,6\n"}
ROWS = {"part-0.csv": 1, "part-1.csv": 2}


def batch(sizes: dict[str, int]) -> BatchRef:
    files = tuple(ObjectInfo(PREFIX + name, f"e-{name}", size, "2026-01-01T00:00:00+00:00")
                  for name, size in sorted(sizes.items()))
    return BatchRef("b1", PREFIX, PREFIX + "_manifest.json", "2026-01-01T00:00:01+00:00", files)


def test_build_then_parse_round_trips() -> None:
    manifest = parse_manifest(build_manifest(FILES, ROWS))
    assert manifest.names == ["part-0.csv", "part-1.csv"]
    entry = manifest.entries[1]
    assert (entry.size, entry.rows) == (len(FILES["part-1.csv"]), 2)
    assert entry.sha256 == hashlib.sha256(FILES["part-1.csv"]).hexdigest()


@pytest.mark.parametrize("raw", [
    b"\xff\xfe", b"[1, 2]", b'{"files": []}', b'{"files": [{"size": 3}]}',
    b'{"files": [{"name": "../etc/passwd"}]}', b'{"files": [{"name": "/abs.csv"}]}',
    b'{"files": [{"name": "_SUCCESS"}]}', b'{"files": [{"name": "a", "rows": -1}]}',
    b'{"files": [{"name": "a", "size": true}]}', b'{"files": [{"name": "a", "sha256": "ab"}]}',
    b'{"files": [{"name": "a"}, {"name": "a"}]}',
], ids=["not-utf8", "not-object", "empty", "no-name", "dotdot", "absolute", "reserved",
        "negative-rows", "bool-size", "short-sha", "duplicate"])
def test_bad_manifests_are_invalid(raw: bytes) -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw)
    assert info.value.code == MANIFEST_INVALID


def test_landed_needs_every_listed_file_at_its_size() -> None:
    manifest = parse_manifest(build_manifest(FILES, ROWS))
    full = {n: len(b) for n, b in FILES.items()}
    assert landed(manifest, batch(full))
    assert not landed(manifest, batch({"part-0.csv": full["part-0.csv"]}))
    assert not landed(manifest, batch({**full, "part-1.csv": 3}))  # still uploading


def test_restrict_keeps_only_listed_files() -> None:
    manifest = parse_manifest(build_manifest({"part-0.csv": FILES["part-0.csv"]}, ROWS))
    restricted = restrict(manifest, batch({n: len(b) for n, b in FILES.items()}))
    assert [f.key for f in restricted.files] == [PREFIX + "part-0.csv"]


def test_ready_batch_waits_then_fires_and_fires_on_garbage() -> None:
    raw = build_manifest(FILES, ROWS)
    assert ready_batch(raw, batch({"part-0.csv": 8})) is None
    full = batch({n: len(b) for n, b in FILES.items()})
    assert ready_batch(raw, full) == full
    assert ready_batch(b"garbage", full) == full


def test_verify_contents_names_each_problem() -> None:
    manifest = parse_manifest(build_manifest(FILES, ROWS))
    files = [(PREFIX + "part-0.csv", b"a,b\n9,9\n"), (PREFIX + "part-1.csv", FILES["part-1.csv"])]
    with pytest.raises(ManifestError) as info:
        verify_contents(manifest, PREFIX, files, {"part-0.csv": 1, "part-1.csv": 3})
    assert info.value.code == MANIFEST_MISMATCH
    message = str(info.value)
    assert "part-0.csv: sha256 differs" in message and "part-1.csv: 3 rows" in message


def test_verify_contents_passes_on_the_real_bytes() -> None:
    manifest = parse_manifest(build_manifest(FILES, ROWS))
    verify_contents(manifest, PREFIX, [(PREFIX + n, b) for n, b in FILES.items()], ROWS)
    doc = json.loads(build_manifest(FILES, ROWS))
    assert {e["name"] for e in doc["files"]} == set(FILES)
