"""A real Prometheus server (Debian's `prometheus`) scrapes the exporter after a real CT cycle
without Airflow (moto's S3 server, a real MLflow server, the store): a good batch ingested,
trained on and promoted, a bad one quarantined. PromQL over Prometheus' HTTP API then gives
what the store recorded.

CT_PROMETHEUS_SCREENSHOT=<png>: also renders Prometheus' graph of the scraped metrics there
(tools/prometheus_screenshot.py, headless Chromium): the README's picture comes from this run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mlops_dev import datagen
from mlops_lib.metrics.server import Exporter, make_server
from mlops_lib.services import Services
from mlops_lib.settings import REPO_ROOT, Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import dataset, decide, evaluate, plan, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import ReportSet
from mlops_lib.validation.reasons import BatchRejected
from tests.integration.scoring_support import land_and_ingest
from tests.support import free_port, fresh_buckets, served_in_thread

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def prometheus_binary() -> str:
    if Path(PROMETHEUS).exists():
        return PROMETHEUS
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI needs Debian's `prometheus` package (apt-get install prometheus)")
    pytest.skip("no Prometheus server here (/usr/bin/prometheus): apt-get install prometheus")


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def scalar(prometheus: str, promql: str) -> float:
    (sample,) = query(prometheus, promql)
    return float(sample["value"][1])


@pytest.fixture
def exporter(tmp_path: Path, flow_store_url: str) -> Iterator[str]:
    """`mlops exporter`'s server, in this process, on the flow's store; no spec folder."""
    settings = Settings.from_env({"CT_HOME": str(tmp_path / "home"),
                                  "CT_STORE_URL": flow_store_url,
                                  "CT_PIPELINES_DIR": str(tmp_path / "no-specs")})
    server = make_server(Exporter(settings), "127.0.0.1", 0)
    with served_in_thread(server):
        yield f"127.0.0.1:{server.server_port}"


@pytest.fixture
def prometheus(exporter: str, tmp_path: Path) -> Iterator[str]:
    """A Prometheus server on a free port scraping the exporter every second."""
    binary = prometheus_binary()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: ct
    static_configs: [{{targets: ["{exporter}"]}}]
""")
    subprocess.run([shutil.which("promtool") or "promtool", "check", "config", str(config)],
                   check=True, capture_output=True)
    url = f"http://127.0.0.1:{free_port()}"
    log = open(tmp_path / "prometheus.log", "wb")  # noqa: SIM115 - lives as long as it
    proc = subprocess.Popen([binary, f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address={url.removeprefix('http://')}"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: _ready(url), proc, tmp_path / "prometheus.log", "ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait(check: Any, proc: subprocess.Popen[bytes], log: Path, what: str,
          timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"Prometheus not {what}: {log.read_text()[-2000:]}")
        time.sleep(0.5)


def cycle(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, store_url: str,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Services, PipelineSpec, str]:
    """A good batch ingested, trained on, judged and promoted; a bad one quarantined. The
    pipeline's name is its own: the MLflow server is the session's."""
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    svc = Services(Settings.from_env({
        "CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": store_url, "MLFLOW_TRACKING_URI": mlflow_server,
        "CT_ARTIFACT_BUCKET": artifacts}))
    frame = datagen.generate_batch(spec, 600, seed=3)  # the example's concept, by its name
    spec = replace(spec, name=f"prom_{uuid.uuid4().hex[:8]}",
                   source=replace(spec.source, bucket=landing),
                   training=replace(spec.training, device="cpu", num_boost_round=5))
    land_and_ingest(svc, spec, s3, "good-1", frame)
    with pytest.raises(BatchRejected):
        land_and_ingest(svc, spec, s3, "bad-1", frame.drop(columns=[spec.features[0].name]))
    run = "manual__prom"
    planned = plan.plan_training(svc, spec, RunContext(
        dag_run_id=run, run_type="manual", triggered_by="tester",
        params={"reason": "prometheus test", "batches": ["good-1"]}))
    version = dataset.version_dataset(svc, spec, planned, run)
    trained = train.train(svc, spec, planned, version, run)
    evaluation = evaluate.evaluate(svc, spec, version, trained, planned.champion, run)
    # No data reports (minutes of Evidently in a tight lane): they change no metric here.
    decided = decide.decide(svc, spec, planned, evaluation, ReportSet(), run)
    assert decided.decision == "promote", decided.reason
    return svc, spec, trained.model_version


def test_prometheus_scrapes_the_cycle(spec: PipelineSpec, s3: Any, s3_endpoint: str,
                                      mlflow_server: str, flow_store_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, prometheus: str) -> None:
    svc, spec, version = cycle(spec, s3, s3_endpoint, mlflow_server, flow_store_url, tmp_path,
                               monkeypatch)
    bad = svc.store.get_batch(spec.name, "bad-1")
    assert bad is not None and bad.status == "rejected" and bad.reason_code
    prom = prometheus
    p = f'pipeline="{spec.name}"'
    _until_scraped(prom, f"ct_champion_version{{{p}}}")

    assert scalar(prom, "ct_store_up") == 1
    assert scalar(prom, f'ct_batches_total{{{p},status="accepted"}}') == 1
    assert scalar(prom, f'sum by (reason_code) (ct_batches_total{{{p},status="rejected",'
                        f'reason_code="{bad.reason_code}"}})') == 1
    assert scalar(prom, f"ct_champion_version{{{p}}}") == int(version)
    assert scalar(prom, f'ct_decisions_total{{{p},outcome="promote"}}') == 1
    assert scalar(prom, f'ct_training_runs_total{{{p},trigger="manual"}}') == 1
    assert scalar(prom, f"ct_quarantined_batches{{{p}}}") == 1
    assert 0 <= scalar(prom, f"ct_seconds_since_last_accepted_batch{{{p}}}") < 600
    assert scalar(prom, f'ct_champion_metric{{{p},source="holdout"}}') > 0.5
    if shot := os.environ.get("CT_PROMETHEUS_SCREENSHOT"):
        subprocess.run([sys.executable, str(REPO_ROOT / "tools" /
                        "prometheus_screenshot.py"), prom, shot], check=True, timeout=120)


def _until_scraped(prometheus: str, promql: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not query(prometheus, promql):
        assert time.monotonic() < deadline, f"Prometheus never scraped {promql}"
        time.sleep(0.5)
