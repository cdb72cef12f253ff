"""Waits in the triggerer for new completed batches under a landing (or scoring) prefix."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from ct_airflow.hooks import BatchLandingHook, landing_hook
from ct_airflow.store_hook import StoreHook
from mlops_lib.landing.batches import Completion
from mlops_lib.stores.store import query

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


class S3BatchTrigger(BaseTrigger):
    """Fires once with the complete batches (oldest first, at most `max_batches`) whose
    content the store has not seen.

    Completion follows the spec's rule (marker, manifest or quiet period); with a manifest the
    trigger also reads it and waits until every listed file has landed at its stated size.
    "Seen" is asked of the store on every poll (async driver, no pandas), not carried in the
    kwargs, so the serialized trigger stays small however long the history.

    Stateless: a triggerer restart that runs it again fires on the same batches, and the
    ingest (or scoring) task's claim in the store makes that harmless. `seen` names the store
    query of the pairs seen (`known_batches`, `known_scoring_batches`).
    """

    def __init__(self, *, pipeline: str, bucket: str, prefix: str,
                 completion: dict[str, Any] | str, aws_conn_id: str | None,
                 poke_interval: float = 5.0, max_batches: int = 16,
                 store_url: str | None = None, seen: str = "known_batches") -> None:
        super().__init__()
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.aws_conn_id = aws_conn_id
        self.poke_interval = poke_interval
        self.max_batches = max_batches
        self.store_url = store_url
        self.seen = seen

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
                "seen": self.seen,
            },
        )

    def hook(self) -> BatchLandingHook:
        return landing_hook(self.aws_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self.hook()
            store = StoreHook(store_url=self.store_url)
            async with await hook.get_async_conn() as client, store.async_engine() as engine:
                known = functools.partial(self._known, store, engine)
                while True:
                    batches = await hook.find_batches_async(
                        client, bucket=self.bucket, prefix=self.prefix,
                        completion=Completion.of(self.completion), known=known,
                        max_batches=self.max_batches)
                    if batches:
                        yield TriggerEvent({"status": "success",
                                            "batches": [b.to_dict() for b in batches]})
                        return
                    self.log.debug("No new batch under s3://%s/%s", self.bucket, self.prefix)
                    await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the sensor, which fails the task with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})

    async def _known(self, store: StoreHook, engine: AsyncEngine) -> list[tuple[str, str]]:
        """(batch id, fingerprint) of every batch content the store has seen, asked anew on
        every poll (async driver, no pandas) rather than carried in the kwargs."""
        rows = await store.fetch_all_async(engine, query(self.seen),
                                           {"pipeline": self.pipeline})
        return [(r["batch_id"], r["fingerprint"]) for r in rows]
