"""The Dask training engine (``training.engine: dask``): ``xgboost.dask`` on a Dask cluster.

Why: XGBoost's ``hist`` training spends its time building gradient histograms over the rows.
With this engine the rows are split into one chunk per worker thread and spread over the
cluster's workers; each worker builds the histograms of its own rows and the workers allreduce
them every round, so the work of a round is shared by every core of the cluster rather than
the task's own. The cluster is the one at ``training.dask.scheduler_address``, or a
``LocalCluster`` of ``n_workers`` processes x ``threads_per_worker`` threads started for the
run and closed after it (no dashboard; every port is a free one, so runs do not collide).

The current limit, plainly: the data is still loaded by the task. The caller builds the float32
training matrix in the task's memory and this module scatters its row chunks to the workers, so
the task needs the whole training matrix in memory, and the workers hold a copy of it (plus
their quantile matrices) for the length of training; with a LocalCluster all of it is on the
task's machine. The cluster parallelises training, not loading; reading the batches on the
workers (``dask.dataframe`` straight from S3) would lift the limit and is not done yet.

The quantile cuts are computed over the whole training set (``DaskQuantileDMatrix``); the
early-stopping validation rows get a second one built with ``ref=`` the first, so they reuse
the training cuts, as in the local engine. Categorical columns (feature type ``c``) keep
XGBoost's native categorical support.

Determinism: ``params`` carry the seed. With the same data, parameters and cluster shape
(workers x threads, hence the same row chunks on the same workers) two fits give bit-identical
models and predictions; tests/integration/test_dask_training.py checks it. The number of
workers is part of the recipe: with several workers each sketches the quantiles of its own
rows and the sketches are merged (and histograms are summed across workers), so the trees, and
where early stopping stops, differ from the local engine's. Measured with xgboost 3.2: one
worker (any number of threads) gives the local engine's model exactly; 2 workers x 1 thread
and 2 x 2 give one model between them, a different one from local, about as good (the test
allows 0.02 of AUC between the engines).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask.array as da
import distributed
import numpy as np
import xgboost as xgb
import xgboost.dask as dxgb

from mlops_lib.spec import DaskConfig

log = logging.getLogger(__name__)

# No dashboard; the scheduler still serves its HTTP endpoints (health, metrics), by default on
# port 8787, or another with a warning when two clusters run at once: a free port instead.
_NO_FIXED_HTTP_PORT = {"dashboard_address": "127.0.0.1:0"}

# Per-process thread settings: each Dask worker uses its own threads (xgboost.dask sets nthread
# from the worker), so the task's nthread must not travel with the parameters.
_PER_PROCESS_PARAMS = ("nthread", "n_jobs")


def fit(params: dict[str, Any], x_train: np.ndarray, y_train: np.ndarray,
        x_valid: np.ndarray | None, y_valid: np.ndarray | None, *,
        feature_names: list[str], feature_types: list[str], num_boost_round: int,
        early_stopping_rounds: int | None, config: DaskConfig) -> xgb.Booster:
    """Train a booster with ``xgboost.dask`` on the cluster that ``config`` names.

    ``params`` are the booster parameters of ``xgb.train`` (``nthread`` is dropped); with
    validation rows, training stops early after ``early_stopping_rounds`` rounds without
    improvement and the booster's ``best_iteration`` / ``best_score`` are set, as with
    ``xgb.train`` (the booster holds every round trained; the caller slices it).
    """
    if (x_valid is None) != (y_valid is None):
        raise ValueError("x_valid and y_valid are given together or not at all")
    train_params = {k: v for k, v in params.items() if k not in _PER_PROCESS_PARAMS}
    max_bin = params.get("max_bin")  # the matrices' max_bin must match the booster's
    started = time.perf_counter()
    with _client(config) as client:
        threads = client.nthreads()
        log.info("Dask cluster %s: %d workers, %d threads in all (ready in %.2fs)",
                 _scheduler_address(client), len(threads), sum(threads.values()),
                 time.perf_counter() - started)
        started = time.perf_counter()
        matrix_args: dict[str, Any] = {
            "feature_names": feature_names, "feature_types": feature_types,
            "enable_categorical": True, "max_bin": None if max_bin is None else int(max_bin)}
        dtrain = dxgb.DaskQuantileDMatrix(
            client, *_scatter(client, x_train, y_train), **matrix_args)
        evals: list[tuple[dxgb.DaskDMatrix, str]] = []
        if x_valid is not None and y_valid is not None:
            dvalid = dxgb.DaskQuantileDMatrix(
                client, *_scatter(client, x_valid, y_valid), ref=dtrain,
                **matrix_args)
            evals = [(dvalid, "validation")]
        matrix_seconds = time.perf_counter() - started

        started = time.perf_counter()
        result = dxgb.train(client, train_params, dtrain, num_boost_round=num_boost_round,
                            evals=evals,
                            early_stopping_rounds=early_stopping_rounds if evals else None,
                            verbose_eval=False)
        train_seconds = time.perf_counter() - started
    # Early stopping ran on the workers, inside xgb.train: the booster that comes back carries
    # its best_iteration / best_score attributes, as the local engine's does.
    booster: xgb.Booster = result["booster"]
    log.info("Dask training: matrices %.2fs, training %.2fs, %d rounds trained, "
             "%d rows x %d features", matrix_seconds, train_seconds,
             booster.num_boosted_rounds(), len(y_train), len(feature_names))
    return booster


@contextmanager
def _client(config: DaskConfig) -> Iterator[distributed.Client]:
    """A client of the configured scheduler, or of a LocalCluster started (and closed) here.
    A cluster this function did not start is left running."""
    if config.scheduler_address is not None:
        log.info("Connecting to the Dask scheduler at %s", config.scheduler_address)
        with distributed.Client(config.scheduler_address) as client:
            yield client
        return
    log.info("Starting a LocalCluster: %d workers x %d threads", config.n_workers,
             config.threads_per_worker)
    with distributed.LocalCluster(n_workers=config.n_workers,
                                  threads_per_worker=config.threads_per_worker,
                                  processes=True, dashboard_address=None,
                                  scheduler_kwargs=_NO_FIXED_HTTP_PORT) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _scheduler_address(client: distributed.Client) -> str:
    """The scheduler's address; a client that is not (or no longer) connected has none."""
    scheduler = client.scheduler
    return "not connected" if scheduler is None else str(scheduler.address)


def _scatter(client: distributed.Client, x: np.ndarray,
             y: np.ndarray) -> tuple[da.Array, da.Array]:
    """Row chunks of (x, y) scattered to the workers, as dask arrays: one chunk per worker
    thread (at least one row each), the i-th chunk of x and of y on the same worker, workers
    taken in address order, so a cluster shape always places the rows the same way. One chunk
    is copied at a time: the task holds the matrix plus one chunk, not two matrices."""
    slots = [address for address, n in sorted(client.nthreads().items()) for _ in range(n)]
    if not slots:
        raise RuntimeError(f"the Dask cluster at {_scheduler_address(client)} has no workers")
    rows = len(y)
    step = max(1, math.ceil(rows / len(slots)))
    x_chunks: list[da.Array] = []
    y_chunks: list[da.Array] = []
    for i, start in enumerate(range(0, rows, step)):
        stop, worker = min(start + step, rows), [slots[i]]
        x_part = client.scatter(np.ascontiguousarray(x[start:stop]), workers=worker)
        y_part = client.scatter(np.ascontiguousarray(y[start:stop]), workers=worker)
        x_chunks.append(da.from_delayed(x_part, shape=(stop - start, x.shape[1]),
                                        dtype=x.dtype))
        y_chunks.append(da.from_delayed(y_part, shape=(stop - start,), dtype=y.dtype))
    return da.concatenate(x_chunks), da.concatenate(y_chunks)
