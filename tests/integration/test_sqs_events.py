"""The events arrival mode against moto's server over HTTP: S3 bucket notifications land on an
SQS queue, which the landing asset's watcher (the amazon provider's SqsSensorTrigger, through
the connection `ct_s3` given by env) reads; and the local stack's `CT_S3_SERVER=moto`."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.support import isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import

from ct_airflow.assets import landing_asset, landing_trigger  # noqa: E402

from mlops_dev import devstack  # noqa: E402
from mlops_lib.landing.s3_events import batch_ids, ensure_notifications, parse_messages  # noqa: E402
from mlops_lib.settings import Settings  # noqa: E402
from mlops_lib.spec import PipelineSpec, Source, TriggerConfig  # noqa: E402
from tests.support import EXAMPLE_SPEC, free_port  # noqa: E402

pytestmark = pytest.mark.integration

PREFIX = "landing/credit_default/"


@pytest.fixture(autouse=True)
def ct_s3_connection(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> None:
    """As the local stack sets it: one endpoint_url, which the provider uses for SQS too."""
    monkeypatch.setenv("AIRFLOW_CONN_CT_S3", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }))


@pytest.fixture
def sqs(s3_endpoint: str) -> Any:
    return boto3.client("sqs", endpoint_url=s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def queue() -> str:
    return f"ct-landing-{uuid.uuid4().hex[:8]}"


def events_spec(spec: PipelineSpec, bucket: str, queue: str) -> PipelineSpec:
    return replace(spec, source=replace(spec.source, bucket=bucket, prefix=PREFIX),
                   trigger=TriggerConfig(mode="events", sqs_queue=queue))


def settings_for(endpoint: str) -> Settings:
    return Settings.from_env({"CT_S3_ENDPOINT_URL": endpoint})


async def first_event(trigger: Any) -> Any:
    """What the triggerer does: run the trigger until its first event, then close it."""
    events = trigger.run()
    try:
        return await asyncio.wait_for(events.asend(None), timeout=30)
    finally:
        await events.aclose()


def rules(config: dict[str, Any]) -> list[tuple[str, str]]:
    """A configuration's filter rules; S3 may answer "Prefix" for the "prefix" it was given."""
    return [(r["Name"].lower(), r["Value"]) for r in config["Filter"]["Key"]["FilterRules"]]


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                       WaitTimeSeconds=0).get("Messages", []):
        out += batch
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch])
    return out


def test_notifications_reach_the_watcher_trigger(s3: Any, sqs: Any, bucket: str, queue: str,
                                                 spec: PipelineSpec, s3_endpoint: str) -> None:
    other_url = sqs.create_queue(QueueName=f"other-{queue}")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    other = {"Id": "someone-else", "QueueArn": other_arn, "Events": ["s3:ObjectRemoved:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "archive/"}]}}}
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [other]})

    url = ensure_notifications(s3, sqs, bucket, PREFIX, queue)
    assert ensure_notifications(s3, sqs, bucket, PREFIX, queue) == url
    settings = settings_for(s3_endpoint)
    assert url == settings.sqs_queue_url(queue)  # the URL the watcher builds from the name

    configs = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert sorted(c["Id"] for c in configs) == sorted(["someone-else", f"ct-{queue}"])
    ours = next(c for c in configs if c["Id"] == f"ct-{queue}")
    assert ours["Events"] == ["s3:ObjectCreated:*"]
    assert rules(ours) == [("prefix", PREFIX)]

    s3.put_object(Bucket=bucket, Key=f"{PREFIX}b1/part-0.parquet", Body=b"PAR1 data")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}b1/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key="elsewhere/b9/_SUCCESS", Body=b"")  # outside the prefix

    trigger = landing_trigger(events_spec(spec, bucket, queue), settings)
    event = asyncio.run(first_event(trigger))

    assert event.payload["status"] == "success"
    messages = event.payload["message_batch"]
    bodies = [json.loads(m["Body"]) for m in messages]
    # One test event: the second ensure_notifications did not rewrite the configuration.
    assert [b.get("Event") for b in bodies].count("s3:TestEvent") == 1
    # What the watcher's asset event stores (after a JSON round trip in the triggerer).
    extra = json.loads(json.dumps({"from_trigger": True, "payload": event.payload}))
    records = parse_messages(extra)
    assert [r.key for r in records] == [f"{PREFIX}b1/part-0.parquet", f"{PREFIX}b1/_SUCCESS"]
    assert {r.bucket for r in records} == {bucket}
    assert records[0].size == 9 and records[0].etag
    assert records[0].event_name.startswith("ObjectCreated:")
    assert batch_ids(records, PREFIX) == ["b1"]
    assert drain(sqs, url) == []  # deleted on reception


def test_a_suffix_announces_only_completion_markers(s3: Any, sqs: Any, bucket: str,
                                                    queue: str) -> None:
    url = ensure_notifications(s3, sqs, bucket, PREFIX, queue, suffix="_SUCCESS")
    drain(sqs, url)  # the test event
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}b 2/part 0.parquet", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}b 2/_SUCCESS", Body=b"")

    records = parse_messages(drain(sqs, url))

    assert [r.key for r in records] == [f"{PREFIX}b 2/_SUCCESS"]  # URL-decoded
    assert batch_ids(records, PREFIX) == ["b 2"]
    # Moving the filter replaces our configuration instead of adding a second one.
    ensure_notifications(s3, sqs, bucket, PREFIX, queue)
    configs = s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"]
    assert [rules(c) for c in configs] == [[("prefix", PREFIX)]]


def test_landing_asset_watches_the_queue(spec: PipelineSpec, s3_endpoint: str) -> None:
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    asset = landing_asset(events_spec(spec, "ct-landing", "ct-credit"), settings_for(s3_endpoint))

    # Airflow normalises the URI: no trailing slash.
    assert (asset.name, asset.uri) == ("credit_default_landing",
                                       "s3://ct-landing/landing/credit_default")
    [watcher] = asset.watchers
    assert watcher.name == "credit_default_sqs"
    assert watcher.trigger.serialize() == (
        "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger",
        {"sqs_queue": f"{s3_endpoint}/123456789012/ct-credit", "aws_conn_id": "ct_s3",
         "max_messages": 10, "num_batches": 1, "wait_time_seconds": 20,
         "visibility_timeout": None, "message_filtering": None,
         "delete_message_on_reception": True, "message_filtering_match_values": None,
         "message_filtering_config": None, "waiter_delay": 1, "region_name": None,
         "verify": None, "botocore_config": None})
    # The dag-processor must be able to store a DAG scheduled on it (watchers included).
    with DAG("ct_events_probe", schedule=[asset]) as dag:
        pass
    serialized = json.dumps(DagSerialization.to_dict(dag))
    assert "SqsSensorTrigger" in serialized and "ct-credit" in serialized


def test_landing_asset_needs_a_queue(spec: PipelineSpec, s3_endpoint: str) -> None:
    with pytest.raises(ValueError, match="sqs_queue"):
        landing_asset(replace(spec, source=Source(bucket="b", prefix=PREFIX)),
                      settings_for(s3_endpoint))


def test_stack_on_moto_wires_events_pipelines(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["trigger"] = {"mode": "events", "sqs_queue": "ct-credit-default-landing"}
    (pipelines / "credit_default.yaml").write_text(yaml.safe_dump(raw))
    cfg = devstack.StackConfig(home=tmp_path / "home", s3_port=free_port(), s3_server="moto",
                               pipelines_dir=pipelines)
    assert cfg.service_env()["CT_SQS_ENDPOINT_URL"] == cfg.s3_url
    said: list[str] = []
    try:
        devstack.start_s3(cfg, echo=said.append)
        devstack.start_s3(cfg, echo=said.append)  # already running: wiring is idempotent
        s3, sqs = devstack.aws_client(cfg, "s3"), devstack.aws_client(cfg, "sqs")
        url = Settings.from_env(cfg.service_env()).sqs_queue_url("ct-credit-default-landing")
        s3.put_object(Bucket="ct-landing", Key=f"{PREFIX}b1/part-0.parquet", Body=b"x")
        s3.put_object(Bucket="ct-landing", Key=f"{PREFIX}b1/_SUCCESS", Body=b"")

        records = parse_messages(drain(sqs, url))

        assert [r.key for r in records] == [f"{PREFIX}b1/_SUCCESS"]  # the marker only
        assert any("notifies" in line for line in said)
    finally:
        devstack.down(cfg, echo=lambda _: None)
    assert not (cfg.run_dir / "s3.pid").exists()


def test_stack_server_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_S3_SERVER", raising=False)
    assert devstack.StackConfig.from_env().s3_server == "s3rver"
    assert "CT_SQS_ENDPOINT_URL" not in devstack.StackConfig.from_env().service_env()
    monkeypatch.setenv("CT_S3_SERVER", "moto")
    cfg = devstack.StackConfig.from_env()
    assert cfg.s3_server == "moto"
    assert cfg.service_env()["CT_SQS_ENDPOINT_URL"] == cfg.s3_url
    monkeypatch.setenv("CT_S3_SERVER", "minio")
    with pytest.raises(devstack.StackError, match="s3rver or moto"):
        devstack.StackConfig.from_env()


def test_stack_on_s3rver_warns_about_events_pipelines(tmp_path: Path) -> None:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["trigger"] = {"mode": "events", "sqs_queue": "q"}
    (pipelines / "credit_default.yaml").write_text(yaml.safe_dump(raw))
    said: list[str] = []

    devstack.ensure_event_queues(devstack.StackConfig(home=tmp_path, pipelines_dir=pipelines),
                                 echo=said.append)

    assert len(said) == 1 and "CT_S3_SERVER=moto" in said[0] and "credit_default" in said[0]
