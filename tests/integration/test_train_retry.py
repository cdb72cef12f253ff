"""A train step that fails or is killed anywhere, then retried, and two runs training on the
same data revision at once, against a real MLflow server, moto's S3 server and the store
(SQLite, and PostgreSQL with CT_TEST_PG): each ends with exactly one registered model version
per idempotency key, and every run that trained on that data points at it."""

from __future__ import annotations

import importlib
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from mlops_dev import datagen
from mlops_lib.landing.batches import completed_batches
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import dataset, ingest, plan, registration, train
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import DatasetVersion, TrainedModel, TrainingPlan
from mlops_lib.stores import s3io
from mlops_lib.stores.claims import ClaimTables
from mlops_lib.stores.registry import CHALLENGER, Registry
from tests.support import fresh_buckets

pytestmark = pytest.mark.integration


@dataclass
class Ready:
    """An accepted batch, and what a service needs to plan, version and train on it."""

    env: dict[str, str]
    spec: PipelineSpec
    batch_id: str

    def services(self) -> Services:
        return Services(Settings.from_env(self.env))

    def prepare(self, svc: Services, dag_run_id: str) -> tuple[TrainingPlan, DatasetVersion]:
        planned = plan.plan_training(svc, self.spec, RunContext(
            dag_run_id=dag_run_id, run_type="manual", triggered_by="tester",
            params={"reason": "retry test", "batches": [self.batch_id]}))
        return planned, dataset.version_dataset(svc, self.spec, planned, dag_run_id)

    def versions_of(self, svc: Services, key: str) -> list[str]:
        """Every registered version carrying the idempotency key."""
        found = svc.registry.client.search_model_versions(
            f"name = '{self.spec.registered_model_name}' and tags.`ct.idempotency_key` = '{key}'")
        return sorted(str(v.version) for v in found)


@pytest.fixture
def ready(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, store_url: str,
          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ready:
    landing, artifacts = fresh_buckets(s3, monkeypatch)
    env = {"CT_HOME": str(tmp_path / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
           "CT_STORE_URL": store_url, "MLFLOW_TRACKING_URI": mlflow_server,
           "CT_ARTIFACT_BUCKET": artifacts}
    spec = replace(spec, source=replace(spec.source, bucket=landing),
                   training=replace(spec.training, device="cpu", num_boost_round=5))
    svc = Services(Settings.from_env(env))
    batch_id = f"batch-{uuid.uuid4().hex[:8]}"
    body = datagen.to_file_bytes(datagen.generate_batch(spec, 600, seed=5), "parquet")
    s3io.upload_batch(s3, landing, spec.source.prefix, batch_id, {"part-0000.parquet": body})
    listing = s3io.list_objects(s3, landing, spec.source.prefix)
    (batch,) = completed_batches(listing, spec.source.prefix, spec.source.completion_rule)
    ingest.register_batch(svc, spec, batch, "ingest__1")
    ingest.validate(svc, spec, batch, "ingest__1")
    return Ready(env, spec, batch_id)


def _fail_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, *,
               after: bool) -> list[Any]:
    """Make `target.name` raise on its first call: before doing anything (after=False) or once
    it has done its work (after=True). Returns the arguments of the failed call."""
    real, calls = getattr(target, name), []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if calls:
            return real(*args, **kwargs)
        calls.append((args, kwargs))
        if after:
            real(*args, **kwargs)
        raise RuntimeError(f"injected failure in {name}")

    monkeypatch.setattr(target, name, flaky)
    return calls


def _run_id() -> str:
    # The MLflow server lives for the whole session: each test's runs are its own.
    return f"manual__{uuid.uuid4().hex[:8]}"


def _assert_one_version(ready: Ready, svc: Services, key: str, *runs: TrainedModel) -> str:
    (version,) = ready.versions_of(svc, key)
    name = ready.spec.registered_model_name
    assert {r.model_version for r in runs} == {version}
    assert svc.registry.alias_version(name, CHALLENGER) == version
    source = svc.registry.client.get_model_version(name, version).source
    assert source.startswith("models:/m-"), source  # the logged model it registered
    model = svc.registry.client.get_logged_model(source.removeprefix("models:/"))
    assert str(model.status) == "READY"  # never a half-logged model of a failed attempt
    assert svc.registry.load_booster(name, version).num_boosted_rounds() >= 1  # it loads
    return version


@pytest.mark.parametrize("when", ["during", "after"])
def test_a_training_that_failed_while_logging_its_model_registers_on_retry(
        ready: Ready, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    svc, run = ready.services(), _run_id()
    planned, version = ready.prepare(svc, run)
    key = train.idempotency_key(ready.spec, version.rev)
    # "during": the logged model exists and has the run's metrics, but no files (a kill while
    # uploading); "after": the model is fully logged but never registered.
    # the model is logged as a pyfunc from code (mlops_lib.scoring.contract)
    flavor = importlib.import_module("mlflow.pyfunc")  # the module, not mlflow's lazy loader
    failed = (_fail_once(monkeypatch, flavor, "save_model", after=False) if when == "during"
              else _fail_once(monkeypatch, flavor, "log_model", after=True))
    with pytest.raises(RuntimeError, match="injected failure"):
        train.train(svc, ready.spec, planned, version, run)
    assert failed and ready.versions_of(svc, key) == []
    assert svc.store.model_claim(ready.spec.name, key) is None  # released on the way out

    retried = train.train(ready.services(), ready.spec, planned, version, run)

    model_version = _assert_one_version(ready, svc, key, retried)
    stored = svc.store.get_training_run(ready.spec.name, run)
    assert stored is not None and stored["model_version"] == model_version
    assert svc.registry.client.get_run(retried.mlflow_run_id).data.metrics["train_rows"] > 0


def test_a_retry_after_registering_finds_the_version(ready: Ready,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    svc, run = ready.services(), _run_id()
    planned, version = ready.prepare(svc, run)
    key = train.idempotency_key(ready.spec, version.rev)
    # Registered, then failed before the alias and the store's record of it.
    _fail_once(monkeypatch, Registry, "set_alias", after=False)
    with pytest.raises(RuntimeError, match="injected failure"):
        train.train(svc, ready.spec, planned, version, run)
    (registered,) = ready.versions_of(svc, key)
    claim = svc.store.model_claim(ready.spec.name, key)
    assert claim is not None and claim.model_version == registered

    retried = train.train(ready.services(), ready.spec, planned, version, run)
    again = train.train(ready.services(), ready.spec, planned, version, run)  # a cleared run

    assert retried == again and retried.model_version == registered
    _assert_one_version(ready, svc, key, retried, again)


def test_two_runs_on_the_same_data_register_one_version(ready: Ready,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [_run_id(), _run_id()]
    prepared = {run: ready.prepare(ready.services(), run) for run in runs}
    (rev,) = {version.rev for _, version in prepared.values()}  # the same data revision
    key = train.idempotency_key(ready.spec, rev)
    # Both have trained and looked the key up (nothing registered yet) before either claims.
    both_trained = threading.Barrier(len(runs), timeout=120)
    real_claim, waited = ClaimTables.claim_model, set()

    def claim_together(self: ClaimTables, *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() not in waited:
            waited.add(threading.get_ident())
            both_trained.wait()
        return real_claim(self, *args, **kwargs)

    monkeypatch.setattr(ClaimTables, "claim_model", claim_together)
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = [pool.submit(train.train, ready.services(), ready.spec, *prepared[run], run)
                   for run in runs]
        results = [f.result(timeout=300) for f in futures]

    svc = ready.services()
    version = _assert_one_version(ready, svc, key, *results)
    assert len({r.mlflow_run_id for r in results}) == 2  # each run kept its own MLflow run
    for run in runs:  # every run that trained on the data points at the one version
        stored = svc.store.get_training_run(ready.spec.name, run)
        assert stored is not None and stored["model_version"] == version
    claim = svc.store.model_claim(ready.spec.name, key)
    assert claim is not None and claim.dag_run_id in runs and claim.model_version == version


def test_a_claim_whose_claimant_was_killed_is_taken_over(ready: Ready,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    svc, run = ready.services(), _run_id()
    planned, version = ready.prepare(svc, run)
    key = train.idempotency_key(ready.spec, version.rev)
    # The first attempt claimed the key and was killed (no release) before registering.
    dead = svc.store.claim_model(ready.spec.name, key, dag_run_id=run, token="killed",
                                 mlflow_run_id="gone")
    monkeypatch.setattr(registration, "CLAIM_STALE_SECONDS", 2.0)
    monkeypatch.setattr(registration, "POLL_SECONDS", 0.2)

    retried = train.train(ready.services(), ready.spec, planned, version, run)

    _assert_one_version(ready, svc, key, retried)
    claim = svc.store.model_claim(ready.spec.name, key)
    assert claim is not None and claim.claim_token != dead.claim_token
    assert claim.mlflow_run_id == retried.mlflow_run_id
