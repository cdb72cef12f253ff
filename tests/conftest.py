"""Shared fixtures: the example spec, a real S3 API over HTTP (moto's server on 127.0.0.1), a
real MLflow tracking server, and store URLs for SQLite and, where CT_TEST_PG names a server, a
fresh PostgreSQL database; and the guard that keeps the unit lane free of services.

`plugins/` is not a package of the wheel (Airflow puts it on sys.path itself); pytest's
`pythonpath` setting in pyproject.toml puts it there for the tests the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlops_lib.spec import PipelineSpec, load_spec
from tests.support import (
    EXAMPLE_SPEC,
    create_pg_database,
    drop_pg_database,
    free_port,
    migrated,
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


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real MLflow tracking server, its own process on a free port: the backend on
    PostgreSQL when CT_TEST_PG is set (SQLite otherwise), artifacts proxied to a folder."""
    home = tmp_path_factory.mktemp("mlflow")
    server, db = pg_server_url(), None
    if server is not None:
        db, backend = create_pg_database(server, "ct_mlflow")
    else:
        backend = f"sqlite:///{home / 'mlflow.db'}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(home / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend,
         "--artifacts-destination", (home / "artifacts").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("MLflow server did not start: "
                                       + (home / "server.log").read_text()[-2000:]) from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
        if db is not None:
            drop_pg_database(server, db)  # type: ignore[arg-type]


# The PostgreSQL parameter needs a server: it belongs to the integration lane.
STORE_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@pytest.fixture(params=STORE_DATABASES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The project store on SQLite and (when CT_TEST_PG is set) on a fresh PostgreSQL DB,
    upgraded to the newest schema as `mlops store upgrade` does (a `Store` does no DDL)."""
    with empty_database(request.param, tmp_path) as url:
        yield migrated(url)


# A flow test (a pipeline's steps over real S3, MLflow and DVC, minutes of them) runs on one
# store: PostgreSQL when CT_TEST_PG is set (CI), else SQLite. What differs between the two is
# the store's own business, tested on both (tests/unit/test_store*.py, the migrations, the
# claim, retry and race tests); the flows themselves run on both in the e2e lane (PostgreSQL on
# CI) and in the demo and its doc blocks (SQLite), so a second pass here would repeat minutes.
FLOW_DATABASE = [pytest.param("postgresql", marks=pytest.mark.integration)
                 if pg_server_url() else "sqlite"]


@pytest.fixture(params=FLOW_DATABASE)
def flow_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The project store of a flow test: one database (FLOW_DATABASE), newest schema."""
    with empty_database(request.param, tmp_path) as url:
        yield migrated(url)


@pytest.fixture(params=STORE_DATABASES)
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Like `store_url`, but a database with no tables: for the migration tests."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@contextmanager
def empty_database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
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


# -- lanes -----------------------------------------------------------------------------------
LANES = ("e2e", "integration", "unit")  # the first one a test carries is its lane
# Fixtures that start or reach a service: a test using one is no unit test.
SERVICE_FIXTURES = frozenset({"s3_endpoint", "s3", "mlflow_server"})


def lane_of(item: pytest.Item) -> str | None:
    marks = {mark.name for mark in item.iter_markers()}
    return next((lane for lane in LANES if lane in marks), None)


def services_used(item: pytest.Item) -> list[str]:
    used = sorted(SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())))
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("store_url") == "postgresql":
        used.append("store_url[postgresql]")
    return used


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Runs before the test's fixtures: a test without a lane, or a unit test that would start
    a service, fails here instead of slipping into (or slowing down) `make test-unit`."""
    lane = lane_of(item)
    if lane is None:
        pytest.fail(f"{item.nodeid} has no lane: mark it unit, integration or e2e "
                    "(pytestmark = pytest.mark.unit)", pytrace=False)
    if item.get_closest_marker("faults") is not None and lane != "integration":
        pytest.fail(f"{item.nodeid} is marked faults: mark it integration too (the fault "
                    "suite starts services; `make test-integration` runs it)", pytrace=False)
    if lane == "unit" and (used := services_used(item)):
        pytest.fail(f"{item.nodeid} is marked unit but uses {', '.join(used)}: "
                    "mark it integration (or move it to tests/integration)", pytrace=False)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """`pytest -n 2` (`make test`): the e2e tests on one worker, in order (tests/lanes.py)."""
    if config.getvalue("dist") != "load":
        return None
    from tests.lanes import LaneScheduling

    config.option.loadscopereorder = False  # units in collection order: the e2e tests first
    return LaneScheduling(config, log)


# --- the e2e stacks' start-up and shut-down times, at the end of the run ------------------------
# The summary is printed by the process that reports (pytest-xdist's controller under
# `make test`, which loads only this conftest); a worker hands its times over when it ends.


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    live = sys.modules.get("tests.e2e.live")
    if workeroutput is not None and live is not None:
        workeroutput["ct_stack_times"] = [
            (t.name, t.up_s, t.down_s) for t in live.STACK_TIMES]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    from tests.e2e.live import STACK_TIMES, StackTime

    for name, up_s, down_s in getattr(node, "workeroutput", {}).get("ct_stack_times", []):
        STACK_TIMES.append(StackTime(name, up_s, down_s))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    live = sys.modules.get("tests.e2e.live")
    if live is None or not live.STACK_TIMES:
        return
    terminalreporter.section("e2e stack start-up and shut-down")
    for t in live.STACK_TIMES:
        down = f"{t.down_s:.1f} s" if t.down_s is not None else "-"
        terminalreporter.write_line(f"{t.name}: up {t.up_s:.1f} s, down {down}")
