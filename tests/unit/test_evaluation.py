from __future__ import annotations

import math

import pytest

from mlops_lib.evaluation import Decision, decide
from mlops_lib.spec import MetricPolicy

pytestmark = pytest.mark.unit

AUC = MetricPolicy("roc_auc", "maximize", floor=0.70, min_improvement=0.0)
AUC_MARGIN = MetricPolicy("roc_auc", "maximize", floor=0.70, min_improvement=0.02)
RMSE = MetricPolicy("rmse", "minimize", floor=10.0, min_improvement=0.5)


def auc(value: float, **others: float) -> dict[str, float]:
    return {"roc_auc": value, "log_loss": 0.4, **others}


# --- the first model ---------------------------------------------------------------------------


def test_first_model_promoted_when_it_clears_the_floor() -> None:
    d = decide(AUC, auc(0.81), None)
    assert d.promote
    assert d.decision == "promote"
    assert "first model" in d.reason
    assert d.baseline_value is None
    assert d.baseline_metrics is None
    assert d.candidate_value == 0.81
    assert d.metric == "roc_auc"


def test_first_model_exactly_at_the_floor_is_promoted() -> None:
    assert decide(AUC, auc(0.70), None).promote


def test_first_model_below_the_floor_is_kept_out() -> None:
    d = decide(AUC, auc(0.65), None)
    assert not d.promote
    assert d.decision == "keep"
    assert "floor" in d.reason


# --- challenger vs champion --------------------------------------------------------------------


def test_better_challenger_is_promoted() -> None:
    d = decide(AUC, auc(0.84), auc(0.80))
    assert d.promote
    assert "beats champion" in d.reason
    assert d.baseline_value == 0.80
    assert d.baseline_metrics == auc(0.80)
    assert d.candidate_metrics == auc(0.84)


def test_worse_challenger_is_kept_out() -> None:
    d = decide(AUC, auc(0.78), auc(0.80))
    assert not d.promote
    assert "does not beat" in d.reason


def test_equal_challenger_is_kept_out() -> None:
    assert not decide(AUC, auc(0.80), auc(0.80)).promote


def test_challenger_must_beat_by_more_than_min_improvement() -> None:
    assert not decide(AUC_MARGIN, auc(0.81), auc(0.80)).promote
    assert decide(AUC_MARGIN, auc(0.83), auc(0.80)).promote
    # A gain of exactly min_improvement is not "more than" it (values exact in binary).
    quarter = MetricPolicy("roc_auc", "maximize", floor=0.0, min_improvement=0.25)
    assert not decide(quarter, auc(0.75), auc(0.5)).promote
    assert decide(quarter, auc(0.875), auc(0.5)).promote


def test_better_challenger_below_the_floor_is_kept_out() -> None:
    # The champion has decayed below the floor; a challenger that is better but still below the
    # floor is not good enough to ship.
    d = decide(AUC, auc(0.66), auc(0.60))
    assert not d.promote
    assert "floor" in d.reason


def test_undefined_champion_metric_promotes_a_challenger_that_clears_the_floor() -> None:
    d = decide(AUC, auc(0.8), {"roc_auc": math.nan})
    assert d.promote
    assert "undefined" in d.reason
    assert decide(AUC, auc(0.8), {"log_loss": 0.3}).promote  # metric absent


# --- failing closed ----------------------------------------------------------------------------


def test_baseline_error_keeps_the_champion() -> None:
    d = decide(AUC, auc(0.99), None, baseline_error="model file missing")
    assert not d.promote
    assert "model file missing" in d.reason
    assert "could not be evaluated" in d.reason


def test_baseline_error_wins_over_a_baseline_score() -> None:
    assert not decide(AUC, auc(0.99), auc(0.5), baseline_error="boom").promote


@pytest.mark.parametrize("candidate", [{"roc_auc": math.nan}, {"roc_auc": math.inf},
                                       {"log_loss": 0.2}])
def test_undefined_candidate_metric_is_never_promoted(candidate: dict[str, float]) -> None:
    for baseline in (None, auc(0.5)):
        d = decide(AUC, candidate, baseline)
        assert not d.promote
        assert "not a finite number" in d.reason


# --- lower is better ---------------------------------------------------------------------------


def test_rmse_first_model_floor() -> None:
    assert decide(RMSE, {"rmse": 9.0}, None).promote
    assert decide(RMSE, {"rmse": 10.0}, None).promote
    assert not decide(RMSE, {"rmse": 10.5}, None).promote


def test_rmse_lower_challenger_is_promoted() -> None:
    assert decide(RMSE, {"rmse": 7.0}, {"rmse": 8.0}).promote


def test_rmse_higher_or_marginally_lower_challenger_is_kept_out() -> None:
    assert not decide(RMSE, {"rmse": 8.5}, {"rmse": 8.0}).promote
    assert not decide(RMSE, {"rmse": 7.8}, {"rmse": 8.0}).promote  # 0.2 < min_improvement
    assert not decide(RMSE, {"rmse": 8.0}, {"rmse": 8.0}).promote


def test_rmse_champion_error_fails_closed() -> None:
    assert not decide(RMSE, {"rmse": 1.0}, None, baseline_error="timeout").promote


# --- the record --------------------------------------------------------------------------------


def test_decision_to_dict_is_plain_data() -> None:
    d = decide(AUC, auc(0.84), auc(0.80))
    raw = d.to_dict()
    assert raw["decision"] == "promote"
    assert raw["candidate_metrics"]["roc_auc"] == 0.84
    assert raw["baseline_metrics"]["roc_auc"] == 0.80
    assert Decision(**raw) == d


def test_decide_copies_the_metric_dicts() -> None:
    candidate, baseline = auc(0.84), auc(0.80)
    d = decide(AUC, candidate, baseline)
    candidate["roc_auc"] = 0.0
    baseline["roc_auc"] = 1.0
    assert d.candidate_metrics["roc_auc"] == 0.84
    assert d.baseline_metrics == auc(0.80)
