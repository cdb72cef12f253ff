"""Every kind of bad drop, landed at once on the real stack (moto's S3 over HTTP, MLflow, Airflow's
scheduler, triggerer and workers), next to pipelines that already have a champion.

Each bad batch must end with its reason code in the log of its own mapped task (the UI names
it after the batch), a quarantine record in the store, a copy under `quarantine/`, the landed
objects byte-identical (same ETags), and nothing trained: no DVC version, no model version, no
alias move. Good batches landed after them are still accepted and trained. The checks behind
each code are unit-tested in tests/unit/test_validation.py; this proves the wiring keeps its
promises when a user drops real files. The cases are the `E2E` subset of the bad-input
catalogue (tests/catalogue/bad_inputs.py), whose every case runs through the ingest steps
without Airflow in tests/integration/test_bad_input_catalogue.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_dev.demo import wait_for_batch
from mlops_lib.spec import PipelineSpec, load_specs
from mlops_lib.stores import s3io
from mlops_lib.stores.registry import CHAMPION
from tests.catalogue.bad_inputs import CSV, E2E, PARQUET
from tests.catalogue.cases import Case, Good, fresh
from tests.e2e.live import LiveStack

pytestmark = pytest.mark.e2e

# S3 + SQS, shared with test_events (tests/e2e/conftest.py); the strict pipelines (the credit
# example with a stricter contract, the house-prices one: CSV with a manifest) land in a bucket
# of their own (tests/e2e/pipelines.py).
SHARED_STACK = "moto"
TIMEOUT = 900


@dataclass
class Pipeline:
    spec: PipelineSpec
    good: list[str] = field(default_factory=list)  # batch ids expected to be trained


# --- landing ------------------------------------------------------------------------------------

def land(stack: LiveStack, spec: PipelineSpec, case: Case, now: datetime) -> None:
    """Data first, then the marker or the manifest, as a producer does."""
    good = Good(spec, now)
    files = case.files(good)
    src = spec.source
    s3io.upload_batch(stack.s3, src.bucket, src.prefix, case.batch_id, files,
                      marker=src.marker, marker_body=case.marker_body(good, files))


def land_good(stack: LiveStack, spec: PipelineSpec, batch_id: str, seed: int, now: datetime,
              *, constant: bool = False) -> None:
    if spec.source.format == "parquet":
        frame = fresh(spec, 1500, seed, now)
        if constant:  # a warning, not a failure: the batch is trained on
            frame = frame.assign(late_payments=3)
    else:
        frame = generate_batch(spec, 1500, seed=seed)
    body = to_file_bytes(frame, spec.source.format)
    land(stack, spec, Case(batch_id, "", lambda g: g.one(body)), now)


def snapshot(stack: LiveStack, bucket: str, prefix: str) -> dict[str, tuple[bytes, str]]:
    return {o.key: (stack.s3.get_object(Bucket=bucket, Key=o.key)["Body"].read(), o.etag)  # type: ignore[attr-defined]
            for o in s3io.list_objects(stack.s3, bucket, prefix)}


# --- the run ------------------------------------------------------------------------------------

@dataclass
class Landed:
    pipelines: dict[str, Pipeline]
    cases: dict[str, tuple[str, Case]]                 # batch id -> (pipeline, case)
    before: dict[str, tuple[bytes, str]]              # every landing key as it was uploaded
    champions: dict[str, str | None]                  # alias before the bad drops
    versions: dict[str, list[str]]                    # model versions before the bad drops
    dvc_tags: list[str]
    outcomes: dict[str, Any]


def model_versions(stack: LiveStack, pipeline: str) -> list[str]:
    found = stack.registry.client.search_model_versions(f"name = 'ct_{pipeline}'")
    return sorted(v.version for v in found)


def dvc_tags(stack: LiveStack) -> list[str]:
    """The dataset versions (`ct/<pipeline>/<batch>` tags) of this module's pipelines."""
    repo = stack.settings.dvc_repo_dir
    if not (repo / ".git").exists():
        return []
    out = subprocess.run(["git", "-C", str(repo), "tag", "--list"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(t for t in out.split() if t.startswith((f"ct/{PARQUET}/", f"ct/{CSV}/")))


@pytest.fixture(scope="module")
def landed(stack: LiveStack) -> Landed:
    now = datetime.now(UTC)
    pipelines = {s.name: Pipeline(s) for s in load_specs(stack.settings.pipelines_dir)
                 if s.name in (PARQUET, CSV)}
    assert set(pipelines) == {PARQUET, CSV}
    # A champion first, so that "no alias change" means something.
    for n, p in enumerate(pipelines.values()):
        land_good(stack, p.spec, "first-good", seed=200 + n, now=now)
    for name in pipelines:
        outcome = wait_for_batch(stack.store, name, "first-good", timeout=TIMEOUT, api=stack.api)
        assert outcome.dag_run_state == "success", outcome.reason
        assert outcome.decision is not None and outcome.decision.promote, outcome.decision
    champions = {name: stack.registry.alias_version(f"ct_{name}", CHAMPION)
                 for name in pipelines}
    versions = {name: model_versions(stack, name) for name in pipelines}
    tags = dvc_tags(stack)

    # The catalogue's e2e subset (tests/catalogue/); the whole catalogue runs without Airflow
    # in tests/integration/test_bad_input_catalogue.py.
    cases = {c.batch_id: (pipeline, c) for pipeline in (PARQUET, CSV) for c in E2E[pipeline]}
    assert len(cases) == sum(map(len, E2E.values()))  # batch ids unique across the pipelines
    for pipeline, case in cases.values():
        land(stack, pipelines[pipeline].spec, case, now)
    # Good batches after the bad ones: still accepted and trained.
    land_good(stack, pipelines[PARQUET].spec, "later-good", seed=300, now=now, constant=True)
    land_good(stack, pipelines[CSV].spec, "later-good", seed=301, now=now)
    bucket = pipelines[PARQUET].spec.source.bucket
    before = snapshot(stack, bucket, "landing/")

    outcomes: dict[str, Any] = {}
    deadline = time.monotonic() + TIMEOUT
    for batch_id, (pipeline, _) in [*cases.items(), ("later-good", (PARQUET, None)),
                                    ("later-good", (CSV, None))]:
        left = max(deadline - time.monotonic(), 30)
        outcomes[f"{pipeline}/{batch_id}"] = wait_for_batch(
            stack.store, pipeline, batch_id, timeout=left, api=stack.api)
    return Landed(pipelines, cases, before, champions, versions, tags, outcomes)


@pytest.mark.timeout(2400)
def test_every_bad_drop_is_quarantined_with_its_reason_code(stack: LiveStack,
                                                            landed: Landed) -> None:
    bucket = landed.pipelines[PARQUET].spec.source.bucket
    logs: dict[tuple[str, str], dict[str, str]] = {}
    copies: set[str] = set()
    for batch_id, (pipeline, case) in landed.cases.items():
        outcome = landed.outcomes[f"{pipeline}/{batch_id}"]
        assert outcome.status == "rejected", (batch_id, outcome)
        record = stack.store.get_batch(pipeline, batch_id)
        assert record is not None and record.reason_code == case.code, (batch_id, record)
        # The reason code in the log of this batch's own mapped task.
        ingest_dag = f"ct_{pipeline}_ingest"
        key = (ingest_dag, outcome.ingest_run_id)
        if key not in logs:
            logs[key] = batch_logs(stack, *key)
        assert f"[{case.code}]" in logs[key].get(batch_id, ""), (batch_id, logs[key].keys())
        # A quarantine record, and a copy of every landed file beside the reason.
        quarantined = stack.store.get_quarantine(pipeline, batch_id)
        assert quarantined is not None and quarantined["reason_code"] == case.code
        qbucket, qprefix = quarantined["quarantine_uri"].removeprefix("s3://").split("/", 1)
        assert qbucket == bucket and qprefix.startswith(f"quarantine/{pipeline}/")
        held = snapshot(stack, qbucket, qprefix)
        copies |= set(held)
        landed_files = {k: v for k, v in landed.before.items()
                        if k.startswith(f"{landed.pipelines[pipeline].spec.source.prefix}"
                                        f"{batch_id}/")}
        data = {k: v for k, v in landed_files.items()
                if not k.endswith(("/_SUCCESS", "/_manifest.json"))}
        assert sorted(b for b, _ in data.values()) == sorted(
            b for k, (b, _) in held.items() if not k.endswith("/_REASON.json")), batch_id
        assert case.code.encode() in held[qprefix + "_REASON.json"][0]
        # Never trained on.
        assert stack.store.training_runs_of_batch(pipeline, batch_id) == [], batch_id

    # The landed objects are exactly as uploaded (bytes and ETags), and nothing was written
    # anywhere else in the bucket: no `..` escaped, no key was rewritten.
    assert snapshot(stack, bucket, "landing/") == landed.before
    everything = {o.key for o in s3io.list_objects(stack.s3, bucket, "")}
    assert everything == set(landed.before) | copies


def test_bad_drops_train_nothing_and_later_good_ones_train(stack: LiveStack, landed: Landed,
                                                           tmp_path: Path) -> None:
    bad = set(landed.cases)
    trained_revs = set()
    for name in landed.pipelines:
        later = landed.outcomes[f"{name}/later-good"]
        assert later.status == "accepted" and later.dag_run_state == "success", later
        assert later.decision is not None, later
        # Two training runs: the first good batch's, then the later one's, which (the window
        # `all`) trains on both good batches.
        runs = {r["dag_run_id"] for b in ("first-good", "later-good")
                for r in stack.store.training_runs_of_batch(name, b)}
        assert len(runs) == 2 and later.training_run_id in runs, runs
        for run_id in runs:  # each training run took good batches only
            assert not set(stack.store.training_batch_ids(name, run_id)) & bad
        assert set(stack.store.training_batch_ids(name, later.training_run_id)) == {
            "first-good", "later-good"}
        # One new model version: the later good batch's; the champion moved only if its
        # decision said so.
        after = model_versions(stack, name)
        assert len(after) == len(landed.versions[name]) + 1, (landed.versions[name], after)
        later_run = stack.store.get_training_run(name, later.training_run_id)
        assert later_run is not None
        trained_revs.add(later_run["data_rev"])
        # What the training data passed: in the store, and beside the model in its MLflow run.
        reports = stack.store.validation_reports(name, ["first-good", "later-good"])
        assert all(r["passed"] is True and r["batch_id"] == b for b, r in reports.items())
        logged = stack.registry.client.download_artifacts(
            later_run["mlflow_run_id"], "validation/reports.json", str(tmp_path / name))
        assert json.loads(Path(logged).read_text()) == reports and len(reports) == 2
        alias = stack.registry.alias_version(f"ct_{name}", CHAMPION)
        expected = (later.decision.candidate_version if later.decision.promote
                    else landed.champions[name])
        assert alias == expected, (alias, later.decision)
    # Dataset versions: only the later good batches' training sets were added.
    added = sorted(set(dvc_tags(stack)) - set(landed.dvc_tags))
    repo = str(stack.settings.dvc_repo_dir)
    revs = {subprocess.run(["git", "-C", repo, "rev-list", "-n", "1", tag], capture_output=True,
                           text=True, check=True).stdout.strip() for tag in added}
    assert len(added) == 2 and revs == trained_revs, (added, revs, trained_revs)


def test_a_warning_is_logged_and_the_batch_still_trains(stack: LiveStack,
                                                        landed: Landed) -> None:
    outcome = landed.outcomes[f"{PARQUET}/later-good"]
    logs = batch_logs(stack, f"ct_{PARQUET}_ingest", outcome.ingest_run_id)
    assert "Validation warning [CONSTANT_COLUMN]" in logs["later-good"], logs["later-good"][-3000:]
    assert "late_payments" in logs["later-good"]


def batch_logs(stack: LiveStack, dag_id: str, run_id: str) -> dict[str, str]:
    """The `batch.validate_batch` log of each batch of an ingest run, by batch id (the mapped
    task's rendered map index)."""
    out = {}
    for ti in stack.api.task_instances(dag_id, run_id):
        if ti["task_id"] == "batch.validate_batch" and ti.get("rendered_map_index"):
            out[ti["rendered_map_index"]] = stack.api.task_log(
                dag_id, run_id, ti["task_id"], max(1, ti["try_number"]),
                map_index=ti["map_index"])
    return out
