"""A batch manifest: the producer's own statement of what a batch holds, written last.

    {"files": [{"name": "part-0000.parquet", "size": 48211, "sha256": "9f2c...", "rows": 5000}]}

Names are relative to the batch folder. `size` lets the trigger see, from a listing alone, that
every listed file has fully landed; `sha256` and `rows` are checked when the batch is read.
Pure and pandas-free: the triggerer uses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mlops_lib.landing.batches import BatchRef
from mlops_lib.landing.keys import unsafe_key_reason

MANIFEST_INVALID = "MANIFEST_INVALID"
MANIFEST_MISMATCH = "MANIFEST_MISMATCH"


class ManifestError(ValueError):
    """The manifest is unreadable (MANIFEST_INVALID) or contradicts the data (MISMATCH)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    size: int | None = None
    sha256: str | None = None
    rows: int | None = None


@dataclass(frozen=True)
class Manifest:
    entries: tuple[ManifestEntry, ...]
    # The producer's statement of when the batch's data happened, optional:
    # "event_time": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T23:59:59Z"}, as UTC
    # text the store compares (milliseconds).
    event_span: tuple[str, str] | None = None

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.entries]


def parse_manifest(raw: bytes) -> Manifest:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(MANIFEST_INVALID, f"manifest is not UTF-8 JSON: {exc}") from exc
    files = doc.get("files") if isinstance(doc, dict) else None
    if not isinstance(files, list) or not files:
        raise ManifestError(MANIFEST_INVALID, "manifest needs a non-empty `files` list")
    entries = [_entry(item, i) for i, item in enumerate(files)]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ManifestError(MANIFEST_INVALID, "manifest lists a file more than once")
    return Manifest(tuple(entries), _event_span(doc.get("event_time")))


def _event_span(raw: Any) -> tuple[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"start", "end"}:
        raise ManifestError(MANIFEST_INVALID, "event_time must be {\"start\": ISO-8601, "
                                              "\"end\": ISO-8601}")
    start, end = (_utc_text(raw[k], k) for k in ("start", "end"))
    if end < start:
        raise ManifestError(MANIFEST_INVALID, f"event_time: end {end} is before start {start}")
    return start, end


def _utc_text(value: Any, key: str) -> str:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ManifestError(MANIFEST_INVALID, f"event_time.{key} is not an ISO-8601 time: "
                                              f"{value!r}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds")


def _entry(item: Any, index: int) -> ManifestEntry:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise ManifestError(MANIFEST_INVALID, f"files[{index}] needs a string `name`")
    name = _listed_name(item["name"], index)
    for field in ("size", "rows"):
        value = item.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 0):
            raise ManifestError(MANIFEST_INVALID, f"files[{index}].{field} must be an integer ≥ 0")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or len(sha) != 64):
        raise ManifestError(MANIFEST_INVALID, f"files[{index}].sha256 must be 64 hex digits")
    return ManifestEntry(name=name, size=item.get("size"), sha256=sha and sha.lower(),
                         rows=item.get("rows"))


def _listed_name(name: str, index: int) -> str:
    """`name` as the batch's listing shows it, or MANIFEST_INVALID if no data file has it.

    `./part-0.csv` and `a/./b` are read as `part-0.csv` and `a/b` (a `.` segment names the same
    folder). Not `posixpath.normpath`: it would read `a//b` as `a/b` and `a/../b` as `b`, and
    the listing never shows those names for those keys. A name no data file of the batch can
    have is refused rather than waited for: absolute, `..`, an empty segment, a trailing `/`,
    a segment starting with `_` or `.` (markers and hidden files are not data), or characters
    no key may hold (`landing.keys.unsafe_key_reason`)."""
    parts = [part for part in name.split("/") if part != "."]
    listed = "/".join(parts)
    if not listed or name.startswith("/") or ".." in parts:
        why: str | None = "absolute, empty or `..`"
    elif name.endswith("/"):
        why = "a folder, not a file"
    elif any(part.startswith(("_", ".")) for part in parts if part):
        why = "a segment starting with _ or . is a marker or hidden file, never data"
    else:
        why = unsafe_key_reason(listed)
    if why is not None:
        raise ManifestError(MANIFEST_INVALID, f"files[{index}]: unsafe or reserved name "
                                              f"{name!r}: {why}")
    return listed


def landed(manifest: Manifest, batch: BatchRef) -> bool:
    """Every listed file is in the listing, at its stated size: the batch has fully landed."""
    listed = {f.key[len(batch.prefix):]: f for f in batch.files}
    return all(e.name in listed and (e.size is None or listed[e.name].size == e.size)
               for e in manifest.entries)


def restrict(manifest: Manifest, batch: BatchRef) -> BatchRef:
    """The batch as the manifest defines it: exactly the listed files (others are not part)."""
    wanted = set(manifest.names)
    return replace(batch, files=tuple(f for f in batch.files
                                      if f.key[len(batch.prefix):] in wanted))


def verify_contents(manifest: Manifest, prefix: str, files: Sequence[tuple[str, bytes]],
                    rows: Mapping[str, int] | None = None) -> None:
    """Check the downloaded bytes (and row counts, when given) against the manifest."""
    by_name = {key[len(prefix):]: body for key, body in files}
    problems = []
    for e in manifest.entries:
        body = by_name.get(e.name)
        if body is None:
            problems.append(f"{e.name}: listed but not in the batch")
            continue
        if e.size is not None and len(body) != e.size:
            problems.append(f"{e.name}: {len(body)} bytes, manifest says {e.size}")
        if e.sha256 is not None and hashlib.sha256(body).hexdigest() != e.sha256:
            problems.append(f"{e.name}: sha256 differs from the manifest")
        if e.rows is not None and rows is not None and rows.get(e.name) != e.rows:
            problems.append(f"{e.name}: {rows.get(e.name)} rows, manifest says {e.rows}")
    if problems:
        raise ManifestError(MANIFEST_MISMATCH, "; ".join(problems))


def build_manifest(files: Mapping[str, bytes], rows: Mapping[str, int]) -> bytes:
    """What a producer writes (used by `mlops drop` and the tests)."""
    return json.dumps({"files": [
        {"name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
         "rows": rows[name]} for name, body in sorted(files.items())]}, indent=2).encode()


def ready_batch(raw_manifest: bytes, batch: BatchRef) -> BatchRef | None:
    """The batch to process once its manifest is in, or None while listed files are missing.

    An unreadable manifest, or one listing a file that can never land, still completes the
    batch: the producer said it is done, and the validation step rejects it (MANIFEST_INVALID,
    MANIFEST_MISMATCH) instead of waiting forever.
    """
    try:
        manifest = parse_manifest(raw_manifest)
    except ManifestError:
        return batch
    if any(unsafe_key_reason(batch.prefix + e.name) is not None for e in manifest.entries):
        return batch  # a key S3 cannot hold (over 1024 bytes with the prefix): it never lands
    return restrict(manifest, batch) if landed(manifest, batch) else None
