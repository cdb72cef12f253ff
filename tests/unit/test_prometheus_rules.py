"""deploy/prometheus is a config Prometheus accepts, its alerting rules fire on the synthetic
series of alerts_test.yml (promtool's own rule tests), and every rule links an existing runbook.

promtool comes with Debian's `prometheus` package (.ci/run installs it): without it these tests
skip, saying so, except in CI, where a missing promtool is a failure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.promql import expression_metrics, known_metrics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"


def rules() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("promtool is missing in CI: .ci/run installs Debian's prometheus package")
    pytest.skip("promtool not installed (Debian package `prometheus`); CI installs it")


def _run(*args: str) -> str:
    done = subprocess.run([_promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def test_promtool_accepts_the_config_and_its_rule_file() -> None:
    out = _run("check", "config", "prometheus.yml")
    assert "1 rule files found" in out, out


def test_promtool_accepts_the_rules() -> None:
    out = _run("check", "rules", "alerts.yml")
    assert f"{len(rules())} rules found" in out, out


def test_the_rules_fire_on_synthetic_series() -> None:
    assert "SUCCESS" in _run("test", "rules", "alerts_test.yml")


def test_every_rule_is_proved_to_fire_by_a_rule_test() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"]
             if case.get("exp_alerts")}
    assert fired == {rule["alert"] for rule in rules()}


def test_every_rule_has_a_severity_and_links_an_existing_runbook() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in ("page", "ticket", "info"), rule["alert"]
        notes = rule["annotations"]
        assert notes["summary"] and notes["description"], rule["alert"]
        url = notes["runbook_url"]
        assert re.fullmatch(r"docs/runbooks/[a-z-]+\.md", url), (rule["alert"], url)
        assert (REPO / url).is_file(), (rule["alert"], url)


def test_the_rules_use_only_the_exported_metric_names() -> None:
    names = known_metrics()
    for rule in rules():
        used = expression_metrics(rule["expr"])
        assert used and used <= names, (rule["alert"], used - names)
