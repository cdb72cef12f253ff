"""deploy/grafana/dashboards/ct-service.json is a dashboard a user can import: every query reads
only metric names the exporter exports (deploy/prometheus/metrics.txt), through the dashboard's
data source variable and its `pipeline` variable, and the panels are distinct."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.promql import expression_metrics, known_metrics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "ct-service.json"
# What the issue asks the dashboard to show, each by the metric that answers it.
REQUIRED = {
    "ct_batches_total", "ct_seconds_since_last_accepted_batch", "ct_freshness_sla_seconds",
    "ct_drift_score", "ct_drift_drifted_share", "ct_drift_crossings_total",
    "ct_training_runs_total", "ct_decisions_total", "ct_champion_version",
    "ct_champion_age_seconds", "ct_champion_metric", "ct_pending_approvals",
    "ct_quarantined_batches", "ct_open_alerts", "airflow_ti_failures_total",
    "airflow_task_duration_sum",
}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row holds its own
    return found


def _queries(dashboard: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dashboard) for t in p.get("targets", [])]


def test_every_query_reads_only_exported_metrics(dashboard: dict) -> None:
    names = known_metrics()
    queries = _queries(dashboard)
    assert queries
    for title, expr in queries:
        used = expression_metrics(expr)
        assert used and used <= names, (title, expr, used - names)
    shown = set().union(*(expression_metrics(expr) for _, expr in queries))
    assert REQUIRED <= shown, REQUIRED - shown


def test_panel_ids_are_unique_and_panels_sit_on_the_grid(dashboard: dict) -> None:
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    for p in panels:
        grid = p["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]


def test_queries_go_through_the_datasource_and_pipeline_variables(dashboard: dict) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    pipeline = variables["pipeline"]
    assert pipeline["definition"] == "label_values(ct_batches_total, pipeline)"
    assert expression_metrics(pipeline["definition"]) <= known_metrics()
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            per_pipeline = "ct_" in target["expr"] and "ct_store_up" not in target["expr"]
            if per_pipeline:
                assert 'pipeline=~"$pipeline"' in target["expr"], (panel["title"], target)


def test_docker_compose_provisions_the_dashboard_and_its_data_source() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                             .read_text())["datasources"]
    assert [(s["type"], s["url"]) for s in sources] == [("prometheus", "http://prometheus:9090")]
    [provider] = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "ct-service.yml")
                                .read_text())["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]["grafana"]
    mounts = {target: source for source, target, *_ in
              (str(v).split(":") for v in compose["volumes"])}
    assert (REPO / mounts[provider["options"]["path"]]).resolve() == DASHBOARD.parent
