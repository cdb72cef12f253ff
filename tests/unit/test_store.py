from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from itertools import pairwise

import pytest
from sqlalchemy import inspect

from mlops_lib.stores.champion import ChampionMove, MoveRefused
from mlops_lib.stores.migrations import upgrade
from mlops_lib.stores.store import BatchTaken, DecisionRecord, Store

pytestmark = pytest.mark.unit

P = "credit_default"
FILES = [{"key": "landing/credit_default/b1/part-0.parquet", "etag": "e0", "size": 10}]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def decision(**overrides: object) -> DecisionRecord:
    base = DecisionRecord(pipeline=P, dag_run_id="run-1", candidate_version="3",
                          baseline_version="2", metric="roc_auc", candidate_value=0.85,
                          baseline_value=0.8, decision="promote", reason="beats champion",
                          data_rev="abc123", details={"candidate_metrics": {"roc_auc": 0.85}})
    return replace(base, **overrides)


# --- schema (the migrations themselves: test_store_migrations.py) -----------------------------


def test_every_batch_id_column_holds_1024_characters(store_url: str) -> None:
    """S3 keys run to 1024 bytes, so may a batch id (its folder name); 001-005 said 512."""
    store = Store(store_url)
    try:
        columns = [(t, c["name"], getattr(c["type"], "length", None))
                   for t in inspect(store.engine).get_table_names()
                   for c in inspect(store.engine).get_columns(t) if c["name"] == "batch_id"]
        assert {t for t, _, _ in columns} == {
            "batches", "quarantine", "training_runs", "drift_metrics", "training_batches",
            "batch_conflicts", "drift_crossings", "prediction_log", "scoring_batches",
            "scoring_batch_conflicts", "batch_replays"}
        if store.engine.dialect.name == "postgresql":  # SQLite keeps the declared 512, unenforced
            assert {length for _, _, length in columns} == {1024}
        long_id = "b" * 1024
        store.claim_batch(P, long_id, "fp", FILES, "run-1")
        store.quarantine_batch(P, long_id, "EMPTY_BATCH", "no rows", "s3://q/", None)
        assert store.get_batch(P, long_id).batch_id == long_id
        assert store.get_quarantine(P, long_id)["batch_id"] == long_id
    finally:
        store.engine.dispose()


def test_reopening_a_store_keeps_its_data(store_url: str) -> None:
    first = Store(store_url)
    first.claim_batch(P, "b1", "fp", FILES, "run-1")
    first.engine.dispose()
    before, after = upgrade(store_url)  # upgrading a current store again changes nothing
    assert before == after
    second = Store(store_url)
    try:
        assert second.known_batches(P) == {("b1", "fp")}
    finally:
        second.engine.dispose()


# --- batches -----------------------------------------------------------------------------------


def test_claim_batch_is_idempotent(store: Store) -> None:
    record, created = store.claim_batch(P, "b1", "fp-1", FILES, "run-1")
    assert created is True
    assert (record.pipeline, record.batch_id, record.fingerprint) == (P, "b1", "fp-1")
    assert record.files == FILES
    assert record.status == "claimed"
    assert record.dag_run_id == "run-1"
    assert record.reason_code is None

    again, created_again = store.claim_batch(P, "b1", "fp-2", [], "run-2")
    assert created_again is False
    assert again == record  # the first claim wins, unchanged


def test_batches_are_keyed_per_pipeline(store: Store) -> None:
    store.claim_batch(P, "b1", "fp", FILES, "run-1")
    _, created = store.claim_batch("other", "b1", "fp", FILES, "run-9")
    assert created is True
    store.claim_batch(P, "b0", "fp", FILES, "run-2")
    assert store.known_batches(P) == {("b0", "fp"), ("b1", "fp")}
    assert store.known_batches("other") == {("b1", "fp")}
    assert store.known_batches("nobody") == set()
    assert store.get_batch(P, "missing") is None


def test_a_changed_reupload_is_known_once_recorded_as_a_conflict(store: Store) -> None:
    store.claim_batch(P, "b1", "fp-1", FILES, "ingest-1")
    assert store.record_batch_conflict(P, "b1", "fp-2", FILES, "ingest-2") is True
    assert store.record_batch_conflict(P, "b1", "fp-2", FILES, "ingest-3") is False
    assert store.known_batches(P) == {("b1", "fp-1"), ("b1", "fp-2")}
    assert store.get_batch(P, "b1").fingerprint == "fp-1"  # the accepted content stays


def accept(store: Store, batch_id: str, rows: int = 10) -> None:
    store.claim_batch(P, batch_id, f"fp-{batch_id}", FILES, f"ingest-{batch_id}")
    store.accept_batch(P, batch_id, rows, f"s3://a/staging/{batch_id}.parquet")
    time.sleep(0.002)  # distinct arrival times, so the order is the landing order


def test_accepted_batches_filter_by_arrival_and_consumption(store: Store) -> None:
    for batch_id in ("b1", "b2", "b3"):
        accept(store, batch_id)
    store.claim_batch(P, "bad", "fp", FILES, "ingest-bad")
    store.quarantine_batch(P, "bad", "MISSING_COLUMNS", "no", "s3://q", None)
    every = store.accepted_batches(P)
    assert [b.batch_id for b in every] == ["b1", "b2", "b3"]
    assert every[0].rows_accepted == 10 and every[0].staged_uri.endswith("b1.parquet")
    b2_at = every[1].arrived_at
    assert [b.batch_id for b in store.accepted_batches(P, arrived_before=b2_at)] == ["b1"]
    assert [b.batch_id for b in store.accepted_batches(P, arrived_from=b2_at)] == ["b2", "b3"]
    store.take_training_batches(P, "train-1", ["b1"], live=True)
    store.take_training_batches(P, "shadow-1", ["b2"], live=False)
    assert [b.batch_id for b in store.accepted_batches(P, untrained_only=True)] == ["b2", "b3"]


def test_validation_reports_of_accepted_and_quarantined_batches(store: Store) -> None:
    store.claim_batch(P, "ok", "fp-ok", FILES, "ingest-ok")
    store.accept_batch(P, "ok", 10, "s3://a/staging/ok.parquet", {"passed": True, "checks": []})
    store.claim_batch(P, "bad", "fp-bad", FILES, "ingest-bad")
    store.quarantine_batch(P, "bad", "MISSING_COLUMNS", "no", "s3://q", {"passed": False})
    store.claim_batch(P, "old", "fp-old", FILES, "ingest-old")
    store.accept_batch(P, "old", 10, "s3://a/staging/old.parquet")  # before reports were kept
    assert store.validation_reports(P, ["ok", "bad", "old", "unknown"]) == {
        "ok": {"passed": True, "checks": []}, "bad": {"passed": False}}


def test_a_live_run_takes_a_batch_once_and_a_rerun_gets_its_selection(store: Store) -> None:
    for batch_id in ("b1", "b2"):
        accept(store, batch_id)
    assert store.take_training_batches(P, "train-1", ["b1", "b2"], live=True) == ["b1", "b2"]
    assert store.take_training_batches(P, "train-1", ["b2"], live=True) == ["b1", "b2"]
    with pytest.raises(BatchTaken):
        store.take_training_batches(P, "train-2", ["b2"], live=True)
    assert store.training_batch_ids(P, "train-2") == []  # all or nothing
    assert store.take_training_batches(P, "shadow-1", ["b1", "b2"], live=False) == ["b1", "b2"]
    assert store.take_training_batches(P, "shadow-2", ["b1"], live=False) == ["b1"]
    runs = store.training_runs_of_batch(P, "b1")
    assert [(r["dag_run_id"], r["live"]) for r in runs] == [
        ("train-1", True), ("shadow-1", False), ("shadow-2", False)]


def test_set_batch_status(store: Store) -> None:
    store.claim_batch(P, "b1", "fp", FILES, "run-1")
    store.set_batch_status(P, "b1", "accepted")
    record = store.get_batch(P, "b1")
    assert record is not None
    assert record.status == "accepted"
    assert record.reason_code is None


def test_quarantine_records_and_rejects(store: Store) -> None:
    store.claim_batch(P, "b1", "fp", FILES, "run-1")
    report = {"passed": False, "reason_code": "MISSING_COLUMNS"}
    store.quarantine_batch(P, "b1", "MISSING_COLUMNS", "missing columns: ['age']",
                           "s3://q/b1/", report)
    record = store.get_batch(P, "b1")
    assert record is not None
    assert (record.status, record.reason_code) == ("rejected", "MISSING_COLUMNS")
    assert record.reason == "missing columns: ['age']"
    q = store.get_quarantine(P, "b1")
    assert q is not None
    assert q["quarantine_uri"] == "s3://q/b1/"
    assert q["reason_code"] == "MISSING_COLUMNS"
    assert '"MISSING_COLUMNS"' in q["report_json"]


def test_quarantine_twice_keeps_the_first_row(store: Store) -> None:
    store.claim_batch(P, "b1", "fp", FILES, "run-1")
    store.quarantine_batch(P, "b1", "EMPTY_BATCH", "0 rows", "s3://q/1", None)
    store.quarantine_batch(P, "b1", "EMPTY_BATCH", "0 rows", "s3://q/2", None)
    q = store.get_quarantine(P, "b1")
    assert q is not None
    assert q["quarantine_uri"] == "s3://q/1"
    assert q["report_json"] is None
    assert store.get_quarantine(P, "b2") is None


# --- training runs -----------------------------------------------------------------------------


def test_training_run_start_update_get(store: Store) -> None:
    assert store.get_training_run(P, "run-1") is None
    trigger = {"batch_id": "b1", "files": FILES}
    store.start_training_run(P, "run-1", "b1", trigger)
    store.update_training_run(P, "run-1", data_rev="abc", data_md5="d41d8")
    store.start_training_run(P, "run-1", "b-other", {"retry": True})  # a retried task
    store.update_training_run(P, "run-1", mlflow_run_id="mlf-1", model_version="4")
    row = store.get_training_run(P, "run-1")
    assert row is not None
    assert row["batch_id"] == "b1"
    assert row["trigger"] == trigger
    assert (row["data_rev"], row["data_md5"]) == ("abc", "d41d8")  # not reset by the retry
    assert (row["mlflow_run_id"], row["model_version"]) == ("mlf-1", "4")
    assert row["updated_at"] >= row["created_at"]


def test_update_training_run_rejects_other_fields(store: Store) -> None:
    store.start_training_run(P, "run-1", "b1", {})
    with pytest.raises(ValueError, match="can only update"):
        store.update_training_run(P, "run-1", batch_id="b2")
    with pytest.raises(ValueError, match="can only update"):
        store.update_training_run(P, "run-1")
    row = store.get_training_run(P, "run-1")
    assert row is not None and row["batch_id"] == "b1"


# --- decisions ---------------------------------------------------------------------------------


def test_record_decision_is_immutable(store: Store) -> None:
    first = store.record_decision(decision())
    assert first.promote
    assert first.details == {"candidate_metrics": {"roc_auc": 0.85}}
    assert first.created_at
    assert replace(first, created_at="") == decision()

    second = store.record_decision(decision(decision="keep", candidate_value=0.5,
                                            reason="rerun", details={}))
    assert second == first
    assert store.get_decision(P, "run-1") == first
    assert store.decisions(P) == [first]


def test_decision_without_baseline(store: Store) -> None:
    stored = store.record_decision(decision(baseline_version=None, baseline_value=None,
                                            data_rev=None))
    assert stored.baseline_version is None
    assert stored.baseline_value is None
    assert stored.data_rev is None


def test_decisions_listed_in_creation_order(store: Store) -> None:
    store.record_decision(decision(dag_run_id="run-b"))
    time.sleep(0.005)  # created_at has millisecond resolution
    store.record_decision(decision(dag_run_id="run-a", decision="keep"))
    assert [d.dag_run_id for d in store.decisions(P)] == ["run-b", "run-a"]
    assert store.decisions("other") == []
    assert store.get_decision(P, "run-z") is None


# --- champion ----------------------------------------------------------------------------------


def test_first_champion_needs_expected_epoch_zero(store: Store) -> None:
    assert store.get_champion(P) is None
    assert store.move_champion(P, "1", expected_epoch=0, dag_run_id="run-1", data_rev="r1")
    champion = store.get_champion(P)
    assert champion is not None
    assert (champion.model_version, champion.epoch, champion.dag_run_id, champion.data_rev) == (
        "1", 1, "run-1", "r1")
    # A second "no champion yet" writer lost the race.
    assert not store.move_champion(P, "2", expected_epoch=0, dag_run_id="run-2", data_rev=None)
    assert store.get_champion(P) == champion


def test_move_champion_compare_and_set(store: Store) -> None:
    store.move_champion(P, "1", expected_epoch=0, dag_run_id="run-1", data_rev="r1")
    assert store.move_champion(P, "2", expected_epoch=1, dag_run_id="run-2", data_rev="r2")
    moved = store.get_champion(P)
    assert moved is not None
    assert (moved.model_version, moved.epoch, moved.dag_run_id) == ("2", 2, "run-2")

    # A run that read epoch 1 before the move is stale now.
    assert not store.move_champion(P, "3", expected_epoch=1, dag_run_id="run-3", data_rev="r3")
    assert store.get_champion(P) == moved
    assert not store.move_champion(P, "3", expected_epoch=7, dag_run_id="run-3", data_rev="r3")
    assert store.get_champion(P) == moved


def test_move_champion_of_a_pipeline_without_one_fails_for_nonzero_epoch(store: Store) -> None:
    assert not store.move_champion(P, "1", expected_epoch=1, dag_run_id="run-1", data_rev=None)
    assert store.get_champion(P) is None


def test_champions_are_per_pipeline(store: Store) -> None:
    store.move_champion(P, "1", expected_epoch=0, dag_run_id="run-1", data_rev=None)
    assert store.move_champion("other", "9", expected_epoch=0, dag_run_id="run-9",
                               data_rev=None)
    assert store.get_champion(P).model_version == "1"  # type: ignore[union-attr]
    assert store.get_champion("other").model_version == "9"  # type: ignore[union-attr]



def test_promote_champion_replaces_whichever_is_current_and_returns_the_audit_row(
        store: Store) -> None:
    first = store.promote_champion(P, "1", data_rev="r1", actor="alice", reason="first")
    assert first is not None and (first.epoch, first.previous_version) == (1, None)
    store.move_champion(P, "2", expected_epoch=1, dag_run_id="run-2", data_rev="r2")
    move = store.promote_champion(P, "3", data_rev="r3", actor="alice", reason="hotfix")
    assert move is not None
    assert (move.epoch, move.previous_version, move.model_version, move.action) == (
        3, "2", "3", "manual_promote")
    assert store.champion_moves(P)[-1] == asdict(move)
    assert store.promote_champion(P, "3", data_rev="r3", actor="bob", reason="again") is None
    assert len(store.champion_moves(P)) == 3


def test_rollback_champion_chooses_the_version_before_the_one_it_replaces(store: Store) -> None:
    for version in ("1", "2", "3"):
        store.promote_champion(P, version, data_rev=f"r{version}", actor="a", reason="up")
    back = store.rollback_champion(P, to=None, actor="bob", reason="3 misbehaves")
    assert back is not None
    assert (back.previous_version, back.model_version, back.data_rev, back.action) == (
        "3", "2", "r2", "rollback")
    again = store.rollback_champion(P, to=None, actor="bob", reason="one step back again")
    assert again is not None and (again.previous_version, again.model_version) == ("2", "3")
    to_one = store.rollback_champion(P, to="1", actor="bob", reason="the first one")
    assert to_one is not None and (to_one.model_version, to_one.data_rev) == ("1", "r1")
    assert store.rollback_champion(P, to="1", actor="bob", reason="already") is None
    with pytest.raises(MoveRefused, match="never the champion"):
        store.rollback_champion(P, to="9", actor="bob", reason="not a rollback")
    assert store.get_champion(P).model_version == "1"  # type: ignore[union-attr]


def test_rollback_champion_refuses_when_there_is_nothing_to_go_back_to(store: Store) -> None:
    with pytest.raises(MoveRefused, match="no champion"):
        store.rollback_champion(P, to=None, actor="bob", reason="x")
    store.promote_champion(P, "1", data_rev=None, actor="a", reason="first")
    with pytest.raises(MoveRefused, match="no previous champion"):
        store.rollback_champion(P, to=None, actor="bob", reason="x")
    assert [m["model_version"] for m in store.champion_moves(P)] == ["1"]


def test_racing_promotions_and_rollbacks_in_the_store_roll_back_to_the_right_version(
        store: Store) -> None:
    """Every rollback's target is the champion before the one its move replaced."""
    store.promote_champion(P, "1", data_rev=None, actor="a", reason="setup")
    store.promote_champion(P, "2", data_rev=None, actor="a", reason="setup")
    done: dict[str, ChampionMove | None] = {}
    barrier = threading.Barrier(8)

    def mover(i: int) -> None:
        barrier.wait()
        for n in range(5):
            reason = f"mover{i}-{n}"
            done[reason] = (store.promote_champion(P, str(1 + (i + n) % 4), data_rev=None,
                                                   actor="a", reason=reason) if i % 2 else
                            store.rollback_champion(P, to=None, actor="b", reason=reason))

    threads = [threading.Thread(target=mover, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    moves = store.champion_moves(P)
    assert [m["epoch"] for m in moves] == list(range(1, len(moves) + 1))
    assert all(b["previous_version"] == a["model_version"] for a, b in pairwise(moves))
    assert [m for a, m in pairwise(moves) if m["action"] == "rollback"
            and m["model_version"] != a["previous_version"]] == []
    # What each call returned is its audit row, and a call that returned None wrote none.
    assert {m["reason"]: m for m in moves[2:]} == {
        reason: asdict(move) for reason, move in done.items() if move is not None}


# --- reports -----------------------------------------------------------------------------------


def test_record_report_and_list(store: Store) -> None:
    store.record_report(P, "run-1", "data_drift", "json", "s3://r/drift.json")
    store.record_report(P, "run-1", "data_drift", "html", "s3://r/drift.html")
    store.record_report(P, "run-1", "data_summary", "html", "s3://r/summary.html")
    store.record_report(P, "run-1", "data_drift", "html", "s3://r/other.html")  # retry
    store.record_report(P, "run-2", "data_drift", "html", "s3://r/run2.html")
    rows = store.reports(P, "run-1")
    assert [(r["kind"], r["format"], r["uri"]) for r in rows] == [
        ("data_drift", "html", "s3://r/drift.html"),
        ("data_drift", "json", "s3://r/drift.json"),
        ("data_summary", "html", "s3://r/summary.html"),
    ]
    assert store.reports(P, "run-3") == []
