"""What the local stack is: ports, databases, executor and S3 server (from CT_* variables),
and the environment each of its processes and the service's own code get."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mlops_lib.settings import REPO_ROOT

S3Server = Literal["s3rver", "moto"]
Executor = Literal["LocalExecutor", "CeleryExecutor"]
_EXECUTORS: dict[str, Executor] = {"local": "LocalExecutor", "celery": "CeleryExecutor"}

LANDING_BUCKET = "ct-landing"
ARTIFACT_BUCKET = "ct-artifacts"
SERVICE_USER = "ct_service"  # the service's own API user (DAG run notes)
S3_KEY = "S3RVER"  # s3rver's fixed credentials; the stack is bound to loopback only
AIRFLOW_USER = "admin"
MLFLOW_ADMIN = "admin"  # MLflow's own admin user (the UI login); the tasks use SERVICE_USER


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackConfig:
    home: Path
    s3_port: int = 9000
    mlflow_port: int = 5000
    airflow_port: int = 8080
    exporter_port: int = 9464  # the metrics exporter (`mlops exporter`)
    # Airflow pushes its own metrics to the exporter (CT_AIRFLOW_METRICS=0: it does not; the
    # e2e stacks that check nothing of them save the OpenTelemetry SDK in every task process)
    airflow_metrics: bool = True
    airflow_db_url: str | None = None  # None: SQLite under home
    store_url: str | None = None  # None: SQLite under home
    s3_server: S3Server = "s3rver"  # moto: in-memory S3 + SQS, for the events arrival mode
    pipelines_dir: Path = REPO_ROOT / "pipelines"
    executor: Executor = "LocalExecutor"
    celery_broker_url: str | None = None  # CeleryExecutor only: redis://… or amqp://…

    def __post_init__(self) -> None:
        if self.executor != "CeleryExecutor":
            return
        if not self.celery_broker_url:
            raise StackError("CT_EXECUTOR=celery needs a broker: set CT_CELERY_BROKER_URL "
                             "(e.g. redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//)")
        if not self.airflow_db_url or self.airflow_db_url.startswith("sqlite"):
            raise StackError("CT_EXECUTOR=celery needs Airflow's metadata DB on PostgreSQL: set "
                             "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN (SQLite cannot serve the "
                             "scheduler, the workers and Celery's result backend at once)")

    @classmethod
    def from_env(cls) -> StackConfig:
        env = os.environ
        server = env.get("CT_S3_SERVER", "s3rver")
        if server not in ("s3rver", "moto"):
            raise StackError(f"CT_S3_SERVER={server!r}: must be s3rver or moto")
        executor = env.get("CT_EXECUTOR", "local")
        if executor not in _EXECUTORS:
            raise StackError(f"CT_EXECUTOR={executor!r}: must be local or celery")
        return cls(
            home=Path(env.get("CT_HOME", REPO_ROOT / ".stack")).resolve(),
            s3_port=int(env.get("CT_S3_PORT", 9000)),
            mlflow_port=int(env.get("CT_MLFLOW_PORT", 5000)),
            airflow_port=int(env.get("CT_AIRFLOW_PORT", 8080)),
            exporter_port=int(env.get("CT_EXPORTER_PORT", 9464)),
            airflow_metrics=env.get("CT_AIRFLOW_METRICS", "1").lower() not in ("0", "off", "false"),
            airflow_db_url=env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or None,
            store_url=env.get("CT_STORE_URL") or None,
            s3_server=server,  # type: ignore[arg-type]  # checked against S3Server above
            pipelines_dir=Path(env.get("CT_PIPELINES_DIR", REPO_ROOT / "pipelines")),
            executor=_EXECUTORS[executor],
            celery_broker_url=env.get("CT_CELERY_BROKER_URL") or None,
        )

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def mlflow_url(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def exporter_url(self) -> str:
        return f"http://127.0.0.1:{self.exporter_port}"

    @property
    def celery_worker_name(self) -> str:
        """The worker's Celery node name: one per stack, so that two stacks on one machine
        (and one broker) can tell their workers apart."""
        return f"celery@ct-{self.airflow_port}"

    @property
    def mlflow_artifact_root(self) -> str:
        return f"s3://{ARTIFACT_BUCKET}/mlflow"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def effective_store_url(self) -> str:
        """The project store's URL: CT_STORE_URL, or SQLite under the stack's home."""
        return self.store_url or f"sqlite:///{self.home / 'ct_store.db'}"

    def service_env(self) -> dict[str, str]:
        """What the service's code reads (mlops_lib.settings), for tasks and tools alike."""
        sqs = {"CT_SQS_ENDPOINT_URL": self.s3_url} if self.s3_server == "moto" else {}
        return {
            **sqs,
            "CT_HOME": str(self.home),
            "CT_STORE_URL": self.effective_store_url,
            "CT_S3_ENDPOINT_URL": self.s3_url,
            "CT_ARTIFACT_BUCKET": ARTIFACT_BUCKET,
            "CT_MLFLOW_ARTIFACT_ROOT": self.mlflow_artifact_root,
            "CT_PIPELINES_DIR": str(self.pipelines_dir),
            "CT_AIRFLOW_URL": self.airflow_url,
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            # The MLflow client sends these as basic auth: the server's service account.
            "MLFLOW_TRACKING_USERNAME": SERVICE_USER,
            "MLFLOW_TRACKING_PASSWORD": self.secret("mlflow_service_password"),
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    @property
    def airflow_sqlite_path(self) -> Path | None:
        """Airflow's metadata DB file when it is SQLite (the embedded default, or a file URL)."""
        from sqlalchemy.engine import make_url

        if not self.airflow_db_url:
            return self.home / "airflow" / "airflow.db"
        url = make_url(self.airflow_db_url)
        return Path(url.database) if url.get_backend_name() == "sqlite" and url.database else None

    def airflow_env(self) -> dict[str, str]:
        home = self.home / "airflow"
        return {
            **self.service_env(),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                self.airflow_db_url or f"sqlite:///{self.airflow_sqlite_path}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",  # one run at a time; two tasks in parallel
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # `ct_service` sets DAG run notes (why a run fired) through the REST API, which
            # the Task SDK cannot do; its password is ours, written before the API starts.
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS":
                f"{AIRFLOW_USER}:admin,{SERVICE_USER}:user",
            "AIRFLOW_CONN_CT_AIRFLOW_API": json.dumps({
                "conn_type": "http", "host": self.airflow_url, "login": SERVICE_USER,
                "password": self.secret("service_password")}),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            # Task logs are their owner's alone, like the stack's own logs (Airflow's default
            # is group-writable, for impersonation, which the stack does not use).
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
            "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self.secret("api_secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self.secret("jwt_secret"),
            "AIRFLOW_CONN_CT_S3": json.dumps({
                "conn_type": "aws", "login": S3_KEY, "password": S3_KEY,
                "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"}}),
            **self._metrics_env(),
            **self._sqlite_env(),
            # The triggerer imports triggers by class path: keep plugins/ importable.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"),
                                                        os.environ.get("PYTHONPATH")])),
            **self._celery_env(),
        }

    def shell_env(self) -> dict[str, str]:
        """What `mlops stack env` exports to a user's shell: Airflow's environment without the
        metrics push. A CLI command lives seconds, its metrics say nothing, and Airflow's
        OpenTelemetry setup prints a line into output a user may parse (`-o json`)."""
        metrics = self._metrics_env()
        return {k: v for k, v in self.airflow_env().items() if k not in metrics}

    def _sqlite_env(self) -> dict[str, str]:
        """A longer lock wait when Airflow's metadata DB is SQLite (see airflow_sqlite)."""
        if self.airflow_sqlite_path is None:
            return {}
        module = "mlops_dev.stack.airflow_sqlite"
        return {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{module}.CONNECT_ARGS",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{module}.CONNECT_ARGS_ASYNC"}

    def _metrics_env(self) -> dict[str, str]:
        """Airflow's own metrics (task durations, failures, scheduler loops) to the exporter
        over OTLP/HTTP, which serves them to Prometheus as airflow_*. The standard OTEL_*
        variables: Airflow 3.2 deprecated [metrics] otel_host/otel_port."""
        if not self.airflow_metrics:
            return {}
        return {
            "AIRFLOW__METRICS__OTEL_ON": "True",
            "AIRFLOW__METRICS__OTEL_PREFIX": "airflow",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": f"{self.exporter_url}/v1/metrics",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            # ms: each long-running process exports every metric it has at each interval, so
            # not much more often than Prometheus scrapes (the SDK's default is a minute)
            "OTEL_METRIC_EXPORT_INTERVAL": "30000",
            "OTEL_SERVICE_NAME": "airflow",
        }

    def _celery_env(self) -> dict[str, str]:
        if self.executor != "CeleryExecutor":
            return {}
        assert self.celery_broker_url and self.airflow_db_url  # checked in __post_init__
        return {
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": self.celery_broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + _sync_db_url(self.airflow_db_url),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            # Airflow's default, set to silence its warning: a task still running after a day is
            # redelivered by the broker to another worker.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
            # Workers run tasks through the Task SDK, which reports to the api-server's
            # execution API; a worker on another machine needs this URL to reach it.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.airflow_url}/execution/",
        }

    def secret(self, name: str) -> str:
        """A random secret of this stack, made on first use and kept under run/ (mode 600)."""
        path = self.run_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private(path, secrets.token_urlsafe(32))
        return path.read_text().strip()


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, never readable by others even for an instant."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the file may have existed with a wider mode
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _sync_db_url(url: str) -> str:
    """The Airflow DB URL with a synchronous driver SQLAlchemy's Celery backend can use."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)
