"""`up`, `down` and `status` of the whole local stack: S3 first (everything stores into it), then
the project store's schema, MLflow, the metrics exporter, Airflow's metadata DB and Airflow's
processes."""

from __future__ import annotations

import os

from mlops_dev.stack.airflow_services import (
    AIRFLOW_COMPONENTS,
    airflow_components,
    migrate_metadata_db,
    seed_passwords,
)
from mlops_dev.stack.celery_worker import celery_worker, require_broker
from mlops_dev.stack.config import StackConfig
from mlops_dev.stack.mlflow_server import ensure_service_account, mlflow_component, start_mlflow
from mlops_dev.stack.processes import (
    BIN,
    Component,
    Echo,
    alive,
    group_pss_kib,
    http_ok,
    pid_alive,
    read_pid,
    safe,
    start,
    stop_all,
    wait_healthy,
)
from mlops_dev.stack.s3 import s3_component, start_s3


def components(cfg: StackConfig) -> list[Component]:
    return [
        s3_component(cfg),
        mlflow_component(cfg),
        exporter_component(cfg),
        *airflow_components(cfg),
        *([celery_worker(cfg)] if cfg.executor == "CeleryExecutor" else []),
    ]


def up(cfg: StackConfig, *, timeout: float = 240, echo: Echo = print) -> None:
    """Start whatever is not running yet and wait until every component is healthy.

    Also exports the service environment into this process, so that tools running in it
    (the demo, tests) talk to this stack.
    """
    require_broker(cfg)
    os.environ.update(cfg.service_env())
    start_s3(cfg, timeout=timeout, echo=echo)
    # The DAGs' tasks read and write the store: its schema is current before any of them runs.
    migrate_store(cfg, echo)
    comps = {c.name: c for c in components(cfg)}
    start_mlflow(cfg, echo=echo, wait=False)
    # Before Airflow: its processes push their metrics to the exporter from their start.
    start(cfg, comps["exporter"], echo)
    if not alive(cfg, "airflow-scheduler"):
        echo("airflow: migrating the metadata database")
        migrate_metadata_db(cfg)
    # The tasks log into MLflow as the service account: it exists before any task can run.
    wait_healthy(cfg, [comps["mlflow"]], timeout)
    ensure_service_account(cfg)
    seed_passwords(cfg)
    for name in (*AIRFLOW_COMPONENTS, "airflow-celery-worker"):
        if name in comps:
            start(cfg, comps[name], echo)
    wait_healthy(cfg, comps.values(), timeout)
    echo("stack is up")


def exporter_component(cfg: StackConfig) -> Component:
    """`mlops exporter`: the store's metrics and Airflow's (pushed over OTLP) for Prometheus."""
    return Component("exporter", [str(BIN / "mlops"), "exporter", "--host", "127.0.0.1",
                                  "--port", str(cfg.exporter_port)],
                     cfg.service_env(), lambda: http_ok(f"{cfg.exporter_url}/healthz"))


def migrate_store(cfg: StackConfig, echo: Echo) -> None:
    """Bring the project store's schema to the newest revision (Alembic); a no-op when it is."""
    from mlops_lib.stores.migrations import upgrade

    url = cfg.effective_store_url
    before, after = upgrade(url)
    change = "current" if before == after else f"upgraded from {before or 'an empty database'}"
    echo(f"store: {_without_password(url)} at revision {after} ({change})")


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def down(cfg: StackConfig, *, echo: Echo = print, grace: float = 30) -> None:
    """Stop every process group `up` started; SIGKILL whatever outlives the grace period."""
    stop_all(cfg, echo, grace)


def status(cfg: StackConfig) -> dict[str, dict[str, object]]:
    """Per component: running, healthy and memory (PSS of the whole process group, MiB)."""
    out: dict[str, dict[str, object]] = {}
    for comp in components(cfg):
        pid = read_pid(cfg, comp.name)
        running = pid is not None and pid_alive(pid)
        out[comp.name] = {"pid": pid, "running": running,
                          "healthy": running and safe(comp.healthy),
                          "pss_mib": round(group_pss_kib(pid) / 1024, 1) if running else 0.0}
    return out
