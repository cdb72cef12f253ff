"""What counts as a complete batch under a landing prefix.

Pure functions over an object listing, shared by the Airflow trigger (async, in the triggerer:
no pandas here) and by the tasks, so both always agree on what a batch is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, unquote

from mlops_lib.landing.keys import unsafe_key_reason

CompletionMode = Literal["marker", "manifest", "quiet"]


@dataclass(frozen=True)
class Completion:
    """How a producer says a batch is complete (the spec's `source.completion`).

    - marker: a `_SUCCESS` object (any name) written after the data files;
    - manifest: a `_manifest.json` written last that lists each file (and size, sha256, rows);
      the batch is complete once every listed file is present at its stated size;
    - quiet: no marker; complete once no object in the folder is newer than `quiet_period_s`.
    """

    mode: CompletionMode = "marker"
    marker: str = "_SUCCESS"
    quiet_period_s: float = 60.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def of(cls, value: Completion | str | Mapping[str, Any]) -> Completion:
        if isinstance(value, Completion):
            return value
        if isinstance(value, str):
            return cls(mode="marker", marker=value)
        return cls(**value)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: str  # ISO-8601

    def to_dict(self) -> dict[str, object]:
        return {"key": portable(self.key), "etag": self.etag, "size": self.size,
                "last_modified": self.last_modified}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ObjectInfo:
        return cls(key=unportable(str(raw["key"])), etag=str(raw["etag"]),
                   size=int(raw["size"]), last_modified=str(raw["last_modified"]))


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
        """JSON for trigger events and XCom; names pass through `portable`."""
        return {"batch_id": portable(self.batch_id), "prefix": portable(self.prefix),
                "marker_key": portable(self.marker_key), "completed_at": self.completed_at,
                "files": [f.to_dict() for f in self.files], "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BatchRef:
        files = tuple(ObjectInfo.from_dict(f) for f in raw["files"])
        return cls(batch_id=unportable(str(raw["batch_id"])), prefix=unportable(str(raw["prefix"])),
                   marker_key=unportable(str(raw["marker_key"])),
                   completed_at=str(raw["completed_at"]), files=files)


_ESCAPED = "%esc:"


def portable(name: str) -> str:
    """`name` as a string every Airflow metadata database keeps in a JSON column.

    S3 takes a NUL in a key, PostgreSQL's json/jsonb refuse `\\u0000`: a trigger event or XCom
    carrying one fails to be stored, and the whole ingest DAG stalls on one producer's bad key.
    Such a name (or one that already starts with the escape prefix) travels percent-encoded;
    `unportable` restores it. Every other name is left as it is."""
    if "\x00" in name or name.startswith(_ESCAPED):
        return _ESCAPED + quote(name, safe="")
    return name


def unportable(text: str) -> str:
    """The name `portable` encoded."""
    return unquote(text[len(_ESCAPED):]) if text.startswith(_ESCAPED) else text


def completed_batches(objects: Iterable[ObjectInfo], prefix: str,
                      completion: Completion | str, *, now: datetime | None = None,
                      uploading: Iterable[str] = ()) -> list[BatchRef]:
    """Batches under `prefix` that are complete by the rule, oldest completion first.

    A batch is the first path segment below the prefix. Its files are the data objects listed
    with the marker, pinned by ETag from then on (a later overwrite fails the read, it is not
    silently trained on). Paths with a segment starting with `_` or `.` (markers, `_temporary/`
    folders of Spark/Hadoop writers, hidden files) are not data. In `manifest` mode the caller
    still has to check the manifest's content (`mlops_lib.landing.manifest.landed`).

    Unsafe keys (`landing.keys.unsafe_key_reason`: `..`, `//`, control characters, ...) are
    never skipped: they count as data files, and a folder named `..` (or the empty name of
    `prefix//`) is a batch like any other, so that validation refuses the batch loudly
    (UNSAFE_KEY) instead of it going unseen.

    `uploading` holds the keys of multipart uploads in progress: they are not listed as objects
    until completed, so a folder can look quiet (or marked) while a file is still arriving; a
    batch with an upload in progress is never complete.
    """
    rule = Completion.of(completion)
    prefix = prefix.rstrip("/") + "/"
    busy = {key[len(prefix):].partition("/")[0] for key in uploading if key.startswith(prefix)}
    listing = _Listing.of(objects, prefix, rule)
    if rule.mode == "quiet":
        ready = listing.quiet_batches(now or datetime.now(UTC), rule.quiet_period_s)
    else:
        ready = listing.marked_batches()
    batches = [
        BatchRef(batch_id=batch_id, prefix=f"{prefix}{batch_id}/", marker_key=marker_key,
                 completed_at=completed_at,
                 files=tuple(sorted(listing.files.get(batch_id, []), key=lambda o: o.key)))
        for batch_id, (completed_at, marker_key) in ready.items() if batch_id not in busy
    ]
    return sorted(batches, key=lambda b: (b.completed_at, b.batch_id))


@dataclass
class _Listing:
    """A prefix's objects sorted into batches: data files, completion markers, newest change."""

    files: dict[str, list[ObjectInfo]] = field(default_factory=dict)
    markers: dict[str, ObjectInfo] = field(default_factory=dict)
    newest: dict[str, str] = field(default_factory=dict)  # normalised UTC, sortable

    @classmethod
    def of(cls, objects: Iterable[ObjectInfo], prefix: str, rule: Completion) -> _Listing:
        listing = cls()
        for obj in objects:
            placed = _batch_and_name(obj.key, prefix)
            if placed is None:
                continue
            batch_id, name, unsafe = placed
            listing.newest[batch_id] = max(listing.newest.get(batch_id, ""),
                                           _utc(obj.last_modified))
            if rule.mode != "quiet" and name == rule.marker:
                listing.markers[batch_id] = obj
            elif unsafe or not _is_hidden(name):
                listing.files.setdefault(batch_id, []).append(obj)
        return listing

    def marked_batches(self) -> dict[str, tuple[str, str]]:
        """{batch id: (completed at, marker key)} of the batches whose marker is listed."""
        return {b: (_utc(m.last_modified), m.key) for b, m in self.markers.items()}

    def quiet_batches(self, now: datetime, quiet_period_s: float) -> dict[str, tuple[str, str]]:
        """{batch id: (completed at, "")} of the batches with data and no change for a period."""
        cutoff = _utc(now.isoformat(), shift=-quiet_period_s)
        return {b: (self.newest[b], "") for b, files in self.files.items()
                if self.newest[b] <= cutoff and any(f.size > 0 for f in files)}


def _batch_and_name(key: str, prefix: str) -> tuple[str, str, bool] | None:
    """(batch id, name below the batch folder, unsafe) of a key in a batch; None otherwise.

    An unsafe key is placed even under the empty batch id (`prefix//...`): validation then
    refuses it loudly instead of it going unseen."""
    if not key.startswith(prefix):
        return None
    batch_id, sep, name = key[len(prefix):].partition("/")
    unsafe = unsafe_key_reason(key) is not None
    if not sep or not name or not (batch_id or unsafe):
        return None
    return batch_id, name, unsafe


def _is_hidden(name: str) -> bool:
    """A path with a segment starting with `_` or `.`: markers, `_temporary/`, hidden files."""
    return any(part.startswith(("_", ".")) for part in name.split("/"))


def _utc(iso: str, shift: float = 0.0) -> str:
    """Normalise an ISO timestamp to UTC with microseconds, so that strings sort as times."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    stamp = moment.astimezone(UTC).timestamp() + shift
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="microseconds")


def new_batches(batches: Iterable[BatchRef],
                known: Iterable[tuple[str, str]]) -> list[BatchRef]:
    """Completed batches whose content the store has not seen, oldest first.

    `known` holds (batch id, fingerprint) pairs. A batch id seen before with other content is
    new here on purpose: the ingest run refuses it (BATCH_CHANGED) instead of skipping it
    silently, and records it so that it fires only once.
    """
    seen = set(known)
    return [b for b in batches if (b.batch_id, b.fingerprint) not in seen]
