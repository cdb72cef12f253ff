"""Waits in the triggerer for new completed batches under a landing prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ct_airflow.hooks import BatchLandingHook
from ct_airflow.store_hook import StoreHook
from mlops_lib.batches import BatchRef, Completion, completed_batches, new_batches
from mlops_lib.manifest import ready_batch
from mlops_lib.store import query


class S3BatchTrigger(BaseTrigger):
    """Fires once with the complete batches (oldest first, at most `max_batches`) whose
    content the store has not seen.

    Completion follows the spec's rule (marker, manifest or quiet period); with a manifest the
    trigger also reads it and waits until every listed file has landed at its stated size.
    "Seen" is asked of the store on every poll (async driver, no pandas), not carried in the
    kwargs, so the serialized trigger stays small however long the history.

    Stateless: a triggerer restart that runs it again fires on the same batches, and the
    ingest task's claim in the store makes that harmless.
    """

    def __init__(self, *, pipeline: str, bucket: str, prefix: str,
                 completion: dict[str, Any] | str, aws_conn_id: str | None,
                 poke_interval: float = 5.0, max_batches: int = 16,
                 store_url: str | None = None) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval
        self.max_batches = max_batches
        self.store_url = store_url

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "ct_airflow.triggers.S3BatchTrigger",
            {
                "pipeline": self.pipeline,
                "bucket": self.bucket,
                "prefix": self.prefix,
                "completion": self.completion,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
                "max_batches": self.max_batches,
                "store_url": self.store_url,
            },
        )

    def hook(self) -> BatchLandingHook:
        return BatchLandingHook(aws_conn_id=self.aws_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self.hook()
            store = StoreHook(store_url=self.store_url)
            async with await hook.get_async_conn() as client, store.async_engine() as engine:
                while True:
                    batches = await self._new_batches(hook, client, store, engine)
                    if batches:
                        yield TriggerEvent({"status": "success",
                                            "batches": [b.to_dict() for b in batches]})
                        return
                    self.log.debug("No new batch under s3://%s/%s", self.bucket, self.prefix)
                    await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the sensor, which fails the task with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})

    async def _new_batches(self, hook: BatchLandingHook, client: Any, store: StoreHook,
                           engine: Any) -> list[BatchRef]:
        rule = Completion.of(self.completion)
        objects = await hook.list_objects_async(client, self.bucket, self.prefix)
        uploading = await hook.uploads_in_progress_async(client, self.bucket, self.prefix)
        complete = completed_batches(objects, self.prefix, rule, uploading=uploading)
        if not complete:
            return []
        rows = await store.fetch_all_async(engine, query("known_batches"),
                                           {"pipeline": self.pipeline})
        found = []
        for batch in new_batches(complete, ((r["batch_id"], r["fingerprint"]) for r in rows)):
            if rule.mode == "manifest":
                raw = await hook.read_small_object_async(client, self.bucket, batch.marker_key)
                batch = ready_batch(raw, batch)  # type: ignore[assignment]
            if batch is not None:
                found.append(batch)
            if len(found) >= self.max_batches:
                break
        return found
