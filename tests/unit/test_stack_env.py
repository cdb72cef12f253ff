"""`eval "$(mlops stack env)"` gives a shell where `airflow` and `mlops` are the project's and
talk to the local stack (docs/backfill.md runs `airflow backfill create` in such a shell)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
VENV_BIN = Path(sys.executable).parent


def test_the_eval_ed_environment_finds_the_projects_airflow(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CT_HOME": str(tmp_path / "stack")}
    script = (f'eval "$({VENV_BIN / "mlops"} stack env)" && command -v airflow && '
              'command -v mlops && echo "$AIRFLOW_HOME" && env | grep -c OTEL || true')
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    airflow, mlops, airflow_home, otel = done.stdout.split()
    assert otel == "0"  # a CLI command pushes no metrics, and prints no OpenTelemetry line
    assert Path(airflow) == VENV_BIN / "airflow" and Path(mlops) == VENV_BIN / "mlops"
    assert Path(airflow_home).is_relative_to(tmp_path / "stack")  # the stack's, not ~/airflow
    assert os.environ.get("CT_HOME") != str(tmp_path / "stack")  # nothing leaked back


def test_airflow_pushes_its_metrics_to_the_exporter_unless_told_not_to(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_dev.stack.config import StackConfig

    monkeypatch.setenv("CT_HOME", str(tmp_path))
    monkeypatch.setenv("CT_EXPORTER_PORT", "19464")
    monkeypatch.delenv("CT_AIRFLOW_METRICS", raising=False)
    on = StackConfig.from_env().airflow_env()
    assert on["AIRFLOW__METRICS__OTEL_ON"] == "True"
    assert on["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == "http://127.0.0.1:19464/v1/metrics"
    monkeypatch.setenv("CT_AIRFLOW_METRICS", "0")
    off = StackConfig.from_env().airflow_env()
    assert not [k for k in off if "OTEL" in k]


def test_airflow_on_sqlite_waits_for_the_write_lock_instead_of_failing(tmp_path: Path) -> None:
    """A user's `airflow backfill create` competes with the scheduler for SQLite's one write
    lock: the engine Airflow builds from the stack's environment waits a minute, not 5 s."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CT_HOME": str(tmp_path / "stack")}
    probe = ("import airflow.settings as s; print('busy', s.engine.url.get_backend_name(), "
             "s.engine.raw_connection().driver_connection.execute("
             "'PRAGMA busy_timeout').fetchone()[0])")
    script = f'eval "$({VENV_BIN / "mlops"} stack env)" && python -c "{probe}"'
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("busy "))
    _, backend, busy_ms = line.split()
    assert backend == "sqlite" and int(busy_ms) >= 30_000


def test_airflow_on_postgresql_gets_no_sqlite_arguments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_dev.stack.config import StackConfig

    monkeypatch.setenv("CT_HOME", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                       "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow")
    env = StackConfig.from_env().airflow_env()
    assert not [k for k in env if "CONNECT_ARGS" in k]


def test_the_stack_puts_airflows_sqlite_file_in_wal_mode_which_stays(tmp_path: Path) -> None:
    """Set once after the migration, kept by the file for every later connection: readers and
    the writer no longer refuse each other at once (see mlops_dev.stack.airflow_sqlite)."""
    import sqlite3

    from mlops_dev.stack.airflow_sqlite import use_wal

    db = tmp_path / "airflow.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    use_wal(db)
    use_wal(db)  # again on the next `make up`: no change, no error
    later = sqlite3.connect(db)
    try:
        assert later.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        later.close()


@pytest.mark.parametrize(("url", "expected"), [
    (None, "HOME/airflow/airflow.db"),
    ("sqlite:////data/af.db", "/data/af.db"),
    ("postgresql+psycopg2://postgres@127.0.0.1:5432/airflow", None)])
def test_airflows_sqlite_file_is_found_from_its_url(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str | None,
        expected: str | None) -> None:
    from mlops_dev.stack.config import StackConfig

    monkeypatch.setenv("CT_HOME", str(tmp_path))
    if url is None:
        monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
    found = StackConfig.from_env().airflow_sqlite_path
    assert (None if found is None else str(found).replace(str(tmp_path), "HOME")) == expected
