"""The drift-threshold trigger (triggerer, async drivers) and sensor (worker, sync) against the
project store on SQLite and, when CT_TEST_PG is set, PostgreSQL; plus the store's drift-policy
methods they rely on."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import

from airflow.sdk.exceptions import AirflowException, TaskDeferred  # noqa: E402
from ct_airflow.drift_sensor import DriftThresholdSensor, DriftThresholdTrigger  # noqa: E402
from ct_airflow.store_hook import StoreHook, async_url  # noqa: E402

from mlops_lib.monitoring.drift import DriftResult, FeatureDrift  # noqa: E402
from mlops_lib.monitoring.drift_policy import DriftVerdict, evaluate  # noqa: E402
from mlops_lib.spec import DriftPolicy  # noqa: E402
from mlops_lib.stores.store import Store  # noqa: E402

pytestmark = pytest.mark.integration

P = "demo"
POLICY = DriftPolicy(share_drifted=0.5, feature_psi={"amount": 0.25}, consecutive_batches=2,
                     cooldown_minutes=30)
POKE = 0.1


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def feature(name: str, drifted: bool, psi: float | None) -> FeatureDrift:
    return FeatureDrift(feature=name, kind="numeric", method="psi", threshold=0.1, score=psi,
                        drifted=drifted, psi=psi, wasserstein=None, js=None, unseen_share=None,
                        null_share=0.0, reference_null_share=0.0, n_reference=100,
                        n_current=100, n_distinct_reference=50, n_distinct_current=50,
                        few_values=False)


def drift_result(*features: FeatureDrift) -> DriftResult:
    return DriftResult(features=features, method="psi", threshold=0.1, n_reference_rows=100,
                       n_current_rows=100)


DRIFTED = drift_result(feature("amount", True, 0.4), feature("age", True, 0.3))
CALM = drift_result(feature("amount", False, 0.01), feature("age", False, 0.02))


def insert_batch(store: Store, batch_id: str, at: str, *, drifted: bool) -> None:
    """A batch's drift rows stored at a chosen moment (record_drift stamps 'now')."""
    result = DRIFTED if drifted else CALM
    for f in result.features:
        store._insert_once("drift_metrics", {
            "pipeline": P, "batch_id": batch_id, "dag_run_id": "monitor-1",
            "feature": f.feature, "kind": f.kind, "method": f.method, "score": f.score,
            "threshold": f.threshold, "psi": f.psi, "wasserstein": None, "js": None,
            "unseen_share": None, "null_share": 0.0, "drifted": int(f.drifted),
            "created_at": at})


def make_trigger(store_url: str, *, since: str = "", last_crossing_at: str | None = None,
                 policy: DriftPolicy = POLICY) -> DriftThresholdTrigger:
    return DriftThresholdTrigger(pipeline=P, policy=policy, since=since,
                                 last_crossing_at=last_crossing_at, store_url=store_url,
                                 poke_interval=POKE)


def make_sensor(store_url: str, **kw: Any) -> DriftThresholdSensor:
    return DriftThresholdSensor(task_id="wait_for_drift", pipeline=P, policy=POLICY,
                                store_url=store_url, poke_interval=POKE, **kw)


def import_string(path: str) -> Any:
    """What the triggerer does with a serialized class path."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


async def _first_event(trigger: DriftThresholdTrigger, timeout: float) -> dict[str, Any]:
    gen: AsyncIterator[Any] = trigger.run()
    try:
        return (await asyncio.wait_for(gen.asend(None), timeout)).payload
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
        # After a failed connect aiosqlite stops its worker thread, which then posts back to
        # this loop; the triggerer's loop lives on, a test's must too for that moment.
        await asyncio.sleep(0.05)


def first_event(trigger: DriftThresholdTrigger, timeout: float = 20.0) -> dict[str, Any]:
    return asyncio.run(_first_event(trigger, timeout))


def assert_pending(trigger: DriftThresholdTrigger) -> None:
    """Still polling after several poke intervals: no event, no error."""
    with pytest.raises(TimeoutError):
        first_event(trigger, timeout=10 * POKE)


# -- hook -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////tmp/s.db", "sqlite+aiosqlite:////tmp/s.db"),
    ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
    ("postgresql+psycopg2://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
    ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
])
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_hook_defaults_to_the_env_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_STORE_URL", "sqlite:////tmp/from-env.db")
    assert StoreHook().store_url == "sqlite:////tmp/from-env.db"


def test_sync_and_async_fetch_agree(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(5), drifted=True)
    hook, sql = StoreHook(store_url=store_url), "SELECT * FROM drift_metrics ORDER BY feature"

    async def fetch() -> list[dict[str, Any]]:
        async with hook.async_engine() as engine:
            return await hook.fetch_all_async(engine, sql, {})

    assert asyncio.run(fetch()) == hook.fetch_all(sql, {})
    assert [r["feature"] for r in hook.fetch_all(sql, {})] == ["age", "amount"]


def test_pokes_share_the_process_engine(store: Store, store_url: str) -> None:
    """A poke builds a StoreHook; its engine (and connection pool) is the process's one for
    the URL, not a new one per poke."""
    first, second = StoreHook(store_url=store_url), StoreHook(store_url=store_url)
    assert first.get_conn() is second.get_conn() is store.engine
    assert first.fetch_all("SELECT 1 AS one", {}) == [{"one": 1}]


# -- trigger --------------------------------------------------------------------------------
def test_serialize_is_exact() -> None:
    trigger = DriftThresholdTrigger(
        pipeline="p", policy={"share_drifted": None, "feature_psi": {"x": 0.2},
                              "consecutive_batches": 3, "cooldown_minutes": 15},
        since="2026-05-01T00:00:00.000+00:00", last_crossing_at=None,
        store_url="sqlite:////tmp/store.db", poke_interval=2.5)
    assert trigger.serialize() == (
        "ct_airflow.drift_sensor.DriftThresholdTrigger",
        {"pipeline": "p",
         "policy": {"share_drifted": None, "feature_psi": {"x": 0.2},
                    "consecutive_batches": 3, "cooldown_minutes": 15.0,
                    "min_rows_per_test": 50, "noise_floor_quantile": 0.99,
                    "noise_floor_resamples": 200},
         "since": "2026-05-01T00:00:00.000+00:00", "last_crossing_at": None,
         "store_url": "sqlite:////tmp/store.db", "poke_interval": 2.5},
    )


def test_serialized_kwargs_are_json_and_rebuild_an_equal_trigger() -> None:
    trigger = make_trigger("sqlite:////tmp/x.db", last_crossing_at=ago(1))
    path, kwargs = trigger.serialize()
    rebuilt = import_string(path)(**json.loads(json.dumps(kwargs)))
    assert type(rebuilt) is DriftThresholdTrigger
    assert rebuilt.serialize() == trigger.serialize()


def test_crossing_fires_success(store: Store, store_url: str) -> None:
    assert store.record_drift(P, "b1", "monitor-1", DRIFTED) == 2
    assert store.record_drift(P, "b2", "monitor-2", DRIFTED) == 2

    event = first_event(make_trigger(store_url))

    assert event["status"] == "success"
    verdict = event["verdict"]
    assert verdict["crossed"] is True
    assert verdict["batch_ids"] == ["b1", "b2"]
    assert "PSI of amount 0.4 >= 0.25" in verdict["reason"]
    assert verdict["evidence"]["batches"][1]["share_drifted"] == 1.0


def test_undrifted_rows_are_pending(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=False)
    assert_pending(make_trigger(store_url))


def test_one_of_two_consecutive_is_pending(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=False)
    insert_batch(store, "b2", ago(5), drifted=True)
    assert_pending(make_trigger(store_url))


def test_rows_before_since_do_not_count(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    assert first_event(make_trigger(store_url, since=ago(20)))["status"] == "success"
    assert_pending(make_trigger(store_url, since=ago(7)))


def test_cooldown_keeps_it_pending(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    assert_pending(make_trigger(store_url, last_crossing_at=ago(20)))
    assert first_event(make_trigger(store_url, last_crossing_at=ago(31)))["status"] == "success"


def test_pending_trigger_fires_once_a_drifted_batch_lands(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)

    async def scenario() -> dict[str, Any]:
        gen = make_trigger(store_url).run()
        nxt = asyncio.ensure_future(gen.asend(None))
        try:
            await asyncio.sleep(5 * POKE)
            assert not nxt.done(), "fired on one batch of two"
            await asyncio.to_thread(store.record_drift, P, "b2", "monitor-2", DRIFTED)
            return (await asyncio.wait_for(nxt, 20)).payload
        finally:
            nxt.cancel()
            await gen.aclose()

    event = asyncio.run(scenario())
    assert event["status"] == "success"
    assert event["verdict"]["batch_ids"] == ["b1", "b2"]


def test_rebuilt_trigger_reaches_the_same_verdict(store: Store, store_url: str) -> None:
    """Stateless: a triggerer restart rebuilds it from its kwargs and gets the same event."""
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    trigger = make_trigger(store_url)
    path, kwargs = trigger.serialize()
    first, again = first_event(trigger), first_event(trigger)
    rebuilt = first_event(import_string(path)(**json.loads(json.dumps(kwargs))))
    assert first["status"] == "success"
    assert first == again == rebuilt


@pytest.mark.parametrize("url", [
    "sqlite:////nonexistent-dir/ct/store.db",       # cannot open
    "postgresql://nobody@127.0.0.1:1/nowhere",       # nothing listens
    "nosuchdb://x/y",                                 # no dialect
], ids=["sqlite-no-dir", "pg-refused", "no-dialect"])
def test_bad_store_url_fires_error(url: str) -> None:
    event = first_event(make_trigger(url))
    assert event["status"] == "error"
    assert event["message"]


def test_store_without_tables_fires_error(tmp_path: Path) -> None:
    event = first_event(make_trigger(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert event["status"] == "error"
    assert "drift_metrics" in event["message"]


# -- sensor ---------------------------------------------------------------------------------
def test_poke_and_trigger_agree(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    sensor = make_sensor(store_url)

    poked = sensor.poke({})
    since, last = sensor.window()
    event = first_event(make_trigger(store_url, since=since, last_crossing_at=last))

    assert poked.is_done
    assert event["status"] == "success"
    assert poked.xcom_value == event["verdict"]


def test_poke_not_done_below_threshold(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(5), drifted=False)
    poked = make_sensor(store_url).poke({})
    assert not poked.is_done
    assert poked.xcom_value is None


def test_window_defaults_to_the_last_recorded_crossing(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    sensor = make_sensor(store_url)
    assert sensor.window() == ("", None)
    verdict = DriftVerdict.from_dict(sensor.poke({}).xcom_value)
    assert store.record_drift_crossing(P, "b2", "monitor-2", verdict)
    crossed_at = store.last_drift_crossing(P)["created_at"]

    assert sensor.window() == (crossed_at, crossed_at)
    # The batches already acted on do not count again: the sensor waits for new evidence.
    assert not sensor.poke({}).is_done
    assert make_sensor(store_url, since="", last_crossing_at=ago(60)).poke({}).is_done


def test_execute_defers_then_completes_with_the_poke_verdict(store: Store,
                                                             store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    sensor = make_sensor(store_url, timeout=3600)

    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})

    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.timeout == timedelta(seconds=3600)
    assert isinstance(deferred.trigger, DriftThresholdTrigger)
    assert deferred.trigger.serialize() == make_trigger(store_url).serialize()
    store.record_drift(P, "b2", "monitor-2", DRIFTED)
    event = first_event(deferred.trigger)
    assert sensor.execute_complete({}, event) == event["verdict"] == sensor.poke({}).xcom_value


def test_execute_returns_a_crossing_without_deferring(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    assert make_sensor(store_url).execute({})["batch_ids"] == ["b1", "b2"]


def test_poke_mode_returns_the_same_verdict(store: Store, store_url: str) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    poked = make_sensor(store_url, deferrable=False, mode="poke", timeout=5).execute({})
    assert poked == first_event(make_trigger(store_url))["verdict"]


def test_execute_complete_raises_on_error_event() -> None:
    sensor = make_sensor("sqlite:////tmp/unused.db")
    with pytest.raises(AirflowException, match="OperationalError: gone"):
        sensor.execute_complete({}, {"status": "error", "message": "OperationalError: gone"})


# -- store ----------------------------------------------------------------------------------
def test_drift_history_keeps_the_newest_batches_oldest_first(store: Store) -> None:
    for i in range(5):
        insert_batch(store, f"b{i}", ago(50 - i), drifted=i % 2 == 0)
    insert_batch(store, "other-pipeline-rows-are-ignored", ago(1), drifted=True)
    store._exec("UPDATE drift_metrics SET pipeline = 'other' WHERE batch_id = :b",
                b="other-pipeline-rows-are-ignored")

    history = store.drift_history(P, limit_batches=3)

    assert [b.batch_id for b in history] == ["b2", "b3", "b4"]
    assert [b.share_drifted for b in history] == [1.0, 0.0, 1.0]
    assert history[0].psi == {"age": 0.3, "amount": 0.4}
    assert not evaluate(history, POLICY, last_crossing_at=None, now=datetime.now(UTC)).crossed


def test_record_drift_crossing_is_idempotent(store: Store) -> None:
    insert_batch(store, "b1", ago(10), drifted=True)
    insert_batch(store, "b2", ago(5), drifted=True)
    verdict = evaluate(store.drift_history(P), POLICY, last_crossing_at=None,
                       now=datetime.now(UTC))
    assert store.last_drift_crossing(P) is None

    assert store.record_drift_crossing(P, "b2", "monitor-2", verdict) is True
    assert store.record_drift_crossing(P, "b2", "monitor-2-retry", verdict) is False

    last = store.last_drift_crossing(P)
    assert last is not None
    assert (last["batch_id"], last["dag_run_id"], last["reason"]) == \
        ("b2", "monitor-2", verdict.reason)
    assert last["evidence"]["batch_ids"] == ["b1", "b2"]
    assert last["evidence"]["policy"]["feature_psi"] == {"amount": 0.25}
    assert store.drift_crossings(P) == [last]
    assert store.drift_crossings("other") == []


def test_record_drift_crossing_refuses_a_non_crossing(store: Store) -> None:
    with pytest.raises(ValueError, match="not a crossing"):
        store.record_drift_crossing(P, "b1", "r", DriftVerdict(False, "Below threshold"))
