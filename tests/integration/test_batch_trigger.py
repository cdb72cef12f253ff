"""The S3 batch trigger (triggerer, async) and sensor (worker, sync) against a real S3 API
(moto's server over HTTP), reached through an Airflow connection `ct_s3` given by env."""

from __future__ import annotations

import asyncio
import atexit
import importlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

# Airflow reads its home once, at import; keep it out of ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ct_airflow_home_")
    atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)

from airflow.sdk.exceptions import AirflowException, TaskDeferred  # noqa: E402
from ct_airflow.sensors import S3BatchSensor  # noqa: E402
from ct_airflow.triggers import S3BatchTrigger  # noqa: E402

from mlops_lib.manifest import build_manifest  # noqa: E402
from mlops_lib.s3io import upload_batch  # noqa: E402
from mlops_lib.store import Store  # noqa: E402

pytestmark = pytest.mark.integration

PREFIX = "landing/demo/"
MARKER = "_SUCCESS"
PIPELINE = "demo"


@pytest.fixture(autouse=True)
def ct_s3_connection(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CT_S3", json.dumps({
        "conn_type": "aws", "login": "testing", "password": "testing",
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }))


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("CT_STORE_URL", url)
    return url


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def import_string(path: str) -> Any:
    """What the triggerer does with a serialized class path."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def make_trigger(bucket: str, known: list[str] | None = None, **kw: Any) -> S3BatchTrigger:
    return S3BatchTrigger(bucket=bucket, prefix=PREFIX,
                          completion=kw.pop("completion", MARKER),
                          known_batch_ids=known or [], aws_conn_id="ct_s3",
                          poke_interval=kw.pop("poke_interval", 0.1), **kw)


def make_sensor(bucket: str, **kw: Any) -> S3BatchSensor:
    return S3BatchSensor(task_id="wait_for_batch", pipeline=PIPELINE, bucket=bucket,
                         prefix=PREFIX, completion=kw.pop("completion", MARKER),
                         poke_interval=0.1, **kw)


def write_batch(s3: Any, bucket: str, batch_id: str, files: dict[str, bytes] | None = None,
                *, complete: bool = True) -> None:
    files = files or {"part-0.parquet": f"rows of {batch_id}".encode()}
    if complete:
        upload_batch(s3, bucket, PREFIX, batch_id, files, marker=MARKER)
    else:  # a producer still writing: data files, no marker yet
        for name, body in files.items():
            s3.put_object(Bucket=bucket, Key=f"{PREFIX}{batch_id}/{name}", Body=body)


async def _first_event(trigger: S3BatchTrigger, timeout: float) -> dict[str, Any]:
    gen: AsyncIterator[Any] = trigger.run()
    try:
        event = await asyncio.wait_for(gen.__anext__(), timeout)
        return event.payload
    finally:
        await gen.aclose()  # type: ignore[attr-defined]


def first_event(trigger: S3BatchTrigger, timeout: float = 20.0) -> dict[str, Any]:
    return asyncio.run(_first_event(trigger, timeout))


def assert_pending(trigger: S3BatchTrigger, wait: float = 1.5) -> None:
    with pytest.raises(TimeoutError):
        first_event(trigger, timeout=wait)


# -- trigger ---------------------------------------------------------------------------------
def test_serialize_is_exact() -> None:
    trigger = S3BatchTrigger(bucket="b", prefix="landing/x/", completion="_DONE",
                             known_batch_ids=["2026-01-01", "2026-01-02"], aws_conn_id="ct_s3",
                             poke_interval=2.5)
    assert trigger.serialize() == (
        "ct_airflow.triggers.S3BatchTrigger",
        {"bucket": "b", "prefix": "landing/x/",
         "completion": {"mode": "marker", "marker": "_DONE", "quiet_period_s": 60.0},
         "known_batch_ids": ["2026-01-01", "2026-01-02"], "aws_conn_id": "ct_s3",
         "poke_interval": 2.5},
    )


def test_serialized_kwargs_are_json_and_rebuild_an_equal_trigger() -> None:
    trigger = make_trigger("b", ["x"])
    path, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))  # the triggerer stores them as JSON
    rebuilt = import_string(path)(**kwargs)
    assert type(rebuilt) is S3BatchTrigger
    assert rebuilt.serialize() == trigger.serialize()


def test_completed_batch_fires_success(s3: Any, bucket: str) -> None:
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"abc", "part-1.parquet": b"defg"})

    event = first_event(make_trigger(bucket))

    assert event["status"] == "success"
    batch = event["batch"]
    assert batch["batch_id"] == "2026-05-01"
    assert batch["prefix"] == f"{PREFIX}2026-05-01/"
    assert batch["marker_key"] == f"{PREFIX}2026-05-01/{MARKER}"
    assert [(f["key"], f["size"]) for f in batch["files"]] == [
        (f"{PREFIX}2026-05-01/part-0.parquet", 3), (f"{PREFIX}2026-05-01/part-1.parquet", 4)]
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}2026-05-01/part-0.parquet")
    assert batch["files"][0]["etag"] == head["ETag"].strip('"')
    assert len(batch["fingerprint"]) == 64


def test_half_written_batch_is_pending(s3: Any, bucket: str) -> None:
    write_batch(s3, bucket, "2026-05-01", complete=False)
    assert_pending(make_trigger(bucket))


def test_empty_prefix_is_pending(bucket: str) -> None:
    assert_pending(make_trigger(bucket))


def test_pending_trigger_fires_once_the_marker_lands(s3: Any, bucket: str) -> None:
    write_batch(s3, bucket, "2026-05-01", complete=False)

    async def scenario() -> dict[str, Any]:
        gen = make_trigger(bucket).run()
        nxt = asyncio.ensure_future(gen.__anext__())
        try:
            await asyncio.sleep(1.0)
            assert not nxt.done(), "fired before the marker was written"
            await asyncio.to_thread(s3.put_object, Bucket=bucket,
                                    Key=f"{PREFIX}2026-05-01/{MARKER}", Body=b"")
            return (await asyncio.wait_for(nxt, 20)).payload
        finally:
            nxt.cancel()
            await gen.aclose()

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert event["batch"]["batch_id"] == "2026-05-01"


def test_missing_bucket_fires_error(s3: Any) -> None:
    event = first_event(make_trigger(f"missing-{uuid.uuid4().hex[:12]}"))
    assert event["status"] == "error"
    assert "NoSuchBucket" in event["message"]


def test_known_batch_ids_are_skipped(s3: Any, bucket: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")

    assert first_event(make_trigger(bucket))["batch"]["batch_id"] == "2026-05-01"
    assert first_event(make_trigger(bucket, ["2026-05-01"]))["batch"]["batch_id"] == "2026-05-02"
    assert_pending(make_trigger(bucket, ["2026-05-01", "2026-05-02"]))


def test_rebuilt_trigger_fires_on_the_same_batch(s3: Any, bucket: str) -> None:
    """Stateless: a triggerer restart rebuilds it from its kwargs and gets the same event."""
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")
    trigger = make_trigger(bucket, ["2026-05-01"])
    path, kwargs = trigger.serialize()

    first = first_event(trigger)
    again = first_event(trigger)
    rebuilt = first_event(import_string(path)(**json.loads(json.dumps(kwargs))))

    assert first["status"] == "success"
    assert first == again == rebuilt


# -- sensor ----------------------------------------------------------------------------------
def test_poke_and_trigger_agree(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01", {"a.parquet": b"1", "b.parquet": b"22"})
    write_batch(s3, bucket, "2026-05-02")
    write_batch(s3, bucket, "2026-05-03", complete=False)
    sensor = make_sensor(bucket)

    poked = sensor.poke({})
    event = first_event(make_trigger(bucket, sensor.known_batch_ids()))

    assert poked.is_done
    assert event["status"] == "success"
    assert poked.xcom_value == event["batch"]
    assert poked.xcom_value["batch_id"] == "2026-05-01"


def test_poke_skips_batches_in_the_store(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")
    sensor = make_sensor(bucket)
    first = sensor.poke({}).xcom_value
    Store(store_env).claim_batch(PIPELINE, first["batch_id"], first["fingerprint"],
                                 first["files"], "run-1")
    # Another pipeline's claims don't count.
    Store(store_env).claim_batch("other", "2026-05-02", "f", [], "run-x")

    assert sensor.known_batch_ids() == ["2026-05-01"]
    poked = sensor.poke({})
    assert poked.is_done
    assert poked.xcom_value["batch_id"] == "2026-05-02"
    assert poked.xcom_value == first_event(make_trigger(bucket, ["2026-05-01"]))["batch"]


def test_poke_not_done_without_a_marker(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01", complete=False)
    poked = make_sensor(bucket).poke({})
    assert not poked.is_done
    assert poked.xcom_value is None


def test_execute_defers_when_nothing_is_ready(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02", complete=False)
    Store(store_env).claim_batch(PIPELINE, "2026-05-01", "f", [], "run-1")
    sensor = make_sensor(bucket, timeout=3600)

    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})

    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=3600)
    trigger = deferred.trigger
    assert isinstance(trigger, S3BatchTrigger)
    assert trigger.serialize() == make_trigger(bucket, ["2026-05-01"]).serialize()
    # ...and what it waits for is exactly the batch the sensor would take once complete.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}2026-05-02/{MARKER}", Body=b"")
    event = first_event(trigger)
    assert event["batch"]["batch_id"] == "2026-05-02"
    assert sensor.execute_complete({}, event) == event["batch"] == sensor.poke({}).xcom_value


def test_execute_returns_a_ready_batch_without_deferring(s3: Any, bucket: str,
                                                          store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    result = make_sensor(bucket).execute({})
    assert result["batch_id"] == "2026-05-01"
    assert result == first_event(make_trigger(bucket))["batch"]


def test_execute_complete_raises_on_error_event(bucket: str) -> None:
    sensor = make_sensor(bucket)
    with pytest.raises(AirflowException, match="NoSuchBucket: gone"):
        sensor.execute_complete({}, {"status": "error", "message": "NoSuchBucket: gone"})


def test_deferred_error_reaches_the_task(s3: Any, store_env: str) -> None:
    """Missing bucket: the trigger's error event makes execute_complete fail the task."""
    sensor = make_sensor(f"missing-{uuid.uuid4().hex[:12]}")
    event = first_event(make_trigger(sensor.bucket))
    with pytest.raises(AirflowException, match="NoSuchBucket"):
        sensor.execute_complete({}, event)


def test_listing_spans_pages(s3: Any, bucket: str, store_env: str) -> None:
    """More than one ListObjectsV2 page (1000 keys): the marker is on the second page."""
    files = {f"A-{i:04d}.parquet": b"x" for i in range(1001)}  # 'A' sorts before '_SUCCESS'
    write_batch(s3, bucket, "2026-05-01", files)

    poked = make_sensor(bucket).poke({})
    event = first_event(make_trigger(bucket))

    assert poked.is_done
    assert len(poked.xcom_value["files"]) == 1001
    assert event["batch"] == poked.xcom_value


# -- manifest and quiet-period completion -----------------------------------------------------
MANIFEST = {"mode": "manifest", "marker": "_manifest.json", "quiet_period_s": 60.0}


def write_manifest_batch(s3: Any, bucket: str, batch_id: str, files: dict[str, bytes],
                         *, listed: dict[str, bytes] | None = None) -> None:
    """Data files, then a manifest (written last) listing `listed` (default: the files)."""
    base = f"{PREFIX}{batch_id}/"
    for name, body in files.items():
        s3.put_object(Bucket=bucket, Key=base + name, Body=body)
    listed = files if listed is None else listed
    s3.put_object(Bucket=bucket, Key=base + "_manifest.json",
                  Body=build_manifest(listed, {n: 1 for n in listed}))


def test_manifest_batch_waits_for_every_listed_file(s3: Any, bucket: str) -> None:
    write_manifest_batch(s3, bucket, "m1", {"part-0.csv": b"a\n1\n"},
                         listed={"part-0.csv": b"a\n1\n", "part-1.csv": b"a\n2\n"})
    assert_pending(make_trigger(bucket, completion=MANIFEST))

    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-1.csv", Body=b"a\n2\n")
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    assert event["status"] == "success"
    assert [f["key"] for f in event["batch"]["files"]] == [f"{PREFIX}m1/part-0.csv",
                                                           f"{PREFIX}m1/part-1.csv"]


def test_manifest_file_at_the_wrong_size_is_not_landed(s3: Any, bucket: str) -> None:
    write_manifest_batch(s3, bucket, "m1", {"part-0.csv": b"a\n1"},  # still being written
                         listed={"part-0.csv": b"a\n1\n"})
    assert_pending(make_trigger(bucket, completion=MANIFEST))


def test_manifest_defines_the_batch_files(s3: Any, bucket: str, store_env: str) -> None:
    write_manifest_batch(s3, bucket, "m1", {"part-0.csv": b"a\n1\n", "stray.csv": b"a\n9\n"},
                         listed={"part-0.csv": b"a\n1\n"})
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    poked = make_sensor(bucket, completion=MANIFEST).poke({})  # type: ignore[arg-type]
    assert [f["key"] for f in event["batch"]["files"]] == [f"{PREFIX}m1/part-0.csv"]
    assert poked.is_done and poked.xcom_value == event["batch"]


def test_unreadable_manifest_still_completes_the_batch(s3: Any, bucket: str) -> None:
    # The producer said "done"; validation rejects it with MANIFEST_INVALID, the sensor must
    # not wait forever.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-0.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=b"{not json")
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    assert event["status"] == "success" and event["batch"]["batch_id"] == "m1"


def test_quiet_period_batch_fires_after_the_folder_goes_quiet(s3: Any, bucket: str) -> None:
    quiet = {"mode": "quiet", "marker": "_SUCCESS", "quiet_period_s": 2.0}
    write_batch(s3, bucket, "q1", complete=False)
    assert_pending(make_trigger(bucket, completion=quiet), wait=0.5)
    event = first_event(make_trigger(bucket, completion=quiet, poke_interval=0.5), timeout=10)
    assert event["status"] == "success" and event["batch"]["marker_key"] == ""
