"""Champion operations against a real MLflow server and the store (PostgreSQL when CT_TEST_PG
is set): race-free promotion, reconcile, manual promotion, rollback, history.

Why the store owns the champion: MLflow's alias write is an upsert with no compare-and-set.
`test_naive_alias_promotion_is_not_race_free` shows it: eight promoters that each "set the
alias directly" all succeed, so eight runs believe they promoted while only one value sticks.
The store's compare-and-set lets exactly one win and records the others as superseded.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from mlops_lib.operations import champion as ops
from mlops_lib.services import Services
from mlops_lib.stores.registry import CHAMPION, Registry
from mlops_lib.stores.store import DecisionRecord

pytestmark = pytest.mark.integration

PROMOTERS = 8
ROUNDS = 20


def _booster(seed: int) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3))
    return xgb.train({"seed": seed, "nthread": 1}, xgb.DMatrix(x, label=x[:, 0] * seed),
                     num_boost_round=2)


def _register(registry: Registry, pipeline: str, seed: int) -> str:
    run_id = registry.ensure_run(f"ct_{pipeline}", f"run-{seed}", {})
    return registry.register_model(run_id, f"ct_{pipeline}", _booster(seed),
                                   {"ct.data_rev": f"rev{seed}"})


def _cheap_versions(registry: Registry, pipeline: str, n: int) -> list[str]:
    """Registry entries without artifacts, enough for the alias race."""
    name = f"ct_{pipeline}"
    registry._ensure_registered_model(name)
    return [str(registry.client.create_model_version(name, source=f"s3://nowhere/{pipeline}/{i}").version)
            for i in range(n)]


def _promote_decision(pipeline: str, run: str, version: str) -> DecisionRecord:
    return DecisionRecord(pipeline=pipeline, dag_run_id=run, candidate_version=version,
                          baseline_version=None, metric="roc_auc", candidate_value=0.9,
                          baseline_value=None, decision="promote", reason="better",
                          data_rev=None, details={})


def _race_round(svc: Services, pipeline: str, round_no: int,
                epoch: int) -> dict[str, tuple[str, bool]]:
    """PROMOTERS runs, each with its own candidate and the same champion snapshot, at once."""
    versions = _cheap_versions(svc.registry, pipeline, PROMOTERS)
    results: dict[str, tuple[str, bool]] = {}
    barrier = threading.Barrier(PROMOTERS)

    def promoter(i: int, version: str) -> None:
        run = f"round{round_no}-promoter{i}"
        barrier.wait()
        record, moved = svc.store.record_decision_and_move(
            _promote_decision(pipeline, run, version), expected_epoch=epoch)
        ops.reconcile(svc, pipeline)
        results[run] = (record.decision, moved)

    threads = [threading.Thread(target=promoter, args=(i, v)) for i, v in enumerate(versions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_promoters_make_exactly_one_champion_each_round(svc: Services,
                                                               pipeline: str) -> None:
    name = f"ct_{pipeline}"
    for round_no in range(ROUNDS):
        current = svc.store.get_champion(pipeline)
        epoch = 0 if current is None else current.epoch

        results = _race_round(svc, pipeline, round_no, epoch)

        winners = [run for run, (_, moved) in results.items() if moved]
        assert len(winners) == 1, (round_no, results)
        assert sorted(d for d, _ in results.values()) == ["promote"] + ["superseded"] * 7
        champion = svc.store.get_champion(pipeline)
        assert champion is not None and champion.epoch == epoch + 1
        assert champion.dag_run_id == winners[0]
        assert svc.registry.alias_version(name, CHAMPION) == champion.model_version
    assert len(svc.store.champion_moves(pipeline)) == ROUNDS


def test_naive_alias_promotion_is_not_race_free(svc: Services, pipeline: str) -> None:
    name = f"ct_{pipeline}"
    versions = _cheap_versions(svc.registry, pipeline, PROMOTERS + 1)
    svc.registry.set_alias(name, CHAMPION, versions[-1])  # an existing champion
    believed: list[str] = []
    barrier = threading.Barrier(PROMOTERS)

    def naive(version: str) -> None:
        barrier.wait()
        svc.registry.client.set_registered_model_alias(name, CHAMPION, version)
        believed.append(version)  # MLflow said yes: this run thinks it promoted

    threads = [threading.Thread(target=naive, args=(v,)) for v in versions[:PROMOTERS]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(believed) > 1  # several "winners" for one slot: no compare-and-set


def test_retried_decision_changes_nothing(svc: Services, pipeline: str) -> None:
    (version,) = _cheap_versions(svc.registry, pipeline, 1)
    first, moved = svc.store.record_decision_and_move(
        _promote_decision(pipeline, "run-1", version), expected_epoch=0)
    again, moved_again = svc.store.record_decision_and_move(
        _promote_decision(pipeline, "run-1", version), expected_epoch=0)
    assert moved and not moved_again and again == first
    assert [m["epoch"] for m in svc.store.champion_moves(pipeline)] == [1]


def test_reconcile_repairs_a_hand_edited_alias(svc: Services, pipeline: str) -> None:
    v1, v2 = _cheap_versions(svc.registry, pipeline, 2)
    svc.store.record_decision_and_move(_promote_decision(pipeline, "run-1", v1),
                                       expected_epoch=0)
    svc.registry.set_alias(f"ct_{pipeline}", CHAMPION, v2)  # someone in the MLflow UI

    result = ops.reconcile(svc, pipeline)

    assert result.changed and result.alias_before == v2 and result.store_version == v1
    assert svc.registry.alias_version(f"ct_{pipeline}", CHAMPION) == v1
    assert not ops.reconcile(svc, pipeline).changed


def test_manual_promotion_and_rollback_serve_the_right_model(svc: Services,
                                                             pipeline: str) -> None:
    name = f"ct_{pipeline}"
    v1, v2, v3 = (_register(svc.registry, pipeline, seed) for seed in (1, 2, 3))
    svc.store.record_decision_and_move(_promote_decision(pipeline, "run-1", v1),
                                       expected_epoch=0)
    ops.reconcile(svc, pipeline)
    ops.promote_version(svc, pipeline, v2, reason="hotfix model", actor="alice")
    assert _served(svc, name) == _prediction(2)

    ops.promote_version(svc, pipeline, v3, reason="newer", actor="alice")
    back = ops.rollback(svc, pipeline, reason="v3 misbehaves", actor="bob")

    assert back["version"] == v2 and back["previous"] == v3
    assert svc.store.get_champion(pipeline).model_version == v2  # type: ignore[union-attr]
    assert _served(svc, name) == _prediction(2)
    ops.rollback(svc, pipeline, to=v1, reason="back to the pipeline's pick", actor="bob")
    assert _served(svc, name) == _prediction(1)
    moves = svc.store.champion_moves(pipeline)
    assert [(m["action"], m["model_version"], m["actor"]) for m in moves] == [
        ("decision", v1, "pipeline"), ("manual_promote", v2, "alice"),
        ("manual_promote", v3, "alice"), ("rollback", v2, "bob"), ("rollback", v1, "bob")]
    assert moves[3]["data_rev"] == "rev2"  # lineage follows the version
    kinds = [(e["kind"], e.get("action")) for e in ops.history(svc, pipeline)]
    assert kinds[0] == ("decision", None) and kinds.count(("move", "rollback")) == 2


def test_a_version_is_found_by_its_idempotency_key(svc: Services, pipeline: str) -> None:
    name = f"ct_{pipeline}"
    svc.registry._ensure_registered_model(name)
    for key in ("aaa", "bbb"):
        svc.registry.client.create_model_version(name, source=f"s3://nowhere/{key}",
                                                 tags={"ct.idempotency_key": key})
    assert svc.registry.version_by_tag(name, "ct.idempotency_key", "bbb") == "2"
    assert svc.registry.version_by_tag(name, "ct.idempotency_key", "ccc") is None


def test_operations_refuse_what_cannot_be_done(svc: Services, pipeline: str) -> None:
    with pytest.raises(ops.ChampionError, match="no champion"):
        ops.rollback(svc, pipeline, reason="x")
    (v1,) = _cheap_versions(svc.registry, pipeline, 1)
    with pytest.raises(ops.ChampionError, match="no version 99"):
        ops.promote_version(svc, pipeline, "99", reason="typo")
    with pytest.raises(ops.ChampionError, match="reason"):
        ops.promote_version(svc, pipeline, v1, reason=" ")
    ops.promote_version(svc, pipeline, v1, reason="first")
    with pytest.raises(ops.ChampionError, match="no previous champion"):
        ops.rollback(svc, pipeline, reason="nothing before")


def _served(svc: Services, name: str) -> list[float]:
    """What a consumer of `models:/<name>@champion` gets."""
    import mlflow

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}@{CHAMPION}"))
    booster = xgb.Booster()
    booster.load_model(str(next(local.glob("model.*"))))
    return _predict(booster)


def _prediction(seed: int) -> list[float]:
    return _predict(_booster(seed))


def _predict(booster: xgb.Booster) -> list[float]:
    x = np.linspace(-1, 1, 9).reshape(3, 3)
    return [round(float(v), 6) for v in booster.predict(xgb.DMatrix(x))]
