"""A shadow backfill is judged against the champion of its time: the audit trail's champion at
the interval's end, else the model its own earlier intervals would have promoted."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from mlops_lib.steps.champion_of_time import (
    JUDGED_AGAINST,
    champion_at,
    judged_against,
    record_point_in_time,
)
from mlops_lib.steps.planning import RunContext
from mlops_lib.stores.store import DecisionRecord, Store

pytestmark = pytest.mark.unit

P = "credit_default"
SPEC = SimpleNamespace(name=P)


@pytest.fixture
def svc(store_url: str) -> Iterator[Any]:
    store = Store(store_url)
    yield SimpleNamespace(store=store)
    store.engine.dispose()


def backfill(svc: Any, run: str, interval: tuple[str, str], version: str,
             decision: str) -> None:
    svc.store.start_training_run(P, run, "set-x", {"type": "backfill",
                                                   "interval": list(interval)})
    svc.store.record_decision_and_move(DecisionRecord(
        pipeline=P, dag_run_id=run, candidate_version=version, baseline_version=None,
        metric="roc_auc", candidate_value=0.8, baseline_value=None, decision=decision,
        reason="r", data_rev=f"rev{version}", details={}), expected_epoch=0)


def day(n: int) -> str:
    return f"2026-11-{n:02d}T00:00:00.000+00:00"


def test_before_any_champion_the_chain_of_earlier_backfill_intervals_decides(svc: Any) -> None:
    assert champion_at(svc, SPEC, day(1), day(2)) is None  # the first interval: no champion
    backfill(svc, "bf1", (day(1), day(2)), "1", "shadow")  # would have been promoted
    backfill(svc, "bf2", (day(2), day(3)), "2", "keep")    # would not
    on_day3 = champion_at(svc, SPEC, day(3), day(4))
    assert on_day3 is not None and (on_day3.version, on_day3.data_rev) == ("1", "rev1")
    backfill(svc, "bf3", (day(3), day(4)), "3", "shadow")
    on_day4 = champion_at(svc, SPEC, day(4), day(5))
    assert on_day4 is not None and on_day4.version == "3"
    # an interval judged again sees only the intervals that ended before it began
    again = champion_at(svc, SPEC, day(2), day(3))
    assert again is not None and again.version == "1"


def test_the_audit_trail_gives_the_champion_at_the_interval_end(svc: Any) -> None:
    backfill(svc, "bf1", (day(1), day(2)), "1", "shadow")
    svc.store.move_champion(P, "7", expected_epoch=0, dag_run_id="live-1", data_rev="rev7")
    [move] = svc.store.champion_moves(P)
    after = champion_at(svc, SPEC, None, "9999-01-01T00:00:00.000+00:00")
    assert after is not None and (after.version, after.data_rev, after.epoch) == ("7", "rev7", 1)
    before = champion_at(svc, SPEC, day(3), move["created_at"])  # the move came later
    assert before is not None and before.version == "1"


def test_a_shadow_backfill_records_its_baseline_and_a_rerun_reads_it_back(svc: Any) -> None:
    backfill(svc, "bf1", (day(1), day(2)), "1", "shadow")
    svc.store.move_champion(P, "7", expected_epoch=0, dag_run_id="live-1", data_rev="rev7")
    ctx = RunContext("bf3", "backfill", day(3), day(4))
    trigger: dict[str, Any] = {}
    record_point_in_time(svc, SPEC, ctx, False, trigger)
    assert trigger[JUDGED_AGAINST]["version"] == "1"
    svc.store.move_champion(P, "8", expected_epoch=1, dag_run_id="live-2", data_rev="rev8")
    baseline = judged_against(svc, SPEC, trigger)
    assert baseline is not None and baseline.version == "1"
    first: dict[str, Any] = {}
    record_point_in_time(svc, SPEC, RunContext("bf0", "backfill", day(0), day(1)), False, first)
    assert first == {JUDGED_AGAINST: None} and judged_against(svc, SPEC, first) is None
    promoting: dict[str, Any] = {}  # a backfill that may promote faces today's champion
    record_point_in_time(svc, SPEC, ctx, True, promoting)
    today = judged_against(svc, SPEC, promoting)
    assert promoting == {} and today is not None and today.version == "8"


def test_a_backfill_note_says_which_champion_of_its_time_it_faced() -> None:
    from mlops_lib.steps.planning import describe

    base = {"type": "backfill", "interval": [day(1), day(2)], "user": "ana"}
    assert "when there was no champion yet" in describe({**base, JUDGED_AGAINST: None})
    assert "judged against v3, the champion of its time" in describe(
        {**base, JUDGED_AGAINST: {"version": "3", "data_rev": "r", "epoch": 0,
                                  "dag_run_id": "bf"}})
    assert "judged against" not in describe(base)
