"""Alerts: the spec's `alerts:` section, what each alert says, the freshness verdict, and
delivery to a real HTTP receiver (once per alert, and never an exception into the caller)."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from airflow.sdk import BaseNotifier
from pydantic import TypeAdapter, ValidationError

from mlops_lib.alerting import (
    KINDS,
    add_channel,
    builders,
    check_freshness,
    notify,
    payload,
    render_text,
    watch_freshness,
)
from mlops_lib.alerting.events import champion_moved
from mlops_lib.alerting.webhook import WebhookError, post_json, resolve_url
from mlops_lib.spec import PipelineSpec
from mlops_lib.spec.alerts import AlertsConfig
from mlops_lib.spec.document import PipelineDocument
from mlops_lib.stores.champion import ChampionMove
from mlops_lib.stores.store import Store
from tests.alert_receiver import alert_receiver
from tests.support import EXAMPLE_SPEC, free_port

pytestmark = pytest.mark.unit


def with_alerts(spec: PipelineSpec, **alerts: Any) -> PipelineSpec:
    return dataclasses.replace(spec, alerts=AlertsConfig(**alerts))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


# --- the spec ---------------------------------------------------------------------------------

def _document(alerts: Any) -> PipelineDocument:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text()) | {"alerts": alerts}
    return TypeAdapter(PipelineDocument).validate_python(raw)


def test_the_alerts_section_reaches_the_spec() -> None:
    spec = _document({"freshness_sla_h": 6, "check_every_minutes": 5,
                      "webhooks": ["https://hooks.example.com/x", "env:CT_ALERT_WEBHOOK"],
                      "notifiers": [{"path": "airflow.providers.slack.notifications.slack."
                                             "SlackNotifier",
                                     "kwargs": {"text": "{{ alert.summary }}"}}],
                      "kinds": ["stale_data", "dag_failed"],
                      "runbook_url": "https://git.example.com/ct/docs/runbooks/"}).to_spec("p")
    assert spec.alerts is not None
    assert spec.alerts.freshness_sla_h == 6 and spec.alerts.check_every_minutes == 5
    assert spec.alerts.notifiers[0].kwargs == {"text": "{{ alert.summary }}"}
    assert spec.alerts.sends("stale_data") and not spec.alerts.sends("promotion")
    assert spec.freshness_dag_id == f"ct_{spec.name}_freshness"


def test_an_empty_alerts_section_sends_every_kind_and_checks_no_freshness() -> None:
    spec = _document(None).to_spec("p")
    assert spec.alerts == AlertsConfig()
    assert spec.alerts.freshness_sla_h is None
    assert set(spec.alerts.kinds) == set(KINDS)
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    assert TypeAdapter(PipelineDocument).validate_python(raw).to_spec("p").alerts is None


@pytest.mark.parametrize(("alerts", "where"), [
    ({"webhooks": ["ftp://example.com/hook"]}, "webhooks"),
    ({"webhooks": ["env:NOT A NAME"]}, "webhooks"),
    ({"kinds": ["stale_data", "typo"]}, "kinds"),
    ({"freshness_sla_h": 0}, "freshness_sla_h"),
    ({"check_every_minutes": 0}, "check_every_minutes"),
    ({"notifiers": [{"path": "not a path"}]}, "notifiers"),
    ({"webhook": ["https://example.com"]}, "webhook"),  # a misspelt key
])
def test_a_bad_alerts_section_is_refused_where_it_is_wrong(alerts: dict[str, Any],
                                                           where: str) -> None:
    with pytest.raises(ValidationError) as raised:
        _document(alerts)
    assert all(e["loc"][:2] == ("alerts", where) for e in raised.value.errors())


# --- what an alert says -----------------------------------------------------------------------

def test_every_kind_has_a_runbook_page_that_the_message_names(spec: PipelineSpec) -> None:
    spec = with_alerts(spec, runbook_url="https://git.example.com/ct/blob/main/docs/runbooks")
    alert = builders.rejected_batch(spec, "2026-01-05", "SCHEMA_MISMATCH", "column x missing",
                                    quarantine_uri="s3://ct-artifacts/quarantine/p/b/",
                                    dag_run_id="manual__1")
    assert alert.runbook == "docs/runbooks/quarantine.md" and alert.severity == "ticket"
    text = render_text(alert)
    assert "2026-01-05" in text and "SCHEMA_MISMATCH" in text
    assert "s3://ct-artifacts/quarantine/p/b/" in text  # where to look
    assert "Runbook: docs/runbooks/quarantine.md" in text
    assert "https://git.example.com/ct/blob/main/docs/runbooks/quarantine.md" in text
    assert set(KINDS) == {"rejected_batch", "drift_crossing", "performance_drop", "promotion",
                          "rollback", "pending_approval", "stale_data", "dag_failed"}


def test_links_point_at_the_airflow_run_when_the_ui_is_known(
        spec: PipelineSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://airflow.example.com:8080/")
    monkeypatch.delenv("CT_AIRFLOW_URL", raising=False)
    alert = builders.dag_failed(spec, spec.dag_id, "scheduled__2026-01-01T00:00:00+00:00",
                                failed_tasks=["train_model"])
    url = alert.details["links"]["airflow_run"]
    assert url == (f"http://airflow.example.com:8080/dags/{spec.dag_id}/runs/"
                   "scheduled__2026-01-01T00%3A00%3A00%2B00%3A00")
    assert "train_model" in alert.summary and alert.severity == "page"
    body = payload(alert)
    assert body["links"]["airflow_run"] == url and url in body["text"]
    assert body["runbook"] == "docs/runbooks/failed-dag-run.md" in body["text"]


def test_without_a_ui_or_a_runbook_base_the_links_are_paths(
        spec: PipelineSpec, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIRFLOW__API__BASE_URL", "CT_AIRFLOW_URL"):
        monkeypatch.delenv(name, raising=False)
    alert = builders.drift_crossing(spec, "b7", "3 of 5 features drifted", dag_run_id="r",
                                    retrains=True)
    assert alert.details["links"] == {}
    assert alert.details["runbook_url"] == "docs/runbooks/drift-alert.md"
    assert "a retrain is announced" in alert.summary


# --- notify: once, and never into the caller ----------------------------------------------------

def test_an_alert_reaches_a_real_webhook_once(spec: PipelineSpec, store: Store) -> None:
    with alert_receiver() as receiver:
        spec = with_alerts(spec, webhooks=[receiver.url])
        alert = builders.pending_approval(spec, "manual__2", "Promote v3?", timeout_h=2)
        first = notify(store, spec, alert)
        again = notify(store, spec, alert)  # a retried task raises the same alert
    assert [b["subject"] for b in receiver.bodies] == ["manual__2"]
    body = receiver.bodies[0]
    assert body["kind"] == "pending_approval" and body["severity"] == "ticket"
    assert "docs/runbooks/pending-approval.md" in body["text"]
    assert first is not None and first.delivered_at and first.delivery_error is None
    assert again is not None and again.delivered_at == first.delivered_at
    assert len(store.alerts(spec.name)) == 1


def test_a_failing_receiver_is_recorded_and_retried_on_the_next_raise(
        spec: PipelineSpec, store: Store, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mlops_lib.alerting.webhook.BACKOFF_S", 0.01)
    alert = builders.drift_crossing(spec, "b9", "drifted", dag_run_id="r", retrains=False)
    with alert_receiver(status=500) as broken:
        spec = with_alerts(spec, webhooks=[broken.url])
        with caplog.at_level(logging.ERROR):
            failed = notify(store, spec, alert)  # returns: never raises into the step
    assert broken.posts == 3  # tried, with backoff
    assert failed is not None and failed.delivered_at is None
    assert "HTTP 500" in (failed.delivery_error or "")
    assert "/hooks/alerts" not in (failed.delivery_error or "")  # a hook's path may be secret
    assert any("not delivered" in r.message for r in caplog.records)
    with alert_receiver() as fixed:
        delivered = notify(store, dataclasses.replace(
            spec, alerts=AlertsConfig(webhooks=(fixed.url,))), alert)
    assert [b["subject"] for b in fixed.bodies] == ["b9"]
    assert delivered is not None and delivered.delivered_at and not delivered.delivery_error


def test_nothing_listening_and_a_broken_store_do_not_raise(spec: PipelineSpec,
                                                           store: Store) -> None:
    spec = with_alerts(spec, webhooks=[f"http://127.0.0.1:{free_port()}/x"])
    alert = builders.dag_failed(spec, spec.dag_id, "r1", failed_tasks=[])
    stored = notify(store, spec, alert)
    assert stored is not None and "127.0.0.1" in (stored.delivery_error or "")
    broken = Store("sqlite:////nonexistent/dir/store.db")
    assert notify(broken, spec, alert) is None


def test_an_env_webhook_reads_its_url_when_sent(spec: PipelineSpec, store: Store,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_TEST_HOOK", raising=False)
    with pytest.raises(WebhookError, match="CT_TEST_HOOK"):
        resolve_url("env:CT_TEST_HOOK")
    with alert_receiver() as receiver:
        monkeypatch.setenv("CT_TEST_HOOK", receiver.url)
        spec = with_alerts(spec, webhooks=["env:CT_TEST_HOOK"])
        notify(store, spec, builders.dag_failed(spec, spec.dag_id, "r2", failed_tasks=[]))
    assert len(receiver.bodies) == 1


def test_kinds_not_sent_are_recorded_only(spec: PipelineSpec, store: Store) -> None:
    with alert_receiver() as receiver:
        spec = with_alerts(spec, webhooks=[receiver.url], kinds=["stale_data"])
        stored = notify(store, spec, builders.dag_failed(spec, spec.dag_id, "r", failed_tasks=[]))
    assert receiver.posts == 0
    assert stored is not None and stored.open and stored.delivered_at is None


def test_a_rollback_is_announced_resolved(spec: PipelineSpec, store: Store) -> None:
    with alert_receiver() as receiver:
        spec = with_alerts(spec, webhooks=[receiver.url])
        champion_moved(store, spec, ChampionMove(
            pipeline=spec.name, epoch=7, model_version="3", previous_version="4",
            action="rollback", actor="ana", reason="v4 degraded", dag_run_id=None,
            data_rev=None, created_at="2026-03-01T00:00:00+00:00"))
    [body] = receiver.bodies
    assert body["kind"] == "rollback" and body["resolved"] is True
    assert "from v4 to v3 by ana" in body["summary"]
    assert store.alerts(spec.name, open_only=True) == []


def test_registered_channels_get_the_alert_and_their_failure_is_recorded(
        spec: PipelineSpec, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[str] = []

    def channel(config: AlertsConfig, alert: Any, body: dict[str, Any]) -> None:
        got.append(body["text"])
        raise RuntimeError("smtp down")

    # the module, not the package's `notify` function of the same name
    monkeypatch.setattr(importlib.import_module("mlops_lib.alerting.notify"), "_CHANNELS", [])
    add_channel(channel)
    spec = with_alerts(spec, notifiers=[{"path": "x.Y"}])
    stored = notify(store, spec, builders.dag_failed(spec, spec.dag_id, "r", failed_tasks=[]))
    assert len(got) == 1 and "docs/runbooks/failed-dag-run.md" in got[0]
    assert stored is not None and "smtp down" in (stored.delivery_error or "")


def test_post_json_does_not_retry_a_refusal() -> None:
    with alert_receiver(status=403) as receiver:
        with pytest.raises(WebhookError, match="403"):
            post_json(receiver.url, {"text": "x"}, backoff_s=0.01)
    assert receiver.posts == 1


# --- freshness --------------------------------------------------------------------------------

def _accept(store: Store, pipeline: str, batch_id: str) -> str:
    record, _ = store.claim_batch(pipeline, batch_id, "f" * 64, [], "run")
    store.accept_batch(pipeline, batch_id, 10, "s3://x/y")
    return record.arrived_at


def _at(stamp: str, hours: float) -> datetime:
    return datetime.fromisoformat(stamp) + timedelta(hours=hours)


def test_freshness_counts_from_the_last_accepted_batch(spec: PipelineSpec,
                                                       store: Store) -> None:
    spec = with_alerts(spec, freshness_sla_h=24)
    arrived = _accept(store, spec.name, "b1")
    fresh = check_freshness(store, spec, now=_at(arrived, 23.9))
    assert not fresh.stale and fresh.alert is None and fresh.since == arrived
    stale = check_freshness(store, spec, now=_at(arrived, 30))
    assert stale.stale and stale.age_h == pytest.approx(30)
    assert stale.alert is not None and stale.alert.kind == "stale_data"
    assert stale.alert.subject == f"since {arrived}" and stale.alert.severity == "page"
    assert "30.0 h (SLA 24 h)" in stale.alert.summary
    assert stale.alert.runbook == "docs/runbooks/no-data.md"


def test_one_stale_period_raises_one_alert_and_fresh_data_resolves_it(
        spec: PipelineSpec, store: Store) -> None:
    spec = with_alerts(spec, freshness_sla_h=1)
    arrived = _accept(store, spec.name, "b1")
    for hours in (2, 3, 4):  # the check runs again and again while no data comes
        watch_freshness(store, spec, now=_at(arrived, hours))
    [alert] = store.alerts(spec.name, open_only=True)
    assert alert.kind == "stale_data" and alert.subject == f"since {arrived}"
    newer = _accept(store, spec.name, "b2")
    watch_freshness(store, spec, now=_at(newer, 0.5))
    assert store.alerts(spec.name, open_only=True) == []
    watch_freshness(store, spec, now=_at(newer, 5))  # a second stale period: a new alert
    assert [a.subject for a in store.alerts(spec.name, open_only=True)] == [f"since {newer}"]


def test_with_no_batch_ever_the_age_counts_from_the_first_check(spec: PipelineSpec,
                                                                 store: Store) -> None:
    spec = with_alerts(spec, freshness_sla_h=2)
    began = datetime(2026, 3, 1, 12, tzinfo=UTC)
    first = check_freshness(store, spec, now=began)
    assert not first.stale and first.since_what == "the freshness check began"
    assert not check_freshness(store, spec, now=began + timedelta(hours=1.5)).stale
    late = watch_freshness(store, spec, now=began + timedelta(hours=2.5))
    assert late.stale and late.since == first.since
    assert late.alert is not None and "No batch ever" in late.alert.summary
    assert [a.kind for a in store.alerts(spec.name, open_only=True)] == ["stale_data"]


def test_freshness_needs_an_sla(spec: PipelineSpec, store: Store) -> None:
    with pytest.raises(ValueError, match="freshness_sla_h"):
        check_freshness(store, with_alerts(spec), now=datetime.now(UTC))


# --- Airflow notifiers (alerts.notifiers) -----------------------------------------------------

RENDERED: list[dict[str, Any]] = []


class Recording(BaseNotifier):
    """What a provider's notifier does with its templated arguments, kept for the test."""

    template_fields = ("subject", "body")

    def __init__(self, subject: str, body: str) -> None:
        super().__init__()
        self.subject, self.body = subject, body

    def notify(self, context: Any) -> None:
        RENDERED.append({"subject": self.subject, "body": self.body})


def test_configured_airflow_notifiers_render_the_alert(spec: PipelineSpec) -> None:
    from ct_airflow.notifiers import airflow_notifiers

    spec = with_alerts(spec, notifiers=[{
        "path": f"{__name__}.Recording",
        "kwargs": {"subject": "[{{ alert.severity }}] {{ alert.pipeline }}: {{ alert.kind }}",
                   "body": "{{ message }}"}}])
    alert = builders.dag_failed(spec, spec.dag_id, "r", failed_tasks=["train_model"])
    RENDERED.clear()
    assert spec.alerts is not None
    airflow_notifiers(spec.alerts, alert, payload(alert))
    [sent] = RENDERED
    assert sent["subject"] == f"[page] {spec.name}: dag_failed"
    assert "train_model" in sent["body"] and "docs/runbooks/failed-dag-run.md" in sent["body"]
    broken = with_alerts(spec, notifiers=[{"path": "no_such_module.Notifier"}])
    assert broken.alerts is not None
    with pytest.raises(RuntimeError, match="no_such_module"):
        airflow_notifiers(broken.alerts, alert, payload(alert))
