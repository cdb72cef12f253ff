"""One stack per module for the fault suite: the session's moto S3 server and MLflow server
(tests/conftest.py), a store (PostgreSQL with CT_TEST_PG, else SQLite) and a service home
(one DVC dataset repo) shared by the module's cases, each case a pipeline of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.faults.stack import Stack
from tests.support import create_pg_database, drop_pg_database, migrated, pg_server_url


@pytest.fixture(scope="module")
def fault_store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = pg_server_url()
    if server is None:
        yield migrated(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
        return
    name, url = create_pg_database(server, "ct_faults")
    try:
        yield migrated(url)
    finally:
        drop_pg_database(server, name)


@pytest.fixture(scope="module")
def stack(s3_endpoint: str, mlflow_server: str, fault_store_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Stack:
    import boto3

    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
             "AWS_DEFAULT_REGION": "us-east-1"}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    landing, artifacts = (f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("landing", "artifacts"))
    s3.create_bucket(Bucket=landing)
    s3.create_bucket(Bucket=artifacts)
    root = tmp_path_factory.mktemp("faults")
    env = {**creds, "PATH": os.environ.get("PATH", ""), "CT_HOME": str(root / "home"),
           "CT_S3_ENDPOINT_URL": s3_endpoint, "CT_STORE_URL": fault_store_url,
           "MLFLOW_TRACKING_URI": mlflow_server, "CT_ARTIFACT_BUCKET": artifacts}
    return Stack(env=env, s3=s3, landing_bucket=landing, root=root)
