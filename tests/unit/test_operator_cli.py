"""The operator's commands on a store filled through its own methods: `mlops status --json`
(champion with its promotion metric, last batch, open alerts, pending approvals, quarantine,
services), `mlops alerts`, `mlops reports` without S3, and the pure parts of a replay."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mlops_lib.cli import main
from mlops_lib.cli_ops import progress_printer
from mlops_lib.operations import quarantine
from mlops_lib.operations.report_list import listing, run_reports
from mlops_lib.operations.status import age_text, pipeline_status
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.alerts import AlertRecord, ReplayRecord
from mlops_lib.stores.store import DecisionRecord, Store
from tests.support import free_port

pytestmark = pytest.mark.unit


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("CT_STORE_URL", store_url)
    closed = f"http://127.0.0.1:{free_port()}"  # no service answers the health checks
    for name in ("CT_S3_ENDPOINT_URL", "MLFLOW_TRACKING_URI", "CT_AIRFLOW_URL"):
        monkeypatch.setenv(name, closed)
    s = Store(store_url)
    yield s
    s.engine.dispose()


def _filled(store: Store, spec: PipelineSpec) -> None:
    """Champion v1 promoted on roc_auc 0.81, v2 registered and undecided, b2 quarantined,
    one open alert and one resolved."""
    store.claim_batch(spec.name, "b1", "fp-b1", [], "ingest-b1")
    store.accept_batch(spec.name, "b1", 500, "s3://staging/b1")
    store.take_training_batches(spec.name, "train-1", ["b1"], live=True)
    store.record_decision_and_move(DecisionRecord(
        pipeline=spec.name, dag_run_id="train-1", candidate_version="1",
        baseline_version=None, metric="roc_auc", candidate_value=0.81, baseline_value=None,
        decision="promote", reason="first model", data_rev="r1", details={}),
        expected_epoch=0)
    store.start_training_run(spec.name, "train-2", "b1", {"kind": "manual"})
    store.update_training_run(spec.name, "train-2", model_version="2")
    store.claim_batch(spec.name, "b2", "fp-b2", [{"key": "landing/b2/part-0.parquet"}],
                      "ingest-b2")
    store.quarantine_batch(spec.name, "b2", "OUT_OF_RANGE", "age: 3 rows out of range",
                           "s3://landing/quarantine/b2/", {"checks": [
                               {"name": "range:age", "passed": False, "observed": "3 rows",
                                "expected": "<= 120", "reason_code": "OUT_OF_RANGE"},
                               {"name": "min_rows", "passed": True, "observed": "200",
                                "expected": ">= 100", "reason_code": None}]})
    store.raise_alert(AlertRecord(spec.name, "rejected_batch", "b2", "ticket",
                                  "Batch b2 was rejected", "docs/runbooks/quarantine.md"))
    store.raise_alert(AlertRecord(spec.name, "promotion", "train-1", "info", "v1 promoted",
                                  "docs/runbooks/rollback.md"), resolved=True)


def test_status_json_has_every_answer_and_the_services(
        store: Store, spec: PipelineSpec, capsys: pytest.CaptureFixture[str]) -> None:
    _filled(store, spec)
    assert main(["status", "--json"]) == 0  # every pipeline in the spec folder
    found = json.loads(capsys.readouterr().out)
    [mine] = [p for p in found["pipelines"] if p["pipeline"] == spec.name]
    champion = mine["champion_detail"]
    assert (champion["version"], champion["metric"], champion["at_promotion"],
            champion["realized"], champion["dag_run_id"]) == ("1", "roc_auc", 0.81, None,
                                                              "train-1")
    assert champion["age_s"] >= 0
    assert mine["champion"].startswith("v1 since ") and "roc_auc 0.81 at promotion" in \
        mine["champion"]
    assert mine["last_batch"]["batch_id"] == "b2" and mine["last_batch"]["status"] == "rejected"
    assert mine["last_decision"].startswith("PROMOTE v1 (run train-1)")
    assert [(a["kind"], a["subject"]) for a in mine["open_alerts"]] == [("rejected_batch", "b2")]
    assert [(p["model_version"], p["waiting_for"]) for p in mine["pending_approvals"]] == [
        ("2", "decision")]  # the example spec promotes automatically: being judged
    assert [(q["batch_id"], q["reason_code"]) for q in mine["quarantined"]] == [
        ("b2", "OUT_OF_RANGE")]
    health = {h["service"]: h for h in found["services"]}
    assert set(health) == {"s3", "mlflow", "airflow", "store"}
    assert health["store"]["ok"] and health["store"]["error"] is None
    assert not health["mlflow"]["ok"] and health["mlflow"]["error"]
    assert found["errors"] == {}


def test_a_manual_promotion_waits_for_approval(store: Store, spec: PipelineSpec) -> None:
    _filled(store, spec)
    manual = replace(spec, promotion="manual")
    [waiting] = pipeline_status(store, manual).pending_approvals
    assert waiting.waiting_for == "approval" and waiting.dag_run_id == "train-2"
    assert waiting.text().startswith("v2 (run train-2) waits for approval since ")


def test_alerts_lists_newest_first_and_open_only_when_asked(
        store: Store, spec: PipelineSpec, capsys: pytest.CaptureFixture[str]) -> None:
    _filled(store, spec)
    assert main(["alerts", spec.name, "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert sorted((a["kind"], a["open"]) for a in everything) == [("promotion", False),
                                                                   ("rejected_batch", True)]
    assert main(["alerts", spec.name, "--open"]) == 0
    out = capsys.readouterr().out
    assert "rejected_batch   b2  [open; not sent]" in out and "promotion" not in out
    assert "runbook: docs/runbooks/quarantine.md" in out
    store.resolve_alerts(spec.name, ["rejected_batch"], subject="b2")
    assert main(["alerts", spec.name, "--open"]) == 0
    assert capsys.readouterr().out == "no open alerts\n"
    assert main(["alerts", "no_such_pipeline"]) == 1


def test_quarantine_show_lists_the_failed_checks(
        store: Store, spec: PipelineSpec, capsys: pytest.CaptureFixture[str]) -> None:
    _filled(store, spec)
    assert main(["quarantine", "show", spec.name, "b2"]) == 0
    out = capsys.readouterr().out
    assert "reason      [OUT_OF_RANGE] age: 3 rows out of range" in out
    assert "  [OUT_OF_RANGE] range:age: 3 rows (expected <= 120)" in out
    assert "min_rows" not in out  # passed
    assert "files       landing/b2/part-0.parquet" in out
    assert main(["quarantine", "show", spec.name, "b1"]) == 1  # accepted, never quarantined
    assert "never quarantined" in capsys.readouterr().err


def test_reports_lists_runs_newest_first_and_finds_a_batch_by_its_drift_report(
        store: Store, spec: PipelineSpec) -> None:
    settings = Settings.from_env({"CT_S3_ENDPOINT_URL": "http://s3.local:9000",
                                  "CT_ARTIFACT_BUCKET": "arts"})
    assert listing(store, settings, spec.name).lines()[1:] == ["none yet"]
    store.record_report(spec.name, "train-1", "data_drift", "html",
                        "s3://arts/reports/p/train-1/data_drift.html")
    store.record_report(spec.name, "train-1", "data_drift", "json",
                        "s3://arts/reports/p/train-1/data_drift.json")
    time.sleep(0.005)  # the store keeps milliseconds; a tie would sort by run key instead
    store.record_report(spec.name, "drift/b 1", "batch_drift", "html",
                        "s3://arts/reports/p/drift/b 1/batch_drift.html")
    found = listing(store, settings, spec.name)
    assert [(r.run, r.reports) for r in found.runs] == [("drift/b 1", 1), ("train-1", 2)]
    assert found.index_url == f"http://s3.local:9000/arts/reports/{spec.name}/index.html"
    key, reports = run_reports(store, settings, spec.name, "b 1")
    assert key == "drift/b 1"
    assert [(r.kind, r.http_url) for r in reports] == [
        ("batch_drift", "http://s3.local:9000/arts/reports/p/drift/b%201/batch_drift.html")]
    assert run_reports(store, settings, spec.name, "nothing") == ("", [])


def _replay(fingerprint: str, digest: str, outcome: str) -> ReplayRecord:
    return ReplayRecord("p", "b", fingerprint, digest, "landing", "OUT_OF_RANGE", outcome,
                        None if outcome == "accepted" else "OUT_OF_RANGE", "why", "me", "t")


def test_a_replay_is_recorded_per_content_and_spec(spec: PipelineSpec) -> None:
    digest = quarantine.spec_digest(spec)
    assert digest == quarantine.spec_digest(replace(spec, description="other words"))
    assert digest != quarantine.spec_digest(replace(spec, target="other"))
    done = [_replay("fp1", digest, "rejected"), _replay("fp2", digest, "accepted")]
    assert quarantine.recorded_verdict(done, "fp2", digest) == done[1]
    assert quarantine.recorded_verdict(done, "fp1", "another spec") is None
    assert quarantine.recorded_verdict(done, "fp3", digest) is None
    again = quarantine.ReplayOutcome(done[0], repeated=True).lines()
    assert again == ["batch b: rejected again [OUT_OF_RANGE] why (replayed before with this "
                     "content and spec: the recorded verdict)"]
    assert quarantine.ReplayOutcome(done[1], repeated=False).lines()[1].startswith(
        "the next training run takes it")


def test_ages_and_progress_read_at_a_glance(capsys: pytest.CaptureFixture[str]) -> None:
    assert [age_text(s) for s in (42, 125, 7260, 3 * 86400 + 4 * 3600 + 5)] == [
        "42s", "2m", "2h 1m", "3d 4h"]
    say = progress_printer()
    say("fetching data version abc from DVC")
    err = capsys.readouterr().err
    assert err.startswith("[0.") and err.endswith("s] fetching data version abc from DVC\n")


def test_the_champion_age_counts_from_its_move(store: Store, spec: PipelineSpec) -> None:
    _filled(store, spec)
    later = datetime.now(UTC) + timedelta(hours=3)
    detail = pipeline_status(store, spec, now=later).champion_detail
    assert detail is not None and 3 * 3600 - 60 < detail.age_s <= 3 * 3600 + 60
