"""Where the service's stores live, read from the environment once per process.

The same names are set by the local stack (`mlops stack up`), by docker-compose.yaml and by CI,
so a task behaves the same wherever it runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
MOTO_ACCOUNT_ID = "123456789012"  # the account moto's server files every resource under


@dataclass(frozen=True)
class Settings:
    home: Path
    """Working directory of the service: the DVC dataset repo, run scratch space."""
    store_url: str
    """SQLAlchemy URL of the project's metadata store (batches, runs, decisions, champion)."""
    s3_endpoint_url: str | None
    """S3 API endpoint; None means AWS itself."""
    artifact_bucket: str
    """Bucket for DVC data, MLflow artifacts and quarantined batches."""
    mlflow_tracking_uri: str
    pipelines_dir: Path
    examples: bool = False
    """Also load the example pipelines in `<pipelines_dir>/examples/` (CT_EXAMPLES=1): opt-in,
    so that a user of the demo sees only the demo's DAGs."""
    mlflow_artifact_root: str = ""
    """Where the tracking server stores proxied artifacts (its --artifacts-destination)."""
    sqs_endpoint_url: str | None = None
    """SQS API endpoint (events arrival mode); None means AWS itself. `from_env` defaults it to
    the S3 endpoint: the local stack's moto server answers both APIs on one port."""
    airflow_url: str | None = None
    """The Airflow API server's base URL (CT_AIRFLOW_URL), for operators' health checks."""

    def sqs_queue_url(self, queue: str) -> str:
        """The URL of an SQS queue given by URL or by name.

        SQS calls address a queue by URL, and a URL holds the owning account's id, which a
        name alone does not tell. A custom endpoint is taken to be the local stack's moto,
        whose queues all belong to its default account (123456789012, unless its server sets
        MOTO_ACCOUNT_ID), so the URL is built without a call; moto finds the queue by the
        path's last segment. On AWS (or another emulator) give the queue's URL in the spec.
        """
        if queue.startswith(("http://", "https://")):
            return queue
        if self.sqs_endpoint_url is None:
            raise ValueError(f"SQS queue {queue!r}: on AWS give the queue URL "
                             "(https://sqs.<region>.amazonaws.com/<account>/<name>), not a name")
        return f"{self.sqs_endpoint_url.rstrip('/')}/{MOTO_ACCOUNT_ID}/{queue}"

    def artifact_location(self, artifact_uri: str) -> str:
        """The storage address of an MLflow artifact URI (`mlflow-artifacts:/...` → `s3://...`),
        so a report can be fetched from S3 without going through MLflow."""
        scheme = "mlflow-artifacts:"
        if not artifact_uri.startswith(scheme) or not self.mlflow_artifact_root:
            return artifact_uri
        return f"{self.mlflow_artifact_root.rstrip('/')}/{artifact_uri[len(scheme):].lstrip('/')}"

    def http_url(self, s3_uri: str) -> str:
        """An `s3://bucket/key` object as a URL a browser opens on its own (a full page, not a
        viewer's frame): under the S3 endpoint when one is set (the local stack's S3 server
        answers anonymous GETs), "" on AWS itself, whose buckets are not public."""
        from urllib.parse import quote

        if not self.s3_endpoint_url or not s3_uri.startswith("s3://"):
            return ""
        bucket, _, key = s3_uri.removeprefix("s3://").partition("/")
        return f"{self.s3_endpoint_url.rstrip('/')}/{bucket}/{quote(key)}"

    @property
    def spec_dirs(self) -> tuple[Path, ...]:
        """Where the pipeline specs are: the pipelines folder, and its examples when opted in."""
        return (self.pipelines_dir, *([self.pipelines_dir / "examples"] if self.examples else []))

    @property
    def dvc_remote_url(self) -> str:
        return f"s3://{self.artifact_bucket}/dvc"

    @property
    def dvc_repo_dir(self) -> Path:
        return self.home / "datasets"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("CT_HOME", REPO_ROOT / ".stack")).resolve()
        bucket = env.get("CT_ARTIFACT_BUCKET", "ct-artifacts")
        s3_endpoint = env.get("CT_S3_ENDPOINT_URL") or None
        return cls(
            home=home,
            store_url=env.get("CT_STORE_URL", f"sqlite:///{home / 'ct_store.db'}"),
            s3_endpoint_url=s3_endpoint,
            artifact_bucket=bucket,
            mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"),
            pipelines_dir=Path(env.get("CT_PIPELINES_DIR", REPO_ROOT / "pipelines")),
            examples=env.get("CT_EXAMPLES", "").lower() in ("1", "true", "yes"),
            mlflow_artifact_root=env.get("CT_MLFLOW_ARTIFACT_ROOT", f"s3://{bucket}/mlflow"),
            sqs_endpoint_url=env.get("CT_SQS_ENDPOINT_URL") or s3_endpoint,
            airflow_url=env.get("CT_AIRFLOW_URL") or None,
        )
