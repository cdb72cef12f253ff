"""Blocking S3 I/O for tasks and tools (boto3). The triggerer uses the async provider hook."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.landing.keys import hashed_name, safe_name, safe_segment, unsafe_key_reason
from mlops_lib.settings import Settings

log = logging.getLogger(__name__)

_COPY_OBJECT_LIMIT = 5 * 1024**3  # the most one CopyObject call copies
# The most of a batch manifest the validate step reads. A manifest is parsed whole (json.loads
# holds ~3.5x its size in Python objects); 1 MiB lists about 6,000 files with size, sha256 and
# rows, far more than one batch should hold. The spec's max_file_bytes applies instead when it
# is smaller: it is the pipeline owner's cap on any one object read from the source.
MANIFEST_MAX_BYTES = 1024**2


class ObjectTooLarge(ValueError):
    """An object above the caller's size limit: refused without reading it."""

    def __init__(self, key: str, size: int, limit: int) -> None:
        super().__init__(f"{key!r} is {size} bytes, more than the limit of {limit} bytes")
        self.key, self.size, self.limit = key, size, limit


def s3_client(settings: Settings | None = None) -> Any:
    settings = settings or Settings.from_env()
    return boto3.client(
        "s3", endpoint_url=settings.s3_endpoint_url,
        config=Config(retries={"max_attempts": 5, "mode": "standard"},
                      s3={"addressing_style": "path"}),
    )


def list_objects(client: Any, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield ObjectInfo(key=obj["Key"], etag=obj["ETag"].strip('"'), size=obj["Size"],
                             last_modified=obj["LastModified"].isoformat())


def ensure_buckets(client: Any, *buckets: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            client.create_bucket(Bucket=bucket)


def read_batch_files(client: Any, bucket: str, batch: BatchRef) -> list[tuple[str, bytes]]:
    """Download a batch's data files, checking each still has the ETag the sensor saw."""
    out = []
    for f in batch.files:
        obj = client.get_object(Bucket=bucket, Key=f.key, IfMatch=f'"{f.etag}"')
        out.append((f.key, obj["Body"].read()))
    return out


def read_small(client: Any, bucket: str, key: str, limit: int) -> bytes:
    """The whole object if it is at most `limit` bytes, else ObjectTooLarge.

    The size comes from a HEAD first, so an oversized object is never downloaded; the download
    then stops after `limit + 1` bytes anyway, in case the object grew in between."""
    size = int(client.head_object(Bucket=bucket, Key=key)["ContentLength"])
    if size > limit:
        raise ObjectTooLarge(key, size, limit)
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    data = b""
    try:
        while len(data) <= limit and (chunk := body.read(limit + 1 - len(data))):
            data += chunk
    finally:
        body.close()
    if len(data) > limit:
        raise ObjectTooLarge(key, len(data), limit)
    return data


def upload_batch(client: Any, bucket: str, prefix: str, batch_id: str,
                 files: Mapping[str, bytes], marker: str | None = "_SUCCESS",
                 marker_body: bytes = b"") -> str:
    """Write data files first and the completion marker (or manifest) last, as producers must.

    `marker=None` writes no marker (for quiet-period completion). Returns the batch's location,
    `s3://bucket/prefix/batch_id/`."""
    base = f"{prefix.rstrip('/')}/{batch_id}/"
    for name, body in files.items():
        client.put_object(Bucket=bucket, Key=base + name, Body=body)
    if marker is not None:
        client.put_object(Bucket=bucket, Key=base + marker, Body=marker_body)
    return f"s3://{bucket}/{base}"


def quarantine_prefix(pipeline: str, batch_id: str) -> str:
    """`quarantine/<pipeline>/<batch id>/`, the id replaced by `batch-<sha256[:12]>` when it
    is no safe folder name (`..`, empty, control characters, over 200 bytes)."""
    return f"quarantine/{pipeline}/{safe_segment(batch_id, fallback='batch')}/"


def staging_key(pipeline: str, batch_id: str, fingerprint: str) -> str:
    """Where an accepted batch's conformed copy waits for training runs:
    `staging/<pipeline>/<batch id>/<fingerprint[:16]>.parquet`, the id made a safe folder name
    as in `quarantine_prefix` (a batch id may be ~1000 bytes; the key must stay under 1024)."""
    folder = safe_segment(batch_id, fallback="batch")
    return f"staging/{pipeline}/{folder}/{fingerprint[:16]}.parquet"


def copy_to_quarantine(client: Any, bucket: str, batch: BatchRef, pipeline: str,
                       reason: Mapping[str, Any], folder: str = "") -> str:
    """Copy (never move) a rejected batch under `quarantine/` with the reason beside it.

    Every copy lands under `quarantine_prefix(...)`: a file whose name (or whose destination
    key) is unsafe is stored as `file-<n>-<sha256[:12]>`. `_REASON.json` maps each original
    key to its copy (`objects`), and notes a copy that failed instead of hiding it. `folder`
    (`name/`): a subfolder of it, for a copy that must not overwrite the batch's first one."""
    dest = quarantine_prefix(pipeline, batch.batch_id) + folder
    objects = []
    for n, f in enumerate(batch.files):
        name = f.key[len(batch.prefix):] if f.key.startswith(batch.prefix) else f.key
        target = dest + safe_name(name, fallback=f"file-{n}")
        if unsafe_key_reason(target) is not None:  # a long name under a longer folder
            target = dest + hashed_name(name, f"file-{n}")
        entry: dict[str, Any] = {"key": f.key, "etag": f.etag, "size": f.size,
                                 "quarantined_as": target}
        try:
            source = {"Bucket": bucket, "Key": f.key}
            if f.size > _COPY_OBJECT_LIMIT:  # larger: a multipart copy
                client.copy(source, bucket, target)
            else:
                client.copy_object(Bucket=bucket, Key=target, CopySource=source)
        except ClientError as exc:  # recorded beside the reason; the rejection stands
            log.warning("Could not copy %r to quarantine: %s", f.key, exc)
            entry["copy_error"] = str(exc)
        objects.append(entry)
    body = {**reason, "batch_id": batch.batch_id, "objects": objects}
    client.put_object(Bucket=bucket, Key=dest + "_REASON.json",
                      Body=json.dumps(body, indent=2, default=str).encode())
    return f"s3://{bucket}/{dest}"


def put_file(client: Any, bucket: str, key: str, body: bytes,
             content_type: str = "application/octet-stream") -> str:
    client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return f"s3://{bucket}/{key}"


def upload_path(client: Any, bucket: str, key: str, path: Path) -> str:
    """A local file uploaded by boto3's managed transfer (multipart above 8 MiB), streamed
    from disk: the process never holds the whole object."""
    client.upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"
