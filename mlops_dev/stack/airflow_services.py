"""Airflow 3 as four processes (api-server, scheduler, dag-processor, triggerer; LocalExecutor),
its metadata DB migration, and the passwords of the simple auth manager."""

from __future__ import annotations

import json
import secrets
import urllib.request
from pathlib import Path

from mlops_dev.stack.airflow_sqlite import use_wal
from mlops_dev.stack.config import AIRFLOW_USER, SERVICE_USER, StackConfig, write_private
from mlops_dev.stack.processes import BIN, Component, http_ok, run_logged

AIRFLOW_COMPONENTS = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                      "airflow-triggerer")


def airflow_components(cfg: StackConfig) -> list[Component]:
    af = cfg.airflow_env()
    airflow = str(BIN / "airflow")
    return [
        Component("airflow-api-server", [airflow, "api-server"], af,
                  lambda: http_ok(f"{cfg.airflow_url}/api/v2/monitor/health")),
        # --skip-serve-logs: the log servers bind every interface (hard-coded in Airflow) and
        # the api-server reads task logs from the shared log folder anyway.
        Component("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"], af,
                  lambda: component_healthy(cfg, "scheduler")),
        Component("airflow-dag-processor", [airflow, "dag-processor"], af,
                  lambda: component_healthy(cfg, "dag_processor")),
        Component("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"], af,
                  lambda: component_healthy(cfg, "triggerer")),
    ]


def component_healthy(cfg: StackConfig, component: str) -> bool:
    """What the api-server's health endpoint says of a component (scheduler, triggerer...)."""
    with urllib.request.urlopen(f"{cfg.airflow_url}/api/v2/monitor/health", timeout=3) as r:
        health = json.load(r)
    return bool(health.get(component, {}).get("status") == "healthy")


def migrate_metadata_db(cfg: StackConfig) -> None:
    run_logged(cfg, "airflow-db-migrate", [str(BIN / "airflow"), "db", "migrate"],
               cfg.airflow_env())
    if cfg.airflow_sqlite_path is not None:  # before any other Airflow process opens it
        use_wal(cfg.airflow_sqlite_path)


def passwords_file(cfg: StackConfig) -> Path:
    return cfg.home / "airflow" / "simple_auth_manager_passwords.json.generated"


def seed_passwords(cfg: StackConfig) -> None:
    """Put the users' passwords into the simple auth manager's file before the api-server starts:
    the service user's from the stack's secrets, the admin's generated here unless the file
    already has one. The manager keeps the passwords it finds there; one it generated itself it
    would also print, into the api-server's log."""
    path = passwords_file(cfg)
    try:
        passwords = json.loads(path.read_text())
    except (OSError, ValueError):
        passwords = {}
    wanted = {AIRFLOW_USER: passwords.get(AIRFLOW_USER) or secrets.token_urlsafe(16),
              SERVICE_USER: cfg.secret("service_password")}
    if any(passwords.get(user) != password for user, password in wanted.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, json.dumps({**passwords, **wanted}) + "\n")


def airflow_password(cfg: StackConfig) -> str | None:
    """The admin's password (None before the stack's first `up`)."""
    try:
        password = json.loads(passwords_file(cfg).read_text()).get(AIRFLOW_USER)
    except (OSError, ValueError):
        return None
    return str(password) if password is not None else None
