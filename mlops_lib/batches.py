"""What counts as a complete batch under a landing prefix.

Pure functions over an object listing, shared by the Airflow trigger (async, in the triggerer:
no pandas here) and by the tasks, so both always agree on what a batch is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: str  # ISO-8601

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "etag": self.etag, "size": self.size,
                "last_modified": self.last_modified}


@dataclass(frozen=True)
class BatchRef:
    """A folder under the landing prefix whose completion marker has been written."""

    batch_id: str
    prefix: str
    marker_key: str
    completed_at: str
    files: tuple[ObjectInfo, ...]

    @property
    def fingerprint(self) -> str:
        """Identity of the batch's content: the same keys with the same ETags."""
        digest = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.key):
            digest.update(f"{f.key}\0{f.etag.strip(chr(34))}\n".encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, object]:
        return {"batch_id": self.batch_id, "prefix": self.prefix, "marker_key": self.marker_key,
                "completed_at": self.completed_at,
                "files": [f.to_dict() for f in self.files], "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> BatchRef:
        files = tuple(ObjectInfo(**f) for f in raw["files"])  # type: ignore[arg-type, union-attr]
        return cls(batch_id=str(raw["batch_id"]), prefix=str(raw["prefix"]),
                   marker_key=str(raw["marker_key"]), completed_at=str(raw["completed_at"]),
                   files=files)


def completed_batches(objects: Iterable[ObjectInfo], prefix: str, marker: str) -> list[BatchRef]:
    """Batches under `prefix` that have a marker, oldest marker first.

    A batch is the first path segment below the prefix. Its files are the data objects listed
    with the marker, pinned by ETag from then on (a later overwrite fails the read, it is not
    silently trained on). Paths with a segment starting with `_` or `.` (markers, `_temporary/`
    folders of Spark/Hadoop writers, hidden files) are not data.
    """
    prefix = prefix.rstrip("/") + "/"
    by_batch: dict[str, list[ObjectInfo]] = {}
    markers: dict[str, ObjectInfo] = {}
    for obj in objects:
        if not obj.key.startswith(prefix):
            continue
        rest = obj.key[len(prefix):]
        batch_id, sep, name = rest.partition("/")
        if not sep or not batch_id or not name:
            continue
        if name == marker:
            markers[batch_id] = obj
        elif not any(part.startswith(("_", ".")) for part in name.split("/")):
            by_batch.setdefault(batch_id, []).append(obj)
    batches = [
        BatchRef(batch_id=batch_id, prefix=f"{prefix}{batch_id}/", marker_key=m.key,
                 completed_at=m.last_modified,
                 files=tuple(sorted(by_batch.get(batch_id, []), key=lambda o: o.key)))
        for batch_id, m in markers.items()
    ]
    return sorted(batches, key=lambda b: (b.completed_at, b.batch_id))


def next_new_batch(batches: Iterable[BatchRef], known: Iterable[str]) -> BatchRef | None:
    """The oldest completed batch not yet recorded in the store."""
    seen = set(known)
    return next((b for b in batches if b.batch_id not in seen), None)
