"""The stack's MLflow bootstrap (`ensure_user`) against a real HTTP server in a thread that
answers as MLflow's basic-auth app would, errors included; and the tests' own free ports."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops_dev.stack import mlflow_server
from mlops_dev.stack.config import StackError
from tests import support
from tests.support import PORT_BLOCK, free_port, port_block, served_in_thread

ADMIN = ("admin", "admin-password-123")
USER = ("ct_service", "service-password-123")
HASH = "pbkdf2:sha256:600000$salt$0123456789abcdef"
CREATE = "/api/2.0/mlflow/users/create"
UPDATE = "/api/2.0/mlflow/users/update-password"
GRANT = "/api/3.0/mlflow/users/permissions/grant"

pytestmark = pytest.mark.unit


@dataclass
class FakeAuthApp:
    """Answers each (method, path) from a queue of (status, body); 200 {} once it is empty."""

    answers: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str]]:
        self.seen.append((method, path, body))
        queue = self.answers.get((method, path), [])
        return queue.pop(0) if queue else (200, {})


@contextmanager
def serving(app: FakeAuthApp) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, answer = app.answer(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_PATCH = _reply  # noqa: N815 - http.server's names

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    with served_in_thread(server):
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow_server.time, "sleep", lambda _s: None)


def paths(app: FakeAuthApp) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in app.seen]


def sql_error(code: str) -> dict[str, str]:
    return {"error_code": code, "message": "(sqlite3.IntegrityError) UNIQUE constraint failed "
            f"[SQL: INSERT INTO users VALUES (?, ?)] [parameters: ('ct_service', '{HASH}')]"}


def test_a_new_user_is_created_and_granted_manage_on_everything() -> None:
    app = FakeAuthApp()
    with serving(app) as url:
        mlflow_server.ensure_user(url, ADMIN, USER)
    assert paths(app) == [("POST", CREATE), ("POST", GRANT), ("POST", GRANT)]
    assert app.seen[0][2] == {"username": USER[0], "password": USER[1]}
    assert [body["resource_type"] for _, _, body in app.seen[1:]] == ["experiment",
                                                                     "registered_model"]


def test_an_existing_user_gets_the_password_the_caller_holds() -> None:
    app = FakeAuthApp({("POST", CREATE): [(400, sql_error("RESOURCE_ALREADY_EXISTS"))],
                       ("POST", GRANT): [(400, sql_error("RESOURCE_ALREADY_EXISTS"))] * 2})
    with serving(app) as url:
        mlflow_server.ensure_user(url, ADMIN, USER)
    assert paths(app) == [("POST", CREATE), ("PATCH", UPDATE), ("POST", GRANT), ("POST", GRANT)]


def test_a_passing_error_of_a_fresh_server_is_tried_again() -> None:
    app = FakeAuthApp({("POST", CREATE): [(400, sql_error("BAD_REQUEST")),
                                          (503, {"error_code": "TEMPORARILY_UNAVAILABLE"})]})
    with serving(app) as url:
        mlflow_server.ensure_user(url, ADMIN, USER)
    assert paths(app) == [("POST", CREATE)] * 3 + [("POST", GRANT)] * 2


def test_a_lasting_error_fails_with_mlflows_reason_and_no_password_hash() -> None:
    app = FakeAuthApp({("POST", CREATE): [(400, sql_error("BAD_REQUEST"))] * 10})
    with serving(app) as url, pytest.raises(StackError) as failed:
        mlflow_server.ensure_user(url, ADMIN, USER)
    message = str(failed.value)
    assert f"POST {CREATE} answered HTTP 400: BAD_REQUEST: (sqlite3.IntegrityError)" in message
    assert HASH not in message and "[SQL" not in message
    assert paths(app) == [("POST", CREATE)] * 4


@pytest.mark.parametrize(("status", "hint"), [(401, ""), (403, ""),
                                              (404, "a server without basic auth")])
def test_a_refusal_is_not_tried_again(status: int, hint: str) -> None:
    app = FakeAuthApp({("POST", CREATE): [(status, {})]})
    with serving(app) as url, pytest.raises(StackError, match=f"HTTP {status}.*{hint}"):
        mlflow_server.ensure_user(url, ADMIN, USER)
    assert paths(app) == [("POST", CREATE)]


def test_free_ports_come_from_this_worker_s_block_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(20)]
    assert len(set(ports)) == 20
    start = 20000 + port_block() * PORT_BLOCK
    assert all(start <= p < start + PORT_BLOCK for p in ports)
    assert start + PORT_BLOCK <= 32768


def test_a_port_someone_listens_on_is_not_handed_out() -> None:
    start = 20000 + port_block() * PORT_BLOCK
    upcoming = next(p for p in range(start, start + PORT_BLOCK)
                    if p not in support._handed_out and support._bindable(p))
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", upcoming))
        listener.listen()
        assert free_port() != upcoming


def test_each_xdist_worker_has_its_own_block(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = []
    for worker in ("", "gw0", "gw1", "gw7"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        blocks.append(port_block())
    assert blocks == [0, 1, 2, 8]
