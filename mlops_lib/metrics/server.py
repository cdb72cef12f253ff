"""The exporter's HTTP server: GET /metrics for Prometheus, POST /v1/metrics for Airflow's
OTLP/HTTP pushes, GET /healthz for the stack's health check. Standard library only: one
thread per request, each scrape reads the store afresh."""

from __future__ import annotations

import gzip
import logging
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlops_lib.metrics.collector import PipelineInfo, StoreCollector
from mlops_lib.metrics.relay import OtlpRelay
from mlops_lib.settings import Settings
from mlops_lib.spec import load_specs
from mlops_lib.stores.store import Store

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464  # the port OpenTelemetry's own Prometheus exporter uses
MAX_BODY = 16 * 1024 * 1024  # an OTLP export of Airflow's metrics is a few KiB


class Exporter:
    """The registry of one exporter: the store's `ct_*` and the relayed `airflow_*`."""

    def __init__(self, settings: Settings, relay: OtlpRelay | None = None) -> None:
        self.settings = settings
        self.relay = relay or OtlpRelay()
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(lambda: Store(settings.store_url), self.pipelines))
        self.registry.register(self.relay)

    def pipelines(self) -> list[PipelineInfo]:
        return [PipelineInfo.of(s) for s in load_specs(*self.settings.spec_dirs)]

    def scrape(self) -> bytes:
        return generate_latest(self.registry)


def make_server(exporter: Exporter, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to (host, port), not yet serving (`serve_forever`)."""

    class Handler(_Handler):
        pass

    Handler.exporter = exporter
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    exporter: Exporter
    server_version = "ct-exporter"

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, self.exporter.scrape(), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._reply(200, b"ok\n", "text/plain")
        else:
            self._reply(404, b"not found: GET /metrics or /healthz, POST /v1/metrics\n",
                        "text/plain")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/v1/metrics":
            self._reply(404, b"not found\n", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(413 if length > MAX_BODY else 400, b"bad body length\n", "text/plain")
            return
        body = self.rfile.read(length)
        try:
            taken = self.exporter.relay.ingest(_decoded(body, self.headers.get(
                "Content-Encoding", "")))
        except (ValueError, OSError, zlib.error) as exc:
            self._reply(400, f"{exc}\n".encode(), "text/plain")
            return
        log.debug("took %d OTLP points", taken)
        self._reply(200, ExportMetricsServiceResponse().SerializeToString(),
                    "application/x-protobuf")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.debug("%s " + format, self.address_string(), *args)


def _decoded(body: bytes, encoding: str) -> bytes:
    if encoding.lower() == "gzip":
        return gzip.decompress(body)
    if encoding.lower() == "deflate":
        return zlib.decompress(body)
    return body
