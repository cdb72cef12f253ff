"""Register a trained model once per idempotency key, whoever else trains on the same data.

The store's claim row (`model_claims`, insert-once on pipeline + key) decides who registers:
- the attempt that takes it logs the model (a logged model of its own), shows life, registers
  and records the version on the claim;
- any other attempt (a concurrent run on the same data revision, a cleared run's zombie) waits
  for that version and uses it;
- a claimant that fails releases the claim, so its retry takes it at once; one killed outright
  leaves it behind, and once it has been silent for `CLAIM_STALE_SECONDS` another attempt takes
  it over (compare-and-set on the claimant's token) and first adopts a version the dead one
  may have registered without recording it.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mlops_lib.scoring.contract import log_serving_model
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.claims import ModelClaim

if TYPE_CHECKING:
    import xgboost as xgb

log = logging.getLogger(__name__)

KEY_TAG = "ct.idempotency_key"
# A claimant silent this long without a version is taken for dead. Between its last sign of
# life and its version it only registers (one MLflow call): far longer than that takes.
CLAIM_STALE_SECONDS = 600.0
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Candidate:
    """What an attempt would register: its MLflow run's model (logged with the spec's serving
    contract) and the version's tags."""

    pipeline: str
    model_name: str
    key: str
    dag_run_id: str
    mlflow_run_id: str
    booster: xgb.Booster
    spec: PipelineSpec  # the serving contract logged with the model comes from it
    tags: dict[str, str]


def registered_version(svc: Services, pipeline: str, model_name: str, key: str,
                       mlflow_run_id: str) -> str | None:
    """The version already registered for the key (or by this MLflow run), if any."""
    claim = svc.store.model_claim(pipeline, key)
    if claim is not None and claim.model_version is not None:
        return claim.model_version
    # Only a claimant registers, so a version carrying the key is the key's one: its claimant
    # died between registering and recording it. Record it on the claim (compare-and-set on
    # that claimant's token), so the claim no longer looks held by an attempt that is gone.
    version = svc.registry.version_by_tag(model_name, KEY_TAG, key)
    if version is not None:
        if claim is not None and svc.store.record_claimed_version(
                pipeline, key, claim.claim_token, version):
            log.warning("Recorded v%s on the claim of %s: its claimant (run %s) registered "
                        "it and died before recording it", version, key, claim.dag_run_id)
        return version
    # A version registered by this MLflow run before the claims (and the key tag) existed.
    return svc.registry.version_of_run(model_name, mlflow_run_id)


def register_once(svc: Services, c: Candidate) -> str:
    """The key's one registered version: registered by this attempt if it holds the claim,
    else the claimant's (waited for). Raises TimeoutError if no version ever comes."""
    token = uuid.uuid4().hex  # this attempt; a retry or a zombie of the same run is another
    try:
        return _register_or_wait(svc, c, token)
    except BaseException:
        # Whatever failed (the claim's own insert included: it may have been written before
        # the error), a claim this attempt holds without a version is released, so that the
        # retry takes it at once instead of waiting for it to look dead.
        _release(svc, c, token)
        raise


def _register_or_wait(svc: Services, c: Candidate, token: str) -> str:
    store = svc.store
    claim = store.claim_model(c.pipeline, c.key, dag_run_id=c.dag_run_id, token=token,
                              mlflow_run_id=c.mlflow_run_id)
    deadline = time.monotonic() + 3 * CLAIM_STALE_SECONDS
    while True:
        if claim.model_version is not None:
            return claim.model_version
        if claim.claim_token == token:
            version = _register(svc, c, token)
            if version is not None:
                return version
        elif claim.idle_seconds() > CLAIM_STALE_SECONDS and store.take_over_model_claim(
                c.pipeline, c.key, expected_token=claim.claim_token, dag_run_id=c.dag_run_id,
                token=token, mlflow_run_id=c.mlflow_run_id):
            log.warning("Took over the model claim of %s (run %s, silent %.0fs)", c.key,
                        claim.dag_run_id, claim.idle_seconds())
        else:
            _wait(claim, deadline)
        claim = _current(svc, c, token)


def _register(svc: Services, c: Candidate, token: str) -> str | None:
    """Register as the claimant; None when the claim was taken over meanwhile (then the new
    claimant's version is the one to wait for)."""
    store = svc.store
    # A claimant taken over may have registered without recording it: adopt that one.
    version = svc.registry.version_by_tag(c.model_name, KEY_TAG, c.key)
    if version is None:
        model = log_serving_model(svc.registry, c.mlflow_run_id, c.booster, c.spec)
        if not store.renew_model_claim(c.pipeline, c.key, token):
            log.warning("Lost the model claim of %s while logging; not registering", c.key)
            return None
        version = svc.registry.create_version(c.model_name, model, c.mlflow_run_id, c.tags)
    if not store.record_claimed_version(c.pipeline, c.key, token, version):
        log.warning("Lost the model claim of %s after registering v%s", c.key, version)
        return None
    return version


def _release(svc: Services, c: Candidate, token: str) -> None:
    try:
        svc.store.release_model_claim(c.pipeline, c.key, token)
    except Exception:  # the store is down too: the claim goes stale and is taken over then
        log.exception("Could not release the model claim of %s", c.key)


def _current(svc: Services, c: Candidate, token: str) -> ModelClaim:
    """The claim as stored now; taken afresh when its claimant released it."""
    return svc.store.model_claim(c.pipeline, c.key) or svc.store.claim_model(
        c.pipeline, c.key, dag_run_id=c.dag_run_id, token=token, mlflow_run_id=c.mlflow_run_id)


def _wait(claim: ModelClaim, deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(f"no model version for {claim.idempotency_key}: claimed by run "
                           f"{claim.dag_run_id}, which neither registered nor went silent")
    time.sleep(POLL_SECONDS)
