"""`training.window`: which batches and rows a run trains on, for every mode. No services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import TypeAdapter, ValidationError

from mlops_lib.spec import TriggerConfig
from mlops_lib.spec.window import TrainingWindow
from mlops_lib.steps.planning import AssetEventInfo, Candidate, RunContext, Widening, describe, plan
from mlops_lib.training.window import RowSelection, resolve
from mlops_lib.training.window_rows import select_rows

pytestmark = pytest.mark.unit

BATCHES, DRIFT = "ct://p/accepted-batches", "ct://p/drift-crossings"
WINDOW = TypeAdapter(TrainingWindow)


def day(n: int) -> str:
    return (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)).isoformat(
        timespec="milliseconds")


def batch(n: int, *, rows: int = 100, span: tuple[int, int] | None = None,
          arrived: int | None = None) -> Candidate:
    """Batch b<n>, arrived on day `arrived` (else n), its rows spanning days `span`."""
    start, end = span or (None, None)
    return Candidate(f"b{n:02d}", rows, day(n if arrived is None else arrived),
                     None if start is None else day(start), None if end is None else day(end))


def window(raw: object) -> TrainingWindow:
    return WINDOW.validate_python(raw)


def live(win: object, new: list[Candidate], history: list[Candidate]):  # noqa: ANN202
    ctx = RunContext("r1", "asset_triggered", asset_events=(
        AssetEventInfo(BATCHES, {"batch_id": new[0].batch_id}),))
    return plan(ctx, TriggerConfig(), new=new, in_interval=[], named=[], newest=history,
                batches_uri=BATCHES, drift_uri=DRIFT,
                widening=Widening(window(win), history, time_column="ts", seed=7))


HISTORY = [batch(n) for n in range(1, 8)]


def test_the_window_spec_reads_each_mode_and_refuses_what_it_cannot_mean() -> None:
    assert window("all").mode == "all" and window({}).mode == "all"
    assert window("new_batches").mode == "new_batches"
    assert window({"last_batches": 3}).last_batches == 3
    timed = window({"event_time": {"column": "ts", "days": 90}, "max_rows": 5000})
    assert (timed.mode, timed.column, timed.max_rows) == ("event_time", "ts", 5000)
    assert timed.describe() == "event_time 90 days of ts, at most 5,000 rows"
    for bad in ("newest", {"last_batches": 0}, {"mode": "last_batches"},
                {"last_batches": 2, "event_time": {"column": "ts", "days": 1}},
                {"event_time": {"column": "ts"}}, {"max_rows": 10}, {"mode": "all", "x": 1}):
        with pytest.raises(ValidationError):
            window(bad)


def test_new_batches_trains_on_what_fired_the_run_only() -> None:
    p = live("new_batches", HISTORY[-2:], HISTORY)
    assert p.batch_ids == ("b06", "b07") and p.consumed == ("b06", "b07")
    assert p.trigger["training_window"]["mode"] == "new_batches"


def test_all_takes_every_accepted_batch_and_consumes_only_the_new_ones() -> None:
    p = live("all", HISTORY[-1:], HISTORY)
    assert p.batch_ids == tuple(f"b{n:02d}" for n in range(1, 8))
    assert p.consume and p.consumed == ("b07",)
    assert p.trigger["rows"] == 700 and p.trigger["batch_ids"] == list(p.batch_ids)
    window_record = p.trigger["training_window"]
    assert (window_record["first"], window_record["last"], window_record["batches"]) == (
        "b01", "b07", 7)
    assert "7 batch(es) b01, b02, b03, b04, b05 and 2 more, 700 rows (window: all accepted " \
           "batches)" in describe(p.trigger)


def test_all_leaves_out_batches_that_arrived_after_the_newest_new_one() -> None:
    """A batch beyond max_batches_per_run waits for the next run, in full."""
    p = live("all", [HISTORY[2]], HISTORY)
    assert p.batch_ids == ("b01", "b02", "b03")


def test_last_batches_takes_the_newest_n_and_never_fewer_than_the_new_ones() -> None:
    assert live({"last_batches": 3}, HISTORY[-1:], HISTORY).batch_ids == ("b05", "b06", "b07")
    wide = live({"last_batches": 2}, HISTORY[-4:], HISTORY)
    assert wide.batch_ids == ("b04", "b05", "b06", "b07") and len(wide.consumed) == 4


def test_event_time_slides_on_the_data_time_not_the_arrival() -> None:
    """History landed in one go (all arrived on day 30) still belongs to its own days."""
    landed = [batch(n, span=(10 * n, 10 * n + 9), arrived=30) for n in range(1, 7)]
    p = live({"event_time": {"column": "ts", "days": 25}}, landed[-1:], landed)
    # the newest data is day 69: the window reaches back to day 44, into b04 (days 40..49)
    assert p.batch_ids == ("b04", "b05", "b06")
    assert p.rows == RowSelection(column="ts", start=day(44), end=None, max_rows=None, seed=7)
    assert p.trigger["training_window"]["event_time"] == {"column": "ts", "from": day(44),
                                                          "before": None}


def test_a_backfill_looks_back_from_its_interval_end_and_keeps_no_later_row() -> None:
    landed = [batch(n, span=(10 * n, 10 * n + 9), arrived=90) for n in range(1, 7)]
    ctx = RunContext("backfill__3", "backfill", day(30), day(40), triggered_by="ana")
    firing = [landed[2]]  # b03, days 30..39
    common = {"new": [], "named": [], "newest": [], "batches_uri": BATCHES, "drift_uri": DRIFT}
    history = [b for b in landed if b.data_start < day(40)]
    everything = plan(ctx, TriggerConfig(), in_interval=firing, **common,
                      widening=Widening(window("all"), history, time_column="ts"))
    assert everything.batch_ids == ("b01", "b02", "b03") and not everything.consume
    assert everything.rows.end == day(40) and everything.rows.column == "ts"
    timed = plan(ctx, TriggerConfig(), in_interval=firing, **common,
                 widening=Widening(window({"event_time": {"column": "ts", "days": 15}}),
                                   history))
    assert timed.batch_ids == ("b02", "b03")
    assert (timed.rows.start, timed.rows.end) == (day(25), day(40))
    only = plan(ctx, TriggerConfig(), in_interval=firing, **common,
                widening=Widening(window("new_batches"), history))
    assert only.batch_ids == ("b03",) and only.rows.column is None


def test_manual_named_batches_are_taken_as_asked_whatever_the_window() -> None:
    ctx = RunContext("m1", "manual", params={"batches": ["b02"]})
    p = plan(ctx, TriggerConfig(), new=[], in_interval=[], named=[HISTORY[1]], newest=HISTORY,
             batches_uri=BATCHES, drift_uri=DRIFT, widening=Widening(window("all"), HISTORY))
    assert p.batch_ids == ("b02",) and "training_window" not in p.trigger


def test_resolve_puts_batches_in_data_time_order() -> None:
    late = batch(9, span=(1, 2))  # arrived last, holds the oldest data
    choice = resolve(window("all"), [late], [batch(3), batch(5)])
    assert choice.batch_ids == ("b09", "b03", "b05")


def table(days: list[int], tag: str) -> pa.Table:
    times = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=d) for d in days]
    return pa.table({"ts": pa.array(times, pa.timestamp("us", tz="UTC")),
                     "tag": [tag] * len(days)})


def test_rows_outside_the_event_time_bounds_or_without_a_time_are_left_out() -> None:
    with_null = pa.table({"ts": pa.array([None], pa.timestamp("us", tz="UTC")), "tag": ["n"]})
    kept = select_rows([table([1, 5, 9], "a"), with_null, table([10, 12], "b")],
                       RowSelection(column="ts", start=day(5), end=day(10)))
    assert [t.num_rows for t in kept] == [2, 0, 0]
    assert select_rows([table([1, 2], "a")], RowSelection(column="ts"))[0].num_rows == 2


def test_max_rows_keeps_the_newest_batches_whole_and_samples_the_older_the_same_way() -> None:
    tables = [table(list(range(100)), "old"), table(list(range(60)), "mid"),
              table(list(range(50)), "new")]
    cap = RowSelection(max_rows=80, seed=3)
    kept = select_rows(tables, cap)
    assert sum(t.num_rows for t in kept) == 80
    assert kept[-1]["tag"].to_pylist() == ["new"] * 50  # the newest batch whole
    sampled = kept[0]
    assert sampled.num_rows == 30 and set(sampled["tag"].to_pylist()) <= {"old", "mid"}
    assert sampled["ts"].to_pylist() == select_rows(tables, cap)[0]["ts"].to_pylist()
    assert sampled["ts"].to_pylist() != select_rows(
        tables, RowSelection(max_rows=80, seed=4))[0]["ts"].to_pylist()
    assert select_rows(tables, RowSelection(max_rows=500)) == tables


def test_a_row_selection_changes_the_training_set_key() -> None:
    assert RowSelection().keeps_all and RowSelection().key() == ""
    assert RowSelection(column="ts").keeps_all  # unbounded: every row
    one, other = RowSelection(column="ts", start=day(1)), RowSelection(column="ts", start=day(2))
    assert one.key() != other.key() and not one.keeps_all
