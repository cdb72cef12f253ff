"""The stack's executor choice (mlops_lib.devstack), without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lib import devstack

PG = "postgresql://ct:secret@db.example:5432/airflow"
BROKER = "redis://127.0.0.1:6379/3"


def test_local_executor_is_the_default_and_adds_no_worker(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_EXECUTOR", raising=False)
    monkeypatch.setenv("CT_HOME", str(tmp_path))
    cfg = devstack.StackConfig.from_env()
    assert cfg.executor == "LocalExecutor"
    env = cfg.airflow_env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not [k for k in env if "CELERY" in k or k == "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    assert "airflow-celery-worker" not in [c.name for c in devstack.components(cfg)]


def test_celery_sets_broker_result_backend_and_a_worker(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"CT_HOME": str(tmp_path), "CT_EXECUTOR": "celery",
                       "CT_CELERY_BROKER_URL": BROKER, "CT_AIRFLOW_PORT": "8099",
                       "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": PG}.items():
        monkeypatch.setenv(key, value)
    cfg = devstack.StackConfig.from_env()
    env = cfg.airflow_env()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == BROKER
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        "db+postgresql+psycopg2://ct:secret@db.example:5432/airflow")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8099/execution/"
    [worker] = [c for c in devstack.components(cfg) if c.name == "airflow-celery-worker"]
    assert worker.argv[1:5] == ["celery", "worker", "--concurrency", "2"]
    assert worker.env == env


@pytest.mark.parametrize(("db", "broker", "needs"), [
    (PG, None, "CT_CELERY_BROKER_URL"),
    (None, BROKER, "PostgreSQL"),
    ("sqlite:////tmp/airflow.db", BROKER, "PostgreSQL"),
])
def test_celery_refuses_sqlite_or_no_broker(tmp_path: Path, db: str | None, broker: str | None,
                                            needs: str) -> None:
    with pytest.raises(devstack.StackError, match=needs):
        devstack.StackConfig(home=tmp_path, executor="CeleryExecutor", airflow_db_url=db,
                             celery_broker_url=broker)


def test_an_unknown_executor_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_EXECUTOR", "kubernetes")
    with pytest.raises(devstack.StackError, match="local or celery"):
        devstack.StackConfig.from_env()


def test_an_unreachable_broker_fails_before_anything_starts(tmp_path: Path) -> None:
    from tests.support import free_port

    cfg = devstack.StackConfig(home=tmp_path, executor="CeleryExecutor", airflow_db_url=PG,
                               celery_broker_url=f"amqp://u:pw@127.0.0.1:{free_port()}//")
    with pytest.raises(devstack.StackError, match="no broker listens") as err:
        devstack.up(cfg, echo=lambda _: None)
    assert "pw" not in str(err.value)  # the password is masked
    assert not (tmp_path / "run").exists() or not list((tmp_path / "run").glob("*.pid"))
