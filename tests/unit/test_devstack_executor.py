"""The stack's executor choice and start-up order (mlops_dev.devstack), without starting
anything."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from mlops_dev import devstack

pytestmark = pytest.mark.unit

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


def fake_start_up(monkeypatch: pytest.MonkeyPatch, cfg: devstack.StackConfig,
                  revisions: tuple[str | None, str]) -> tuple[list[str], list[str]]:
    """`up` with every process start replaced by a record of it, and a store migration that
    answers `revisions`; returns the steps in order and the URLs the migration got."""
    from mlops_dev.stack import lifecycle

    steps: list[str] = []
    upgraded: list[str] = []

    def upgrade(url: str) -> tuple[str | None, str]:
        steps.append("store-migrate")
        upgraded.append(url)
        return revisions

    migrations = types.ModuleType("mlops_lib.stores.migrations")
    migrations.upgrade = upgrade  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlops_lib.stores.migrations", migrations)
    monkeypatch.setattr(lifecycle, "start_s3", lambda cfg, **_: steps.append("s3"))
    monkeypatch.setattr(lifecycle, "start", lambda cfg, comp, echo: steps.append(comp.name))
    monkeypatch.setattr(lifecycle, "alive", lambda cfg, name: False)
    monkeypatch.setattr(lifecycle, "migrate_metadata_db",
                        lambda cfg: steps.append("airflow-db-migrate"))
    monkeypatch.setattr(lifecycle, "start_mlflow", lambda cfg, **_: steps.append("mlflow"))
    monkeypatch.setattr(lifecycle, "ensure_service_account",
                        lambda cfg: steps.append("mlflow-service-account"))
    monkeypatch.setattr(lifecycle, "seed_passwords", lambda cfg: None)
    monkeypatch.setattr(lifecycle, "wait_healthy", lambda cfg, comps, timeout: None)
    for key in cfg.service_env():  # `up` exports them: restore them after the test
        monkeypatch.delenv(key, raising=False)
    return steps, upgraded


def test_up_migrates_the_store_after_s3_and_before_airflow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = devstack.StackConfig(home=tmp_path, store_url="postgresql://ct:secret@db.example/store")
    steps, upgraded = fake_start_up(monkeypatch, cfg, (None, "0001_initial"))
    said: list[str] = []

    devstack.up(cfg, echo=said.append)

    # MLflow's service account exists before any Airflow process (and so any task) runs.
    assert steps == ["s3", "store-migrate", "mlflow", "exporter", "airflow-db-migrate",
                     "mlflow-service-account", "airflow-api-server", "airflow-scheduler",
                     "airflow-dag-processor", "airflow-triggerer"]
    assert upgraded == ["postgresql://ct:secret@db.example/store"]
    assert ("store: postgresql://ct:***@db.example/store at revision 0001_initial "
            "(upgraded from an empty database)") in said
    assert not [line for line in said if "secret" in line]


def test_up_migrates_the_default_sqlite_store_and_says_when_it_is_current(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = devstack.StackConfig(home=tmp_path)
    _, upgraded = fake_start_up(monkeypatch, cfg, ("0002_x", "0002_x"))
    said: list[str] = []

    devstack.up(cfg, echo=said.append)

    assert upgraded == [cfg.service_env()["CT_STORE_URL"]] == [f"sqlite:///{tmp_path}/ct_store.db"]
    assert f"store: sqlite:///{tmp_path}/ct_store.db at revision 0002_x (current)" in said
