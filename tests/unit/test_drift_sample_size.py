"""Drift verdicts that know their sample size (issue 17 §5): a minimum of rows per feature test
("insufficient data" below it) and a noise floor bootstrapped from the reference at the batch's
size, so that small batches of unchanged data do not cry wolf and shifted ones still alarm."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops_lib.monitoring import drift
from mlops_lib.monitoring.drift import NO_SAMPLE_SIZE_RULE, DriftResult, SampleSizeRule
from mlops_lib.monitoring.drift_policy import evaluate, policy_of, policy_to_dict, summarise
from mlops_lib.spec import DriftPolicy, Feature, MetricPolicy, PipelineSpec, Source

pytestmark = pytest.mark.unit

REGIONS = ("north", "south", "east", "west", "centre")
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def make_spec(policy: DriftPolicy | None = None) -> PipelineSpec:
    spec = PipelineSpec(
        name="small_batches", source=Source("b", "p/"), target="y",
        task="binary_classification",
        features=(Feature("amount", "float"), Feature("lines", "int"), Feature("tier", "int"),
                  Feature("region", "category", REGIONS), Feature("online", "bool")),
        metric=MetricPolicy("roc_auc", "maximize", 0.5))
    if policy is None:
        return spec
    return replace(spec, trigger=replace(spec.trigger, drift=policy))


def draw(rng: np.random.Generator, n: int, *, shift: float = 0.0) -> pd.DataFrame:
    """The population: a skewed amount, a count, a 3-level tier, 5 regions and a flag; `shift`
    moves amount by that many of its stds and tilts the regions and the flag."""
    tilt = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
    if shift:
        tilt = tilt[::-1]
    return pd.DataFrame({
        "amount": rng.lognormal(3.0, 0.5, n) + shift * 11.0,
        "lines": rng.poisson(4.0, n),
        "tier": rng.choice([1, 2, 3], n, p=[0.5, 0.3, 0.2]),
        "region": pd.Categorical(rng.choice(REGIONS, n, p=tilt), categories=REGIONS),
        "online": rng.random(n) < (0.3 + 0.4 * bool(shift)),
    })


def rows_of(result: DriftResult, batch_id: str) -> list[dict[str, Any]]:
    """The rows the store keeps for a batch (Store.record_drift), as the policy reads them."""
    return [{"batch_id": batch_id, "feature": f.feature, "score": f.score, "psi": f.psi,
             "drifted": f.drifted, "verdict": f.verdict, "created_at": NOW.isoformat()}
            for f in result.features]


def breaches(result: DriftResult, policy: DriftPolicy) -> bool:
    """The monitor's verdict on one batch: does it cross the spec's policy on its own?"""
    verdict = evaluate(summarise(rows_of(result, "b")), policy, last_crossing_at=None, now=NOW)
    return verdict.crossed


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return draw(np.random.default_rng(7), 5000)


def many_small_batches(reference: pd.DataFrame, spec: PipelineSpec,
                       rule: SampleSizeRule | None) -> tuple[list[DriftResult], int]:
    rng = np.random.default_rng(11)
    ref = drift.profile(reference, spec)
    results = [drift.compute(reference, draw(rng, int(rng.integers(60, 301))), spec,
                             sample_size=rule, reference_profile=ref) for _ in range(500)]
    return results, sum(len(r.features) for r in results)


def test_small_same_distribution_batches_rarely_drift(reference: pd.DataFrame) -> None:
    spec = make_spec()
    policy = spec.trigger.drift
    results, tests = many_small_batches(reference, spec, None)

    crossed = sum(breaches(r, policy) for r in results)
    assert crossed / len(results) <= 0.01
    drifted = sum(r.n_drifted for r in results)
    assert drifted / tests <= 0.02  # per feature, too: about 1 % by the 0.99 floor
    floors = [f.noise_floor for r in results for f in r.features]
    assert all(f is not None and f > 0 for f in floors)

    # Without the floor the same batches cry wolf (a feature drifted in most of them, the
    # policy crossed in some): the test can fail.
    bare, _ = many_small_batches(reference, spec, SampleSizeRule(min_rows=50))
    assert sum(r.n_drifted for r in bare) / tests > 0.1
    assert sum(breaches(r, policy) for r in bare) / len(bare) > 0.02


def test_a_shifted_small_batch_still_alarms(reference: pd.DataFrame) -> None:
    spec = make_spec()
    rng = np.random.default_rng(5)
    for n in (60, 120, 300):
        result = drift.compute(reference, draw(rng, n, shift=1.0), spec)
        assert {"amount", "region", "online"} <= set(result.drifted_features), n
        assert breaches(result, spec.trigger.drift)
        for f in result.features:
            if f.drifted:
                assert f.score is not None and f.score >= f.effective_threshold
                assert f.effective_threshold >= f.threshold


def test_the_floor_shrinks_with_the_batch_and_is_seeded(reference: pd.DataFrame) -> None:
    spec = make_spec()
    rng = np.random.default_rng(3)

    def floor(n: int) -> Callable[[str], float | None]:
        result = drift.compute(reference, draw(rng, n), spec)
        return lambda name: result.feature(name).noise_floor

    small, large = floor(100), floor(20_000)
    for name in ("amount", "region", "online", "tier"):
        assert small(name) is not None and large(name) is not None
        assert small(name) > 3 * large(name)  # type: ignore[operator]
    batch = draw(rng, 150)
    first, again = (drift.compute(reference, batch, spec) for _ in range(2))
    assert first.to_dict() == again.to_dict()
    assert first.feature("amount").noise_floor == again.feature("amount").noise_floor


def test_large_batches_are_judged_as_before(reference: pd.DataFrame) -> None:
    spec = make_spec()
    batch = draw(np.random.default_rng(9), 50_000, shift=0.05)
    ruled = drift.compute(reference, batch, spec)
    bare = drift.compute(reference, batch, spec, sample_size=NO_SAMPLE_SIZE_RULE)
    for f, g in zip(ruled.features, bare.features, strict=True):
        assert (f.score, f.psi, f.js, f.wasserstein, f.drifted) == (
            g.score, g.psi, g.js, g.wasserstein, g.drifted)
        assert f.noise_floor is not None and f.noise_floor < f.threshold
        assert g.noise_floor is None


# --- insufficient data -----------------------------------------------------------------------


def test_a_batch_below_min_rows_is_insufficient_data_never_drifted(
        reference: pd.DataFrame) -> None:
    spec = make_spec(DriftPolicy(min_rows_per_test=50))
    tiny = draw(np.random.default_rng(1), 30, shift=3.0)  # wildly shifted, but 30 rows
    result = drift.compute(reference, tiny, spec)

    assert result.insufficient_features == tuple(f.name for f in spec.features)
    assert result.drifted_features == () and result.n_compared == 0
    assert result.share_drifted == 0.0
    for f in result.features:
        assert f.verdict == "insufficient_data" and f.insufficient
        assert not f.drifted and not f.comparable
        assert (f.score, f.psi, f.js, f.wasserstein, f.noise_floor) == (None,) * 5
        assert "insufficient data: 30 non-null values in the batch" in f.note
        assert f.n_current == 30
    assert not breaches(result, spec.trigger.drift)


def test_nulls_count_against_min_rows_per_feature(reference: pd.DataFrame) -> None:
    spec = make_spec(DriftPolicy(min_rows_per_test=80))
    batch = draw(np.random.default_rng(2), 100)
    batch.loc[batch.index[:40], "amount"] = np.nan  # 60 values left: below 80
    result = drift.compute(reference, batch, spec)

    assert result.insufficient_features == ("amount",)
    assert result.feature("amount").verdict == "insufficient_data"
    assert result.feature("region").verdict in ("drifted", "not_drifted")
    assert result.n_compared == len(spec.features) - 1


def test_insufficient_data_is_no_psi_crossing_and_is_in_the_evidence(
        reference: pd.DataFrame) -> None:
    policy = DriftPolicy(share_drifted=None, feature_psi={"amount": 0.01}, min_rows_per_test=50)
    spec = make_spec(policy)
    result = drift.compute(reference, draw(np.random.default_rng(4), 20, shift=3.0), spec)
    verdict = evaluate(summarise(rows_of(result, "tiny")), policy, last_crossing_at=None,
                       now=NOW)

    assert not verdict.crossed
    assert "insufficient data" in verdict.reason
    batch = verdict.evidence["batches"][0]
    assert batch["insufficient_features"] == sorted(f.name for f in spec.features)
    assert batch["psi"]["amount"]["value"] is None


def test_an_empty_column_is_not_compared_rather_than_insufficient(
        reference: pd.DataFrame) -> None:
    spec = make_spec()
    batch = draw(np.random.default_rng(6), 200)
    batch["amount"] = np.nan
    f = drift.compute(reference, batch, spec).feature("amount")
    assert f.verdict == "not_compared" and not f.insufficient


def test_records_round_trip_with_floor_and_verdict(reference: pd.DataFrame) -> None:
    spec = make_spec()
    result = drift.compute(reference, draw(np.random.default_rng(8), 40), spec)
    again = DriftResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result
    assert again.to_dict()["insufficient_features"] == list(result.insufficient_features)
    assert again.min_rows_per_test == 50 and again.noise_floor_quantile == 0.99


def test_the_policy_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        DriftPolicy(min_rows_per_test=0)
    with pytest.raises(ValueError):
        DriftPolicy(noise_floor_quantile=1.0)
    assert DriftPolicy(noise_floor_quantile=None).noise_floor_quantile is None
    assert SampleSizeRule.of(DriftPolicy()) == SampleSizeRule(50, 0.99, 200)
    custom = DriftPolicy(min_rows_per_test=80, noise_floor_quantile=None,
                         noise_floor_resamples=100)
    assert policy_of(json.loads(json.dumps(policy_to_dict(custom)))) == custom
    assert policy_of({"share_drifted": 0.5}) == DriftPolicy()  # trigger kwargs from before
