"""The real local stack for end-to-end tests: started on free ports in a temporary CT_HOME
(on PostgreSQL when CT_TEST_PG is set), stopped afterwards with a check that `down` left no
process of it running. How long each start and stop took is kept in STACK_TIMES (the e2e
conftest prints it at the end of the run)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from ct_airflow.rest_api import AirflowApi

from mlops_dev import devstack
from mlops_lib.settings import Settings
from mlops_lib.spec import load_specs
from mlops_lib.stores.registry import Registry
from mlops_lib.stores.s3io import ensure_buckets, s3_client
from mlops_lib.stores.store import Store
from tests.support import create_pg_database, drop_pg_database, free_port, pg_server_url


@dataclass(frozen=True)
class StackTime:
    name: str  # the stack's home folder
    up_s: float
    down_s: float | None = None  # None: still running, or `up` failed


STACK_TIMES: list[StackTime] = []


@dataclass
class LiveStack:
    cfg: devstack.StackConfig
    settings: Settings
    store: Store
    registry: Registry
    api: AirflowApi
    s3: object

    @property
    def dag_id(self) -> str:
        return "ct_credit_default"

    def service_api(self) -> AirflowApi:
        """The REST API as the service's own user `ct_service` (role `user`), whose password
        the stack writes into the simple auth manager's file before the API starts."""
        passwords = self.cfg.home / "airflow" / "simple_auth_manager_passwords.json.generated"
        return AirflowApi(self.cfg.airflow_url, devstack.SERVICE_USER,
                          json.loads(passwords.read_text())[devstack.SERVICE_USER])


@contextmanager
def live_stack(home: Path, pipelines: Path, **env: str) -> Iterator[LiveStack]:
    """Start the stack for `pipelines` (extra env such as CT_S3_SERVER=moto) and yield it."""
    databases: list[str] = []
    env = {"CT_HOME": str(home), "CT_PIPELINES_DIR": str(pipelines),
           "CT_S3_PORT": str(free_port()), "CT_MLFLOW_PORT": str(free_port()),
           "CT_AIRFLOW_PORT": str(free_port()), "CT_EXPORTER_PORT": str(free_port()),
           # Airflow's metrics are checked on the demo's stack (docs/operations.md); here they
           # would only cost every task process the OpenTelemetry SDK
           "CT_AIRFLOW_METRICS": "0", **env}
    server = pg_server_url()
    if server is not None:
        af_db, af_url = create_pg_database(server, "ct_e2e_airflow")
        store_db, store_url = create_pg_database(server, "ct_e2e_store")
        databases += [af_db, store_db]
        env |= {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": af_url, "CT_STORE_URL": store_url}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        cfg = devstack.StackConfig.from_env()
        for key, value in cfg.service_env().items():  # so they are restored afterwards
            mp.setenv(key, value)
        started = time.monotonic()
        try:
            # The pipelines' landing buckets exist before any sensor looks into them.
            devstack.start_s3(cfg, echo=lambda _: None)
            ensure_buckets(devstack.aws_client(cfg, "s3"),
                           *{spec.source.bucket for spec in load_specs(pipelines)})
            devstack.up(cfg, timeout=300)
            STACK_TIMES.append(StackTime(home.name, time.monotonic() - started))
            settings = Settings.from_env()
            api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                             devstack.airflow_password(cfg) or "")
            yield LiveStack(cfg, settings, Store(settings.store_url),
                            Registry(settings.mlflow_tracking_uri), api, s3_client(settings))
        finally:
            pids = {p.stem: int(p.read_text()) for p in cfg.run_dir.glob("*.pid")}
            stopping = time.monotonic()
            devstack.down(cfg)
            if STACK_TIMES and STACK_TIMES[-1].name == home.name:
                STACK_TIMES[-1] = StackTime(home.name, STACK_TIMES[-1].up_s,
                                            time.monotonic() - stopping)
            left = [name for name, pgid in pids.items() if devstack.group_pss_kib(pgid)]
            for name in databases:
                drop_pg_database(server, name)  # type: ignore[arg-type]
            assert not left, f"`down` left processes running: {left}"
