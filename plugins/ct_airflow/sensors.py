"""The sensor that starts each ingest (and scoring) run: new completed batches in S3."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException

from ct_airflow.hooks import landing_hook
from ct_airflow.store_hook import StoreHook
from ct_airflow.triggers import S3BatchTrigger
from mlops_lib.landing.batches import Completion
from mlops_lib.stores.store import query

if TYPE_CHECKING:
    from airflow.sdk import Context


class S3BatchSensor(BaseSensorOperator):
    """Waits for completed batches under `prefix` whose content the store has not seen.

    A batch is a folder under the prefix, complete by the spec's rule: a marker written last,
    a manifest whose listed files have all landed, or a quiet period. Returns the batches
    (oldest first, at most `max_batches`; keys, ETags, sizes, fingerprint) as XCom, for the
    ingest DAG to accept one by one. Deferrable by default: one cheap poke, then the wait
    happens in the triggerer, not in a worker slot.

    `seen` names the store query (sql/queries/) that lists the (batch id, fingerprint) pairs
    already seen: `known_batches` for landing, `known_scoring_batches` for the scoring DAG.
    """

    template_fields: Sequence[str] = ("bucket", "prefix")
    ui_color = "#f0e4c8"

    def __init__(self, *, pipeline: str, bucket: str, prefix: str,
                 completion: Completion | dict[str, Any] | str = "_SUCCESS",
                 aws_conn_id: str | None = "ct_s3", deferrable: bool = True,
                 max_batches: int = 16, store_url: str | None = None,
                 seen: str = "known_batches", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.bucket = bucket
        self.prefix = prefix
        self.completion = Completion.of(completion).to_dict()
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable
        self.max_batches = max_batches
        self.store_url = store_url
        self.seen = seen

    def known(self) -> set[tuple[str, str]]:
        """(batch id, fingerprint) of every batch content the store has seen."""
        rows = StoreHook(store_url=self.store_url).fetch_all(query(self.seen),
                                                             {"pipeline": self.pipeline})
        return {(r["batch_id"], r["fingerprint"]) for r in rows}

    def poke(self, context: Context) -> PokeReturnValue:
        batches = self._find()
        return PokeReturnValue(is_done=bool(batches), xcom_value=batches or None)

    def _find(self) -> list[dict[str, Any]]:
        """The trigger's check, once, with blocking I/O (`BatchLandingHook.find_batches`)."""
        batches = landing_hook(self.aws_conn_id).find_batches(
            bucket=self.bucket, prefix=self.prefix, completion=Completion.of(self.completion),
            known=self.known, max_batches=self.max_batches)
        return [b.to_dict() for b in batches]

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        found = self._find()  # one cheap look before deferring
        if found:
            self._log_found(found)
            return found
        self.log.info("Waiting in the triggerer for new batches under s3://%s/%s (%s)",
                      self.bucket, self.prefix, self.completion)
        self.defer(
            trigger=S3BatchTrigger(pipeline=self.pipeline, bucket=self.bucket,
                                   prefix=self.prefix, completion=self.completion,
                                   aws_conn_id=self.aws_conn_id,
                                   poke_interval=self.poke_interval,
                                   max_batches=self.max_batches, store_url=self.store_url,
                                   seen=self.seen),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        if event.get("status") != "success":
            raise AirflowException(f"S3 batch trigger failed: {event.get('message')}")
        found: list[dict[str, Any]] = event["batches"]
        self._log_found(found)
        return found

    def _log_found(self, batches: list[dict[str, Any]]) -> None:
        for batch in batches:
            self.log.info("New batch %s: %d data files under s3://%s/%s", batch["batch_id"],
                          len(batch["files"]), self.bucket, batch["prefix"])
