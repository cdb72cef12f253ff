from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mlops_lib.monitoring.drift_policy import (
    BatchDrift,
    DriftVerdict,
    drift_metrics_since_sql,
    evaluate,
    evaluate_rows,
    policy_of,
    policy_to_dict,
    summarise,
)
from mlops_lib.spec import DriftPolicy

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def batch(batch_id: str, share: float = 0.0, minute: int = 0,
          **psi: float | None) -> BatchDrift:
    return BatchDrift(batch_id=batch_id,
                      measured_at=(NOW - timedelta(hours=1, minutes=-minute)).isoformat(),
                      share_drifted=share, n_features=4, psi=dict(psi),
                      drifted_features=())


def test_no_history_is_not_crossed() -> None:
    verdict = evaluate([], DriftPolicy(), last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert "No drift measured yet" in verdict.reason
    assert verdict.batch_ids == ()


# -- share rule -----------------------------------------------------------------------------
def test_share_at_the_limit_crosses() -> None:
    verdict = evaluate([batch("b1", 0.5)], DriftPolicy(share_drifted=0.5),
                       last_crossing_at=None, now=NOW)
    assert verdict.crossed
    assert verdict.batch_ids == ("b1",)
    assert "share of drifted features 0.5 >= 0.5" in verdict.reason
    assert verdict.evidence["batches"][0]["share_drifted"] == 0.5
    assert verdict.evidence["batches"][0]["share_limit"] == 0.5


def test_share_below_the_limit_is_below_threshold() -> None:
    verdict = evaluate([batch("b1", 0.25)], DriftPolicy(share_drifted=0.5),
                       last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert verdict.reason.startswith("Below threshold: newest batch b1")
    assert "0.25 < 0.5" in verdict.reason


def test_share_rule_off_ignores_the_share() -> None:
    policy = DriftPolicy(share_drifted=None, feature_psi={"amount": 0.2})
    verdict = evaluate([batch("b1", 1.0, amount=0.1)], policy, last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert "PSI of amount 0.1 < 0.2" in verdict.reason
    assert "share" not in verdict.reason


# -- feature PSI rule -----------------------------------------------------------------------
def test_feature_psi_at_its_limit_crosses_with_a_low_share() -> None:
    policy = DriftPolicy(share_drifted=0.5, feature_psi={"amount": 0.2, "age": 0.3})
    verdict = evaluate([batch("b1", 0.1, amount=0.25, age=0.1)], policy,
                       last_crossing_at=None, now=NOW)
    assert verdict.crossed
    assert "PSI of amount 0.25 >= 0.2" in verdict.reason
    assert "age" not in verdict.reason.split(":", 1)[1]
    psi = verdict.evidence["batches"][0]["psi"]
    assert psi == {"age": {"value": 0.1, "limit": 0.3}, "amount": {"value": 0.25, "limit": 0.2}}


def test_unmeasured_feature_psi_does_not_breach() -> None:
    policy = DriftPolicy(share_drifted=None, feature_psi={"amount": 0.2})
    verdict = evaluate([batch("b1", amount=None)], policy, last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert "PSI of amount not measured" in verdict.reason


# -- consecutive batches --------------------------------------------------------------------
def test_fewer_breaching_batches_than_needed_is_not_crossed() -> None:
    policy = DriftPolicy(share_drifted=0.5, consecutive_batches=3)
    history = [batch("b1", 0.9, 0), batch("b2", 0.1, 1), batch("b3", 0.6, 2),
               batch("b4", 0.7, 3)]
    verdict = evaluate(history, policy, last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert verdict.reason.startswith("Only 2 of 3 consecutive batches breach")
    assert [b["batch_id"] for b in verdict.evidence["batches"]] == ["b2", "b3", "b4"]


def test_short_history_is_not_crossed() -> None:
    policy = DriftPolicy(share_drifted=0.5, consecutive_batches=3)
    verdict = evaluate([batch("b1", 0.9, 0), batch("b2", 0.9, 1)], policy,
                       last_crossing_at=None, now=NOW)
    assert not verdict.crossed
    assert "Only 2 of 3" in verdict.reason and "2 measured" in verdict.reason


def test_n_consecutive_breaching_batches_cross() -> None:
    policy = DriftPolicy(share_drifted=0.5, consecutive_batches=3)
    history = [batch("b1", 0.1, 0), batch("b2", 0.6, 1), batch("b3", 0.7, 2),
               batch("b4", 0.8, 3)]
    verdict = evaluate(history, policy, last_crossing_at=None, now=NOW)
    assert verdict.crossed
    assert verdict.batch_ids == ("b2", "b3", "b4")
    assert "3 consecutive batch(es) breach" in verdict.reason


# -- cooldown -------------------------------------------------------------------------------
def test_inside_the_cooldown_is_not_crossed_and_says_until_when() -> None:
    policy = DriftPolicy(share_drifted=0.5, cooldown_minutes=60)
    last = (NOW - timedelta(minutes=20)).isoformat()
    verdict = evaluate([batch("b1", 0.9)], policy, last_crossing_at=last, now=NOW)
    assert not verdict.crossed
    until = (NOW + timedelta(minutes=40)).isoformat()
    assert verdict.reason.startswith(f"Cooldown until {until}")
    # when, and since when, at a glance (the note of the monitor run shows this reason)
    clock = (NOW + timedelta(minutes=40)).strftime("%H:%M UTC")
    assert clock in verdict.reason and "cooldown 60 min" in verdict.reason, verdict.reason
    assert verdict.evidence["cooldown_until"] == until
    assert verdict.batch_ids == ("b1",)


def test_after_the_cooldown_crosses() -> None:
    policy = DriftPolicy(share_drifted=0.5, cooldown_minutes=60)
    last = (NOW - timedelta(minutes=60)).isoformat()
    assert evaluate([batch("b1", 0.9)], policy, last_crossing_at=last, now=NOW).crossed


def test_zero_cooldown_never_waits() -> None:
    policy = DriftPolicy(share_drifted=0.5, cooldown_minutes=0)
    assert evaluate([batch("b1", 0.9)], policy, last_crossing_at=NOW.isoformat(),
                    now=NOW).crossed


def test_below_threshold_wins_over_cooldown_in_the_reason() -> None:
    policy = DriftPolicy(share_drifted=0.5)
    verdict = evaluate([batch("b1", 0.1)], policy, last_crossing_at=NOW.isoformat(), now=NOW)
    assert verdict.reason.startswith("Below threshold")


def test_naive_times_are_utc() -> None:
    policy = DriftPolicy(share_drifted=0.5, cooldown_minutes=60)
    last = (NOW - timedelta(minutes=20)).replace(tzinfo=None).isoformat()
    verdict = evaluate([batch("b1", 0.9)], policy, last_crossing_at=last,
                       now=NOW.replace(tzinfo=None))
    assert not verdict.crossed and "Cooldown" in verdict.reason


# -- rows → summaries -----------------------------------------------------------------------
def row(batch_id: str, feature: str, drifted: int, psi: float | None, at: str,
        score: float | None = 0.3) -> dict[str, object]:
    return {"pipeline": "p", "batch_id": batch_id, "dag_run_id": "r", "feature": feature,
            "psi": psi, "wasserstein": None, "js": None, "score": score, "drifted": drifted,
            "created_at": at}


def test_summarise_groups_by_batch_oldest_first() -> None:
    rows = [
        row("b2", "amount", 1, 0.4, "2026-05-01T10:00:00.000+00:00"),
        row("b2", "age", 0, 0.01, "2026-05-01T10:00:00.000+00:00"),
        row("b1", "amount", 0, 0.02, "2026-05-01T09:00:00.000+00:00"),
        row("b1", "age", 0, None, "2026-05-01T09:00:01.000+00:00", score=None),
    ]
    b1, b2 = summarise(rows)
    assert b1 == BatchDrift("b1", "2026-05-01T09:00:00.000+00:00", 0.0, 1,
                            {"age": None, "amount": 0.02}, ())
    assert b2.batch_id == "b2" and b2.share_drifted == 0.5 and b2.n_features == 2
    assert b2.drifted_features == ("amount",)
    assert b2.psi == {"age": 0.01, "amount": 0.4}
    assert json.loads(json.dumps(b2.to_dict()))["drifted_features"] == ["amount"]


def test_summarise_nothing() -> None:
    assert summarise([]) == []


def test_evaluate_rows_takes_a_policy_dict() -> None:
    rows = [row("b1", "amount", 1, 0.4, "2026-05-01T10:00:00+00:00")]
    verdict = evaluate_rows(rows, {"share_drifted": 0.5}, last_crossing_at=None, now=NOW)
    assert verdict.crossed and verdict.batch_ids == ("b1",)


def test_policy_and_verdict_round_trip_through_json() -> None:
    policy = DriftPolicy(share_drifted=None, feature_psi={"amount": 0.2},
                         consecutive_batches=2, cooldown_minutes=5)
    assert policy_of(json.loads(json.dumps(policy_to_dict(policy)))) == policy
    verdict = evaluate([batch("b1", amount=0.3), batch("b2", 0, 1, amount=0.3)], policy,
                       last_crossing_at=None, now=NOW)
    assert DriftVerdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_the_trigger_query_has_only_its_binds() -> None:
    sql = drift_metrics_since_sql()
    assert sql.startswith("SELECT") and "--" not in sql
    assert ":pipeline" in sql and ":since" in sql and sql.count(":") == 2
