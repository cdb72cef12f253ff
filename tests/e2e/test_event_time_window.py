"""A sliding training window by the data's own time, on the real local stack.

Four months of history land at once (July to October, each batch's `applied_at` inside its
month); the run they fire takes all four as new data but keeps only the rows of the 45 days up
to the newest application. The store's batch spans come from the column, the run's provenance
and its Airflow note name the window, and the versioned training set (lineage) holds exactly the
window's rows. How the window then slides as newer data lands (the next run trains on October
and November only) is tests/integration/test_event_time_slide.py: the same steps, without a
second DAG cycle here.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from mlops_dev.datagen import to_file_bytes
from mlops_dev.demo import wait_for_batch
from mlops_lib.operations.lineage import lineage
from mlops_lib.services import Services
from mlops_lib.spec import load_spec
from mlops_lib.stores.s3io import s3_client, upload_batch
from tests.e2e.live import LiveStack
from tests.e2e.pipelines import TIMED, TIMED_COLUMN, TIMED_DAYS
from tests.event_time import iso_ms as text
from tests.event_time import month_frame
from tests.event_time import trained_rows as read_trained_rows

pytestmark = pytest.mark.e2e
SHARED_STACK = "s3rver"
TIMEOUT = 420


def month_batch(stack: LiveStack, year: int, month: int, rows: int, seed: int) -> pd.DataFrame:
    """Land batch `month=YYYY-MM`, its applications spread over that month; returns it."""
    spec = load_spec(stack.settings.pipelines_dir / f"{TIMED}.yaml")
    frame = month_frame(spec, year, month, rows, seed)
    upload_batch(s3_client(stack.settings), spec.source.bucket, spec.source.prefix,
                 f"month={year}-{month:02d}", {"part-0000.parquet": to_file_bytes(
                     frame, "parquet")}, marker=spec.source.marker)
    return frame


def trained_rows(stack: LiveStack, version: str) -> pd.DataFrame:
    return read_trained_rows(Services(stack.settings), TIMED, version)


def test_an_event_time_window_keeps_its_days_of_history_landed_at_once(stack: LiveStack) -> None:
    history = {m: month_batch(stack, 2026, m, 1000, seed=700 + m) for m in (7, 8, 9, 10)}
    first = wait_for_batch(stack.store, TIMED, "month=2026-10", timeout=TIMEOUT, api=stack.api)
    assert first.dag_run_state == "success", first.reason

    for m, frame in history.items():  # each batch's data time is its rows' span, not arrival
        batch = stack.store.get_batch(TIMED, f"month=2026-{m:02d}")
        assert batch is not None and batch.status == "accepted", batch
        assert (batch.event_time, batch.event_time_end) == (
            text(frame[TIMED_COLUMN].min()), text(frame[TIMED_COLUMN].max()))

    run = stack.store.get_training_run(TIMED, first.dag_run_id)
    window = run["trigger"]["training_window"]
    start = history[10][TIMED_COLUMN].max() - timedelta(days=TIMED_DAYS)
    assert window["mode"] == "event_time" and window["event_time"]["from"] == text(start)
    # all four were new: the run consumed them, and kept only the rows of the window
    assert stack.store.training_batch_ids(TIMED, first.dag_run_id) == [
        f"month=2026-{m:02d}" for m in (7, 8, 9, 10)]
    decision = stack.store.get_decision(TIMED, first.dag_run_id)
    assert decision is not None and decision.promote, decision
    kept = trained_rows(stack, decision.candidate_version)
    expected = sum(int((f[TIMED_COLUMN] >= start).sum()) for f in history.values())
    assert len(kept) == expected and pd.to_datetime(kept[TIMED_COLUMN], utc=True).min() >= start
    assert lineage(Services(stack.settings), TIMED, decision.candidate_version).batch_ids == [
        f"month=2026-{m:02d}" for m in (7, 8, 9, 10)]
    assert f"(window: event_time {TIMED_DAYS} days of {TIMED_COLUMN})" in (
        stack.api.dag_run(f"ct_{TIMED}", first.dag_run_id).get("note") or "")
