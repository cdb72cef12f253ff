"""The whole continuous-training cycle on the real local stack: an S3 server over HTTP, an MLflow
tracking server, and Airflow's api-server, scheduler, dag-processor and triggerer as processes.

A batch uploaded with boto3 must wake the deferred sensor and run to a champion; an invalid
batch must fail with its reason code, stay untouched in S3, and create no model version.
With CT_TEST_PG set, Airflow's metadata DB and the project store live on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mlops_lib import devstack
from mlops_lib.airflow_api import AirflowApi
from mlops_lib.demo import drop_batch, wait_for_batch
from mlops_lib.registry import CHAMPION, Registry
from mlops_lib.s3io import s3_client, upload_batch
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.store import Store
from tests.support import create_pg_database, drop_pg_database, free_port, pg_server_url

pytestmark = pytest.mark.e2e

PIPELINE = "credit_default"
CYCLE_TIMEOUT = 420  # generous: the first run also waits for the DAG to be parsed


@dataclass
class LiveStack:
    cfg: devstack.StackConfig
    settings: Settings
    store: Store
    registry: Registry
    api: AirflowApi
    s3: object

    @property
    def dag_id(self) -> str:
        return f"ct_{PIPELINE}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    home = tmp_path_factory.mktemp("ct_home")
    databases: list[str] = []
    env = {"CT_HOME": str(home), "CT_S3_PORT": str(free_port()),
           "CT_MLFLOW_PORT": str(free_port()), "CT_AIRFLOW_PORT": str(free_port())}
    server = pg_server_url()
    if server is not None:
        af_db, af_url = create_pg_database(server, "ct_e2e_airflow")
        store_db, store_url = create_pg_database(server, "ct_e2e_store")
        databases += [af_db, store_db]
        env |= {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": af_url, "CT_STORE_URL": store_url}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        cfg = devstack.StackConfig.from_env()
        for key, value in cfg.service_env().items():  # so they are restored afterwards
            mp.setenv(key, value)
        try:
            devstack.up(cfg, timeout=300)
            settings = Settings.from_env()
            api = AirflowApi(cfg.airflow_url, devstack.AIRFLOW_USER,
                             devstack.airflow_password(cfg) or "")
            yield LiveStack(cfg, settings, Store(settings.store_url),
                            Registry(settings.mlflow_tracking_uri), api, s3_client(settings))
        finally:
            started = {p.stem: int(p.read_text()) for p in cfg.run_dir.glob("*.pid")}
            devstack.down(cfg)
            left = [name for name, pgid in started.items() if devstack.group_pss_kib(pgid)]
            for name in databases:
                drop_pg_database(server, name)  # type: ignore[arg-type]
            assert not left, f"`down` left processes running: {left}"


def test_batch_in_s3_runs_the_cycle_to_a_champion(stack: LiveStack) -> None:
    dropped = drop_batch(PIPELINE, rows=3000, seed=101, settings=stack.settings)

    outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=CYCLE_TIMEOUT,
                             api=stack.api, dag_id=stack.dag_id)

    assert outcome.dag_run_state == "success", outcome.reason
    states = {ti["task_id"]: ti["state"]
              for ti in stack.api.task_instances(stack.dag_id, outcome.dag_run_id)}
    assert set(states.values()) == {"success"}, states
    decision = stack.store.get_decision(PIPELINE, outcome.dag_run_id)
    assert decision is not None and decision.promote, decision
    assert decision.baseline_version is None  # first model: judged against the floor
    model = f"ct_{PIPELINE}"
    assert stack.registry.alias_version(model, CHAMPION) == decision.candidate_version
    run = stack.store.get_training_run(PIPELINE, outcome.dag_run_id)
    assert run is not None and run["data_rev"] and run["data_rev"] == decision.data_rev
    assert len(run["data_rev"]) == 40  # a git commit of the DVC dataset repo
    tags = stack.registry.client.get_run(run["mlflow_run_id"]).data.tags
    assert tags["ct.trigger.type"] == "s3_batch" and dropped.batch_id in tags["ct.trigger.detail"]
    assert tags["ct.data_rev"] == run["data_rev"]  # why it ran and on what, on the MLflow run
    champion = stack.store.get_champion(PIPELINE)
    assert champion is not None and champion.model_version == decision.candidate_version

    # Evidently HTML among the MLflow run's artifacts, and on S3 where the store says it is.
    names = {Path(a.path).name
             for a in stack.registry.client.list_artifacts(run["mlflow_run_id"], "reports")}
    assert "data_summary.html" in names or any(n.endswith(".html") for n in names), names
    html = [r for r in stack.store.reports(PIPELINE, outcome.dag_run_id) if r["format"] == "html"]
    assert html, "no HTML report recorded in the store"
    bucket, key = html[0]["uri"].removeprefix("s3://").split("/", 1)
    body = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    assert b"<html" in body[:2000].lower()


def test_invalid_batch_fails_with_its_reason_and_trains_nothing(
        stack: LiveStack, spec: PipelineSpec) -> None:
    from mlops_lib.datagen import generate_batch, to_file_bytes

    frame = generate_batch(spec, 500, seed=7).drop(columns=[spec.features[0].name])
    body = to_file_bytes(frame, spec.source.format)
    versions_before = _model_versions(stack)
    uri = upload_batch(stack.s3, spec.source.bucket, spec.source.prefix, "bad-missing-column",
                       {"part-0000.parquet": body}, marker=spec.source.marker)
    data_key = uri.removeprefix(f"s3://{spec.source.bucket}/") + "part-0000.parquet"
    etag_before = stack.s3.head_object(Bucket=spec.source.bucket, Key=data_key)["ETag"]  # type: ignore[attr-defined]

    outcome = wait_for_batch(stack.store, PIPELINE, "bad-missing-column",
                             timeout=CYCLE_TIMEOUT, api=stack.api, dag_id=stack.dag_id)

    assert outcome.status == "rejected" and outcome.dag_run_state == "failed", outcome
    batch = stack.store.get_batch(PIPELINE, "bad-missing-column")
    assert batch is not None and batch.reason_code == "MISSING_COLUMNS"
    assert spec.features[0].name in (batch.reason or "")
    log = stack.api.task_log(stack.dag_id, outcome.dag_run_id, "validate_batch")
    assert "MISSING_COLUMNS" in log, log[-2000:]
    assert stack.store.get_decision(PIPELINE, outcome.dag_run_id) is None
    assert _model_versions(stack) == versions_before

    # The raw drop is untouched; the quarantine holds a copy and the reason.
    obj = stack.s3.get_object(Bucket=spec.source.bucket, Key=data_key)  # type: ignore[attr-defined]
    assert obj["Body"].read() == body and obj["ETag"] == etag_before
    quarantined = stack.store.get_quarantine(PIPELINE, "bad-missing-column")
    assert quarantined is not None
    qbucket, qprefix = quarantined["quarantine_uri"].removeprefix("s3://").split("/", 1)
    reason = stack.s3.get_object(Bucket=qbucket, Key=qprefix + "_REASON.json")  # type: ignore[attr-defined]
    assert b"MISSING_COLUMNS" in reason["Body"].read()
    copy = stack.s3.get_object(Bucket=qbucket, Key=qprefix + "part-0000.parquet")  # type: ignore[attr-defined]
    assert copy["Body"].read() == body


def _model_versions(stack: LiveStack) -> list[str]:
    found = stack.registry.client.search_model_versions(f"name = 'ct_{PIPELINE}'")
    return sorted(v.version for v in found)


def test_stack_listens_on_loopback_only(stack: LiveStack) -> None:
    pgids = [int(p.read_text()) for p in stack.cfg.run_dir.glob("*.pid")]
    inodes = _socket_inodes(pgids)
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] == "0A" and cols[9] in inodes:  # LISTEN, owned by a stack process
                listening.append(cols[1])
    assert len(listening) >= 3, listening  # S3, MLflow, Airflow API at least
    loopback = {"0100007F", "00000000000000000000000001000000",
                "0000000000000000FFFF00000100007F"}
    wide = [addr for addr in listening if addr.split(":")[0] not in loopback]
    assert not wide, f"stack sockets listening beyond 127.0.0.1: {wide}"


def _socket_inodes(pgids: list[int]) -> set[str]:
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) not in pgids:
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:["):-1])
        except OSError:
            continue
    return inodes


def test_csv_regression_batch_with_a_manifest_runs_to_a_champion(stack: LiveStack) -> None:
    dropped = drop_batch("house_prices", rows=2000, seed=5, settings=stack.settings)

    outcome = wait_for_batch(stack.store, "house_prices", dropped.batch_id,
                             timeout=CYCLE_TIMEOUT, api=stack.api, dag_id="ct_house_prices")

    assert outcome.dag_run_state == "success", outcome.reason
    decision = stack.store.get_decision("house_prices", outcome.dag_run_id)
    assert decision is not None and decision.metric == "rmse" and decision.promote
    assert stack.registry.alias_version("ct_house_prices", CHAMPION) == decision.candidate_version


def test_batch_contradicting_its_manifest_is_rejected(stack: LiveStack) -> None:
    from mlops_lib.datagen import generate_batch, to_file_bytes
    from mlops_lib.manifest import build_manifest
    from mlops_lib.spec import load_spec

    spec = load_spec(stack.settings.pipelines_dir / "house_prices.yaml")
    body = to_file_bytes(generate_batch(spec, 300, seed=9), "csv")
    files = {"part-0000.csv": body}
    manifest = build_manifest(files, {"part-0000.csv": 999})  # the producer miscounted
    upload_batch(stack.s3, spec.source.bucket, spec.source.prefix, "miscounted", files,
                 marker=spec.source.marker, marker_body=manifest)

    outcome = wait_for_batch(stack.store, "house_prices", "miscounted", timeout=CYCLE_TIMEOUT,
                             api=stack.api, dag_id="ct_house_prices")

    assert outcome.status == "rejected" and outcome.dag_run_state == "failed", outcome
    batch = stack.store.get_batch("house_prices", "miscounted")
    assert batch is not None and batch.reason_code == "MANIFEST_MISMATCH"
    assert "999" in (batch.reason or "")


def test_drifted_batch_is_judged_against_the_champion(stack: LiveStack) -> None:
    if stack.store.get_champion(PIPELINE) is None:  # run alone: make a champion first
        first = drop_batch(PIPELINE, rows=3000, seed=101, settings=stack.settings)
        wait_for_batch(stack.store, PIPELINE, first.batch_id, timeout=CYCLE_TIMEOUT,
                       api=stack.api, dag_id=stack.dag_id)
    before = stack.store.get_champion(PIPELINE)
    assert before is not None
    dropped = drop_batch(PIPELINE, rows=3000, drift=0.6, seed=102, settings=stack.settings)

    outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=CYCLE_TIMEOUT,
                             api=stack.api, dag_id=stack.dag_id)

    assert outcome.dag_run_state == "success", outcome.reason
    decision = stack.store.get_decision(PIPELINE, outcome.dag_run_id)
    assert decision is not None and decision.baseline_version == before.model_version
    boot = decision.details["bootstrap"]
    assert boot["n_boot"] > 0 and boot["ci_low"] <= boot["diff"] <= boot["ci_high"]
    assert {s["column"] for s in decision.details["slices"]} == {"region"}
    drift = stack.store.drift_metrics(PIPELINE, dropped.batch_id)
    assert {row["feature"] for row in drift} >= {"income", "region"}
    assert any(row["drifted"] for row in drift), drift  # drift 0.6 shifts the covariates
    after = stack.store.get_champion(PIPELINE)
    alias = stack.registry.alias_version(f"ct_{PIPELINE}", CHAMPION)
    expected = decision.candidate_version if decision.promote else before.model_version
    assert after is not None and after.model_version == expected == alias
    kinds = {(r["kind"], r["format"]) for r in stack.store.reports(PIPELINE, outcome.dag_run_id)}
    assert ("data_drift", "html") in kinds and ("data_drift", "json") in kinds
    assert ("model_performance", "html") in kinds  # challenger vs champion on the holdout
    index = stack.s3.get_object(  # type: ignore[attr-defined]
        Bucket=stack.settings.artifact_bucket, Key=f"reports/{PIPELINE}/index.html")
    assert outcome.dag_run_id.encode() in index["Body"].read()


def test_batch_dropped_while_the_triggerer_is_down_runs_once_after_restart(
        stack: LiveStack) -> None:
    """A crash of the triggerer while the sensor is deferred loses nothing and doubles nothing:
    the restarted triggerer resumes the trigger and the batch is processed by exactly one run."""
    import signal
    import time

    from mlops_lib.demo import wait_until_deferred

    waiting_run = wait_until_deferred(stack.api, stack.dag_id)
    pgid = int((stack.cfg.run_dir / "airflow-triggerer.pid").read_text())
    os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while devstack.group_pss_kib(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not devstack.group_pss_kib(pgid), "triggerer still running after SIGKILL"

    dropped = drop_batch(PIPELINE, rows=2000, seed=103, settings=stack.settings)
    time.sleep(8)  # several poke intervals: nobody may pick the batch up now
    assert stack.store.get_batch(PIPELINE, dropped.batch_id) is None

    devstack.up(stack.cfg, echo=lambda _: None)  # starts only what is not running
    outcome = wait_for_batch(stack.store, PIPELINE, dropped.batch_id, timeout=CYCLE_TIMEOUT,
                             api=stack.api, dag_id=stack.dag_id)

    assert outcome.dag_run_state == "success", outcome.reason
    assert outcome.dag_run_id == waiting_run  # the deferred sensor resumed; no second run
    runs = stack.store._all("SELECT dag_run_id FROM training_runs WHERE pipeline = :p "
                            "AND batch_id = :b", p=PIPELINE, b=dropped.batch_id)
    assert [r["dag_run_id"] for r in runs] == [waiting_run]

    # The producer uploads the same batch again: no second run trains on it.
    drop_batch(PIPELINE, rows=2000, seed=103, batch_id=dropped.batch_id,
               settings=stack.settings)
    time.sleep(8)
    next_run = wait_until_deferred(stack.api, stack.dag_id)
    assert next_run != waiting_run
    runs = stack.store._all("SELECT dag_run_id FROM training_runs WHERE pipeline = :p "
                            "AND batch_id = :b", p=PIPELINE, b=dropped.batch_id)
    assert [r["dag_run_id"] for r in runs] == [waiting_run]
