"""The sensor that starts each ingest run: new completed batches in S3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from ct_airflow.hooks import BatchLandingHook
from ct_airflow.store_hook import StoreHook
from ct_airflow.triggers import S3BatchTrigger
from mlops_lib.batches import BatchRef, Completion, completed_batches, new_batches
from mlops_lib.manifest import ready_batch
from mlops_lib.store import query

if TYPE_CHECKING:
    from airflow.sdk import Context


class S3BatchSensor(BaseSensorOperator):
    """Waits for completed batches under `prefix` whose content the store has not seen.

    A batch is a folder under the prefix, complete by the spec's rule: a marker written last,
    a manifest whose listed files have all landed, or a quiet period. Returns the batches
    (oldest first, at most `max_batches`; keys, ETags, sizes, fingerprint) as XCom, for the
    ingest DAG to accept one by one. Deferrable by default: one cheap poke, then the wait
    happens in the triggerer, not in a worker slot.
    """

    template_fields: Sequence[str] = ("bucket", "prefix")
    ui_color = "#f0e4c8"

    def __init__(self, *, pipeline: str, bucket: str, prefix: str,
                 completion: Completion | dict[str, Any] | str = "_SUCCESS",
                 aws_conn_id: str | None = "ct_s3", deferrable: bool = True,
                 max_batches: int = 16, store_url: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable
        self.max_batches = max_batches
        self.store_url = store_url

    def known(self) -> set[tuple[str, str]]:
        """(batch id, fingerprint) of every batch content the store has seen."""
        rows = StoreHook(store_url=self.store_url).fetch_all(query("known_batches"),
                                                             {"pipeline": self.pipeline})
        return {(r["batch_id"], r["fingerprint"]) for r in rows}

    def poke(self, context: Context) -> PokeReturnValue:
        batches = self._new_batches(BatchLandingHook(aws_conn_id=self.aws_conn_id))
        return PokeReturnValue(is_done=bool(batches),
                               xcom_value=[b.to_dict() for b in batches] or None)

    def _new_batches(self, hook: BatchLandingHook) -> list[BatchRef]:
        """The same decision as S3BatchTrigger._new_batches, with blocking I/O."""
        rule = Completion.of(self.completion)
        complete = completed_batches(
            hook.list_objects(self.bucket, self.prefix), self.prefix, rule,
            uploading=hook.uploads_in_progress(self.bucket, self.prefix))
        if not complete:
            return []
        found = []
        for batch in new_batches(complete, self.known()):
            if rule.mode == "manifest":
                batch = ready_batch(hook.read_small_object(self.bucket, batch.marker_key),
                                    batch)  # type: ignore[assignment]
            if batch is not None:
                found.append(batch)
            if len(found) >= self.max_batches:
                break
        return found

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if first.is_done:
            self._log_found(first.xcom_value)
            return first.xcom_value
        self.log.info("Waiting in the triggerer for new batches under s3://%s/%s (%s)",
                      self.bucket, self.prefix, self.completion)
        self.defer(
            trigger=S3BatchTrigger(pipeline=self.pipeline, bucket=self.bucket,
                                   prefix=self.prefix, completion=self.completion,
                                   aws_conn_id=self.aws_conn_id,
                                   poke_interval=self.poke_interval,
                                   max_batches=self.max_batches, store_url=self.store_url),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("status") != "success":
            raise AirflowException(f"S3 batch trigger failed: {event.get('message')}")
        self._log_found(event["batches"])
        return event["batches"]

    def _log_found(self, batches: list[dict[str, Any]]) -> None:
        for batch in batches:
            self.log.info("New batch %s: %d data files under s3://%s/%s", batch["batch_id"],
                          len(batch["files"]), self.bucket, batch["prefix"])
