"""The store's alerts and batch replays: keyed writes, so a retried task or a second check
raises nothing twice, and open alerts are the ones not resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lib.stores import migrations
from mlops_lib.stores.store import AlertRecord, ReplayRecord, Store

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path: Path) -> Store:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    migrations.upgrade(url)
    return Store(url)


def _alert(kind: str = "stale_data", subject: str = "since 2026-12-01") -> AlertRecord:
    return AlertRecord("credit", kind, subject, "page", "no batch for 25 h",
                       "docs/runbooks/no-data.md", details={"hours": 25})


def test_an_alert_is_raised_once_per_subject(store: Store) -> None:
    first, created = store.raise_alert(_alert())
    again, created_again = store.raise_alert(_alert())
    assert created and not created_again
    assert again == first and first.details == {"hours": 25} and first.open
    other, created_other = store.raise_alert(_alert(subject="since 2026-12-03"))
    assert created_other and other.subject != first.subject
    assert [a.subject for a in store.alerts("credit")] == ["since 2026-12-03",
                                                           "since 2026-12-01"]


def test_delivery_and_resolution_are_recorded(store: Store) -> None:
    alert, _ = store.raise_alert(_alert())
    store.mark_delivered(alert, error="HTTP 500")
    failed = store.get_alert("credit", "stale_data", alert.subject)
    assert failed is not None and failed.delivered_at is None
    assert failed.delivery_error == "HTTP 500"
    store.mark_delivered(alert)
    done = store.get_alert("credit", "stale_data", alert.subject)
    assert done is not None and done.delivered_at and done.delivery_error is None

    store.raise_alert(_alert("rejected_batch", "b1"))
    assert store.resolve_alerts("credit", ["stale_data"]) == 1
    assert store.resolve_alerts("credit", ["stale_data"]) == 0
    assert [a.kind for a in store.alerts("credit", open_only=True)] == ["rejected_batch"]
    assert store.resolve_alerts("credit", ["rejected_batch"], subject="b2") == 0
    assert store.resolve_alerts("other", ["rejected_batch"]) == 0
    assert store.resolve_alerts("credit", []) == 0


def test_an_informational_alert_is_raised_resolved(store: Store) -> None:
    alert, _ = store.raise_alert(_alert("promotion", "run-1"), resolved=True)
    assert not alert.open and store.alerts(open_only=True) == []


def test_a_replay_verdict_is_kept_per_content_and_spec(store: Store) -> None:
    replay = ReplayRecord("credit", "b1", "f" * 64, "d" * 64, "landing", "MISSING_COLUMN",
                          "accepted", None, None, "alice", "2026-12-06T10:00:00.000+00:00")
    stored, created = store.record_replay(replay)
    again, created_again = store.record_replay(
        ReplayRecord(**{**replay.__dict__, "outcome": "rejected", "actor": "bob"}))
    assert created and not created_again and again == stored == replay
    assert store.replays("credit", "b1") == [replay] and store.replays("credit", "b2") == []
