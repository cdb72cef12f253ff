"""S3 bucket notifications delivered through SQS: reading them and wiring them up.

The events arrival mode (`trigger.mode: events`) has S3 announce every new object under the
landing prefix on an SQS queue, which an Airflow AssetWatcher polls. The watcher's asset event
carries the raw SQS messages; `parse_messages` turns them into `S3EventRecord`s and `batch_ids`
into the batch folders they touched. Events are hints, not the truth: SQS delivers at least
once, S3 may drop or reorder notifications, and the watcher deletes a message before the
asset event is stored, so consumers still list the prefix (`mlops_lib.landing.batches`) to decide
what is complete.

Pure functions plus boto3 calls on clients passed in; no Airflow, no pandas.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

log = logging.getLogger(__name__)

NOTIFICATION_EVENTS = ["s3:ObjectCreated:*"]
_CONFIG_KINDS = ("TopicConfigurations", "QueueConfigurations", "LambdaFunctionConfigurations",
                 "EventBridgeConfiguration")


@dataclass(frozen=True)
class S3EventRecord:
    """One object event, as S3 reported it (key already URL-decoded)."""

    event_name: str  # e.g. "ObjectCreated:Put" (S3 drops the "s3:" of the configured name)
    bucket: str
    key: str
    etag: str        # without quotes; "" when the event has none (removals)
    size: int        # 0 when the event has none
    event_time: str  # ISO-8601, as S3 wrote it


def parse_messages(messages: Any) -> list[S3EventRecord]:
    """The S3 object events in whatever SqsSensorTrigger hands on, in delivery order.

    Accepts, nested in any combination: raw SQS messages (dicts with a JSON `Body`); the
    trigger's event payload `{"status": "success", "message_batch": [message, ...]}`; the
    extra of an asset event a watcher created, `{"from_trigger": True, "payload": <payload>}`;
    and lists of these (e.g. the extras of every event that triggered a DAG run).

    Bodies may be S3 notifications (`{"Records": [...]}`), the same wrapped by SNS
    (`{"Type": "Notification", "Message": "<json>"}`) or EventBridge "Object Created" events.
    `s3:TestEvent` messages (sent when a notification is configured) and bodies that are not
    S3 events are skipped.
    """
    return [record for message in _messages(messages) for record in _records(message)]


def batch_ids(records: Iterable[S3EventRecord], prefix: str) -> list[str]:
    """Batch folders touched by the events: the first path segment below `prefix`, in order
    of first appearance, each once (as `landing.batches.completed_batches` names batches)."""
    prefix = prefix.rstrip("/") + "/"
    seen: dict[str, None] = {}
    for record in records:
        if not record.key.startswith(prefix):
            continue
        batch_id, sep, name = record.key[len(prefix):].partition("/")
        if sep and batch_id and name:
            seen.setdefault(batch_id, None)
    return list(seen)


def ensure_notifications(s3: Any, sqs: Any, bucket: str, prefix: str, queue_name: str, *,
                         suffix: str | None = None) -> str:
    """Have `bucket` announce objects created under `prefix` (and ending in `suffix`, if given)
    on the SQS queue `queue_name`; returns the queue URL. Idempotent.

    Creates the queue when it is missing, with a policy that lets S3 (for this bucket only)
    send to it, which real S3 checks when the configuration is saved. The bucket's other
    notification configurations are kept; ours is the queue configuration with Id
    `ct-<queue_name>`, replaced when it differs. An unchanged configuration is not written
    again: every write makes S3 send an `s3:TestEvent` to each queue.
    """
    queue_url = _ensure_queue(sqs, queue_name, bucket)
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    rules = [{"Name": "prefix", "Value": prefix}]  # the API's spelling; S3 answers "Prefix"
    if suffix:
        rules.append({"Name": "suffix", "Value": suffix})
    ours = {"Id": f"ct-{queue_name}", "QueueArn": queue_arn, "Events": NOTIFICATION_EVENTS,
            "Filter": {"Key": {"FilterRules": rules}}}
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    config = {kind: _lower_rule_names(current[kind]) for kind in _CONFIG_KINDS if kind in current}
    queues = config.get("QueueConfigurations", [])
    existing = next((q for q in queues if q.get("Id") == ours["Id"]), None)
    if existing is not None and _same(existing, ours):
        return queue_url
    config["QueueConfigurations"] = [q for q in queues if q.get("Id") != ours["Id"]] + [ours]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    return queue_url


# -- parsing ---------------------------------------------------------------------------------
def _messages(value: Any) -> Iterable[Mapping[str, Any]]:
    """Raw SQS messages found in a message, payload, asset-event extra or a list of these."""
    if isinstance(value, Mapping):
        if "Body" in value:
            yield value
        elif "payload" in value:
            yield from _messages(value["payload"])
        elif "message_batch" in value:
            yield from _messages(value["message_batch"])
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        for item in value:
            yield from _messages(item)


def _records(message: Mapping[str, Any]) -> list[S3EventRecord]:
    body = _json(message.get("Body"))
    if isinstance(body, dict) and body.get("Type") == "Notification":  # S3 → SNS → SQS
        body = _json(body.get("Message"))
    if not isinstance(body, dict):
        log.warning("skipping SQS message %s: body is not JSON", message.get("MessageId"))
        return []
    if body.get("Event") == "s3:TestEvent":
        return []
    if body.get("source") == "aws.s3" and isinstance(body.get("detail"), dict):
        return [_eventbridge_record(body)]
    records = body.get("Records")
    if not isinstance(records, list):
        log.warning("skipping SQS message %s: not an S3 event", message.get("MessageId"))
        return []
    return [_notification_record(r) for r in records
            if isinstance(r, dict) and r.get("eventSource") == "aws:s3" and "s3" in r]


def _notification_record(record: Mapping[str, Any]) -> S3EventRecord:
    s3, obj = record["s3"], record["s3"]["object"]
    return S3EventRecord(
        event_name=str(record.get("eventName", "")), bucket=str(s3["bucket"]["name"]),
        # Notification keys are URL-encoded, with "+" for spaces.
        key=unquote_plus(str(obj["key"])),
        etag=str(obj.get("eTag", "")).strip('"'), size=int(obj.get("size", 0)),
        event_time=str(record.get("eventTime", "")))


def _eventbridge_record(body: Mapping[str, Any]) -> S3EventRecord:
    detail = body["detail"]
    obj = detail.get("object", {})
    return S3EventRecord(
        event_name=str(body.get("detail-type", "")), bucket=str(detail["bucket"]["name"]),
        key=str(obj["key"]),  # EventBridge keys are not URL-encoded
        etag=str(obj.get("etag", obj.get("eTag", ""))).strip('"'),
        size=int(obj.get("size", 0)), event_time=str(body.get("time", "")))


def _json(text: Any) -> Any:
    if isinstance(text, dict):
        return text
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


# -- wiring ----------------------------------------------------------------------------------
def _ensure_queue(sqs: Any, queue_name: str, bucket: str) -> str:
    try:
        return str(sqs.get_queue_url(QueueName=queue_name)["QueueUrl"])
    except sqs.exceptions.QueueDoesNotExist:
        pass
    queue_url = str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "s3-notifications", "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
        "Resource": arn, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}}]}
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    return queue_url


def _lower_rule_names(configs: Any) -> Any:
    """S3 answers "Prefix"/"Suffix" but documents (and moto only accepts) lower case."""
    if not isinstance(configs, list):
        return configs  # EventBridgeConfiguration: no filters
    for config in configs:
        for rule in config.get("Filter", {}).get("Key", {}).get("FilterRules", []):
            rule["Name"] = rule["Name"].lower()
    return configs


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Equal queue configurations; S3 may return filter rule names in another case."""
    def norm(q: Mapping[str, Any]) -> tuple[Any, ...]:
        rules = q.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        return (q.get("QueueArn"), sorted(q.get("Events", [])),
                sorted((r["Name"].lower(), r["Value"]) for r in rules))
    return norm(a) == norm(b)
