"""Helpers shared by test modules (ports, throw-away PostgreSQL databases)."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import socketserver
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
PIPELINES_DIR = REPO_ROOT / "pipelines"
EXAMPLE_SPEC = PIPELINES_DIR / "credit_default.yaml"
HOUSE_SPEC = PIPELINES_DIR / "examples" / "house_prices.yaml"  # opt-in example (CT_EXAMPLES=1)


PORT_BLOCK = 1000
_FIRST_PORT = 20000  # below the kernel's ephemeral range (32768-60999 by default)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a server a test starts.

    Drawn from this process's own block below the ephemeral range, not from bind(0): a port
    the kernel hands out as ephemeral may be taken by any client socket on the machine (the
    suite opens thousands) between this call and the server's bind, and the two pytest-xdist
    workers would draw from the same pool. Each worker has its own block (`port_block`), and
    a port is handed out once per block round."""
    start = _FIRST_PORT + port_block() * PORT_BLOCK
    for _ in range(2):
        for port in range(start, start + PORT_BLOCK):
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
        _handed_out.difference_update(range(start, start + PORT_BLOCK))  # the next round
    raise RuntimeError(f"no free port in {start}-{start + PORT_BLOCK - 1}")


def port_block() -> int:
    """0 for a plain pytest process, 1 + N for pytest-xdist's worker gwN."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return 1 + int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pg_server_url() -> str | None:
    """CT_TEST_PG: a PostgreSQL server URL whose user may create databases (CI sets it)."""
    return os.environ.get("CT_TEST_PG") or None


def create_pg_database(server_url: str, prefix: str = "ct_test") -> tuple[str, str]:
    """A fresh database on the server; returns its name and URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return name, make_url(server_url).set(database=name).render_as_string(hide_password=False)


def migrated(store_url: str) -> str:
    """The store at `store_url` upgraded to the newest schema (what `mlops store upgrade` and
    the stack's start do); returns the URL. A `Store` itself does no DDL."""
    from mlops_lib.stores.migrations import upgrade

    upgrade(store_url)
    return store_url


def drop_pg_database(server_url: str, name: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def isolate_airflow_home() -> None:
    """Airflow reads its home once, at import: call this before a test module's first Airflow
    import so that it uses a throwaway folder, never ~/airflow."""
    if "AIRFLOW_HOME" not in os.environ:
        os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ct_airflow_home_")
        atexit.register(shutil.rmtree, os.environ["AIRFLOW_HOME"], ignore_errors=True)


def fresh_buckets(s3: Any, monkeypatch: Any) -> tuple[str, str]:
    """Credentials the local S3 server accepts, and a new landing and artifact bucket."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    landing, artifacts = (f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("landing", "artifacts"))
    s3.create_bucket(Bucket=landing)
    s3.create_bucket(Bucket=artifacts)
    return landing, artifacts


def run_dag_file(tmp_path: Path, source: str) -> dict[str, Any]:
    """Run `source` (a DAG file that calls `dag.test()` and prints `@@JSON@@<json>`) in a fresh
    interpreter with its own Airflow home and metadata DB and the project's plugins; return
    the JSON it printed."""
    import json
    import subprocess
    import sys

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "probe_dag.py").write_text(source)
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow_home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
        "CT_HOME": str(tmp_path / "ct_home"),
    }
    proc = subprocess.run([sys.executable, str(dags / "probe_dag.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("@@JSON@@"))
    return json.loads(line.removeprefix("@@JSON@@"))  # type: ignore[no-any-return]


def drifted_measurement(spec: Any, seed: int) -> Any:
    """A drift result (mlops_lib.monitoring.drift.compute) in which every numeric feature of
    `spec` drifted: what the drift monitor records for a batch far from the champion's data."""
    from dataclasses import replace

    import numpy as np
    import pandas as pd

    from mlops_lib.monitoring.drift import compute

    rng = np.random.default_rng(seed)
    names = [f.name for f in spec.features if f.dtype in ("float", "int")]
    reference = pd.DataFrame({n: rng.normal(0, 1, 2000) for n in names})
    current = pd.DataFrame({n: rng.normal(3, 1, 2000) for n in names})
    numeric = replace(spec, features=tuple(f for f in spec.features if f.name in names))
    return compute(reference, current, numeric)


@contextmanager
def served_in_thread(server: socketserver.BaseServer) -> Iterator[None]:
    """`server` serving from a daemon thread until the block ends, then shut and closed."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
