"""The local stack's secrets: generated once into owner-only files, handed to the tasks through
the environment, and kept out of the logs."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mlops_dev import devstack
from mlops_dev.stack.airflow_services import seed_passwords
from mlops_dev.stack.mlflow_server import write_auth_config
from mlops_dev.stack.processes import open_log

pytestmark = pytest.mark.unit


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tasks_log_into_mlflow_as_the_service_account(tmp_path: Path) -> None:
    cfg = devstack.StackConfig(home=tmp_path)
    env = cfg.airflow_env()
    assert env["MLFLOW_TRACKING_USERNAME"] == devstack.SERVICE_USER
    password = (cfg.run_dir / "mlflow_service_password").read_text()
    assert env["MLFLOW_TRACKING_PASSWORD"] == password and len(password) >= 32
    assert mode(cfg.run_dir / "mlflow_service_password") == 0o600
    assert devstack.StackConfig(home=tmp_path).service_env() == cfg.service_env()  # kept


def test_the_auth_config_holds_a_generated_admin_password_and_is_private(
        tmp_path: Path) -> None:
    cfg = devstack.StackConfig(home=tmp_path)
    path = write_auth_config(cfg)
    text = path.read_text()
    assert mode(path) == 0o600
    assert f"admin_password = {cfg.secret('mlflow_admin_password')}" in text
    assert "password1234" not in text
    assert "default_permission = READ" in text
    assert f"database_uri = sqlite:///{tmp_path / 'mlflow_auth.db'}" in text


def test_airflow_passwords_are_seeded_so_airflow_never_prints_one(tmp_path: Path) -> None:
    cfg = devstack.StackConfig(home=tmp_path)
    seed_passwords(cfg)
    path = devstack.passwords_file(cfg)
    first = json.loads(path.read_text())
    assert set(first) == {devstack.AIRFLOW_USER, devstack.SERVICE_USER}
    assert mode(path) == 0o600
    seed_passwords(cfg)  # a password the admin already has is kept
    assert json.loads(path.read_text()) == first == {
        devstack.AIRFLOW_USER: devstack.airflow_password(cfg),
        devstack.SERVICE_USER: cfg.secret("service_password")}


def test_logs_are_owner_only_even_when_they_were_not(tmp_path: Path) -> None:
    cfg = devstack.StackConfig(home=tmp_path)
    cfg.log_dir.mkdir(parents=True)
    old = cfg.log_dir / "airflow-api-server.log"
    old.write_text("from before\n")
    old.chmod(0o644)
    with open_log(cfg, "airflow-api-server") as log:
        log.write(b"more\n")
    assert old.read_text() == "from before\nmore\n"
    assert mode(old) == 0o600 and mode(cfg.log_dir) == 0o700
    with open_log(cfg, "new"):
        pass
    assert mode(cfg.log_dir / "new.log") == 0o600
