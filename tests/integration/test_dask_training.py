"""The Dask engine trains on real Dask clusters: a LocalCluster that `fit` starts and closes, and
a cluster started here that `fit` only connects to (and must leave running). Each cluster start
spawns worker processes (a few seconds on 2 cores), so the file starts two clusters in all."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import distributed
import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import roc_auc_score

from mlops_dev.datagen import generate_batch
from mlops_lib.spec import DaskConfig, PipelineSpec
from mlops_lib.training.dask_engine import fit
from mlops_lib.training.split import split_holdout
from mlops_lib.training.trainer import predict, train_model

pytestmark = pytest.mark.integration

NAMES = ["income", "debt", "age", "noise", "region"]
TYPES = ["q", "q", "q", "q", "c"]
ROUNDS = 300
EARLY_STOPPING = 10
# A high learning rate and deep trees overfit within a few dozen rounds: early stopping stops.
PARAMS: dict[str, Any] = {"objective": "binary:logistic", "eval_metric": "auc",
                          "tree_method": "hist", "seed": 7, "nthread": 2, "eta": 0.5,
                          "max_depth": 6, "max_bin": 64}
SHAPE = DaskConfig(n_workers=2, threads_per_worker=1)


def _dataset(rows: int = 4000, seed: int = 0) -> dict[str, np.ndarray]:
    """Train / validation / test splits of a noisy binary target with a known signal in three
    numeric columns and a categorical one (codes 0..3, some missing); one column is noise."""
    rng = np.random.default_rng(seed)
    x = np.empty((rows, len(NAMES)), dtype=np.float32, order="F")
    x[:, :4] = rng.normal(size=(rows, 4))
    region = rng.integers(0, 4, rows).astype(np.float32)
    region[rng.random(rows) < 0.05] = np.nan
    x[:, 4] = region
    logit = (2.0 * x[:, 0] - 1.5 * x[:, 1] + 0.8 * np.abs(x[:, 2])
             + np.where(region == 2, 1.5, np.where(region == 0, -1.0, 0.0)) - 0.5)
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.float32)
    train, valid = int(rows * 0.6), int(rows * 0.75)
    return {"x_train": x[:train], "y_train": y[:train], "x_valid": x[train:valid],
            "y_valid": y[train:valid], "x_test": x[valid:], "y_test": y[valid:]}


DATA = _dataset()


def _fit(config: DaskConfig) -> xgb.Booster:
    return fit(PARAMS, DATA["x_train"], DATA["y_train"], DATA["x_valid"], DATA["y_valid"],
               feature_names=NAMES, feature_types=TYPES, num_boost_round=ROUNDS,
               early_stopping_rounds=EARLY_STOPPING, config=config)


def _predict(booster: xgb.Booster) -> np.ndarray:
    test = xgb.DMatrix(DATA["x_test"], feature_names=NAMES, feature_types=TYPES,
                       enable_categorical=True)
    return booster.predict(test, iteration_range=(0, booster.best_iteration + 1))


def _auc(booster: xgb.Booster) -> float:
    return float(roc_auc_score(DATA["y_test"], _predict(booster)))


def _dask_workers() -> set[int]:
    """This process's live multiprocessing children: a LocalCluster's nannies spawn its workers
    ("Dask Worker process (from Nanny)") from here."""
    return {p.pid for p in multiprocessing.active_children()}


@pytest.fixture(scope="module")
def local_booster() -> xgb.Booster:
    """One fit on the LocalCluster that fit starts itself; its workers must be gone after."""
    before = _dask_workers()
    booster = _fit(SHAPE)
    assert _dask_workers() - before == set(), "fit left LocalCluster workers running"
    return booster


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.LocalCluster]:
    """A cluster fit did not start: it only connects to it by address."""
    with distributed.LocalCluster(n_workers=SHAPE.n_workers,
                                  threads_per_worker=SHAPE.threads_per_worker,
                                  processes=True, dashboard_address=None,
                                  scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}
                                  ) as running:
        yield running


def test_dask_booster_predicts_well_above_chance(local_booster: xgb.Booster) -> None:
    assert _auc(local_booster) > 0.8


def test_early_stopping_sets_best_iteration_and_score(local_booster: xgb.Booster) -> None:
    best = local_booster.best_iteration
    assert isinstance(best, int)
    assert 0 <= best < ROUNDS - 1  # stopped early
    assert local_booster.num_boosted_rounds() == best + EARLY_STOPPING + 1
    assert isinstance(local_booster.best_score, float)
    assert 0.8 < local_booster.best_score <= 1.0  # validation AUC at best_iteration


def test_dask_booster_saves_as_xgboost_json(local_booster: xgb.Booster) -> None:
    model = json.loads(bytes(local_booster.save_raw(raw_format="json")))
    assert model["learner"]["feature_names"] == NAMES
    assert model["learner"]["feature_types"] == TYPES
    assert model["learner"]["attributes"]["best_iteration"] == str(local_booster.best_iteration)


def test_dask_auc_is_close_to_local_xgb_train(local_booster: xgb.Booster) -> None:
    common: dict[str, Any] = {"feature_names": NAMES, "feature_types": TYPES,
                              "enable_categorical": True, "max_bin": PARAMS["max_bin"]}
    dtrain = xgb.QuantileDMatrix(DATA["x_train"], DATA["y_train"], **common)
    dvalid = xgb.QuantileDMatrix(DATA["x_valid"], DATA["y_valid"], ref=dtrain, **common)
    local = xgb.train(PARAMS, dtrain, num_boost_round=ROUNDS, evals=[(dvalid, "validation")],
                      early_stopping_rounds=EARLY_STOPPING, verbose_eval=False)
    assert abs(_auc(local_booster) - _auc(local)) < 0.02


def test_fit_connects_to_a_running_cluster_and_leaves_it_running(
        cluster: distributed.LocalCluster, local_booster: xgb.Booster) -> None:
    config = DaskConfig(scheduler_address=cluster.scheduler_address, n_workers=99)
    first = _fit(config)  # n_workers is the LocalCluster's setting: unused with an address
    assert cluster.status == distributed.core.Status.running
    with distributed.Client(cluster.scheduler_address) as client:
        assert len(client.nthreads()) == SHAPE.n_workers
    # Seeded, same data and cluster shape: bit-identical, run to run and cluster to cluster.
    second = _fit(config)
    assert np.array_equal(_predict(first), _predict(second))
    assert first.save_raw(raw_format="json") == second.save_raw(raw_format="json")
    assert np.array_equal(_predict(first), _predict(local_booster))


def test_a_failed_fit_still_closes_the_cluster_it_started() -> None:
    before = _dask_workers()
    with pytest.raises(xgb.core.XGBoostError, match="no_such_objective"):
        fit({**PARAMS, "objective": "no_such_objective"}, DATA["x_train"], DATA["y_train"],
            None, None, feature_names=NAMES, feature_types=TYPES, num_boost_round=5,
            early_stopping_rounds=None, config=DaskConfig(n_workers=1))
    assert _dask_workers() - before == set()


def test_a_spec_with_the_dask_engine_trains_through_train_model(
        cluster: distributed.LocalCluster, spec: PipelineSpec) -> None:
    """The pipeline's own entry point (what the train task calls) honours `training.engine`:
    the same float32/categorical matrices, early stopping and best-iteration cut as locally."""
    dask_spec = replace(spec, training=replace(
        spec.training, device="cpu", num_boost_round=60, engine="dask",
        dask=DaskConfig(scheduler_address=cluster.scheduler_address)))
    frame = generate_batch(spec, 3000, seed=5)
    train, holdout = split_holdout(frame, 0.2, seed=1)

    model = train_model(train, dask_spec)

    assert model.validation_rows > 0 and model.train_rows + model.validation_rows == len(train)
    assert model.booster.num_boosted_rounds() == model.best_iteration + 1  # the best model kept
    auc = roc_auc_score(holdout[spec.target], predict(model.booster, holdout, spec))
    local_auc = roc_auc_score(holdout[spec.target],
                              predict(train_model(train, replace(dask_spec, training=replace(
                                  dask_spec.training, engine="local"))).booster, holdout, spec))
    assert auc > 0.7 and abs(auc - local_auc) < 0.03
    json.loads(model.to_json_bytes())
