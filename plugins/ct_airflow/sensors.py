"""The sensor that starts each continuous-training run: a new completed batch in S3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from ct_airflow.hooks import BatchLandingHook
from ct_airflow.triggers import S3BatchTrigger
from mlops_lib.batches import completed_batches, next_new_batch

if TYPE_CHECKING:
    from airflow.sdk import Context


class S3BatchSensor(BaseSensorOperator):
    """Waits for the oldest completed batch under `prefix` that the store has not seen.

    A batch is a folder under the prefix with a completion `marker` written last. Returns the
    batch (keys, ETags, sizes, fingerprint) as XCom. Deferrable by default: one cheap poke,
    then the wait happens in the triggerer, not in a worker slot.
    """

    template_fields: Sequence[str] = ("bucket", "prefix", "marker")
    ui_color = "#f0e4c8"

    def __init__(self, *, pipeline: str, bucket: str, prefix: str, marker: str = "_SUCCESS",
                 aws_conn_id: str | None = "ct_s3", deferrable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.marker = marker
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable

    def known_batch_ids(self) -> list[str]:
        from mlops_lib.settings import Settings
        from mlops_lib.store import Store

        return Store(Settings.from_env().store_url).known_batch_ids(self.pipeline)

    def poke(self, context: Context) -> PokeReturnValue:
        objects = BatchLandingHook(aws_conn_id=self.aws_conn_id).list_objects(self.bucket,
                                                                              self.prefix)
        batch = next_new_batch(completed_batches(objects, self.prefix, self.marker),
                               self.known_batch_ids())
        return PokeReturnValue(is_done=batch is not None,
                               xcom_value=None if batch is None else batch.to_dict())

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            self.log.info("Batch already complete: %s", first.xcom_value["batch_id"])
            return first.xcom_value
        self.log.info("Waiting in the triggerer for a new batch under s3://%s/%s (marker %s)",
                      self.bucket, self.prefix, self.marker)
        self.defer(
            trigger=S3BatchTrigger(bucket=self.bucket, prefix=self.prefix, marker=self.marker,
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
