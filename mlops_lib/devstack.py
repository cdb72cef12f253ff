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

Every process starts in its own session (process group) with its PID recorded under
`$CT_HOME/run/`, so `down` stops exactly what `up` started, children included. Everything
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mlops_lib.settings import REPO_ROOT

S3Server = Literal["s3rver", "moto"]
Executor = Literal["LocalExecutor", "CeleryExecutor"]
_EXECUTORS: dict[str, Executor] = {"local": "LocalExecutor", "celery": "CeleryExecutor"}

LANDING_BUCKET = "ct-landing"
ARTIFACT_BUCKET = "ct-artifacts"
SERVICE_USER = "ct_service"  # the service's own API user (DAG run notes)
S3_KEY = "S3RVER"  # s3rver's fixed credentials; the stack is bound to loopback only
AIRFLOW_USER = "admin"
_BIN = Path(sys.executable).parent
_NODE_DIR = REPO_ROOT / "stack"


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackConfig:
    home: Path
    s3_port: int = 9000
    mlflow_port: int = 5000
    airflow_port: int = 8080
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
            airflow_db_url=env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or None,
            store_url=env.get("CT_STORE_URL") or None,
            s3_server=server,  # type: ignore[arg-type]
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

    def service_env(self) -> dict[str, str]:
        """What the service's code reads (mlops_lib.settings), for tasks and tools alike."""
        sqs = {"CT_SQS_ENDPOINT_URL": self.s3_url} if self.s3_server == "moto" else {}
        return {
            **sqs,
            "CT_HOME": str(self.home),
            "CT_STORE_URL": self.store_url or f"sqlite:///{self.home / 'ct_store.db'}",
            "CT_S3_ENDPOINT_URL": self.s3_url,
            "CT_ARTIFACT_BUCKET": ARTIFACT_BUCKET,
            "CT_MLFLOW_ARTIFACT_ROOT": self.mlflow_artifact_root,
            "CT_PIPELINES_DIR": str(self.pipelines_dir),
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def airflow_env(self) -> dict[str, str]:
        home = self.home / "airflow"
        return {
            **self.service_env(),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                self.airflow_db_url or f"sqlite:///{home / 'airflow.db'}",
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
                "password": self._secret("service_password")}),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.airflow_port),
            "AIRFLOW__API__BASE_URL": self.airflow_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": self._secret("api_secret_key"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self._secret("jwt_secret"),
            "AIRFLOW_CONN_CT_S3": json.dumps({
                "conn_type": "aws", "login": S3_KEY, "password": S3_KEY,
                "extra": {"endpoint_url": self.s3_url, "region_name": "us-east-1"}}),
            # The triggerer imports triggers by class path: keep plugins/ importable.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT / "plugins"),
                                                        os.environ.get("PYTHONPATH")])),
            **self._celery_env(),
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

    def _secret(self, name: str) -> str:
        path = self.run_dir / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    healthy: Callable[[], bool]


def components(cfg: StackConfig) -> list[Component]:
    mlflow_env = {**cfg.service_env(), "MLFLOW_S3_ENDPOINT_URL": cfg.s3_url,
                  # Job consumers cost ~2 GiB of memory and the service does not use them.
                  "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    af = cfg.airflow_env()
    airflow = str(_BIN / "airflow")
    return [
        _s3_component(cfg),
        Component("mlflow", [str(_BIN / "mlflow"), "server",
                             "--backend-store-uri", f"sqlite:///{cfg.home / 'mlflow.db'}",
                             "--artifacts-destination", cfg.mlflow_artifact_root,
                             "--host", "127.0.0.1", "--port", str(cfg.mlflow_port),
                             "--workers", "1"],
                  mlflow_env, lambda: _http_ok(f"{cfg.mlflow_url}/health")),
        Component("airflow-api-server", [airflow, "api-server"], af,
                  lambda: _http_ok(f"{cfg.airflow_url}/api/v2/monitor/health")),
        # --skip-serve-logs: the log servers bind every interface (hard-coded in Airflow) and
        # the api-server reads task logs from the shared log folder anyway.
        Component("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"], af,
                  lambda: _airflow_component_healthy(cfg, "scheduler")),
        Component("airflow-dag-processor", [airflow, "dag-processor"], af,
                  lambda: _airflow_component_healthy(cfg, "dag_processor")),
        Component("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"], af,
                  lambda: _airflow_component_healthy(cfg, "triggerer")),
        *([_celery_worker(cfg)] if cfg.executor == "CeleryExecutor" else []),
    ]


def _celery_worker(cfg: StackConfig) -> Component:
    return Component("airflow-celery-worker",
                     [str(_BIN / "airflow"), "celery", "worker", "--concurrency", "2",
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


def _sync_db_url(url: str) -> str:
    """The Airflow DB URL with a synchronous driver SQLAlchemy's Celery backend can use."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def _s3_component(cfg: StackConfig) -> Component:
    if cfg.s3_server == "moto":
        # One port for every service moto emulates (it tells them apart by the request's
        # signature); S3 notifications reach its SQS inside the process.
        return Component("s3", [str(_BIN / "moto_server"), "-H", "127.0.0.1",
                                "-p", str(cfg.s3_port)],
                         cfg.service_env(), lambda: _http_ok(f"{cfg.s3_url}/moto-api/config"))
    return Component("s3", ["node", str(_NODE_DIR / "node_modules/s3rver/bin/s3rver.js"),
                            "--directory", str(cfg.home / "s3"), "--address", "127.0.0.1",
                            "--port", str(cfg.s3_port), "--silent"],
                     cfg.service_env(), lambda: _http_ok(f"{cfg.s3_url}/"))


def up(cfg: StackConfig, *, timeout: float = 240, echo: Callable[[str], None] = print) -> None:
    """Start whatever is not running yet and wait until every component is healthy.

    Also exports the service environment into this process, so that tools running in it
    (the demo, tests) talk to this stack.
    """
    if cfg.executor == "CeleryExecutor" and not broker_reachable(cfg.celery_broker_url or ""):
        from kombu.utils.url import maybe_sanitize_url

        raise StackError(f"CT_EXECUTOR=celery: no broker listens at "
                         f"{maybe_sanitize_url(cfg.celery_broker_url)} (start Redis or RabbitMQ "
                         "there, or set CT_CELERY_BROKER_URL)")
    os.environ.update(cfg.service_env())
    start_s3(cfg, timeout=timeout, echo=echo)
    comps = {c.name: c for c in components(cfg)}
    _start(cfg, comps["mlflow"], echo)
    if not _alive(cfg, "airflow-scheduler"):
        echo("airflow: migrating the metadata database")
        _run_logged(cfg, "airflow-db-migrate", [str(_BIN / "airflow"), "db", "migrate"],
                    cfg.airflow_env())
    _seed_service_password(cfg)
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
                 "airflow-triggerer", "airflow-celery-worker"):
        if name in comps:
            _start(cfg, comps[name], echo)
    _wait(cfg, list(comps.values()), timeout)
    echo("stack is up")


def start_s3(cfg: StackConfig, *, timeout: float = 60,
             echo: Callable[[str], None] = print) -> None:
    """Start the S3 server alone (everything else stores into it), create the buckets and
    wire the bucket notifications of events-mode pipelines."""
    for d in (cfg.run_dir, cfg.log_dir, cfg.home / "s3", cfg.home / "airflow"):
        d.mkdir(parents=True, exist_ok=True)
    if cfg.s3_server == "s3rver":
        _ensure_node_tools()
    s3 = _s3_component(cfg)
    _start(cfg, s3, echo)
    _wait(cfg, [s3], timeout)
    client = _client(cfg, "s3")
    from mlops_lib.s3io import ensure_buckets

    ensure_buckets(client, LANDING_BUCKET, ARTIFACT_BUCKET)
    ensure_event_queues(cfg, echo=echo)


def ensure_event_queues(cfg: StackConfig, *, echo: Callable[[str], None] = print) -> None:
    """For every pipeline in `pipelines_dir` with `trigger.mode: events`: its SQS queue and the
    landing bucket's notification to it. Moto only: s3rver sends no notifications. Moto keeps
    both in memory, so this runs on every `up`."""
    from mlops_lib.spec import SpecError, load_specs

    try:
        specs = [s for s in load_specs(cfg.pipelines_dir) if s.trigger.mode == "events"]
    except SpecError as exc:  # the DAG files report it too; don't block the stack
        echo(f"warning: not wiring S3 notifications: {exc}")
        return
    if not specs:
        return
    if cfg.s3_server != "moto":
        names = ", ".join(s.name for s in specs)
        echo(f"warning: {names}: trigger.mode events needs S3 notifications to SQS, which "
             "s3rver does not send; start the stack with CT_S3_SERVER=moto (or use a real "
             "S3 + SQS). These pipelines will see no new batches.")
        return
    from mlops_lib.s3_events import ensure_notifications
    from mlops_lib.s3io import ensure_buckets

    s3, sqs = _client(cfg, "s3"), _client(cfg, "sqs")
    for spec in specs:
        assert spec.trigger.sqs_queue is not None  # the spec parser requires it in events mode
        ensure_buckets(s3, spec.source.bucket)
        # Marker and manifest batches are announced by their last object only: one message,
        # and so one asset event, per batch instead of one per file.
        suffix = None if spec.source.completion == "quiet" else spec.source.marker
        url = ensure_notifications(s3, sqs, spec.source.bucket, spec.source.prefix,
                                   spec.trigger.sqs_queue.rsplit("/", 1)[-1], suffix=suffix)
        echo(f"{spec.name}: s3://{spec.source.bucket}/{spec.source.prefix} notifies {url}")


def _client(cfg: StackConfig, service: str) -> Any:  # boto3 client types exist at run time
    import boto3

    return boto3.client(service, endpoint_url=cfg.s3_url, region_name="us-east-1",
                        aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY)


def down(cfg: StackConfig, *, echo: Callable[[str], None] = print, grace: float = 30) -> None:
    """Stop every process group `up` started; SIGKILL whatever outlives the grace period."""
    pids = {p.stem: int(p.read_text()) for p in sorted(cfg.run_dir.glob("*.pid"))}
    for name, pid in pids.items():
        if _pid_alive(pid):
            echo(f"stopping {name} (pgid {pid})")
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_group_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
    for name, pid in pids.items():
        if _group_alive(pid):
            echo(f"{name} ignored SIGTERM; killing")
            _signal_group(pid, signal.SIGKILL)
        (cfg.run_dir / f"{name}.pid").unlink(missing_ok=True)


def status(cfg: StackConfig) -> dict[str, dict[str, object]]:
    """Per component: running, healthy and memory (PSS of the whole process group, MiB)."""
    out: dict[str, dict[str, object]] = {}
    for comp in components(cfg):
        pid = _read_pid(cfg, comp.name)
        running = pid is not None and _pid_alive(pid)
        out[comp.name] = {"pid": pid, "running": running,
                          "healthy": running and _safe(comp.healthy),
                          "pss_mib": round(group_pss_kib(pid) / 1024, 1) if running else 0.0}
    return out


def _seed_service_password(cfg: StackConfig) -> None:
    """Put the service user's password into the simple auth manager's file; the manager keeps
    passwords it finds there and generates the others (the admin's)."""
    path = cfg.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    try:
        passwords = json.loads(path.read_text())
    except (OSError, ValueError):
        passwords = {}
    secret = cfg._secret("service_password")
    if passwords.get(SERVICE_USER) != secret:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**passwords, SERVICE_USER: secret}) + "\n")
        path.chmod(0o600)


def airflow_password(cfg: StackConfig) -> str | None:
    path = cfg.home / "airflow" / "simple_auth_manager_passwords.json.generated"
    try:
        return json.loads(path.read_text()).get(AIRFLOW_USER)
    except (OSError, ValueError):
        return None


def group_pss_kib(pgid: int | None) -> int:
    """Proportional set size of every process in a process group (shared pages split fairly)."""
    if pgid is None:
        return 0
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, ProcessLookupError):
            continue
    return total


# -- process plumbing ------------------------------------------------------------------------
def _start(cfg: StackConfig, comp: Component, echo: Callable[[str], None]) -> None:
    if _alive(cfg, comp.name):
        echo(f"{comp.name}: already running")
        return
    log = open(cfg.log_dir / f"{comp.name}.log", "ab")
    proc = subprocess.Popen(comp.argv, env={**os.environ, **comp.env}, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=cfg.home)
    (cfg.run_dir / f"{comp.name}.pid").write_text(str(proc.pid))
    echo(f"{comp.name}: started (pid {proc.pid}, log {cfg.log_dir / comp.name}.log)")


def _run_logged(cfg: StackConfig, name: str, argv: list[str], env: dict[str, str]) -> None:
    with open(cfg.log_dir / f"{name}.log", "ab") as log:
        rc = subprocess.run(argv, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT, cwd=cfg.home).returncode
    if rc != 0:
        raise StackError(f"{name} failed ({rc}); see {cfg.log_dir / name}.log")


def _wait(cfg: StackConfig, comps: list[Component], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(comps)
    while pending:
        for comp in list(pending):
            pid = _read_pid(cfg, comp.name)
            if pid is None or not _pid_alive(pid):
                tail = _tail(cfg.log_dir / f"{comp.name}.log")
                raise StackError(f"{comp.name} exited during start-up; log tail:\n{tail}")
            if _safe(comp.healthy):
                pending.remove(comp)
        if pending and time.monotonic() > deadline:
            names = ", ".join(c.name for c in pending)
            raise StackError(f"not healthy after {timeout:.0f}s: {names}; logs in {cfg.log_dir}")
        if pending:
            time.sleep(1)


def _alive(cfg: StackConfig, name: str) -> bool:
    pid = _read_pid(cfg, name)
    return pid is not None and _pid_alive(pid)


def _read_pid(cfg: StackConfig, name: str) -> int | None:
    try:
        return int((cfg.run_dir / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return group_pss_kib(pgid) > 0 or _pid_alive(pgid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return resp.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def _airflow_component_healthy(cfg: StackConfig, component: str) -> bool:
    with urllib.request.urlopen(f"{cfg.airflow_url}/api/v2/monitor/health", timeout=3) as r:
        health = json.load(r)
    return health.get(component, {}).get("status") == "healthy"


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:
        return False


def _ensure_node_tools() -> None:
    if (_NODE_DIR / "node_modules" / "s3rver").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("the local S3 server needs Node.js and npm (e.g. apt-get install nodejs"
                         " npm); or point CT_S3_ENDPOINT_URL at an S3 server of your own")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=_NODE_DIR,
                   check=True)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
