"""The drift monitor's run note says why a drifted batch did not retrain: the cooldown, with
its end and the last drift retrain, as the data engineer sees it in the Airflow UI.

`check_drift_policy` (the task callable) on a real store whose policy is in cooldown; the
REST API that writes the note is replaced by a recorder (tests/e2e/test_cycle.py reads a real
note through the real API)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest

from tests.support import drifted_measurement, isolate_airflow_home  # noqa: E402, I001

isolate_airflow_home()  # before the first Airflow import

from airflow.sdk.exceptions import AirflowSkipException  # noqa: E402
from ct_airflow import tasks  # noqa: E402

from mlops_lib.spec import PipelineSpec  # noqa: E402
from mlops_lib.stores.store import Store  # noqa: E402

pytestmark = pytest.mark.unit


class NoteRecorder:
    def __init__(self) -> None:
        self.notes: list[tuple[str, str, str]] = []

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        self.notes.append((dag_id, run_id, note))


Monitor = tuple[Store, "NoteRecorder", PipelineSpec, list[str]]


@pytest.fixture
def monitor(spec: PipelineSpec, store_url: str,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Monitor]:
    store = Store(store_url)
    policy = replace(spec.trigger.drift, share_drifted=0.5, consecutive_batches=1,
                     cooldown_minutes=30, feature_psi={})
    drifting = replace(spec, trigger=replace(spec.trigger, drift=policy))
    api = NoteRecorder()
    run = ["monitor-1"]
    monkeypatch.setattr(tasks, "_services", lambda: SimpleNamespace(store=store))
    monkeypatch.setattr(tasks, "_spec", lambda _name: drifting)
    monkeypatch.setattr(tasks, "_run_id", lambda: run[0])
    monkeypatch.setattr(tasks, "rest_api", lambda: api)
    monkeypatch.setattr(tasks, "_announce", lambda *_args: None)
    yield store, api, drifting, run
    store.engine.dispose()


def test_a_drifted_batch_in_cooldown_says_so_in_the_run_note(
        monitor: Monitor) -> None:
    store, api, spec, run = monitor
    assert store.move_champion(spec.name, "1", expected_epoch=0, dag_run_id="train-1",
                               data_rev="r1")
    store.record_drift(spec.name, "b1", "monitor-1", drifted_measurement(spec, 1))
    announced = tasks.check_drift_policy(spec.name, {})
    assert announced["crossed"] is True
    assert api.notes[-1][2].startswith("retrain announced: Drift policy crossed")

    run[0] = "monitor-2"
    store.record_drift(spec.name, "b2", "monitor-2", drifted_measurement(spec, 2))
    with pytest.raises(AirflowSkipException) as skipped:
        tasks.check_drift_policy(spec.name, {})

    dag_id, run_id, note = api.notes[-1]
    assert (dag_id, run_id) == (spec.monitor_dag_id, "monitor-2")
    assert note == str(skipped.value)
    assert note.startswith("no retrain: Cooldown until "), note
    assert "UTC; the last drift retrain was announced at " in note and "cooldown 30 min" in note
    assert "b2 (share of drifted features" in note  # the breach that was held back
    assert [c["batch_id"] for c in store.drift_crossings(spec.name)] == ["b1"]
