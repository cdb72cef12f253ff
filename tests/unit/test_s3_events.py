"""Reading S3 bucket notifications as SqsSensorTrigger hands them on (no services)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_lib.landing.s3_events import S3EventRecord, batch_ids, parse_messages
from mlops_lib.settings import Settings

pytestmark = pytest.mark.unit

PREFIX = "landing/credit_default/"


def s3_record(key: str, *, name: str = "ObjectCreated:Put", size: int = 1024,
              etag: str = "0123456789abcdef0123456789abcdef") -> dict[str, Any]:
    """A record as S3 writes it (notification-content-structure), key URL-encoded by S3."""
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T12:00:00.123Z", "eventName": name,
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "ct-credit-default-landing",
               "bucket": {"name": "ct-landing", "ownerIdentity": {"principalId": "A3NL1K"},
                          "arn": "arn:aws:s3:::ct-landing"},
               "object": {"key": key, "size": size, "eTag": etag,
                          "sequencer": "0055AED6DCD90281E5"}},
    }


def message(body: Any, message_id: str = "m1") -> dict[str, Any]:
    """A raw SQS message as ReceiveMessage returns it (and the trigger passes on)."""
    text = body if isinstance(body, str) else json.dumps(body)
    return {"MessageId": message_id, "ReceiptHandle": f"rh-{message_id}",
            "MD5OfBody": "d41d8cd98f00b204e9800998ecf8427e", "Body": text}


TEST_EVENT = {"Service": "Amazon S3", "Event": "s3:TestEvent",
              "Time": "2024-05-01T11:59:00.000Z", "Bucket": "ct-landing",
              "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3e"}


def test_parses_records_and_url_decodes_keys() -> None:
    msgs = [message({"Records": [
        s3_record("landing/credit_default/b+1/part-0.parquet", etag='"abc"'),
        s3_record("landing/credit_default/b%C3%A9%2B2/data%3D1.parquet", size=7)]})]

    records = parse_messages(msgs)

    assert records == [
        S3EventRecord("ObjectCreated:Put", "ct-landing",
                      "landing/credit_default/b 1/part-0.parquet", "abc", 1024,
                      "2024-05-01T12:00:00.123Z"),
        S3EventRecord("ObjectCreated:Put", "ct-landing",
                      "landing/credit_default/bé+2/data=1.parquet", "0123456789abcdef"
                      "0123456789abcdef", 7, "2024-05-01T12:00:00.123Z"),
    ]


def test_skips_test_events_and_bodies_that_are_not_s3_events() -> None:
    msgs = [message(TEST_EVENT, "t"), message("not json", "x"), message({"hello": 1}, "h"),
            message({"Records": [{"eventSource": "aws:dynamodb"}]}, "d"),
            message({"Records": [s3_record(f"{PREFIX}b1/_SUCCESS", size=0)]}, "ok")]

    assert [r.key for r in parse_messages(msgs)] == [f"{PREFIX}b1/_SUCCESS"]


def test_accepts_trigger_payloads_asset_event_extras_and_lists_of_them() -> None:
    batch = [message({"Records": [s3_record(f"{PREFIX}b1/_SUCCESS")]}, "1"),
             message({"Records": [s3_record(f"{PREFIX}b2/_SUCCESS")]}, "2")]
    payload = {"status": "success", "message_batch": batch}
    extra = {"from_trigger": True, "payload": payload}
    keys = [f"{PREFIX}b1/_SUCCESS", f"{PREFIX}b2/_SUCCESS"]

    assert [r.key for r in parse_messages(payload)] == keys
    assert [r.key for r in parse_messages(extra)] == keys
    assert [r.key for r in parse_messages([extra, {"from_trigger": True, "payload": {
        "status": "success", "message_batch": batch[:1]}}])] == [*keys, keys[0]]
    assert parse_messages({"from_trigger": True, "payload": {}}) == []
    assert parse_messages([]) == []


def test_unwraps_sns_envelopes_and_reads_eventbridge_events() -> None:
    sns = {"Type": "Notification", "MessageId": "n1", "TopicArn": "arn:aws:sns:us-east-1:1:t",
           "Message": json.dumps({"Records": [s3_record(f"{PREFIX}b1/x%20y.parquet")]})}
    eventbridge = {"version": "0", "source": "aws.s3", "detail-type": "Object Created",
                   "time": "2024-05-01T12:00:01Z",
                   "detail": {"bucket": {"name": "ct-landing"},
                              "object": {"key": f"{PREFIX}b2/a b.parquet", "size": 5,
                                         "etag": "e2"}}}

    records = parse_messages([message(sns, "s"), message(eventbridge, "e")])

    assert [(r.key, r.etag, r.size) for r in records] == [
        (f"{PREFIX}b1/x y.parquet", "0123456789abcdef0123456789abcdef", 1024),
        (f"{PREFIX}b2/a b.parquet", "e2", 5)]
    assert records[1].event_name == "Object Created"


def test_batch_ids_are_first_segments_below_the_prefix_each_once_in_order() -> None:
    keys = [f"{PREFIX}b2/part-0.parquet", f"{PREFIX}b1/_SUCCESS", f"{PREFIX}b2/_SUCCESS",
            f"{PREFIX}loose-file.parquet", "landing/other/b9/_SUCCESS",
            f"{PREFIX}b3/nested/part-0.parquet"]
    records = [S3EventRecord("ObjectCreated:Put", "ct-landing", k, "e", 1, "t") for k in keys]

    assert batch_ids(records, PREFIX) == ["b2", "b1", "b3"]
    assert batch_ids(records, PREFIX.rstrip("/")) == ["b2", "b1", "b3"]
    assert batch_ids([], PREFIX) == []


def test_sqs_queue_url_builds_moto_urls_and_keeps_urls() -> None:
    local = Settings.from_env({"CT_S3_ENDPOINT_URL": "http://127.0.0.1:9000/"})
    aws = Settings.from_env({})
    url = "https://sqs.eu-west-1.amazonaws.com/210987654321/landing"

    assert local.sqs_endpoint_url == "http://127.0.0.1:9000/"
    assert local.sqs_queue_url("landing") == "http://127.0.0.1:9000/123456789012/landing"
    assert Settings.from_env({"CT_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
                              "CT_SQS_ENDPOINT_URL": "http://127.0.0.1:9324"}
                             ).sqs_queue_url("q") == "http://127.0.0.1:9324/123456789012/q"
    assert local.sqs_queue_url(url) == url and aws.sqs_queue_url(url) == url
    with pytest.raises(ValueError, match="queue URL"):
        aws.sqs_queue_url("landing")
