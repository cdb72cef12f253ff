"""Why a training run fired and what it trains on: every trigger path, no services."""

from __future__ import annotations

import pytest

from mlops_lib.spec import TriggerConfig
from mlops_lib.steps.planning import AssetEventInfo, Candidate, RunContext, describe, plan

pytestmark = pytest.mark.unit

BATCHES, DRIFT = "ct://p/accepted-batches", "ct://p/drift-crossings"


def cands(*ids: str, rows: int = 100) -> list[Candidate]:
    return [Candidate(b, rows, f"2026-11-0{i + 1}T00:00:00.000+00:00") for i, b in enumerate(ids)]


DEFAULT = TriggerConfig()


def run(ctx: RunContext, policy: TriggerConfig = DEFAULT, *, new=(), in_interval=(),
        named=(), newest=()):  # noqa: ANN001, ANN202 - test helper
    return plan(ctx, policy, new=list(new), in_interval=list(in_interval), named=list(named),
                newest=list(newest), batches_uri=BATCHES, drift_uri=DRIFT)


def arrival(batch_id: str) -> AssetEventInfo:
    return AssetEventInfo(BATCHES, {"batch_id": batch_id, "fingerprint": "f" * 64,
                                    "files": [{"key": f"landing/{batch_id}/a", "etag": "e"}]},
                          "ct_p_ingest", "ingest_run_1", "2026-11-02T00:00:00+00:00")


def test_arrival_takes_the_new_batches_oldest_first_and_consumes_them() -> None:
    ctx = RunContext("r1", "asset_triggered", asset_events=(arrival("b1"),))
    p = run(ctx, new=cands("b1", "b2"))
    assert p.cause == "arrival" and p.consume and p.may_promote and p.skip_reason is None
    assert p.batch_ids == ("b1", "b2")
    assert p.trigger["arrivals"][0]["files"] == [{"key": "landing/b1/a", "etag": "e"}]
    assert p.trigger["arrivals"][0]["ingest_run_id"] == "ingest_run_1"
    assert p.trigger["data_watermark"] == "2026-11-02T00:00:00.000+00:00"
    assert "new data" in describe(p.trigger) and "b1, b2" in describe(p.trigger)


def test_max_batches_per_run_leaves_the_rest_for_the_next_run() -> None:
    ctx = RunContext("r1", "asset_triggered", asset_events=(arrival("b1"),))
    p = run(ctx, TriggerConfig(max_batches_per_run=2), new=cands("b1", "b2", "b3"))
    assert p.batch_ids == ("b1", "b2")


def test_min_new_rows_waits_for_more_data_unless_forced() -> None:
    ctx = RunContext("r1", "asset_triggered", asset_events=(arrival("b1"),))
    p = run(ctx, TriggerConfig(min_new_rows=500), new=cands("b1", "b2", rows=200))
    assert p.skip_reason and "400 new rows < trigger.min_new_rows 500" in p.skip_reason
    assert p.batch_ids == () and not p.consume
    forced = run(RunContext("r2", "manual", params={"force": True}),
                 TriggerConfig(min_new_rows=500), new=cands("b1", "b2", rows=200))
    assert forced.batch_ids == ("b1", "b2") and forced.consume and forced.skip_reason is None


def test_nothing_new_skips_with_a_reason() -> None:
    p = run(RunContext("r1", "scheduled", "2026-11-01T00:00:00+00:00",
                       "2026-11-02T00:00:00+00:00"))
    assert p.cause == "schedule"
    assert p.skip_reason == "no accepted batch is new since the last training run"
    assert p.trigger["interval"] == ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]


def test_drift_event_wins_over_arrival_as_the_cause() -> None:
    crossing = AssetEventInfo(DRIFT, {"reason": "6 of 8 features drifted", "batch_ids": ["b2"],
                                      "evidence": {"share_drifted": 0.75}},
                              "ct_p_drift_monitor", "monitor_1")
    p = run(RunContext("r1", "asset_triggered", asset_events=(arrival("b2"), crossing)),
            new=cands("b2"))
    assert p.cause == "drift"
    assert p.trigger["drift"][0]["evidence"] == {"share_drifted": 0.75}
    assert p.trigger["drift"][0]["monitor_run_id"] == "monitor_1"
    assert describe(p.trigger).startswith("drift: 6 of 8 features drifted")


def test_the_first_model_says_so_and_a_long_batch_list_says_how_many_more() -> None:
    """The drift monitor announces the first model when there is no champion: the run says
    "first model", not "drift"; a note names five batches and counts the rest."""
    first = AssetEventInfo(DRIFT, {"reason": "no champion yet: the first model is due",
                                   "batch_ids": [], "evidence": {"first_model": True}},
                           "ct_p_drift_monitor", "monitor_1")
    ids = [f"b{i}" for i in range(1, 8)]
    p = run(RunContext("r1", "asset_triggered", asset_events=(first,)), new=cands(*ids))
    assert p.cause == "drift" and p.batch_ids == tuple(ids)
    line = describe(p.trigger)
    assert line.startswith("first model: the pipeline has no champion yet; trains on 7 batch")
    assert "b1, b2, b3, b4, b5 and 2 more" in line and "drift" not in line


def test_manual_run_records_user_and_reason_and_may_name_batches() -> None:
    ctx = RunContext("m1", "manual", params={"reason": "new labels", "batches": ["b1"]},
                     triggered_by="ana")
    p = run(ctx, named=cands("b1"), new=cands("b2"))
    assert p.batch_ids == ("b1",) and not p.consume and p.may_promote
    assert p.trigger["user"] == "ana" and p.trigger["reason"] == "new labels"
    missing = run(RunContext("m2", "manual", params={"batches": ["nope"]}), named=[])
    assert missing.skip_reason and "['nope']" in missing.skip_reason


def test_forced_manual_run_with_nothing_new_retrains_on_the_newest() -> None:
    p = run(RunContext("m1", "manual", params={"force": True}),
            TriggerConfig(max_batches_per_run=2), newest=cands("b1", "b2", "b3"))
    assert p.batch_ids == ("b2", "b3") and not p.consume


def test_backfill_is_a_shadow_run_over_its_interval() -> None:
    ctx = RunContext("backfill__2026-11-01", "backfill", "2026-11-01T00:00:00+00:00",
                     "2026-11-02T00:00:00+00:00", triggered_by="ana")
    p = run(ctx, TriggerConfig(max_batches_per_run=2), in_interval=cands("b1", "b2", "b3"),
            new=cands("b9"))
    assert p.cause == "backfill" and p.batch_ids == ("b2", "b3")
    assert not p.consume and not p.may_promote
    assert "(shadow)" in describe(p.trigger)
    promoting = run(RunContext("backfill__x", "backfill", params={"promote": True}),
                    in_interval=cands("b1"))
    assert promoting.may_promote and not promoting.consume
    empty = run(ctx, in_interval=[])
    assert empty.skip_reason and "no accepted batch has data in" in empty.skip_reason


def test_manual_run_over_a_window_of_arrivals() -> None:
    ctx = RunContext("m1", "manual", params={"window_start": "2026-11-01T00:00:00Z",
                                             "window_end": "2026-11-03T00:00:00Z"})
    p = run(ctx, in_interval=cands("b1", "b2"), new=cands("b9"))
    assert p.batch_ids == ("b1", "b2") and not p.consume and p.may_promote
    assert p.trigger["window"] == ["2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z"]
    empty = run(ctx, in_interval=[])
    assert empty.skip_reason and "no accepted batch has data in" in empty.skip_reason
