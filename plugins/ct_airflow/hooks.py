"""S3 listing for batch discovery: sync for poke mode and tasks, async for the triggerer."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from mlops_lib.batches import ObjectInfo
from mlops_lib.s3io import MANIFEST_MAX_BYTES, ObjectTooLarge, read_small


def _object_info(row: dict[str, Any]) -> ObjectInfo:
    modified = row["LastModified"]
    return ObjectInfo(key=row["Key"], etag=str(row["ETag"]).strip('"'), size=int(row["Size"]),
                      last_modified=modified.isoformat() if hasattr(modified, "isoformat")
                      else str(modified))


class BatchLandingHook(S3Hook):
    """Lists a landing prefix through the amazon provider's S3 hook (connection `ct_s3`)."""

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


def _unsupported(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in {"NotImplemented", "MethodNotAllowed", "501", "405"}
