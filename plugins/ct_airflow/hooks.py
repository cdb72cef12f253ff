"""S3 I/O for batch discovery, and the batch-finding check itself: sync for poke mode and tasks,
async for the triggerer.

As the amazon provider keeps its key check in the S3 hook, the sensor's poke and the trigger's
run both call `find_batches` / `find_batches_async` here. Both take the same decisions with the
same pure functions (`completed_batches`, `new_batches`, `admitted`); only the I/O differs. One
hook per connection and process (`landing_hook`): a poke reuses its S3 client instead of
building one.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops_lib.landing.batches import (
    BatchRef,
    Completion,
    ObjectInfo,
    completed_batches,
    new_batches,
)
from mlops_lib.landing.manifest import ready_batch
from mlops_lib.stores.s3io import MANIFEST_MAX_BYTES, ObjectTooLarge, read_small

KnownBatches = Iterable[tuple[str, str]]
"""(batch id, fingerprint) of every batch content the store has seen."""


def _object_info(row: dict[str, Any]) -> ObjectInfo:
    modified = row["LastModified"]
    return ObjectInfo(key=row["Key"], etag=str(row["ETag"]).strip('"'), size=int(row["Size"]),
                      last_modified=modified.isoformat() if hasattr(modified, "isoformat")
                      else str(modified))


def admitted(batch: BatchRef, rule: Completion, manifest: bytes | None) -> list[BatchRef]:
    """The batch to hand on ([] not yet): as listed, or in manifest mode restricted to its
    manifest's files once they have all landed."""
    if rule.mode != "manifest":
        return [batch]
    ready = ready_batch(manifest or b"", batch)
    return [] if ready is None else [ready]


class BatchLandingHook(S3Hook):
    """Lists a landing prefix through the amazon provider's S3 hook (connection `ct_s3`)."""

    def find_batches(self, *, bucket: str, prefix: str, completion: Completion,
                     known: Callable[[], KnownBatches], max_batches: int) -> list[BatchRef]:
        """New complete batches under `prefix` (oldest first, at most `max_batches`): those
        the completion rule says are done and whose content is not in `known()`. The store is
        asked only when some batch is complete, so an idle prefix costs one listing."""
        complete = completed_batches(self.list_objects(bucket, prefix), prefix, completion,
                                     uploading=self.uploads_in_progress(bucket, prefix))
        found: list[BatchRef] = []
        for batch in new_batches(complete, known()) if complete else []:
            if len(found) >= max_batches:
                break
            manifest = (self.read_small_object(bucket, batch.marker_key)
                        if completion.mode == "manifest" else None)
            found += admitted(batch, completion, manifest)
        return found

    async def find_batches_async(self, client: Any, *, bucket: str, prefix: str,
                                 completion: Completion,
                                 known: Callable[[], Awaitable[KnownBatches]],
                                 max_batches: int) -> list[BatchRef]:
        """`find_batches` on the triggerer's event loop, through an aiobotocore `client`."""
        complete = completed_batches(
            await self.list_objects_async(client, bucket, prefix), prefix, completion,
            uploading=await self.uploads_in_progress_async(client, bucket, prefix))
        found: list[BatchRef] = []
        for batch in new_batches(complete, await known()) if complete else []:
            if len(found) >= max_batches:
                break
            manifest = (await self.read_small_object_async(client, bucket, batch.marker_key)
                        if completion.mode == "manifest" else None)
            found += admitted(batch, completion, manifest)
        return found

    def list_objects(self, bucket: str, prefix: str) -> list[ObjectInfo]:
        paginator = self.get_conn().get_paginator("list_objects_v2")
        return [_object_info(row)
                for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for row in page.get("Contents", [])]

    async def list_objects_async(self, client: Any, bucket: str,
                                 prefix: str) -> list[ObjectInfo]:
        return [_object_info(row)
                async for row in self.get_file_metadata_async(client, bucket, prefix)]

    def uploads_in_progress(self, bucket: str, prefix: str) -> list[str]:
        """Keys of multipart uploads not completed yet (invisible to object listings)."""
        try:
            response = self.get_conn().list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        except Exception as exc:  # servers without the call (s3rver) have none to report
            if _unsupported(exc):
                return []
            raise
        return [u["Key"] for u in response.get("Uploads", [])]

    async def uploads_in_progress_async(self, client: Any, bucket: str,
                                        prefix: str) -> list[str]:
        try:
            response = await client.list_multipart_uploads(Bucket=bucket, Prefix=prefix)
        except Exception as exc:
            if _unsupported(exc):
                return []
            raise
        return [u["Key"] for u in response.get("Uploads", [])]

    def read_small_object(self, bucket: str, key: str,
                          limit: int = MANIFEST_MAX_BYTES) -> bytes:
        """A marker or manifest, small by contract: its bytes, or b"" when it holds more than
        `limit` (reading stops there). An empty manifest completes the batch as an unreadable
        one does, so that validation refuses it (MANIFEST_INVALID) instead of a poke or the
        triggerer holding a producer's giant file in memory."""
        try:
            return read_small(self.get_conn(), bucket, key, limit)
        except ObjectTooLarge:
            return b""

    async def read_small_object_async(self, client: Any, bucket: str, key: str,
                                      limit: int = MANIFEST_MAX_BYTES) -> bytes:
        response = await client.get_object(Bucket=bucket, Key=key)
        data = b""
        async with response["Body"] as body:  # a read may return less: loop to limit + 1
            while len(data) <= limit and (chunk := await body.read(limit + 1 - len(data))):
                data += chunk
        return data if len(data) <= limit else b""


@functools.cache
def landing_hook(aws_conn_id: str | None) -> BatchLandingHook:
    """The process's hook for a connection: its boto3 client is made once, not per poke."""
    return BatchLandingHook(aws_conn_id=aws_conn_id)


def _unsupported(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {"NotImplemented", "MethodNotAllowed", "501", "405"}
