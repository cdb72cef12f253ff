"""`CT_EXECUTOR=celery`: a fifth Airflow process, `airflow celery worker`, takes the tasks from the
broker at `CT_CELERY_BROKER_URL` (Redis or RabbitMQ, not started here) and keeps results in
Airflow's own metadata DB. More workers on other machines can join the same broker and DB."""

from __future__ import annotations

import socket
import urllib.parse

from mlops_dev.stack.config import StackConfig, StackError
from mlops_dev.stack.processes import BIN, Component


def celery_worker(cfg: StackConfig) -> Component:
    return Component("airflow-celery-worker",
                     [str(BIN / "airflow"), "celery", "worker", "--concurrency", "2",
                      "--celery-hostname", cfg.celery_worker_name.removeprefix("celery@"),
                      "--skip-serve-logs", "--without-mingle", "--without-gossip"],
                     cfg.airflow_env(), lambda: celery_worker_answers(cfg))


def celery_worker_answers(cfg: StackConfig, timeout: float = 2.0) -> bool:
    """Whether this stack's worker answers a Celery ping through the broker: it is connected
    and consuming, not merely alive."""
    from celery import Celery

    app = Celery(broker=cfg.celery_broker_url)
    try:
        replies = app.control.ping(destination=[cfg.celery_worker_name], timeout=timeout,
                                   limit=1)
    finally:
        app.close()
    return any(cfg.celery_worker_name in reply for reply in replies)


def broker_reachable(url: str, timeout: float = 3.0) -> bool:
    """Whether something listens at the broker URL's host and port (Redis or AMQP)."""
    parts = urllib.parse.urlsplit(url)
    default = 5672 if parts.scheme.startswith("amqp") else 6379
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def require_broker(cfg: StackConfig) -> None:
    """Refuse to start a Celery stack whose broker does not answer (password masked)."""
    if cfg.executor != "CeleryExecutor" or broker_reachable(cfg.celery_broker_url or ""):
        return
    from kombu.utils.url import maybe_sanitize_url

    raise StackError(f"CT_EXECUTOR=celery: no broker listens at "
                     f"{maybe_sanitize_url(cfg.celery_broker_url)} (start Redis or RabbitMQ "
                     "there, or set CT_CELERY_BROKER_URL)")
