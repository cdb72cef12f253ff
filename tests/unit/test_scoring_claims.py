"""The scoring DAG's bookkeeping on a real store (SQLite, and PostgreSQL with CT_TEST_PG): the
claim of a scoring batch and its seen-set, the versions pinned on it, and which version is the
challenger that shadow-scores (`resolve_challenger`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlops_lib.landing.batches import BatchRef, ObjectInfo
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import scoring_batches
from mlops_lib.steps.scoring import NoChallenger, NoChampion, resolve_challenger
from mlops_lib.stores.store import DecisionRecord

pytestmark = pytest.mark.unit


@pytest.fixture
def svc(store_url: str, tmp_path: Path) -> Services:
    return Services(Settings.from_env({"CT_HOME": str(tmp_path), "CT_STORE_URL": store_url}))


def batch(batch_id: str = "s1", etag: str = "e1") -> BatchRef:
    key = f"scoring/credit_default/{batch_id}/part-0.parquet"
    return BatchRef(batch_id=batch_id, prefix=f"scoring/credit_default/{batch_id}/",
                    marker_key=f"scoring/credit_default/{batch_id}/_SUCCESS",
                    completed_at="2026-05-01T00:00:00+00:00",
                    files=(ObjectInfo(key=key, etag=etag, size=10,
                                      last_modified="2026-05-01T00:00:00+00:00"),))


def test_a_batch_is_claimed_once_and_becomes_seen(svc: Services, spec: PipelineSpec) -> None:
    ref = batch()
    assert svc.store.known_scoring_batches(spec.name) == set()

    assert scoring_batches.claim_scoring_batch(svc, spec, ref, "run-1") == ref
    assert scoring_batches.claim_scoring_batch(svc, spec, ref, "run-1") == ref  # a retry
    with pytest.raises(scoring_batches.BatchAlreadyClaimed, match="claimed by run run-1"):
        scoring_batches.claim_scoring_batch(svc, spec, ref, "run-2")

    assert svc.store.known_scoring_batches(spec.name) == {("s1", ref.fingerprint)}
    assert svc.store.known_batches(spec.name) == set()  # landing's seen-set is another one
    claim = svc.store.scoring_claim(spec.name, "s1")
    assert claim is not None and (claim.status, claim.dag_run_id) == ("claimed", "run-1")
    assert claim.model_version is None and claim.shadow_version is None


def test_a_version_is_pinned_once(svc: Services, spec: PipelineSpec) -> None:
    with pytest.raises(LookupError, match="not claimed"):
        svc.store.pin_scoring_version(spec.name, "s1", "model_version", "3")
    scoring_batches.claim_scoring_batch(svc, spec, batch(), "run-1")

    assert svc.store.pin_scoring_version(spec.name, "s1", "model_version", "3") == "3"
    assert svc.store.pin_scoring_version(spec.name, "s1", "model_version", "4") == "3"
    assert svc.store.pin_scoring_version(spec.name, "s1", "shadow_version", "2") == "2"
    claim = svc.store.scoring_claim(spec.name, "s1")
    assert claim is not None and (claim.model_version, claim.shadow_version) == ("3", "2")


def test_without_a_champion_nothing_is_pinned(svc: Services, spec: PipelineSpec) -> None:
    ref = batch()
    scoring_batches.claim_scoring_batch(svc, spec, ref, "run-1")

    with pytest.raises(NoChampion, match="no champion yet"):
        scoring_batches.score_with_champion(svc, spec, ref, "run-1")

    claim = svc.store.scoring_claim(spec.name, "s1")
    assert claim is not None and claim.model_version is None and claim.status == "claimed"


def decide(svc: Services, spec: PipelineSpec, run: str, version: str, decision: str) -> None:
    svc.store.record_decision(DecisionRecord(
        pipeline=spec.name, dag_run_id=run, candidate_version=version, baseline_version=None,
        metric="roc_auc", candidate_value=0.8, baseline_value=None, decision=decision,
        reason="test", data_rev=None, details={}))


def train(svc: Services, spec: PipelineSpec, run: str, version: str) -> None:
    svc.store.start_training_run(spec.name, run, "b1", {"type": "manual"})
    svc.store.update_training_run(spec.name, run, model_version=version)


def test_the_challenger_is_the_newest_judged_version_if_the_gate_kept_it(
        svc: Services, spec: PipelineSpec) -> None:
    with pytest.raises(NoChallenger, match="no version has been judged"):
        resolve_challenger(svc, spec, champion="1")
    decide(svc, spec, "run-1", "1", "promote")
    with pytest.raises(NoChallenger, match="v1 .* was promoted"):
        resolve_challenger(svc, spec, champion="1")

    decide(svc, spec, "run-2", "2", "keep")
    decide(svc, spec, "run-3", "3", "shadow")      # a backfill run: history, not a challenger
    decide(svc, spec, "run-4", "4", "superseded")  # the champion moved under it
    assert resolve_challenger(svc, spec, champion="1") == "2"
    # An operator promoted the kept version: it is the champion, not a challenger.
    with pytest.raises(NoChallenger, match="v2 is the champion"):
        resolve_challenger(svc, spec, champion="2")

    decide(svc, spec, "run-5", "5", "promote")
    with pytest.raises(NoChallenger, match="v5 .* was promoted"):
        resolve_challenger(svc, spec, champion="5")


def test_with_manual_promotion_a_version_waiting_for_approval_is_the_challenger(
        svc: Services, spec: PipelineSpec) -> None:
    decide(svc, spec, "run-1", "1", "promote")
    decide(svc, spec, "run-2", "2", "keep")
    train(svc, spec, "run-3", "3")  # trained, judged by the gate, waiting for a person

    assert resolve_challenger(svc, spec, champion="1") == "2"  # auto: not judged yet
    manual = replace(spec, promotion="manual")
    assert resolve_challenger(svc, manual, champion="1") == "3"

    decide(svc, spec, "run-3", "3", "keep")  # rejected by the person
    train(svc, spec, "run-4", "4")
    decide(svc, spec, "run-4", "4", "promote")  # approved
    with pytest.raises(NoChallenger, match="v4 .* was promoted"):
        resolve_challenger(svc, manual, champion="4")
