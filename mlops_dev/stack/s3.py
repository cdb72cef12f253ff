"""The stack's S3 server: s3rver (objects on disk, the default) or moto's server (S3 *and* SQS on
one port, in memory, with bucket notifications to SQS for the events arrival mode)."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from mlops_dev.stack.config import (
    ARTIFACT_BUCKET,
    LANDING_BUCKET,
    S3_KEY,
    StackConfig,
    StackError,
)
from mlops_dev.stack.processes import BIN, Component, Echo, http_ok, start, wait_healthy
from mlops_lib.settings import REPO_ROOT

_NODE_DIR = REPO_ROOT / "stack"


def s3_component(cfg: StackConfig) -> Component:
    if cfg.s3_server == "moto":
        # One port for every service moto emulates (it tells them apart by the request's
        # signature); S3 notifications reach its SQS inside the process.
        return Component("s3", [str(BIN / "moto_server"), "-H", "127.0.0.1",
                                "-p", str(cfg.s3_port)],
                         cfg.service_env(), lambda: http_ok(f"{cfg.s3_url}/moto-api/config"))
    return Component("s3", ["node", str(_NODE_DIR / "node_modules/s3rver/bin/s3rver.js"),
                            "--directory", str(cfg.home / "s3"), "--address", "127.0.0.1",
                            "--port", str(cfg.s3_port), "--silent"],
                     cfg.service_env(), lambda: http_ok(f"{cfg.s3_url}/"))


def start_s3(cfg: StackConfig, *, timeout: float = 60, echo: Echo = print) -> None:
    """Start the S3 server alone (everything else stores into it), create the buckets and
    wire the bucket notifications of events-mode pipelines."""
    for d in (cfg.run_dir, cfg.log_dir, cfg.home / "s3", cfg.home / "airflow"):
        d.mkdir(parents=True, exist_ok=True)
    if cfg.s3_server == "s3rver":
        _ensure_node_tools()
    s3 = s3_component(cfg)
    start(cfg, s3, echo)
    wait_healthy(cfg, [s3], timeout)
    from mlops_lib.stores.s3io import ensure_buckets

    ensure_buckets(aws_client(cfg, "s3"), LANDING_BUCKET, ARTIFACT_BUCKET)
    ensure_event_queues(cfg, echo=echo)


def ensure_event_queues(cfg: StackConfig, *, echo: Echo = print) -> None:
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
    from mlops_lib.landing.s3_events import ensure_notifications
    from mlops_lib.stores.s3io import ensure_buckets

    s3, sqs = aws_client(cfg, "s3"), aws_client(cfg, "sqs")
    for spec in specs:
        assert spec.trigger.sqs_queue is not None  # the spec parser requires it in events mode
        ensure_buckets(s3, spec.source.bucket)
        # Marker and manifest batches are announced by their last object only: one message,
        # and so one asset event, per batch instead of one per file.
        suffix = None if spec.source.completion == "quiet" else spec.source.marker
        url = ensure_notifications(s3, sqs, spec.source.bucket, spec.source.prefix,
                                   spec.trigger.sqs_queue.rsplit("/", 1)[-1], suffix=suffix)
        echo(f"{spec.name}: s3://{spec.source.bucket}/{spec.source.prefix} notifies {url}")
        if spec.scoring_dag and spec.scoring_sqs_queue:  # the scoring DAG's own queue
            ensure_buckets(s3, spec.scoring_bucket)
            suffix = None if spec.scoring.completion == "quiet" else spec.scoring.marker
            url = ensure_notifications(s3, sqs, spec.scoring_bucket, spec.scoring_prefix,
                                       spec.scoring_sqs_queue.rsplit("/", 1)[-1], suffix=suffix)
            echo(f"{spec.name}: s3://{spec.scoring_bucket}/{spec.scoring_prefix} notifies {url}")


def aws_client(cfg: StackConfig, service: str) -> Any:  # boto3 client types exist at run time
    """A boto3 client (`s3`, `sqs`) for the stack's S3 server, with its credentials."""
    import boto3

    return boto3.client(service, endpoint_url=cfg.s3_url, region_name="us-east-1",
                        aws_access_key_id=S3_KEY, aws_secret_access_key=S3_KEY)


def _ensure_node_tools() -> None:
    if (_NODE_DIR / "node_modules" / "s3rver").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise StackError("the local S3 server needs Node.js and npm (e.g. apt-get install nodejs"
                         " npm); or point CT_S3_ENDPOINT_URL at an S3 server of your own")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=_NODE_DIR,
                   check=True)
