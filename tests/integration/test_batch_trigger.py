"""The S3 batch trigger (triggerer, async) and sensor (worker, sync) against a real S3 API
(moto's server over HTTP), reached through an Airflow connection `ct_s3` given by env."""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support import isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import

from airflow.sdk.exceptions import AirflowException, TaskDeferred  # noqa: E402
from ct_airflow.hooks import BatchLandingHook, landing_hook  # noqa: E402
from ct_airflow.sensors import S3BatchSensor  # noqa: E402
from ct_airflow.triggers import S3BatchTrigger  # noqa: E402

from mlops_lib.landing.manifest import build_manifest  # noqa: E402
from mlops_lib.stores.s3io import upload_batch  # noqa: E402
from mlops_lib.stores.store import Store  # noqa: E402

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
    landing_hook.cache_clear()  # the hook is per process: each test reads its connection anew


@pytest.fixture(autouse=True)
def store_env(monkeypatch: pytest.MonkeyPatch, store_url: str) -> str:
    """The project store the sensor and trigger ask what was seen (SQLite, or PostgreSQL in
    CI): through CT_STORE_URL, as in a deployment."""
    monkeypatch.setenv("CT_STORE_URL", store_url)  # upgraded by the store_url fixture
    return store_url


def claim(store_url: str, batch: dict[str, Any], pipeline: str = PIPELINE) -> None:
    """What the ingest run does with a batch the sensor found: the store has seen it."""
    store = Store(store_url)
    store.claim_batch(pipeline, batch["batch_id"], batch["fingerprint"], batch["files"], "run-1")
    store.engine.dispose()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def import_string(path: str) -> Any:
    """What the triggerer does with a serialized class path."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def make_trigger(bucket: str, **kw: Any) -> S3BatchTrigger:
    return S3BatchTrigger(pipeline=PIPELINE, bucket=bucket, prefix=PREFIX,
                          completion=kw.pop("completion", MARKER), aws_conn_id="ct_s3",
                          poke_interval=kw.pop("poke_interval", 0.1), **kw)


def first_batch(event: dict[str, Any]) -> dict[str, Any]:
    assert event["status"] == "success", event
    return event["batches"][0]


def make_sensor(bucket: str, **kw: Any) -> S3BatchSensor:
    return S3BatchSensor(task_id="wait_for_batches", pipeline=PIPELINE, bucket=bucket,
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


# -- hook ------------------------------------------------------------------------------------
def test_the_hook_is_made_once_per_process(s3: Any, bucket: str, store_env: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Pokes and triggers share one hook per connection: its S3 client is not rebuilt."""
    made: list[dict[str, Any]] = []
    init = BatchLandingHook.__init__

    def counting(self: BatchLandingHook, *args: Any, **kwargs: Any) -> None:
        made.append(kwargs)
        init(self, *args, **kwargs)

    monkeypatch.setattr(BatchLandingHook, "__init__", counting)
    write_batch(s3, bucket, "2026-05-01")
    sensor = make_sensor(bucket)

    assert sensor.poke({}).xcom_value == sensor.poke({}).xcom_value
    assert make_trigger(bucket).hook() is landing_hook("ct_s3")
    assert made == [{"aws_conn_id": "ct_s3"}]


# -- trigger ---------------------------------------------------------------------------------
def test_serialize_is_exact() -> None:
    trigger = S3BatchTrigger(pipeline="p", bucket="b", prefix="landing/x/", completion="_DONE",
                             aws_conn_id="ct_s3", poke_interval=2.5, max_batches=4)
    assert trigger.serialize() == (
        "ct_airflow.triggers.S3BatchTrigger",
        {"pipeline": "p", "bucket": "b", "prefix": "landing/x/",
         "completion": {"mode": "marker", "marker": "_DONE", "quiet_period_s": 60.0},
         "aws_conn_id": "ct_s3", "poke_interval": 2.5, "max_batches": 4, "store_url": None,
         "seen": "known_batches"},
    )


def test_serialized_kwargs_are_json_and_rebuild_an_equal_trigger() -> None:
    trigger = make_trigger("b", store_url="sqlite:////tmp/x.db")
    path, kwargs = trigger.serialize()
    kwargs = json.loads(json.dumps(kwargs))  # the triggerer stores them as JSON
    rebuilt = import_string(path)(**kwargs)
    assert type(rebuilt) is S3BatchTrigger
    assert rebuilt.serialize() == trigger.serialize()


def test_completed_batch_fires_success(s3: Any, bucket: str) -> None:
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"abc", "part-1.parquet": b"defg"})

    event = first_event(make_trigger(bucket))

    assert event["status"] == "success"
    [batch] = event["batches"]
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
    assert first_batch(event)["batch_id"] == "2026-05-01"


def test_missing_bucket_fires_error(s3: Any) -> None:
    event = first_event(make_trigger(f"missing-{uuid.uuid4().hex[:12]}"))
    assert event["status"] == "error"
    assert "NoSuchBucket" in event["message"]


def test_batches_the_store_has_seen_are_skipped(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")

    both = first_event(make_trigger(bucket))["batches"]
    assert [b["batch_id"] for b in both] == ["2026-05-01", "2026-05-02"]
    assert [b["batch_id"] for b in first_event(make_trigger(bucket, max_batches=1))[
        "batches"]] == ["2026-05-01"]
    claim(store_env, both[0])
    claim(store_env, both[1], pipeline="other")  # another pipeline's records don't count
    assert first_batch(first_event(make_trigger(bucket)))["batch_id"] == "2026-05-02"
    claim(store_env, both[1])
    assert_pending(make_trigger(bucket))


def test_a_changed_reupload_fires_once(s3: Any, bucket: str, store_env: str) -> None:
    """Same batch id, other bytes: it must reach the ingest run (which refuses it with
    BATCH_CHANGED and records it), not be skipped silently as "seen"."""
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"first"})
    first = first_batch(first_event(make_trigger(bucket)))
    claim(store_env, first)
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"second version"})
    changed = first_batch(first_event(make_trigger(bucket)))
    assert changed["batch_id"] == "2026-05-01"
    assert changed["fingerprint"] != first["fingerprint"]
    store = Store(store_env)
    store.record_batch_conflict(PIPELINE, "2026-05-01", changed["fingerprint"],
                                changed["files"], "run-2")
    store.engine.dispose()
    assert_pending(make_trigger(bucket))


def test_multipart_upload_in_progress_never_fires(s3: Any, bucket: str) -> None:
    """A data file still being uploaded in parts is invisible to listings: with a marker the
    batch waits for the marker; with a quiet period the upload in progress keeps it open."""
    key = f"{PREFIX}q1/part-1.parquet"
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}q1/part-0.parquet", Body=b"landed")
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1,
                   Body=b"x" * (5 * 1024 * 1024))
    quiet = {"mode": "quiet", "marker": "_SUCCESS", "quiet_period_s": 0.5}
    assert_pending(make_trigger(bucket), wait=1.0)
    assert_pending(make_trigger(bucket, completion=quiet), wait=2.0)
    assert not make_sensor(bucket, completion=quiet).poke({}).is_done
    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
    event = first_event(make_trigger(bucket, completion=quiet, poke_interval=0.2))
    assert first_batch(event)["batch_id"] == "q1"


def test_rebuilt_trigger_fires_on_the_same_batch(s3: Any, bucket: str, store_env: str) -> None:
    """Stateless: a triggerer restart rebuilds it from its kwargs and gets the same event."""
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")
    claim(store_env, first_batch(first_event(make_trigger(bucket))))
    trigger = make_trigger(bucket)
    path, kwargs = trigger.serialize()

    first = first_event(trigger)
    again = first_event(trigger)
    rebuilt = first_event(import_string(path)(**json.loads(json.dumps(kwargs))))

    assert [b["batch_id"] for b in first["batches"]] == ["2026-05-02"]
    assert first == again == rebuilt


# -- sensor ----------------------------------------------------------------------------------
def test_poke_and_trigger_agree(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01", {"a.parquet": b"1", "b.parquet": b"22"})
    write_batch(s3, bucket, "2026-05-02")
    write_batch(s3, bucket, "2026-05-03", complete=False)
    sensor = make_sensor(bucket)

    poked = sensor.poke({})
    event = first_event(make_trigger(bucket))

    assert poked.is_done
    assert event["status"] == "success"
    assert poked.xcom_value == event["batches"]
    assert [b["batch_id"] for b in poked.xcom_value] == ["2026-05-01", "2026-05-02"]


def test_scoring_batches_have_a_seen_set_of_their_own(s3: Any, bucket: str,
                                                      store_env: str) -> None:
    """The scoring DAG's sensor and trigger (`seen="known_scoring_batches"`) skip what the
    scoring claims and conflicts hold, and nothing the landing claims hold, and vice versa."""
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"first"})
    write_batch(s3, bucket, "2026-05-02")
    scoring = {"seen": "known_scoring_batches"}
    first, second = first_event(make_trigger(bucket, **scoring))["batches"]
    claim(store_env, first)  # an ingest claim: not seen by the scoring sensor
    store = Store(store_env)
    store.claim_scoring_batch(PIPELINE, second["batch_id"], second["fingerprint"], "run-1")
    store.claim_scoring_batch("other", first["batch_id"], first["fingerprint"], "run-1")
    assert make_sensor(bucket, **scoring).known() == {("2026-05-02", second["fingerprint"])}
    assert [b["batch_id"] for b in make_sensor(bucket, **scoring).poke({}).xcom_value] == [
        "2026-05-01"]
    assert [b["batch_id"] for b in first_event(make_trigger(bucket))["batches"]] == [
        "2026-05-02"]  # landing's seen-set is untouched by scoring claims
    store.claim_scoring_batch(PIPELINE, first["batch_id"], first["fingerprint"], "run-1")
    assert_pending(make_trigger(bucket, **scoring))
    write_batch(s3, bucket, "2026-05-01", {"part-0.parquet": b"second version"})
    changed = first_batch(first_event(make_trigger(bucket, **scoring)))
    assert changed["fingerprint"] != first["fingerprint"]
    store.record_scoring_conflict(PIPELINE, "2026-05-01", changed["fingerprint"], "run-2")
    store.engine.dispose()
    assert_pending(make_trigger(bucket, **scoring))


def test_poke_skips_batches_in_the_store(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02")
    sensor = make_sensor(bucket)
    first = sensor.poke({}).xcom_value[0]
    claim(store_env, first)
    claim(store_env, {**first, "batch_id": "2026-05-02"}, pipeline="other")

    assert sensor.known() == {("2026-05-01", first["fingerprint"])}
    poked = sensor.poke({})
    assert poked.is_done
    assert [b["batch_id"] for b in poked.xcom_value] == ["2026-05-02"]
    assert poked.xcom_value == first_event(make_trigger(bucket))["batches"]


def test_poke_not_done_without_a_marker(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01", complete=False)
    poked = make_sensor(bucket).poke({})
    assert not poked.is_done
    assert poked.xcom_value is None


def test_execute_defers_when_nothing_is_ready(s3: Any, bucket: str, store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    write_batch(s3, bucket, "2026-05-02", complete=False)
    claim(store_env, first_batch(first_event(make_trigger(bucket))))
    sensor = make_sensor(bucket, timeout=3600)

    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})

    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=3600)
    trigger = deferred.trigger
    assert isinstance(trigger, S3BatchTrigger)
    assert trigger.serialize() == make_trigger(bucket, max_batches=16).serialize()
    # ...and what it waits for is exactly the batch the sensor would take once complete.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}2026-05-02/{MARKER}", Body=b"")
    event = first_event(trigger)
    assert [b["batch_id"] for b in event["batches"]] == ["2026-05-02"]
    assert sensor.execute_complete({}, event) == event["batches"] == sensor.poke({}).xcom_value


def test_execute_returns_a_ready_batch_without_deferring(s3: Any, bucket: str,
                                                          store_env: str) -> None:
    write_batch(s3, bucket, "2026-05-01")
    result = make_sensor(bucket).execute({})
    assert [b["batch_id"] for b in result] == ["2026-05-01"]
    assert result == first_event(make_trigger(bucket))["batches"]


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
    assert len(poked.xcom_value[0]["files"]) == 1001
    assert event["batches"] == poked.xcom_value


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
    assert [f["key"] for f in first_batch(event)["files"]] == [f"{PREFIX}m1/part-0.csv",
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
    assert [f["key"] for f in first_batch(event)["files"]] == [f"{PREFIX}m1/part-0.csv"]
    assert poked.is_done and poked.xcom_value == event["batches"]


def test_unreadable_manifest_still_completes_the_batch(s3: Any, bucket: str) -> None:
    # The producer said "done"; validation rejects it with MANIFEST_INVALID, the sensor must
    # not wait forever.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-0.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=b"{not json")
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    assert first_batch(event)["batch_id"] == "m1"


def test_a_dot_slash_manifest_name_is_the_file_it_names(s3: Any, bucket: str,
                                                        store_env: str) -> None:
    # The listing shows `part-0.csv`: matched as written, `./part-0.csv` never landed.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-0.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=json.dumps(
        {"files": [{"name": "./part-0.csv", "size": 4}]}).encode())
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    assert [f["key"] for f in first_batch(event)["files"]] == [f"{PREFIX}m1/part-0.csv"]
    poked = make_sensor(bucket, completion=MANIFEST).poke({})  # type: ignore[arg-type]
    assert poked.is_done and poked.xcom_value == event["batches"]


@pytest.mark.parametrize("name", ["sub/_tmp/part-0.csv", ".part-0.csv", "a//part-0.csv"])
def test_a_manifest_naming_a_file_that_cannot_land_completes_the_batch(
        s3: Any, bucket: str, store_env: str, name: str) -> None:
    # The listing never shows such a name as data: validation refuses the batch instead.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/{name}", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=json.dumps(
        {"files": [{"name": name, "size": 4}]}).encode())
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    assert first_batch(event)["batch_id"] == "m1"
    assert make_sensor(bucket, completion=MANIFEST).poke({}).is_done  # type: ignore[arg-type]


def _padded_manifest(listed: dict[str, bytes], size: int) -> bytes:
    body = build_manifest(listed, {n: 1 for n in listed})
    return body[:-1] + b" " * (size - len(body)) + body[-1:]  # still valid JSON


def test_a_large_manifest_is_read_whole_up_to_the_limit(s3: Any, bucket: str,
                                                         store_env: str) -> None:
    # 600 KiB arrives in many chunks: read whole, it still lists a file not landed yet.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-0.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=_padded_manifest(
        {"part-0.csv": b"a\n1\n", "part-1.csv": b"a\n2\n"}, 600 * 1024))
    assert_pending(make_trigger(bucket, completion=MANIFEST))
    assert not make_sensor(bucket, completion=MANIFEST).poke({}).is_done  # type: ignore[arg-type]


def test_a_manifest_above_the_limit_completes_the_batch_unread(s3: Any, bucket: str,
                                                               store_env: str) -> None:
    # Not held in the triggerer's memory: the batch completes, validation refuses it
    # (MANIFEST_INVALID, by its size) instead.
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/part-0.csv", Body=b"a\n1\n")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}m1/_manifest.json", Body=_padded_manifest(
        {"part-0.csv": b"a\n1\n", "part-1.csv": b"a\n2\n"}, 1024**2 + 10))
    event = first_event(make_trigger(bucket, completion=MANIFEST))
    poked = make_sensor(bucket, completion=MANIFEST).poke({})  # type: ignore[arg-type]
    assert first_batch(event)["batch_id"] == "m1"
    assert poked.is_done and poked.xcom_value == event["batches"]


def test_quiet_period_batch_fires_after_the_folder_goes_quiet(s3: Any, bucket: str) -> None:
    quiet = {"mode": "quiet", "marker": "_SUCCESS", "quiet_period_s": 2.0}
    write_batch(s3, bucket, "q1", complete=False)
    assert_pending(make_trigger(bucket, completion=quiet), wait=0.5)
    event = first_event(make_trigger(bucket, completion=quiet, poke_interval=0.5), timeout=10)
    assert first_batch(event)["marker_key"] == ""
