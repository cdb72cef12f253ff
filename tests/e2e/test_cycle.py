"""The whole continuous-training cycle on the real local stack: an S3 server over HTTP, an MLflow
tracking server, and Airflow's api-server, scheduler, dag-processor and triggerer as processes.

A batch uploaded with boto3 must wake the deferred sensor of the ingest DAG, be accepted, and
(through the accepted-batches asset) run the training DAG to a champion; an invalid batch must
fail with its reason code, stay untouched in S3, and create no model version. A drift-only
pipeline retrains only when its drift monitor announces a crossing (backfill over past date
partitions: docs/backfill.md's blocks, run by tests/e2e/test_demo.py).
With CT_TEST_PG set, Airflow's metadata DB and the project store live on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from mlops_dev import devstack
from mlops_dev.demo import BatchOutcome, drop_batch, wait_for_batch, wait_for_drift_verdict
from mlops_lib.operations.lineage import lineage
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.registry import CHAMPION
from mlops_lib.stores.s3io import upload_batch
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import CYCLE as PIPELINE
from tests.e2e.pipelines import DRIFTING

pytestmark = pytest.mark.e2e
# The default stack (s3rver), shared with test_manual_approval (tests/e2e/conftest.py).
SHARED_STACK = "s3rver"

CYCLE_TIMEOUT = 420  # generous: the first run also waits for the DAG to be parsed


def cycle(stack: LiveStack, pipeline: str, batch_id: str) -> BatchOutcome:
    return wait_for_batch(stack.store, pipeline, batch_id, timeout=CYCLE_TIMEOUT, api=stack.api)


def states(stack: LiveStack, dag_id: str, run_id: str) -> dict[str, str]:
    return {f"{ti['task_id']}[{ti.get('map_index', -1)}]": ti["state"]
            for ti in stack.api.task_instances(dag_id, run_id)}


def test_batch_in_s3_runs_the_cycle_to_a_champion(stack: LiveStack) -> None:
    dropped = drop_batch(PIPELINE, rows=3000, seed=101, settings=stack.settings)

    outcome = cycle(stack, PIPELINE, dropped.batch_id)

    assert outcome.dag_run_state == "success", outcome.reason
    ingest = states(stack, f"{stack.dag_id}_ingest", outcome.ingest_run_id)
    assert ingest == {"wait_for_batches[-1]": "success", "batch.register_batch[0]": "success",
                      "batch.validate_batch[0]": "success"}, ingest
    assert set(states(stack, stack.dag_id, outcome.dag_run_id).values()) == {"success"}
    # Exactly one training run took the batch, and it says why it ran.
    assert [r["dag_run_id"] for r in stack.store.training_runs_of_batch(
        PIPELINE, dropped.batch_id)] == [outcome.dag_run_id]
    run_info = stack.api.dag_run(stack.dag_id, outcome.dag_run_id)
    assert run_info["run_type"] == "asset_triggered"
    assert "new data" in (run_info.get("note") or ""), run_info  # the run's note in the UI
    decision = stack.store.get_decision(PIPELINE, outcome.dag_run_id)
    assert decision is not None and decision.promote, decision
    assert decision.baseline_version is None  # first model: judged against the floor
    model = f"ct_{PIPELINE}"
    assert stack.registry.alias_version(model, CHAMPION) == decision.candidate_version
    run = stack.store.get_training_run(PIPELINE, outcome.dag_run_id)
    assert run is not None and run["data_rev"] and run["data_rev"] == decision.data_rev
    assert len(run["data_rev"]) == 40  # a git commit of the DVC dataset repo
    arrival = run["trigger"]["arrivals"][0]
    assert arrival["batch_id"] == dropped.batch_id and arrival["files"][0]["etag"]
    assert arrival["ingest_run_id"] == outcome.ingest_run_id
    tags = stack.registry.client.get_run(run["mlflow_run_id"]).data.tags
    assert tags["ct.trigger.type"] == "arrival" and dropped.batch_id in tags["ct.trigger.detail"]
    assert tags["ct.data_rev"] == run["data_rev"]  # why it ran and on what, on the MLflow run
    champion = stack.store.get_champion(PIPELINE)
    assert champion is not None and champion.model_version == decision.candidate_version
    # The new champion's drift reference, built after the decision, beside its data version.
    listed = stack.s3.list_objects_v2(  # type: ignore[attr-defined]
        Bucket=stack.settings.artifact_bucket,
        Prefix=f"drift-references/{PIPELINE}/{run['data_rev']}/")
    assert any(o["Key"].endswith("/reference.json") for o in listed.get("Contents", [])), listed

    # Evidently HTML among the MLflow run's artifacts, and on S3 where the store says it is.
    names = {Path(a.path).name
             for a in stack.registry.client.list_artifacts(run["mlflow_run_id"], "reports")}
    assert "data_summary.html" in names or any(n.endswith(".html") for n in names), names
    html = [r for r in stack.store.reports(PIPELINE, outcome.dag_run_id) if r["format"] == "html"]
    assert html, "no HTML report recorded in the store"
    bucket, key = html[0]["uri"].removeprefix("s3://").split("/", 1)
    body = stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[attr-defined]
    assert b"<html" in body[:2000].lower()


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed")
def test_the_report_link_opens_the_runs_report_as_a_titled_page(stack: LiveStack) -> None:
    """The "Evidently report" button of `build_reports`, as the UI gets it (the REST API's
    extra links), opens the report as a page of its own over HTTP, and a browser shows a
    title naming the pipeline and the run."""
    decided = [d.dag_run_id for d in stack.store.decisions(PIPELINE) if d.dag_run_id]
    if decided:
        run_id = decided[-1]
    else:  # run alone: train once first
        dropped = drop_batch(PIPELINE, rows=2000, seed=31, settings=stack.settings)
        run_id = cycle(stack, PIPELINE, dropped.batch_id).dag_run_id
    links = stack.api.extra_links(stack.dag_id, run_id, "build_reports")
    url = links.get("Evidently report") or ""
    assert url.startswith("http://127.0.0.1:") and url.endswith(".html"), links
    assert "#/experiments" not in url  # the page itself, not MLflow's cropped artifact viewer

    dom = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=20000", "--dump-dom", url],
        capture_output=True, text=True, timeout=180, check=True).stdout
    title = dom.split("<title>", 1)[1].split("</title>", 1)[0] if "<title>" in dom else ""
    assert PIPELINE in title and run_id in title, title
    assert "ct-report-heading" in dom and "Current:" in dom  # the heading above the report


def test_a_manual_run_from_the_cli_records_who_and_why(
        stack: LiveStack, capsys: pytest.CaptureFixture[str]) -> None:
    """`mlops trigger` starts a training run on a named batch; the run, its note and its
    provenance say who started it and why, and `--wait` prints the decision."""
    from mlops_dev import cli as dev_cli

    batch = stack.store.accepted_batches(PIPELINE)[-1].batch_id
    reason = "e2e: retrain on demand"
    assert dev_cli.main(["trigger", PIPELINE, "--reason", reason, "--batches", batch,
                         "--wait"]) == 0
    out = capsys.readouterr().out
    run_id = next(line.split(" run ", 1)[1] for line in out.splitlines()
                  if line.startswith(f"started {stack.dag_id} run "))
    assert "decision: " in out, out
    run = stack.store.get_training_run(PIPELINE, run_id)
    assert run is not None
    trigger = run["trigger"]
    assert (trigger["type"], trigger["reason"], trigger["user"]) == (
        "manual", reason, devstack.AIRFLOW_USER), trigger
    note = stack.api.dag_run(stack.dag_id, run_id)["note"]
    assert f"manual by {devstack.AIRFLOW_USER}: {reason}" in note, note
    assert stack.store.get_decision(PIPELINE, run_id) is not None


def test_invalid_batch_fails_with_its_reason_and_trains_nothing(
        stack: LiveStack, spec: PipelineSpec) -> None:
    from mlops_dev.datagen import generate_batch, to_file_bytes

    frame = generate_batch(spec, 500, seed=7).drop(columns=[spec.features[0].name])
    body = to_file_bytes(frame, spec.source.format)
    versions_before = _model_versions(stack)
    uri = upload_batch(stack.s3, spec.source.bucket, spec.source.prefix, "bad-missing-column",
                       {"part-0000.parquet": body}, marker=spec.source.marker)
    data_key = uri.removeprefix(f"s3://{spec.source.bucket}/") + "part-0000.parquet"
    etag_before = stack.s3.head_object(Bucket=spec.source.bucket, Key=data_key)["ETag"]  # type: ignore[attr-defined]

    outcome = cycle(stack, PIPELINE, "bad-missing-column")

    assert outcome.status == "rejected" and outcome.dag_run_state == "failed", outcome
    batch = stack.store.get_batch(PIPELINE, "bad-missing-column")
    assert batch is not None and batch.reason_code == "MISSING_COLUMNS"
    assert spec.features[0].name in (batch.reason or "")
    log = stack.api.task_log(f"{stack.dag_id}_ingest", outcome.ingest_run_id,
                             "batch.validate_batch", map_index=0)
    assert "MISSING_COLUMNS" in log, log[-2000:]
    assert stack.store.training_runs_of_batch(PIPELINE, "bad-missing-column") == []
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


def _model_versions(stack: LiveStack, pipeline: str = PIPELINE) -> list[str]:
    found = stack.registry.client.search_model_versions(f"name = 'ct_{pipeline}'")
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

    outcome = cycle(stack, "house_prices", dropped.batch_id)

    assert outcome.dag_run_state == "success", outcome.reason
    decision = stack.store.get_decision("house_prices", outcome.dag_run_id)
    assert decision is not None and decision.metric == "rmse" and decision.promote
    assert stack.registry.alias_version("ct_house_prices", CHAMPION) == decision.candidate_version


def test_batch_contradicting_its_manifest_is_rejected(stack: LiveStack) -> None:
    from mlops_dev.datagen import generate_batch, to_file_bytes
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.spec import load_spec

    spec = load_spec(stack.settings.pipelines_dir / "house_prices.yaml")
    body = to_file_bytes(generate_batch(spec, 300, seed=9), "csv")
    files = {"part-0000.csv": body}
    manifest = build_manifest(files, {"part-0000.csv": 999})  # the producer miscounted
    upload_batch(stack.s3, spec.source.bucket, spec.source.prefix, "miscounted", files,
                 marker=spec.source.marker, marker_body=manifest)

    outcome = cycle(stack, "house_prices", "miscounted")

    assert outcome.status == "rejected" and outcome.dag_run_state == "failed", outcome
    batch = stack.store.get_batch("house_prices", "miscounted")
    assert batch is not None and batch.reason_code == "MANIFEST_MISMATCH"
    assert "999" in (batch.reason or "")


def test_marker_less_batch_waits_for_its_marker(stack: LiveStack, spec: PipelineSpec) -> None:
    from mlops_dev.datagen import generate_batch, to_file_bytes

    body = to_file_bytes(generate_batch(spec, 1500, seed=104), spec.source.format)
    upload_batch(stack.s3, spec.source.bucket, spec.source.prefix, "late-marker",
                 {"part-0000.parquet": body}, marker=None)
    time.sleep(6)  # several poke intervals
    assert stack.store.get_batch(PIPELINE, "late-marker") is None

    stack.s3.put_object(Bucket=spec.source.bucket,  # type: ignore[attr-defined]
                        Key=f"{spec.source.prefix}late-marker/{spec.source.marker}", Body=b"")
    outcome = cycle(stack, PIPELINE, "late-marker")
    assert outcome.dag_run_state == "success", outcome.reason


def test_multipart_upload_in_progress_does_not_fire(stack: LiveStack,
                                                    spec: PipelineSpec) -> None:
    """A data file still uploading in parts (no marker yet) is no batch; once the upload
    completes and the marker lands, the batch runs."""
    from mlops_dev.datagen import generate_batch, to_file_bytes

    body = to_file_bytes(generate_batch(spec, 1500, seed=105), spec.source.format)
    key = f"{spec.source.prefix}multipart/part-0000.parquet"
    s3 = stack.s3
    upload = s3.create_multipart_upload(Bucket=spec.source.bucket, Key=key)  # type: ignore[attr-defined]
    part = s3.upload_part(Bucket=spec.source.bucket, Key=key, PartNumber=1,  # type: ignore[attr-defined]
                          UploadId=upload["UploadId"], Body=body)
    time.sleep(6)  # several poke intervals
    assert stack.store.get_batch(PIPELINE, "multipart") is None

    s3.complete_multipart_upload(  # type: ignore[attr-defined]
        Bucket=spec.source.bucket, Key=key, UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    s3.put_object(Bucket=spec.source.bucket,  # type: ignore[attr-defined]
                  Key=f"{spec.source.prefix}multipart/{spec.source.marker}", Body=b"")
    outcome = cycle(stack, PIPELINE, "multipart")
    assert outcome.dag_run_state == "success", outcome.reason


def test_batches_landing_together_are_each_trained_once(stack: LiveStack) -> None:
    """Three batches in one go: the sensor hands all of them to one ingest run (one mapped
    group each), and every batch is trained by exactly one live training run."""
    dropped = [drop_batch(PIPELINE, rows=1500, seed=110 + i, settings=stack.settings)
               for i in range(3)]
    outcomes = [cycle(stack, PIPELINE, d.batch_id) for d in dropped]

    assert all(o.dag_run_state == "success" for o in outcomes), outcomes
    for d in dropped:
        live = [r for r in stack.store.training_runs_of_batch(PIPELINE, d.batch_id)
                if r["live"]]
        assert len(live) == 1, (d.batch_id, live)
    ingest_runs = {o.ingest_run_id for o in outcomes}
    for run_id in ingest_runs:  # each batch was accepted by its own mapped task group
        tis = stack.api.task_instances(f"{stack.dag_id}_ingest", run_id)
        validated = [t for t in tis if t["task_id"] == "batch.validate_batch"]
        assert validated and all(t["state"] == "success" for t in validated)
    assert sum(len([t for t in stack.api.task_instances(f"{stack.dag_id}_ingest", r)
                    if t["task_id"] == "batch.validate_batch"]) for r in ingest_runs) == 3


def report_verdict(stack: LiveStack, pipeline: str, batch_id: str) -> set[str]:
    """The columns the Evidently drift report of a monitored batch calls drifted, read from
    the report the store lists for the batch (HTML and JSON)."""
    from mlops_lib.reports.builders import drift_summary
    from mlops_lib.reports.index import drift_report_key, drift_report_run

    listed = stack.store.reports(pipeline, drift_report_run(batch_id))
    assert {r["format"] for r in listed} == {"html", "json"}, listed
    bucket = stack.settings.artifact_bucket
    html = stack.s3.get_object(Bucket=bucket, Key=drift_report_key(pipeline, batch_id, "html"))
    assert f"data drift of batch {batch_id}" in html["Body"].read().decode()
    body = stack.s3.get_object(Bucket=bucket, Key=drift_report_key(pipeline, batch_id, "json"))
    return set(drift_summary(json.loads(body["Body"].read())).drifted_columns)


def test_drift_only_pipeline_retrains_when_its_policy_is_crossed(stack: LiveStack) -> None:
    """No champion: the first batch trains. An undrifted batch is measured and trains nothing;
    a drifted one crosses the policy, and the monitor's asset event runs training with the
    drift evidence as its recorded cause."""
    dag_id = f"ct_{DRIFTING}"
    first = drop_batch(DRIFTING, rows=3000, seed=201, settings=stack.settings)
    bootstrap = cycle(stack, DRIFTING, first.batch_id)
    assert bootstrap.dag_run_state == "success", bootstrap.reason
    run = stack.store.get_training_run(DRIFTING, bootstrap.dag_run_id)
    assert run["trigger"]["type"] == "drift"
    assert "no champion yet" in run["trigger"]["drift"][0]["reason"]
    champion = stack.store.get_champion(DRIFTING)
    assert champion is not None

    calm = drop_batch(DRIFTING, rows=3000, seed=202, settings=stack.settings)
    verdict = wait_for_drift_verdict(stack.store, DRIFTING, calm.batch_id,
                                     timeout=CYCLE_TIMEOUT, api=stack.api)
    assert not verdict["crossed"]
    monitor = states(stack, f"{dag_id}_drift_monitor", verdict["monitor_run_id"])
    assert monitor == {"measure_drift[-1]": "success", "check_drift_policy[-1]": "skipped"}
    note = stack.api.dag_run(f"{dag_id}_drift_monitor", verdict["monitor_run_id"])["note"]
    assert note.startswith("no retrain: Below threshold"), note  # the skip says why
    time.sleep(5)  # a retrain would have been queued by now
    assert stack.store.training_runs_of_batch(DRIFTING, calm.batch_id) == []

    drifted = drop_batch(DRIFTING, rows=3000, drift=0.6, seed=203, settings=stack.settings)
    outcome = cycle(stack, DRIFTING, drifted.batch_id)

    assert outcome.dag_run_state == "success", outcome.reason
    rows = stack.store.drift_metrics(DRIFTING, drifted.batch_id)
    assert {row["feature"] for row in rows} >= {"income", "region"}
    assert sum(row["drifted"] for row in rows) / len(rows) >= 0.5, rows
    [crossing] = [c for c in stack.store.drift_crossings(DRIFTING)
                  if c["batch_id"] == drifted.batch_id]
    run = stack.store.get_training_run(DRIFTING, outcome.dag_run_id)
    assert run["trigger"]["type"] == "drift"
    assert run["trigger"]["drift"][0]["reason"] == crossing["reason"]
    assert run["trigger"]["drift"][0]["evidence"]
    # The drift run consumes every batch no live run trained on (the calm one and the drifted
    # one) and, by the default window `all`, trains on the first model's batch too.
    assert stack.store.training_batch_ids(DRIFTING, outcome.dag_run_id) == [
        first.batch_id, calm.batch_id, drifted.batch_id]
    assert run["trigger"]["training_window"]["mode"] == "all"
    assert [r["live"] for r in stack.store.training_runs_of_batch(DRIFTING, first.batch_id)] == [
        True, False]  # consumed by the first run, read again by this one
    assert lineage(Services(stack.settings), DRIFTING, run["model_version"]).batch_ids == [
        first.batch_id, calm.batch_id, drifted.batch_id]
    tags = stack.registry.client.get_run(run["mlflow_run_id"]).data.tags
    assert tags["ct.trigger.type"] == "drift" and "drift" in tags["ct.trigger"]
    assert "drift" in (stack.api.dag_run(dag_id, outcome.dag_run_id).get("note") or "")

    for measured in (calm.batch_id, drifted.batch_id):  # each has its own drift report
        assert report_verdict(stack, DRIFTING, measured) == {
            row["feature"] for row in stack.store.drift_metrics(DRIFTING, measured)
            if row["drifted"]}

    decision = stack.store.get_decision(DRIFTING, outcome.dag_run_id)
    assert decision is not None and decision.baseline_version == champion.model_version
    boot = decision.details["bootstrap"]
    assert boot["n_boot"] > 0 and boot["ci_low"] <= boot["diff"] <= boot["ci_high"]
    assert {s["column"] for s in decision.details["slices"]} == {"region"}
    after = stack.store.get_champion(DRIFTING)
    alias = stack.registry.alias_version(f"ct_{DRIFTING}", CHAMPION)
    expected = decision.candidate_version if decision.promote else champion.model_version
    assert after is not None and after.model_version == expected == alias
    kinds = {(r["kind"], r["format"]) for r in stack.store.reports(DRIFTING, outcome.dag_run_id)}
    assert ("data_drift", "html") in kinds and ("data_drift", "json") in kinds
    assert ("model_performance", "html") in kinds  # challenger vs champion on the holdout
    index = stack.s3.get_object(  # type: ignore[attr-defined]
        Bucket=stack.settings.artifact_bucket, Key=f"reports/{DRIFTING}/index.html")
    assert outcome.dag_run_id.encode() in index["Body"].read()


def test_batch_dropped_while_the_triggerer_is_down_runs_once_after_restart(
        stack: LiveStack) -> None:
    """A crash of the triggerer while the sensor is deferred loses nothing and doubles nothing:
    the restarted triggerer resumes the trigger and the batch is processed by exactly one
    ingest run and trained by exactly one training run."""
    import signal

    from mlops_dev.demo import wait_until_deferred

    ingest_dag = f"{stack.dag_id}_ingest"
    waiting_run = wait_until_deferred(stack.api, ingest_dag)
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
    outcome = cycle(stack, PIPELINE, dropped.batch_id)

    assert outcome.dag_run_state == "success", outcome.reason
    assert outcome.ingest_run_id == waiting_run  # the deferred sensor resumed; no second run
    trained = [r["dag_run_id"] for r in stack.store.training_runs_of_batch(PIPELINE,
                                                                           dropped.batch_id)]
    assert trained == [outcome.dag_run_id]

    # The producer uploads the same batch again: no ingest run claims it, nothing trains again.
    drop_batch(PIPELINE, rows=2000, seed=103, batch_id=dropped.batch_id,
               settings=stack.settings)
    time.sleep(8)
    next_run = wait_until_deferred(stack.api, ingest_dag)
    assert next_run != waiting_run
    assert stack.store.get_batch(PIPELINE, dropped.batch_id).dag_run_id == waiting_run
    assert [r["dag_run_id"] for r in stack.store.training_runs_of_batch(
        PIPELINE, dropped.batch_id)] == trained
