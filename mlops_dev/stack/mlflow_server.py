"""The stack's MLflow tracking server, behind MLflow's basic-auth app.

Two users: `admin` (the operator's login to the UI; it alone manages users) and `ct_service`
(the tasks, the `mlops` CLI, the demo and the tests, through MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD). Both passwords are generated on first use and kept under
`$CT_HOME/run/` (mode 600); no password is ever on a command line or in a log. Anonymous
requests get 401; only /health answers without a login.

`default_permission = READ`: a user the operator adds later sees every experiment and model but
moves no alias. The service account is granted MANAGE on every experiment and registered model
(`*`), so that it can run the pipelines (runs, logged models, versions, aliases) on a tracking
database from before auth was turned on too; it is no admin and cannot manage users.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlops_dev.stack.config import (
    MLFLOW_ADMIN,
    SERVICE_USER,
    StackConfig,
    StackError,
    write_private,
)
from mlops_dev.stack.processes import BIN, Component, Echo, http_ok, start, wait_healthy

log = logging.getLogger(__name__)

_TRIES = 4  # over 1 + 2 + 3 s of waiting


def auth_config_path(cfg: StackConfig) -> Path:
    return cfg.run_dir / "mlflow_auth.ini"


def write_auth_config(cfg: StackConfig) -> Path:
    """The basic-auth app's settings (mode 600: it holds the admin's bootstrap password)."""
    path = auth_config_path(cfg)
    write_private(path, "\n".join([
        "[mlflow]",
        "default_permission = READ",
        f"database_uri = sqlite:///{cfg.home / 'mlflow_auth.db'}",
        f"admin_username = {MLFLOW_ADMIN}",
        f"admin_password = {cfg.secret('mlflow_admin_password')}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        "",
    ]))
    return path


def mlflow_component(cfg: StackConfig) -> Component:
    """`mlflow server --app-name basic-auth`, one worker, artifacts proxied to the stack's S3."""
    env = {**cfg.service_env(), "MLFLOW_S3_ENDPOINT_URL": cfg.s3_url,
           # Job consumers cost ~2 GiB of memory and the service does not use them.
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_AUTH_CONFIG_PATH": str(auth_config_path(cfg)),
           # Signs the auth app's CSRF tokens (its sign-up form); static across restarts.
           "MLFLOW_FLASK_SERVER_SECRET_KEY": cfg.secret("mlflow_flask_secret_key")}
    return Component("mlflow", [str(BIN / "mlflow"), "server", "--app-name", "basic-auth",
                                "--backend-store-uri", f"sqlite:///{cfg.home / 'mlflow.db'}",
                                "--artifacts-destination", cfg.mlflow_artifact_root,
                                "--host", "127.0.0.1", "--port", str(cfg.mlflow_port),
                                "--workers", "1"],
                     env, lambda: http_ok(f"{cfg.mlflow_url}/health"))


def start_mlflow(cfg: StackConfig, *, echo: Echo = print, timeout: float = 120,
                 wait: bool = True) -> Component:
    """Write the auth config and start the server; with `wait`, also wait until it is healthy
    and the service account exists (`ensure_service_account`)."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    write_auth_config(cfg)
    comp = mlflow_component(cfg)
    start(cfg, comp, echo)
    if wait:
        wait_healthy(cfg, [comp], timeout)
        ensure_service_account(cfg)
    return comp


def ensure_service_account(cfg: StackConfig) -> None:
    """`ensure_user` for this stack: `ct_service` with its password from the stack's secrets."""
    ensure_user(cfg.mlflow_url, (MLFLOW_ADMIN, cfg.secret("mlflow_admin_password")),
                (SERVICE_USER, cfg.secret("mlflow_service_password")))


def ensure_user(url: str, admin: tuple[str, str], user: tuple[str, str]) -> None:
    """Create the user (or reset its password if it exists, so that the secret the caller holds
    is always the truth), and grant it MANAGE on every experiment and registered model, those
    made before auth was turned on included. Idempotent."""
    body = {"username": user[0], "password": user[1]}
    if not _call_new(url, "POST", "/api/2.0/mlflow/users/create", body, admin):
        _call_new(url, "PATCH", "/api/2.0/mlflow/users/update-password", body, admin)
    for resource_type in ("experiment", "registered_model"):
        _call_new(url, "POST", "/api/3.0/mlflow/users/permissions/grant",
                  {"username": user[0], "resource_type": resource_type,
                   "resource_id": "*", "permission": "MANAGE"}, admin)


def _call_new(url: str, method: str, path: str, body: dict[str, str],
              login: tuple[str, str]) -> bool:
    """`_call` for a request that creates something: False if it already existed.

    A server that has just started may answer an error that a moment later it would not (CI
    once saw users/create answer 400 on a fresh stack), so any other error but a refusal
    (401, 403) or a missing route (404) is retried a few times before it fails the start; the
    failure carries MLflow's error code and message."""
    attempt = 1
    while True:
        try:
            _call(url, method, path, body, login)
            return True
        except urllib.error.HTTPError as exc:
            error = _error_of(exc)
            if error.code == "RESOURCE_ALREADY_EXISTS":
                return False
            if exc.code in (401, 403, 404) or attempt == _TRIES:
                hint = " (a server without basic auth: restart it)" if exc.code == 404 else ""
                raise StackError(f"MLflow at {url}: {method} {path} answered HTTP "
                                 f"{exc.code}{hint}{error.detail}") from None
            log.warning("MLflow at %s: %s %s answered HTTP %d%s; trying again (%d of %d)",
                        url, method, path, exc.code, error.detail, attempt + 1, _TRIES)
            time.sleep(attempt)
            attempt += 1


def _call(url: str, method: str, path: str, body: dict[str, str],
          login: tuple[str, str]) -> None:
    token = base64.b64encode(":".join(login).encode()).decode()
    req = urllib.request.Request(f"{url}{path}", method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Basic {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30):
        pass


@dataclass(frozen=True)
class _Error:
    code: str | None
    detail: str  # ": CODE: message" for the StackError, or "" when the body said nothing


def _error_of(exc: urllib.error.HTTPError) -> _Error:
    """The error code and a printable message of MLflow's answer. The message is cut before
    SQLAlchemy's `[SQL: ...]`, whose parameters would carry a password hash into a log."""
    try:
        raw = exc.read().decode("utf-8", "replace")
    except OSError:
        return _Error(None, "")
    try:
        answer = json.loads(raw)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        text = " ".join(raw.split())[:200]
        return _Error(None, f": {text}" if text else "")
    code = answer.get("error_code")
    message = " ".join(str(answer.get("message", "")).split("[SQL:")[0].split())[:300]
    return _Error(str(code) if code is not None else None,
                  f": {code}: {message}" if code or message else "")


def main() -> None:
    """docker-compose's `mlflow-init`: the service account from the environment (.env)."""
    env = os.environ
    ensure_user(env["MLFLOW_TRACKING_URI"],
                (env["MLFLOW_AUTH_ADMIN_USERNAME"], env["MLFLOW_AUTH_ADMIN_PASSWORD"]),
                (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]))
    print(f"MLflow user {env['MLFLOW_TRACKING_USERNAME']} is ready")


if __name__ == "__main__":
    main()
