"""The sensor that starts each continuous-training run: a new completed batch in S3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from ct_airflow.hooks import BatchLandingHook
from ct_airflow.triggers import S3BatchTrigger
from mlops_lib.batches import BatchRef, Completion, completed_batches, new_batches
from mlops_lib.manifest import ready_batch

if TYPE_CHECKING:
    from airflow.sdk import Context


class S3BatchSensor(BaseSensorOperator):
    """Waits for the oldest completed batch under `prefix` that the store has not seen.

    A batch is a folder under the prefix, complete by the spec's rule: a marker written last,
    a manifest whose listed files have all landed, or a quiet period. Returns the batch (keys,
    ETags, sizes, fingerprint) as XCom. Deferrable by default: one cheap poke, then the wait
    happens in the triggerer, not in a worker slot.
    """

    template_fields: Sequence[str] = ("bucket", "prefix")
    ui_color = "#f0e4c8"

    def __init__(self, *, pipeline: str, bucket: str, prefix: str,
                 completion: Completion | dict[str, Any] | str = "_SUCCESS",
                 aws_conn_id: str | None = "ct_s3", deferrable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable

    def known_batch_ids(self) -> list[str]:
        from mlops_lib.settings import Settings
        from mlops_lib.store import Store

        return Store(Settings.from_env().store_url).known_batch_ids(self.pipeline)

    def poke(self, context: Context) -> PokeReturnValue:
        batch = self._next_batch(BatchLandingHook(aws_conn_id=self.aws_conn_id))
        return PokeReturnValue(is_done=batch is not None,
                               xcom_value=None if batch is None else batch.to_dict())

    def _next_batch(self, hook: BatchLandingHook) -> BatchRef | None:
        """The same decision as S3BatchTrigger._next_batch, with blocking I/O."""
        rule = Completion.of(self.completion)
        objects = hook.list_objects(self.bucket, self.prefix)
        for batch in new_batches(completed_batches(objects, self.prefix, rule),
                                 self.known_batch_ids()):
            if rule.mode != "manifest":
                return batch
            ready = ready_batch(hook.read_small_object(self.bucket, batch.marker_key), batch)
            if ready is not None:
                return ready
        return None

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            self.log.info("Batch already complete: %s", first.xcom_value["batch_id"])
            return first.xcom_value
        self.log.info("Waiting in the triggerer for a new batch under s3://%s/%s (%s)",
                      self.bucket, self.prefix, self.completion)
        self.defer(
            trigger=S3BatchTrigger(bucket=self.bucket, prefix=self.prefix,
                                   completion=self.completion,
                                   known_batch_ids=self.known_batch_ids(),
                                   aws_conn_id=self.aws_conn_id,
                                   poke_interval=self.poke_interval),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise AirflowException(f"S3 batch trigger failed: {event.get('message')}")
        batch = event["batch"]
        self.log.info("New batch %s: %d data files under s3://%s/%s", batch["batch_id"],
                      len(batch["files"]), self.bucket, batch["prefix"])
        return batch
