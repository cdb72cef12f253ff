"""Waits in the triggerer for a new completed batch under a landing prefix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ct_airflow.hooks import BatchLandingHook
from mlops_lib.batches import BatchRef, Completion, completed_batches, new_batches
from mlops_lib.manifest import ready_batch


class S3BatchTrigger(BaseTrigger):
    """Fires once with the oldest complete batch whose id is not in `known_batch_ids`.

    Completion follows the spec's rule (marker, manifest or quiet period); with a manifest the
    trigger also reads it and waits until every listed file has landed at its stated size.

    Stateless: everything it needs is in its kwargs, so a triggerer restart that runs it again
    fires on the same batch, and the task's claim in the store makes that harmless.
    """

    def __init__(self, *, bucket: str, prefix: str, completion: dict[str, Any] | str,
                 known_batch_ids: list[str], aws_conn_id: str | None,
                 poke_interval: float = 5.0) -> None:
        super().__init__()
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.known_batch_ids = list(known_batch_ids)
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "ct_airflow.triggers.S3BatchTrigger",
            {
                "bucket": self.bucket,
                "prefix": self.prefix,
                "completion": self.completion,
                "known_batch_ids": self.known_batch_ids,
                "aws_conn_id": self.aws_conn_id,
                "poke_interval": self.poke_interval,
            },
        )

    def hook(self) -> BatchLandingHook:
        return BatchLandingHook(aws_conn_id=self.aws_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self.hook()
            async with await hook.get_async_conn() as client:
                while True:
                    batch = await self._next_batch(hook, client)
                    if batch is not None:
                        yield TriggerEvent({"status": "success", "batch": batch.to_dict()})
                        return
                    self.log.debug("No new batch under s3://%s/%s", self.bucket, self.prefix)
                    await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the sensor, which fails the task with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})

    async def _next_batch(self, hook: BatchLandingHook, client: Any) -> BatchRef | None:
        rule = Completion.of(self.completion)
        objects = await hook.list_objects_async(client, self.bucket, self.prefix)
        for batch in new_batches(completed_batches(objects, self.prefix, rule),
                                 self.known_batch_ids):
            if rule.mode != "manifest":
                return batch
            raw = await hook.read_small_object_async(client, self.bucket, batch.marker_key)
            ready = ready_batch(raw, batch)
            if ready is not None:
                return ready
        return None
