"""`mlops exporter`: serve the service's metrics to Prometheus."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

COMMANDS: tuple[str, ...] = ("exporter",)


def add_commands(sub: Any) -> None:
    """Declare the exporter's command on an `argparse` sub-command group."""
    from mlops_lib.metrics.server import DEFAULT_PORT

    exporter = sub.add_parser(
        "exporter", help="serve Prometheus metrics: the store's (ct_*) and Airflow's "
                         "(airflow_*, pushed over OTLP/HTTP to POST /v1/metrics)")
    exporter.add_argument("--port", type=int,
                          default=int(os.environ.get("CT_EXPORTER_PORT", DEFAULT_PORT)),
                          help=f"port to listen on (CT_EXPORTER_PORT, else {DEFAULT_PORT})")
    exporter.add_argument("--host", default=os.environ.get("CT_EXPORTER_HOST", "127.0.0.1"),
                          help="address to listen on (CT_EXPORTER_HOST, else 127.0.0.1; "
                               "0.0.0.0 in a container)")
    exporter.add_argument("--once", action="store_true",
                          help="print one scrape of the store's metrics and exit")


def run(args: argparse.Namespace) -> int:
    from mlops_lib.metrics.server import Exporter, make_server
    from mlops_lib.settings import Settings

    exporter = Exporter(Settings.from_env())
    if args.once:
        sys.stdout.write(exporter.scrape().decode())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = make_server(exporter, args.host, args.port)
    print(f"exporter: http://{args.host}:{server.server_port}/metrics "
          "(OTLP/HTTP metrics: POST /v1/metrics)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
