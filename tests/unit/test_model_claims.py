"""The model-registration claim (`model_claims`): insert-once per pipeline + idempotency key,
and every later change a compare-and-set on the claimant's attempt token (SQLite, and
PostgreSQL with CT_TEST_PG). The registration protocol on top: test_train_retry.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from mlops_lib.stores.store import ModelClaim, Store

pytestmark = pytest.mark.unit

P, K = "credit_default", "k" * 64


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def _claim(store: Store, token: str, run: str = "run-1") -> ModelClaim:
    return store.claim_model(P, K, dag_run_id=run, token=token, mlflow_run_id=f"ml-{run}")


def test_the_first_claimant_holds_the_key_until_it_records_its_version(store: Store) -> None:
    assert store.model_claim(P, K) is None
    first = _claim(store, "t1")
    assert (first.claim_token, first.dag_run_id, first.model_version) == ("t1", "run-1", None)
    assert _claim(store, "t2", "run-2") == first  # a second claimant is told who holds it
    assert store.model_claim("other", K) is None  # keyed per pipeline

    assert not store.renew_model_claim(P, K, "t2")  # not its claim
    assert not store.record_claimed_version(P, K, "t2", "9")
    assert store.renew_model_claim(P, K, "t1")
    assert store.record_claimed_version(P, K, "t1", "3")
    assert not store.record_claimed_version(P, K, "t1", "4")  # set once
    recorded = store.model_claim(P, K)
    assert recorded is not None and recorded.model_version == "3"
    # Once a version is recorded nobody can take it over or release it.
    assert not store.take_over_model_claim(P, K, expected_token="t1", dag_run_id="run-2",
                                           token="t2", mlflow_run_id="ml-2")
    assert not store.release_model_claim(P, K, "t1")
    assert _claim(store, "t3", "run-3").model_version == "3"


def test_a_takeover_is_a_compare_and_set_on_the_claimant(store: Store) -> None:
    _claim(store, "dead")
    assert not store.take_over_model_claim(P, K, expected_token="someone-else",
                                           dag_run_id="run-2", token="t2", mlflow_run_id="m2")
    assert store.take_over_model_claim(P, K, expected_token="dead", dag_run_id="run-2",
                                       token="t2", mlflow_run_id="m2")
    # The one taken over can no longer show life, register or release.
    assert not store.renew_model_claim(P, K, "dead")
    assert not store.record_claimed_version(P, K, "dead", "5")
    assert not store.release_model_claim(P, K, "dead")
    claim = store.model_claim(P, K)
    assert claim is not None and (claim.claim_token, claim.dag_run_id) == ("t2", "run-2")
    assert claim.mlflow_run_id == "m2" and claim.idle_seconds() < 60


def test_a_released_claim_is_taken_afresh(store: Store) -> None:
    _claim(store, "t1")
    assert not store.release_model_claim(P, K, "t2")
    assert store.release_model_claim(P, K, "t1")
    assert store.model_claim(P, K) is None
    assert _claim(store, "t2", "run-2").claim_token == "t2"


def test_concurrent_claimants_agree_on_one(store: Store) -> None:
    start, seen = threading.Barrier(8), []

    def claim(i: int) -> None:
        start.wait()
        seen.append(_claim(store, f"t{i}", f"run-{i}").claim_token)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1
