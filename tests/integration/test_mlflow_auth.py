"""MLflow as the stack runs it (`devstack.start_mlflow`): basic auth, a generated admin, and a
service account that the tasks' environment logs in as."""

from __future__ import annotations

import base64
import json
import stat
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops_dev import devstack
from tests.support import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devstack.StackConfig]:
    cfg = devstack.StackConfig(home=tmp_path_factory.mktemp("ct_auth"), mlflow_port=free_port(),
                               s3_port=free_port())
    try:
        devstack.start_mlflow(cfg, echo=lambda _: None)
        yield cfg
    finally:
        devstack.down(cfg, echo=lambda _: None)


def status_of(url: str, *, login: tuple[str, str] | None = None, method: str = "GET",
              body: dict[str, str] | None = None) -> int:
    headers = {"Content-Type": "application/json"}
    if login is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(login).encode()).decode()
    req = urllib.request.Request(url, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def service_login(cfg: devstack.StackConfig) -> tuple[str, str]:
    env = cfg.service_env()
    return env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]


def test_anonymous_requests_and_wrong_passwords_get_401(cfg: devstack.StackConfig) -> None:
    api = f"{cfg.mlflow_url}/api/2.0/mlflow"
    search = f"{api}/registered-models/search"
    assert status_of(f"{cfg.mlflow_url}/health") == 200  # the stack's health check needs no login
    assert status_of(search) == 401
    assert status_of(f"{cfg.mlflow_url}/") == 401  # the UI asks for a login too
    assert status_of(f"{api}/registered-models/alias", method="POST",
                     body={"name": "m", "alias": "champion", "version": "1"}) == 401
    assert status_of(search, login=(devstack.SERVICE_USER, "wrong")) == 401
    assert status_of(search, login=(devstack.MLFLOW_ADMIN, "password1234")) == 401
    assert status_of(search, login=service_login(cfg)) == 200
    admin = (devstack.MLFLOW_ADMIN, (cfg.run_dir / "mlflow_admin_password").read_text().strip())
    assert status_of(search, login=admin) == 200


def test_the_service_account_registers_a_model_and_moves_its_alias(
        cfg: devstack.StackConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(key, cfg.service_env()[key])
    client = MlflowClient(cfg.mlflow_url)
    run = client.create_run(client.create_experiment("auth-test"))
    client.create_registered_model("auth_model")
    version = client.create_model_version("auth_model", f"runs:/{run.info.run_id}/model",
                                          run_id=run.info.run_id).version
    client.set_registered_model_alias("auth_model", "champion", version)
    assert client.get_model_version_by_alias("auth_model", "champion").version == version
    # Anonymous again: the same alias cannot be moved.
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    with pytest.raises(Exception, match="401|not authenticated"):
        MlflowClient(cfg.mlflow_url).set_registered_model_alias("auth_model", "champion", version)


def test_the_service_account_manages_what_the_admin_made(cfg: devstack.StackConfig) -> None:
    """A tracking database from before auth (or one the operator edited) has models the service
    did not create: its MANAGE grant on every model covers them."""
    admin = (devstack.MLFLOW_ADMIN, (cfg.run_dir / "mlflow_admin_password").read_text().strip())
    api = f"{cfg.mlflow_url}/api/2.0/mlflow"
    assert status_of(f"{api}/registered-models/create", login=admin, method="POST",
                     body={"name": "admin_model"}) == 200
    assert status_of(f"{api}/registered-models/update", login=service_login(cfg),
                     method="PATCH", body={"name": "admin_model", "description": "x"}) == 200


def test_ensure_service_account_is_idempotent_and_resets_the_password(
        cfg: devstack.StackConfig) -> None:
    search = f"{cfg.mlflow_url}/api/2.0/mlflow/registered-models/search"
    old = service_login(cfg)
    devstack.ensure_service_account(cfg)
    assert status_of(search, login=old) == 200
    (cfg.run_dir / "mlflow_service_password").unlink()  # a new secret is made on next use
    devstack.ensure_service_account(cfg)
    assert status_of(search, login=old) == 401
    assert status_of(search, login=service_login(cfg)) == 200


def test_credentials_are_private_and_out_of_the_log(cfg: devstack.StackConfig) -> None:
    secrets = {name: (cfg.run_dir / name).read_text().strip()
               for name in ("mlflow_admin_password", "mlflow_service_password")}
    for path in [*(cfg.run_dir / name for name in secrets), cfg.run_dir / "mlflow_auth.ini",
                 cfg.log_dir / "mlflow.log"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(cfg.log_dir.stat().st_mode) == 0o700
    files = [p for p in Path(cfg.home).rglob("*") if p.is_file() and p.suffix == ".log"]
    assert files
    for path in files:
        text = path.read_text(errors="replace")
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked, f"{path} holds {leaked}"
    argv = " ".join(next(c for c in devstack.components(cfg) if c.name == "mlflow").argv)
    assert not any(value in argv for value in secrets.values()), "a password on the command line"


def test_a_refused_login_is_raised_not_read_as_no_champion(
        cfg: devstack.StackConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    from mlops_lib.stores.registry import CHAMPION, Registry

    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(key, cfg.service_env()[key])
    assert Registry(cfg.mlflow_url).alias_version("no_such_model", CHAMPION) is None
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong")
    with pytest.raises(MlflowException, match="401"):
        Registry(cfg.mlflow_url).alias_version("no_such_model", CHAMPION)
