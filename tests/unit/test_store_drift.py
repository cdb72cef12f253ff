from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from mlops_lib.monitoring.drift import DriftResult, compute
from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec, Source
from mlops_lib.stores.store import Store

pytestmark = pytest.mark.unit

P = "credit_default"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


@pytest.fixture(scope="module")
def result() -> DriftResult:
    rng = np.random.default_rng(0)
    n = 5_000
    spec = PipelineSpec(
        name="drift_store", source=Source("b", "p/"), target="y", task="binary_classification",
        features=(Feature("income", "float"), Feature("region", "category", ("n", "s")),
                  Feature("empty", "float")),
        metric=MetricPolicy("roc_auc", "maximize", 0.5))
    ref = pd.DataFrame({"income": rng.normal(0, 1, n),
                        "region": pd.Categorical(rng.choice(["n", "s"], n)),
                        "empty": rng.normal(0, 1, n)})
    cur = pd.DataFrame({"income": rng.normal(1, 1, n),
                        "region": pd.Categorical(rng.choice(["n", "s", "w"], n)),
                        "empty": np.full(n, np.nan)})
    return compute(ref, cur, spec)


def test_migration_creates_the_drift_table(store: Store) -> None:
    assert "drift_metrics" in inspect(store.engine).get_table_names()


def test_record_and_read_back(store: Store, result: DriftResult) -> None:
    assert store.record_drift(P, "b1", "run-1", result) == 3

    rows = store.drift_metrics(P, "b1")

    assert [r["feature"] for r in rows] == ["empty", "income", "region"]
    by = {r["feature"]: r for r in rows}
    income, region, empty = result.feature("income"), result.feature("region"), \
        result.feature("empty")
    assert by["income"]["drifted"] is True and by["income"]["method"] == "wasserstein"
    assert by["income"]["wasserstein"] == pytest.approx(income.wasserstein)
    assert by["income"]["score"] == pytest.approx(income.score)
    assert by["income"]["psi"] == pytest.approx(income.psi)
    assert by["income"]["js"] == pytest.approx(income.js)
    assert by["income"]["unseen_share"] is None and by["income"]["threshold"] == 0.1
    assert by["region"]["kind"] == "categorical" and by["region"]["wasserstein"] is None
    assert by["region"]["unseen_share"] == pytest.approx(region.unseen_share)
    assert 0.2 < by["region"]["unseen_share"] < 0.45
    assert by["empty"]["drifted"] is False and by["empty"]["score"] is None
    assert by["empty"]["psi"] is None and by["empty"]["null_share"] == empty.null_share == 1.0
    for r in rows:
        assert (r["pipeline"], r["batch_id"], r["dag_run_id"]) == (P, "b1", "run-1")
        assert r["created_at"]


def test_recording_twice_writes_nothing_and_keeps_the_first(store: Store,
                                                            result: DriftResult) -> None:
    assert store.record_drift(P, "b1", "run-1", result) == 3
    first = store.drift_metrics(P, "b1")
    calmer = DriftResult.from_dict({**result.to_dict(), "features": [
        {**f, "drifted": False, "score": 0.0} for f in result.to_dict()["features"]]})

    assert store.record_drift(P, "b1", "run-2", calmer) == 0
    assert store.drift_metrics(P, "b1") == first


def test_batches_and_pipelines_are_kept_apart(store: Store, result: DriftResult) -> None:
    store.record_drift(P, "b1", "run-1", result)
    store.record_drift(P, "b2", "run-2", result)
    store.record_drift("other", "b1", "run-9", result)

    assert {r["dag_run_id"] for r in store.drift_metrics(P, "b2")} == {"run-2"}
    assert {r["dag_run_id"] for r in store.drift_metrics("other", "b1")} == {"run-9"}
    assert store.drift_metrics(P, "nope") == []
