"""The local stack, without Docker: an S3 server that keeps data on disk (s3rver), an MLflow
tracking server with artifacts proxied to S3, and Airflow 3 as four processes (api-server,
scheduler, dag-processor, triggerer; LocalExecutor).

`CT_EXECUTOR=celery` runs the tasks on Airflow's CeleryExecutor instead: a fifth Airflow process,
`airflow celery worker`, takes them from the broker at `CT_CELERY_BROKER_URL` (Redis or RabbitMQ,
not started here) and keeps results in Airflow's own metadata DB, which must be PostgreSQL (or
MySQL), never SQLite. More workers on other machines can join the same broker and DB.

`CT_S3_SERVER=moto` runs moto's server instead of s3rver: S3 *and* SQS on one port, with bucket
notifications to SQS, which the events arrival mode (`trigger.mode: events`) needs. Moto keeps
everything in memory: a restart of the stack loses all objects (data, DVC, MLflow artifacts).

MLflow runs its basic-auth app: anonymous requests get 401. The tasks and tools log in as the
service account `ct_service` (MLFLOW_TRACKING_USERNAME/PASSWORD in `service_env()`); the UI's
login is `admin`. Every password is generated on first use into a file of mode 600 under
`$CT_HOME` (`run/mlflow_admin_password`, `run/mlflow_service_password`, and Airflow's
`airflow/simple_auth_manager_passwords.json.generated`); logs are mode 600 too.

Every process starts in its own session (process group) with its PID recorded under
`$CT_HOME/run/`, so `down` stops exactly what `up` started, children included. Everything
listens on 127.0.0.1 only. `up` also brings the project store's schema to its newest revision
before Airflow starts.

This module is the facade the tools use (`mlops stack`, the demo, the tests, the benchmarks);
the parts live in `mlops_dev.stack`.
"""

from __future__ import annotations

from mlops_dev.stack.airflow_services import airflow_password, passwords_file
from mlops_dev.stack.celery_worker import broker_reachable, celery_worker_answers
from mlops_dev.stack.config import (
    AIRFLOW_USER,
    ARTIFACT_BUCKET,
    LANDING_BUCKET,
    MLFLOW_ADMIN,
    S3_KEY,
    SERVICE_USER,
    Executor,
    S3Server,
    StackConfig,
    StackError,
)
from mlops_dev.stack.lifecycle import components, down, migrate_store, status, up
from mlops_dev.stack.mlflow_server import ensure_service_account, start_mlflow
from mlops_dev.stack.processes import Component, group_pss_kib
from mlops_dev.stack.s3 import aws_client, ensure_event_queues, start_s3

__all__ = [
    "AIRFLOW_USER", "ARTIFACT_BUCKET", "LANDING_BUCKET", "MLFLOW_ADMIN", "S3_KEY", "SERVICE_USER",
    "Component", "Executor", "S3Server", "StackConfig", "StackError", "airflow_password",
    "aws_client", "broker_reachable", "celery_worker_answers", "components", "down",
    "ensure_event_queues", "ensure_service_account", "group_pss_kib", "migrate_store",
    "passwords_file", "start_mlflow", "start_s3", "status", "up",
]
