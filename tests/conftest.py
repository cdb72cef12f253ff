"""Shared fixtures: the example spec, a real S3 API over HTTP (moto's server on 127.0.0.1),
and store URLs for SQLite and, where CT_TEST_PG names a server, a fresh PostgreSQL database.

`plugins/` is not a package of the wheel (Airflow puts it on sys.path itself); pytest's
`pythonpath` setting in pyproject.toml puts it there for the tests the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_lib.spec import PipelineSpec, load_spec
from tests.support import (
    EXAMPLE_SPEC,
    create_pg_database,
    drop_pg_database,
    free_port,
    pg_server_url,
)


@pytest.fixture(scope="session")
def spec() -> PipelineSpec:
    return load_spec(EXAMPLE_SPEC)


@pytest.fixture(scope="session")
def all_dtypes_spec(spec: PipelineSpec) -> PipelineSpec:
    """The example spec with one feature of every dtype the contract knows, no contract rules."""
    from dataclasses import replace

    from mlops_lib.spec import Contract, Feature

    features = (
        Feature("amount", "float"),
        Feature("count", "int"),
        Feature("flag", "bool"),
        Feature("colour", "category", ("red", "green", "blue")),
        Feature("customer_id", "string"),
        Feature("seen_at", "datetime"),
    )
    return replace(spec, name="all_dtypes", features=features, target="label",
                   contract=Contract())


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint (moto server, in memory) for tests that don't need persistence."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(s3_endpoint: str):  # noqa: ANN201 - boto3 client types are generated at run time
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The project store on SQLite and (when CT_TEST_PG is set) on a fresh PostgreSQL DB."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server = pg_server_url()
    if server is None:
        pytest.skip("CT_TEST_PG is not set: no PostgreSQL server to test against")
    name, url = create_pg_database(server)
    try:
        yield url
    finally:
        drop_pg_database(server, name)
