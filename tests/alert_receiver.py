"""A real HTTP receiver for alert webhooks: a server in a thread on a free port that records
each JSON body POSTed to it (or answers every POST with an error status)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import free_port, served_in_thread


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    posts: int = 0  # every POST, answered or refused

    def wait_for(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """The bodies once `count` arrived; fails after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while len(self.bodies) < count:
            assert time.monotonic() < deadline, f"{len(self.bodies)} of {count} posts arrived"
            time.sleep(0.2)
        return list(self.bodies)


@contextmanager
def alert_receiver(status: int = 200, port: int | None = None) -> Iterator[Receiver]:
    """Serve on 127.0.0.1 (`port`, else a free one) until the block ends."""
    port = port or free_port()
    receiver = Receiver(f"http://127.0.0.1:{port}/hooks/alerts")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            receiver.posts += 1
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if status < 300 and self.path == "/hooks/alerts":
                receiver.bodies.append(json.loads(body))
            self.send_response(status if self.path == "/hooks/alerts" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with served_in_thread(ThreadingHTTPServer(("127.0.0.1", port), Handler)):
        yield receiver
