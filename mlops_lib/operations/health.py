"""Whether the services a pipeline needs answer: S3, MLflow, Airflow and the store.

Each check is one cheap call with a short timeout, so `mlops status` answers in seconds even
when a service is down, and says which one and why.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from mlops_lib.settings import Settings

TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    ok: bool
    target: str  # what was asked: a bucket, a URL, the store's URL without its password
    error: str | None = None

    def line(self) -> str:
        state = "ok" if self.ok else f"DOWN: {self.error}"
        return f"{self.service:<8} {state}  ({self.target})"


def probe(service: str, target: str, check: Callable[[], object]) -> ServiceHealth:
    try:
        check()
    except Exception as exc:  # any failure is the answer: down, and why
        return ServiceHealth(service, False, target, f"{type(exc).__name__}: {exc}"[:300])
    return ServiceHealth(service, True, target)


def http_get(url: str, timeout: float = TIMEOUT_S) -> int:
    """The status of a GET; an HTTP error status raises."""
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http(s) only)
        return int(resp.status)


def services_health(settings: Settings, landing_buckets: tuple[str, ...] = ()) -> list[
        ServiceHealth]:
    """S3 (a HEAD of each landing bucket and the artifact bucket), MLflow's /health, the
    Airflow API server's health endpoint, and one trivial query of the store."""
    from mlops_lib.stores import migrations

    buckets = tuple(dict.fromkeys((*landing_buckets, settings.artifact_bucket)))
    mlflow = settings.mlflow_tracking_uri.rstrip("/") + "/health"
    checks = [
        probe("s3", ", ".join(buckets), lambda: _head_buckets(settings, buckets)),
        probe("mlflow", mlflow, lambda: http_get(mlflow)),
        probe("airflow", settings.airflow_url or "CT_AIRFLOW_URL not set",
              lambda: _airflow(settings.airflow_url)),
        probe("store", migrations.safe_url(settings.store_url),
              lambda: _query_store(settings.store_url)),
    ]
    return checks


def _head_buckets(settings: Settings, buckets: tuple[str, ...]) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url, config=Config(
        connect_timeout=TIMEOUT_S, read_timeout=TIMEOUT_S, retries={"max_attempts": 1},
        s3={"addressing_style": "path"}))
    for bucket in buckets:
        client.head_bucket(Bucket=bucket)


def _airflow(url: str | None) -> None:
    if not url:
        raise RuntimeError("no Airflow API URL (set CT_AIRFLOW_URL)")
    import json

    with urllib.request.urlopen(f"{url.rstrip('/')}/api/v2/monitor/health",  # noqa: S310
                                timeout=TIMEOUT_S) as resp:
        body = json.loads(resp.read() or b"{}")
    unhealthy = [name for name, part in body.items()
                 if isinstance(part, dict) and part.get("status") not in (None, "healthy")]
    if unhealthy:
        raise RuntimeError("unhealthy: " + ", ".join(sorted(unhealthy)))


def _query_store(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args=_connect_timeout(url))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1 FROM batches WHERE 1 = 0")).all()
    finally:
        engine.dispose()


def _connect_timeout(url: str) -> dict[str, object]:
    if url.startswith("postgresql"):
        return {"connect_timeout": int(TIMEOUT_S)}
    return {"timeout": TIMEOUT_S} if url.startswith("sqlite") else {}
