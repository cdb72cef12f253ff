"""Every kind of bad drop, landed at once on the real stack (moto's S3 over HTTP, MLflow, Airflow's
scheduler, triggerer and workers), next to pipelines that already have a champion.

Each bad batch must end with its reason code in the log of its own mapped task (the UI names
it after the batch), a quarantine record in the store, a copy under `quarantine/`, the landed
objects byte-identical (same ETags), and nothing trained: no DVC version, no model version, no
alias move. Good batches landed after them are still accepted and trained. The checks behind
each code are unit-tested in tests/unit/test_validation.py; this proves the wiring keeps its
promises when a user drops real files.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_lib import s3io
from mlops_lib.datagen import generate_batch, to_file_bytes
from mlops_lib.demo import wait_for_batch
from mlops_lib.manifest import build_manifest
from mlops_lib.registry import CHAMPION
from mlops_lib.spec import PipelineSpec, load_specs
from tests.e2e.live import LiveStack, live_stack
from tests.support import EXAMPLE_SPEC, PIPELINES_DIR

pytestmark = pytest.mark.e2e

PARQUET = "strict_parquet"  # the credit example with a stricter contract
CSV = "strict_csv"          # the house-prices example: CSV with a manifest
MAX_FILE_BYTES = 1_000_000
TIMEOUT = 900


def write_pipelines(directory: Path) -> Path:
    """Both examples retraining on every batch, the credit one with freshness (a datetime
    column), a tolerated share of new categories, a file size limit and extra columns refused."""
    directory.mkdir(parents=True, exist_ok=True)
    credit = yaml.safe_load(EXAMPLE_SPEC.read_text())
    features = [f | {"max_new_category_share": 0.05} if f["name"] == "region" else f
                for f in credit["features"]]
    parquet = {**credit, "name": PARQUET,
               "source": {**credit["source"], "prefix": f"landing/{PARQUET}/",
                          "max_file_bytes": MAX_FILE_BYTES},
               "features": [*features, {"name": "applied_at", "dtype": "datetime"}],
               "contract": {**credit["contract"], "extra_columns": "reject",
                            "freshness": {"column": "applied_at", "max_age_hours": 48,
                                          "allow_future_minutes": 60}},
               "trigger": {"poke_interval_s": 1, "retrain_on": ["arrival"]}}
    house = yaml.safe_load((PIPELINES_DIR / "house_prices.yaml").read_text())
    csv = {**house, "name": CSV, "source": {**house["source"], "prefix": f"landing/{CSV}/"},
           "trigger": {"poke_interval_s": 1, "retrain_on": ["arrival"]}}
    for raw in (parquet, csv):
        (directory / f"{raw['name']}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


@dataclass(frozen=True)
class Case:
    batch_id: str
    code: str
    files: dict[str, bytes]
    manifest: bytes | None = None  # manifest-completed pipelines: built from the files if None


@dataclass
class Pipeline:
    spec: PipelineSpec
    good: list[str] = field(default_factory=list)  # batch ids expected to be trained


# --- the bad drops ------------------------------------------------------------------------------

def fresh(spec: PipelineSpec, rows: int, seed: int, now: datetime) -> pd.DataFrame:
    """A good credit batch whose `applied_at` stamps lie in the last six hours."""
    frame = generate_batch(spec, rows, seed=seed)
    ages = np.random.default_rng(seed).uniform(0, 6 * 3600, rows)
    stamps = pd.Timestamp(now).tz_convert(None) - pd.to_timedelta(ages, unit="s")
    return frame.assign(applied_at=stamps.astype("datetime64[ns]"))


def parquet_cases(spec: PipelineSpec, now: datetime) -> list[Case]:
    good = fresh(spec, 600, 11, now)
    body = to_file_bytes(good, "parquet")

    def one(frame: pd.DataFrame) -> dict[str, bytes]:
        return {"part-0000.parquet": to_file_bytes(frame, "parquet")}

    def with_good(name: str) -> dict[str, bytes]:  # a good file beside an unsafe key
        return {"part-0000.parquet": body, name: b"unsafe key"}

    labels = good["default"].astype("float64")
    region = good["region"].astype(object)
    shifted = good["applied_at"]
    return [
        Case("empty-object", "EMPTY_BATCH", {"part-0000.parquet": b""}),
        Case("missing-column", "MISSING_COLUMNS", one(good.drop(columns=["age"]))),
        Case("extra-column", "EXTRA_COLUMNS", one(good.assign(zzz=1))),
        Case("renamed-column", "MISSING_COLUMNS", one(good.rename(columns={"age": "Age"}))),
        Case("strings-in-numeric", "DTYPE_MISMATCH",
             one(good.assign(income=good["income"].map("{:.2f} EUR".format)))),
        Case("all-null-column", "ALL_NULL_COLUMN", one(good.assign(debt_ratio=np.nan))),
        Case("duplicated-rows", "DUPLICATE_ROWS",
             one(pd.concat([good, good.head(60)], ignore_index=True))),
        Case("truncated-parquet", "UNREADABLE_FILE", {"part-0000.parquet": body[:len(body) // 2]}),
        Case("schema-per-file", "INCONSISTENT_FILES",
             {"part-0000.parquet": body,
              "part-0001.parquet": to_file_bytes(good.assign(age=good["age"].astype(str)),
                                                 "parquet")}),
        Case("file-too-large", "FILE_TOO_LARGE",
             {"part-0000.parquet": body, "part-0001.parquet": b"\0" * (MAX_FILE_BYTES + 1)}),
        Case("nan-labels", "TARGET_MISSING_VALUES",
             one(good.assign(default=labels.where(labels.index % 50 != 0)))),
        Case("labels-outside-class-set", "TARGET_INVALID_CLASS",
             one(good.assign(default=labels.where(labels.index % 50 != 0, 2.0)))),
        Case("single-class-labels", "TARGET_SINGLE_CLASS", one(good.assign(default=0))),
        Case("too-few-rows", "TOO_FEW_ROWS", one(good.head(60))),
        Case("inf-features", "NON_FINITE_FEATURES",
             one(good.assign(income=good["income"].where(good.index % 50 != 0, np.inf)))),
        Case("future-timestamps", "FUTURE_TIMESTAMPS",
             one(good.assign(applied_at=shifted + pd.Timedelta(days=1)))),
        Case("stale-data", "STALE_DATA",
             one(good.assign(applied_at=shifted - pd.Timedelta(days=10)))),
        Case("unseen-categories", "NEW_CATEGORIES_ABOVE_LIMIT",
             one(good.assign(region=region.where(region.index % 5 != 0, "atlantis")))),
        Case("key-dotdot", "UNSAFE_KEY", with_good("../../escape.parquet")),
        Case("key-leading-slash", "UNSAFE_KEY", with_good("/root.parquet")),
        Case("key-control-chars", "UNSAFE_KEY", with_good("p\x00\t\x7f.parquet")),
        Case("key-over-1024-bytes", "UNSAFE_KEY", with_good("é" * 520 + ".parquet")),
    ]


def csv_cases(spec: PipelineSpec) -> list[Case]:
    good = generate_batch(spec, 300, seed=12)
    text = to_file_bytes(good, "csv").decode()
    lines = text.splitlines()

    def one(body: bytes) -> dict[str, bytes]:
        return {"part-0000.csv": body}

    ragged = [*lines[:10], lines[10].rsplit(",", 1)[0], *lines[11:]]
    comma = good.assign(living_area=good["living_area"].map(lambda v: f"{v:.1f}".replace(".", ",")))
    latin = text.replace("suburb", "faubourg-\u00e9t\u00e9").encode("latin-1")
    body = text.encode()
    sha = build_manifest(one(body), {"part-0000.csv": len(good)})
    return [
        Case("header-only", "EMPTY_BATCH", one((lines[0] + "\n").encode())),
        Case("comma-decimals", "DTYPE_MISMATCH", one(to_file_bytes(comma, "csv"))),
        Case("non-utf8", "UNREADABLE_FILE", one(latin)),
        Case("ragged-csv", "RAGGED_CSV", one(("\n".join(ragged) + "\n").encode())),
        Case("inf-labels", "TARGET_NOT_FINITE",
             one(to_file_bytes(good.assign(price=good["price"].where(good.index % 30 != 0,
                                                                     np.inf)), "csv"))),
        Case("manifest-sha256", "MANIFEST_MISMATCH", one(body),
             manifest=sha.replace(sha.split(b'"sha256": "')[1][:8], b"00000000")),
        Case("manifest-rows", "MANIFEST_MISMATCH", one(body),
             manifest=build_manifest(one(body), {"part-0000.csv": len(good) + 7})),
    ]


def rows_of(name: str, body: bytes) -> int:
    if name.endswith(".csv"):
        return max(body.count(b"\n") - 1, 0)
    return len(pd.read_parquet(io.BytesIO(body)))


# --- landing ------------------------------------------------------------------------------------

def land(stack: LiveStack, spec: PipelineSpec, case: Case) -> None:
    """Data first, then the marker or the manifest, as a producer does."""
    src = spec.source
    if src.completion == "manifest":
        manifest = case.manifest or build_manifest(
            case.files, {n: rows_of(n, b) for n, b in case.files.items()})
        s3io.upload_batch(stack.s3, src.bucket, src.prefix, case.batch_id, case.files,
                          marker=src.marker, marker_body=manifest)
    else:
        s3io.upload_batch(stack.s3, src.bucket, src.prefix, case.batch_id, case.files,
                          marker=src.marker)


def land_good(stack: LiveStack, spec: PipelineSpec, batch_id: str, seed: int, now: datetime,
              *, constant: bool = False) -> None:
    if spec.source.format == "parquet":
        frame = fresh(spec, 1500, seed, now)
        if constant:  # a warning, not a failure: the batch is trained on
            frame = frame.assign(late_payments=3)
    else:
        frame = generate_batch(spec, 1500, seed=seed)
    name = f"part-0000.{spec.source.format}"
    land(stack, spec, Case(batch_id, "", {name: to_file_bytes(frame, spec.source.format)}))


def snapshot(stack: LiveStack, bucket: str, prefix: str) -> dict[str, tuple[bytes, str]]:
    return {o.key: (stack.s3.get_object(Bucket=bucket, Key=o.key)["Body"].read(), o.etag)  # type: ignore[attr-defined]
            for o in s3io.list_objects(stack.s3, bucket, prefix)}


# --- the run ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    home = tmp_path_factory.mktemp("ct_home")
    with live_stack(home, write_pipelines(home / "pipelines"), CT_S3_SERVER="moto") as running:
        yield running


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
    repo = stack.settings.dvc_repo_dir
    if not (repo / ".git").exists():
        return []
    out = subprocess.run(["git", "-C", str(repo), "tag", "--list"], capture_output=True,
                         text=True, check=True).stdout
    return sorted(out.split())


@pytest.fixture(scope="module")
def landed(stack: LiveStack) -> Landed:
    now = datetime.now(UTC)
    pipelines = {s.name: Pipeline(s) for s in load_specs(stack.settings.pipelines_dir)}
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

    cases = {c.batch_id: (PARQUET, c) for c in parquet_cases(pipelines[PARQUET].spec, now)}
    cases |= {c.batch_id: (CSV, c) for c in csv_cases(pipelines[CSV].spec)}
    for pipeline, case in cases.values():
        land(stack, pipelines[pipeline].spec, case)
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
        runs = [r for b in ("first-good", "later-good")
                for r in stack.store.training_runs_of_batch(name, b)]
        assert len(runs) == 2, runs
        for run in runs:  # each training run took good batches only
            assert not set(stack.store.training_batch_ids(name, run["dag_run_id"])) & bad
        # One new model version: the later good batch's; the champion moved only if its
        # decision said so.
        after = model_versions(stack, name)
        assert len(after) == len(landed.versions[name]) + 1, (landed.versions[name], after)
        later_run = stack.store.get_training_run(name, later.training_run_id)
        assert later_run is not None
        trained_revs.add(later_run["data_rev"])
        # What the training data passed: in the store, and beside the model in its MLflow run.
        report = stack.store.validation_reports(name, ["later-good"])["later-good"]
        assert report["passed"] is True and report["batch_id"] == "later-good"
        logged = stack.registry.client.download_artifacts(
            later_run["mlflow_run_id"], "validation/reports.json", str(tmp_path / name))
        assert json.loads(Path(logged).read_text()) == {"later-good": report}
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
