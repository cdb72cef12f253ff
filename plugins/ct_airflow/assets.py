"""Assets of the events arrival mode: the landing prefix (and the scoring prefix, on a queue of
its own), watched through SQS.

S3 announces new objects of the landing prefix on the spec's SQS queue
(`mlops_lib.landing.s3_events.ensure_notifications`); the triggerer runs the watcher's
SqsSensorTrigger, and each time it receives messages Airflow records an asset event whose
extra is `{"from_trigger": True, "payload": {"status": "success", "message_batch": [<raw SQS
message>, ...]}}` and schedules the DAGs that consume the asset.
`mlops_lib.landing.s3_events.parse_messages` reads that extra.
"""

from __future__ import annotations

from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger
from airflow.sdk import Asset, AssetWatcher

from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec

AWS_CONN_ID = "ct_s3"  # its `endpoint_url` extra applies to every AWS client, SQS included


def landing_trigger(spec: PipelineSpec, settings: Settings,
                    queue: str | None = None) -> SqsSensorTrigger:
    """The SQS poller behind `landing_asset`'s watcher (or another queue's, `queue`)."""
    queue = queue or spec.trigger.sqs_queue
    if queue is None:
        raise ValueError(f"{spec.name}: trigger.sqs_queue is not set (events mode needs it)")
    return SqsSensorTrigger(
        sqs_queue=settings.sqs_queue_url(queue),
        aws_conn_id=AWS_CONN_ID,
        # Long polling: a receive returns as soon as a message arrives, so latency stays near
        # zero while an idle queue costs 3 requests a minute, not one a second. 20 s is the
        # SQS maximum and far below botocore's 60 s read timeout.
        wait_time_seconds=20,
        # One receive per poke, up to SQS's per-call maximum: the first messages fire the
        # event at once; more receives would only hold it back (each waits for its own
        # messages). Whatever is still queued fires the next event right after.
        max_messages=10,
        num_batches=1,
        # Pause after an empty long poll; the brief re-poll keeps the watcher responsive.
        waiter_delay=1,
        # Delete on receipt: otherwise a message would come back after the visibility timeout
        # and fire again. No message filter: messages a filter rejects are never deleted and
        # would return forever (S3's s3:TestEvent, say); parse_messages skips them instead.
        # This makes delivery at-most-once (a triggerer crash after the delete loses the
        # event), so consumers reconcile with an S3 listing rather than trust events alone.
        delete_message_on_reception=True,
    )


def landing_asset(spec: PipelineSpec, settings: Settings) -> Asset:
    """`s3://<bucket>/<prefix>` of the spec, updated whenever S3 announces new objects there."""
    return Asset(name=f"{spec.name}_landing", uri=spec.landing_asset_uri,
                 watchers=[AssetWatcher(name=f"{spec.name}_sqs",
                                        trigger=landing_trigger(spec, settings))])


def scoring_asset(spec: PipelineSpec, settings: Settings) -> Asset:
    """`s3://<scoring bucket>/<scoring prefix>`, updated whenever S3 announces new objects there
    on the queue `<trigger.sqs_queue>-scoring` (a queue of its own: each watcher deletes what it
    receives, so two watchers on one queue would each miss the other's messages)."""
    return Asset(name=f"{spec.name}_scoring", uri=spec.scoring_asset_uri,
                 watchers=[AssetWatcher(name=f"{spec.name}_scoring_sqs",
                                        trigger=landing_trigger(spec, settings,
                                                                spec.scoring_sqs_queue))])
