"""The scale-out path for orchestration: the real local stack on Airflow's CeleryExecutor
(`CT_EXECUTOR=celery`), with the machine's Redis or RabbitMQ as the broker and Celery's results
in Airflow's PostgreSQL metadata DB.

On Redis, a batch dropped into S3 must run the whole cycle to a champion; on RabbitMQ (the same
code behind another transport), the ingest run (a deferred sensor, mapped tasks). Every task
instance must have gone through Celery and been run by this stack's worker: the scheduler gave
it a Celery task id (`external_executor_id`), Celery's result backend recorded that task as
SUCCESS, and the worker's log names it. Under LocalExecutor none of the three holds.

Celery cannot run on SQLite: without CT_TEST_PG the tests are skipped, as each is when its
broker does not listen.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from mlops_dev import devstack
from mlops_dev.demo import drop_batch, wait_for_batch
from mlops_lib.stores.registry import CHAMPION
from tests.e2e.live import LiveStack, live_stack
from tests.support import EXAMPLE_SPEC, pg_server_url

pytestmark = pytest.mark.e2e

PIPELINE = "credit_default"
REDIS = "redis://127.0.0.1:6379/11"  # a database number no other test or service uses
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
CELERY_QUEUE = "default"  # Airflow's [operators] default_queue: where the tasks wait
TIMEOUT = 420


def write_pipeline(directory: Path, retrain_on: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["trigger"] = {"poke_interval_s": 1, "retrain_on": [retrain_on]}
    (directory / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


def clear_broker(url: str) -> None:
    """Empty what the stack uses on the broker: no task or reply of an earlier run leaks in,
    none of ours stays behind. Redis: the whole (dedicated) database; RabbitMQ: the queue."""
    if url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(url)
        try:
            client.flushdb()
        finally:
            client.close()
        return
    from kombu import Connection

    with Connection(url) as conn:
        conn.default_channel.queue_delete(CELERY_QUEUE)


@contextmanager
def celery_stack(home: Path, broker: str, retrain_on: str) -> Iterator[LiveStack]:
    if pg_server_url() is None:
        pytest.skip("CT_TEST_PG is not set: the CeleryExecutor needs Airflow's DB on PostgreSQL")
    if not devstack.broker_reachable(broker):
        pytest.skip(f"no broker listens at {broker}")
    clear_broker(broker)
    try:
        with live_stack(home, write_pipeline(home / "pipelines", retrain_on),
                        CT_EXECUTOR="celery", CT_CELERY_BROKER_URL=broker) as running:
            assert running.cfg.executor == "CeleryExecutor"
            assert devstack.celery_worker_answers(running.cfg)
            yield running
    finally:
        clear_broker(broker)


def celery_results(stack: LiveStack, runs: list[tuple[str, str]]
                   ) -> dict[str, tuple[str | None, str]]:
    """Per task instance of the (dag_id, run_id) runs: its Celery task id and what Celery's
    result backend (in Airflow's own DB) recorded for that task."""
    from sqlalchemy import bindparam, create_engine, text

    assert stack.cfg.airflow_db_url is not None
    engine = create_engine(stack.cfg.airflow_db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT ti.dag_id, ti.task_id, ti.map_index, ti.external_executor_id, m.status"
                " FROM task_instance ti LEFT JOIN celery_taskmeta m"
                " ON m.task_id = ti.external_executor_id"
                " WHERE ti.dag_id || '/' || ti.run_id IN :runs"
            ).bindparams(bindparam("runs", expanding=True)),
                {"runs": [f"{dag_id}/{run_id}" for dag_id, run_id in runs]}).all()
    finally:
        engine.dispose()
    return {f"{r.dag_id}.{r.task_id}[{r.map_index}]": (r.external_executor_id, r.status or "")
            for r in rows}


def test_redis_carries_the_whole_cycle_to_the_worker(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    with celery_stack(tmp_path_factory.mktemp("ct_celery_redis"), REDIS, "arrival") as stack:
        dropped = drop_batch(PIPELINE, rows=3000, seed=211, settings=stack.settings)

        outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=TIMEOUT,
                                 api=stack.api)

        assert outcome.dag_run_state == "success", outcome.reason
        runs = [(f"ct_{PIPELINE}_ingest", outcome.ingest_run_id),
                (f"ct_{PIPELINE}", outcome.dag_run_id)]
        for dag_id, run_id in runs:
            tis = stack.api.task_instances(dag_id, run_id)
            assert tis and {ti["state"] for ti in tis} == {"success"}, tis
        decision = stack.store.get_decision(PIPELINE, outcome.dag_run_id)
        assert decision is not None and decision.promote, decision
        model = f"ct_{PIPELINE}"
        assert stack.registry.alias_version(model, CHAMPION) == decision.candidate_version
        champion = stack.store.get_champion(PIPELINE)
        assert champion is not None and champion.model_version == decision.candidate_version
        assert_ran_on_the_worker(stack, runs, min_tasks=5)  # 3 ingest + the training DAG's


def test_rabbitmq_carries_the_ingest_run_to_the_worker(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    # Drift-only retraining: the ingest run is the whole check, nothing trains on arrival.
    with celery_stack(tmp_path_factory.mktemp("ct_celery_amqp"), RABBITMQ, "drift") as stack:
        dropped = drop_batch(PIPELINE, rows=1000, seed=212, settings=stack.settings)
        outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=TIMEOUT,
                                 api=stack.api, trained=False)
        assert outcome.status == "accepted", outcome
        dag_id = f"ct_{PIPELINE}_ingest"
        deadline = time.monotonic() + 60
        while (state := stack.api.dag_run(dag_id, outcome.ingest_run_id)["state"]) not in (
                "success", "failed") and time.monotonic() < deadline:
            time.sleep(1)
        assert state == "success"
        assert_ran_on_the_worker(stack, [(dag_id, outcome.ingest_run_id)], min_tasks=3)
        # The drift monitor runs after each accepted batch: let it finish, or the worker's warm
        # shutdown waits for it and `down` kills it after its grace period.
        wait_until_idle(stack)


def assert_ran_on_the_worker(stack: LiveStack, runs: list[tuple[str, str]],
                             min_tasks: int) -> None:
    """Every task instance of the runs went through Celery: a Celery task id, a SUCCESS in
    Celery's result backend, and that id in this stack's worker log."""
    deadline = time.monotonic() + 60
    while True:  # a task's run ends before its Celery task does (the supervisor's last steps)
        results = celery_results(stack, runs)
        if time.monotonic() > deadline or all(r[1] != "STARTED" for r in results.values()):
            break
        time.sleep(1)
    assert len(results) >= min_tasks, results
    not_celery = {ti: r for ti, r in results.items() if r[0] is None or r[1] != "SUCCESS"}
    assert not not_celery, not_celery
    worker_log = (stack.cfg.log_dir / "airflow-celery-worker.log").read_text(errors="replace")
    unseen = {ti: celery_id for ti, (celery_id, _) in results.items()
              if f"execute_workload[{celery_id}] succeeded" not in worker_log}
    assert not unseen, unseen


def wait_until_idle(stack: LiveStack, timeout: float = 120) -> None:
    """Until this stack's worker runs no task (as the worker itself reports it)."""
    from celery import Celery

    app = Celery(broker=stack.cfg.celery_broker_url)
    name = stack.cfg.celery_worker_name
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            active = app.control.inspect(destination=[name], timeout=2).active() or {}
            if name in active and not active[name]:
                return
            time.sleep(1)
    finally:
        app.close()
    raise AssertionError(f"{name} still busy after {timeout:.0f}s")
