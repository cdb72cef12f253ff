"""The project's metadata store: batches, training runs, decisions, the champion.

DDL lives in `sql/`; this module applies it once and offers typed, idempotent writes.
Every write is keyed (pipeline + batch id or DAG run id) so that a retried Airflow task
finds the row it wrote before instead of writing a second one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import IntegrityError

if TYPE_CHECKING:  # the store itself never imports pandas: cheap for triggers polling it
    from mlops_lib.drift import DriftResult

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def query(name: str) -> str:
    """A read query from `sql/queries/` (shared by the store and the Airflow triggers)."""
    return (SQL_DIR / "queries" / f"{name}.sql").read_text()


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class BatchRecord:
    pipeline: str
    batch_id: str
    fingerprint: str
    files: list[dict[str, Any]]
    status: str
    reason_code: str | None
    reason: str | None
    dag_run_id: str
    arrived_at: str
    rows_accepted: int | None = None
    staged_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class BatchTaken(Exception):
    """Another live training run consumed one of these batches first."""


@dataclass(frozen=True)
class DecisionRecord:
    pipeline: str
    dag_run_id: str
    candidate_version: str
    baseline_version: str | None
    metric: str
    candidate_value: float
    baseline_value: float | None
    decision: str
    reason: str
    data_rev: str | None
    details: dict[str, Any]
    created_at: str = ""

    @property
    def promote(self) -> bool:
        return self.decision == "promote"


@dataclass(frozen=True)
class ChampionRecord:
    pipeline: str
    model_version: str
    data_rev: str | None
    dag_run_id: str
    epoch: int
    updated_at: str


class Store:
    """Typed access to the metadata store at a SQLAlchemy URL (SQLite or PostgreSQL)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if migrate:
            apply_migrations(self.engine)

    # -- batches ---------------------------------------------------------------------------
    def claim_batch(self, pipeline: str, batch_id: str, fingerprint: str,
                    files: list[dict[str, Any]], dag_run_id: str) -> tuple[BatchRecord, bool]:
        """Record a batch as claimed by a run; returns (record, created).

        If the batch is already recorded the existing row is returned unchanged, so a re-fired
        sensor or a retried task never processes a batch twice.
        """
        now = utcnow()
        created = self._insert_once("batches", {
            "pipeline": pipeline, "batch_id": batch_id, "fingerprint": fingerprint,
            "files_json": json.dumps(files), "status": "claimed", "reason_code": None,
            "reason": None, "dag_run_id": dag_run_id, "arrived_at": now, "updated_at": now,
        })
        record = self.get_batch(pipeline, batch_id)
        assert record is not None
        return record, created

    def get_batch(self, pipeline: str, batch_id: str) -> BatchRecord | None:
        row = self._one("SELECT * FROM batches WHERE pipeline = :p AND batch_id = :b",
                        p=pipeline, b=batch_id)
        return None if row is None else _batch(row)

    def known_batches(self, pipeline: str) -> set[tuple[str, str]]:
        """(batch id, fingerprint) of every batch content seen: recorded or refused as changed."""
        rows = self._all(query("known_batches"), pipeline=pipeline)
        return {(r["batch_id"], r["fingerprint"]) for r in rows}

    def record_batch_conflict(self, pipeline: str, batch_id: str, fingerprint: str,
                              files: list[dict[str, Any]], dag_run_id: str) -> bool:
        return self._insert_once("batch_conflicts", {
            "pipeline": pipeline, "batch_id": batch_id, "fingerprint": fingerprint,
            "files_json": json.dumps(files), "dag_run_id": dag_run_id, "created_at": utcnow()})

    def accept_batch(self, pipeline: str, batch_id: str, rows: int, staged_uri: str,
                     report: dict[str, Any] | None = None) -> None:
        self._exec("UPDATE batches SET status = 'accepted', rows_accepted = :n, "
                   "staged_uri = :u, report_json = :r, updated_at = :t "
                   "WHERE pipeline = :p AND batch_id = :b",
                   n=rows, u=staged_uri, r=None if report is None else json.dumps(report),
                   t=utcnow(), p=pipeline, b=batch_id)

    def validation_reports(self, pipeline: str, batch_ids: list[str]) -> dict[str, Any]:
        """The validation report of each batch (accepted or quarantined) that has one."""
        found: dict[str, Any] = {}
        for batch_id in batch_ids:
            for sql in ("SELECT report_json FROM batches WHERE pipeline = :p AND batch_id = :b",
                        "SELECT report_json FROM quarantine WHERE pipeline = :p AND batch_id = :b"):
                row = self._one(sql, p=pipeline, b=batch_id)
                if row is not None and row["report_json"]:
                    found[batch_id] = json.loads(row["report_json"])
                    break
        return found

    def accepted_batches(self, pipeline: str, *, arrived_from: str | None = None,
                         arrived_before: str | None = None,
                         untrained_only: bool = False) -> list[BatchRecord]:
        """Accepted batches by arrival time (oldest first), optionally in [from, before) and
        only those no live training run has consumed."""
        sql = ["SELECT * FROM batches b WHERE b.pipeline = :p AND b.status = 'accepted'"]
        if arrived_from is not None:
            sql.append("AND b.arrived_at >= :start")
        if arrived_before is not None:
            sql.append("AND b.arrived_at < :end")
        if untrained_only:
            sql.append("AND NOT EXISTS (SELECT 1 FROM training_batches t WHERE "
                       "t.pipeline = b.pipeline AND t.batch_id = b.batch_id AND t.live = 1)")
        sql.append("ORDER BY b.arrived_at, b.batch_id")
        rows = self._all(" ".join(sql), p=pipeline, start=arrived_from, end=arrived_before)
        return [_batch(r) for r in rows]

    def take_training_batches(self, pipeline: str, dag_run_id: str, batch_ids: list[str], *,
                              live: bool) -> list[str]:
        """Record the batches a training run trains on; a re-run gets its first selection.

        Live runs consume: if another live run took any of them first, nothing is recorded
        and BatchTaken is raised (both runs cannot train on the same new data).
        """
        existing = self.training_batch_ids(pipeline, dag_run_id)
        if existing:
            return existing
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                for batch_id in batch_ids:
                    conn.execute(*self._insert_sql("training_batches", {
                        "pipeline": pipeline, "dag_run_id": dag_run_id, "batch_id": batch_id,
                        "live": int(live), "created_at": now}))
        except IntegrityError as exc:
            existing = self.training_batch_ids(pipeline, dag_run_id)
            if existing:  # a concurrent retry of this very run wrote them
                return existing
            raise BatchTaken(f"another live run consumed one of {batch_ids}") from exc
        return list(batch_ids)

    def training_runs_of_batch(self, pipeline: str, batch_id: str) -> list[dict[str, Any]]:
        """The training runs that trained on a batch (live first, then by time)."""
        return [{**r, "live": bool(r["live"])} for r in self._all(
            "SELECT dag_run_id, live, created_at FROM training_batches WHERE pipeline = :p "
            "AND batch_id = :b ORDER BY live DESC, created_at", p=pipeline, b=batch_id)]

    def training_batch_ids(self, pipeline: str, dag_run_id: str) -> list[str]:
        rows = self._all("SELECT t.batch_id FROM training_batches t JOIN batches b ON "
                         "b.pipeline = t.pipeline AND b.batch_id = t.batch_id WHERE "
                         "t.pipeline = :p AND t.dag_run_id = :r ORDER BY b.arrived_at, "
                         "t.batch_id", p=pipeline, r=dag_run_id)
        return [r["batch_id"] for r in rows]

    def set_batch_status(self, pipeline: str, batch_id: str, status: str,
                         reason_code: str | None = None, reason: str | None = None) -> None:
        self._exec("UPDATE batches SET status = :s, reason_code = :c, reason = :r, "
                   "updated_at = :u WHERE pipeline = :p AND batch_id = :b",
                   s=status, c=reason_code, r=reason, u=utcnow(), p=pipeline, b=batch_id)

    def quarantine_batch(self, pipeline: str, batch_id: str, reason_code: str, reason: str,
                         quarantine_uri: str, report: dict[str, Any] | None) -> None:
        self._insert_once("quarantine", {
            "pipeline": pipeline, "batch_id": batch_id, "reason_code": reason_code,
            "reason": reason, "quarantine_uri": quarantine_uri,
            "report_json": json.dumps(report) if report is not None else None,
            "created_at": utcnow(),
        })
        self.set_batch_status(pipeline, batch_id, "rejected", reason_code, reason)

    def get_quarantine(self, pipeline: str, batch_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM quarantine WHERE pipeline = :p AND batch_id = :b",
                         p=pipeline, b=batch_id)

    # -- training runs ---------------------------------------------------------------------
    def start_training_run(self, pipeline: str, dag_run_id: str, batch_id: str,
                           trigger: dict[str, Any]) -> None:
        now = utcnow()
        self._insert_once("training_runs", {
            "pipeline": pipeline, "dag_run_id": dag_run_id, "batch_id": batch_id,
            "trigger_json": json.dumps(trigger), "data_rev": None, "data_md5": None,
            "mlflow_run_id": None, "model_version": None, "created_at": now, "updated_at": now,
        })

    def update_training_run(self, pipeline: str, dag_run_id: str, **fields: str | None) -> None:
        allowed = {"data_rev", "data_md5", "mlflow_run_id", "model_version"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"can only update {sorted(allowed)}, got {sorted(fields)}")
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        self._exec(f"UPDATE training_runs SET {assignments}, updated_at = :updated_at "
                   "WHERE pipeline = :pipeline AND dag_run_id = :dag_run_id",
                   **fields, updated_at=utcnow(), pipeline=pipeline, dag_run_id=dag_run_id)

    def get_training_run(self, pipeline: str, dag_run_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM training_runs WHERE pipeline = :p AND dag_run_id = :r",
                        p=pipeline, r=dag_run_id)
        if row is not None:
            row["trigger"] = json.loads(row.pop("trigger_json"))
        return row

    # -- decisions and the champion --------------------------------------------------------
    def record_decision(self, d: DecisionRecord) -> DecisionRecord:
        """Write the run's decision once; a re-run gets the decision already taken."""
        self._insert_once("decisions", _decision_row(d))
        stored = self.get_decision(d.pipeline, d.dag_run_id)
        assert stored is not None
        return stored

    def get_decision(self, pipeline: str, dag_run_id: str) -> DecisionRecord | None:
        row = self._one("SELECT * FROM decisions WHERE pipeline = :p AND dag_run_id = :r",
                        p=pipeline, r=dag_run_id)
        return _decision(row) if row else None

    def decisions(self, pipeline: str) -> list[DecisionRecord]:
        rows = self._all("SELECT * FROM decisions WHERE pipeline = :p ORDER BY created_at",
                         p=pipeline)
        return [_decision(r) for r in rows]

    def get_champion(self, pipeline: str) -> ChampionRecord | None:
        row = self._one("SELECT * FROM champion WHERE pipeline = :p", p=pipeline)
        return ChampionRecord(**row) if row else None

    def move_champion(self, pipeline: str, model_version: str, *, expected_epoch: int,
                      dag_run_id: str | None, data_rev: str | None, action: str = "decision",
                      actor: str = "pipeline", reason: str = "") -> bool:
        """Compare-and-set the champion and audit the move; False when someone moved it first.

        `expected_epoch` 0 means "there is no champion yet".
        """
        try:
            with self.engine.begin() as conn:
                return self._move(conn, pipeline, model_version, expected_epoch, dag_run_id,
                                  data_rev, action, actor, reason)
        except IntegrityError:  # lost the race to create the first champion
            return False

    def record_decision_and_move(self, d: DecisionRecord, *, expected_epoch: int,
                                 actor: str = "pipeline") -> tuple[DecisionRecord, bool]:
        """Write the run's decision and, on promote, move the champion in the same transaction.

        A promote whose compare-and-set loses (the champion moved since the evaluation) is
        recorded as `superseded`. A run's decision is written once: a retry gets the first one.
        Returns the stored decision and whether this call moved the champion.
        """
        existing = self.get_decision(d.pipeline, d.dag_run_id)
        if existing is not None:
            return existing, False
        if d.promote:
            moved = False
            try:
                now = utcnow()  # the decision and its move share one moment, like one commit
                with self.engine.begin() as conn:
                    moved = self._move(conn, d.pipeline, d.candidate_version, expected_epoch,
                                       d.dag_run_id, d.data_rev, "decision", actor, d.reason,
                                       now=now)
                    if moved:
                        conn.execute(*self._insert_sql("decisions", _decision_row(d, now)))
            except IntegrityError:
                moved = False  # lost the first-champion race, or a retry wrote the decision
            if moved:
                stored = self.get_decision(d.pipeline, d.dag_run_id)
                assert stored is not None
                return stored, True
            d = replace(d, decision="superseded",
                        reason=f"{d.reason}; superseded: the champion moved after this run's "
                               f"evaluation (expected epoch {expected_epoch})")
        self._insert_once("decisions", _decision_row(d))
        stored = self.get_decision(d.pipeline, d.dag_run_id)
        assert stored is not None
        return stored, False

    def champion_moves(self, pipeline: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM champion_moves WHERE pipeline = :p ORDER BY epoch",
                         p=pipeline)

    def _move(self, conn: Connection, pipeline: str, model_version: str, expected_epoch: int,
              dag_run_id: str | None, data_rev: str | None, action: str, actor: str,
              reason: str, now: str | None = None) -> bool:
        now = now or utcnow()
        values = {"pipeline": pipeline, "model_version": model_version, "data_rev": data_rev,
                  "dag_run_id": dag_run_id or "", "epoch": expected_epoch + 1,
                  "updated_at": now}
        previous = None
        if expected_epoch == 0:
            conn.execute(*self._insert_sql("champion", values))
        else:
            row = conn.execute(text("SELECT model_version FROM champion WHERE pipeline = :p "
                                    "AND epoch = :e"), {"p": pipeline, "e": expected_epoch})
            current = row.first()
            if current is None:
                return False
            previous = current[0]
            result = conn.execute(text(
                "UPDATE champion SET model_version = :model_version, data_rev = :data_rev, "
                "dag_run_id = :dag_run_id, epoch = :epoch, updated_at = :updated_at "
                "WHERE pipeline = :pipeline AND epoch = :expected"),
                {**values, "expected": expected_epoch})
            if result.rowcount != 1:
                return False
        conn.execute(*self._insert_sql("champion_moves", {
            "pipeline": pipeline, "epoch": expected_epoch + 1, "model_version": model_version,
            "previous_version": previous, "action": action, "actor": actor, "reason": reason,
            "dag_run_id": dag_run_id, "data_rev": data_rev, "created_at": now}))
        return True

    # -- reports ---------------------------------------------------------------------------
    def record_report(self, pipeline: str, dag_run_id: str, kind: str, fmt: str,
                      uri: str) -> None:
        self._insert_once("reports", {"pipeline": pipeline, "dag_run_id": dag_run_id,
                                      "kind": kind, "format": fmt, "uri": uri,
                                      "created_at": utcnow()})

    def reports(self, pipeline: str, dag_run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM reports WHERE pipeline = :p AND dag_run_id = :r "
                         "ORDER BY kind, format", p=pipeline, r=dag_run_id)

    # -- plumbing --------------------------------------------------------------------------
    def _insert_once(self, table: str, values: dict[str, Any]) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(*self._insert_sql(table, values))
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _insert_sql(table: str, values: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        cols = ", ".join(values)
        params = ", ".join(f":{c}" for c in values)
        return text(f"INSERT INTO {table} ({cols}) VALUES ({params})"), values

    def _exec(self, sql: str, **params: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def _all(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def _one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self._all(sql, **params)
        return rows[0] if rows else None

    # -- drift metrics ---------------------------------------------------------------------
    def record_drift(self, pipeline: str, batch_id: str, dag_run_id: str,
                     result: DriftResult) -> int:
        """Store a drift result, one row per feature; returns the rows written now.

        Keyed by pipeline + batch + feature: a retried or repeated run writes nothing and the
        first statistics stored for a batch stay.
        """
        now = utcnow()
        return sum(self._insert_once("drift_metrics", {
            "pipeline": pipeline, "batch_id": batch_id, "dag_run_id": dag_run_id,
            "feature": f.feature, "kind": f.kind, "method": f.method, "score": f.score,
            "threshold": f.threshold, "psi": f.psi, "wasserstein": f.wasserstein, "js": f.js,
            "unseen_share": f.unseen_share, "null_share": f.null_share,
            "drifted": int(f.drifted), "created_at": now,
        }) for f in result.features)

    def drift_metrics(self, pipeline: str, batch_id: str) -> list[dict[str, Any]]:
        """The stored drift rows of a batch, by feature name; `drifted` as a bool."""
        rows = self._all("SELECT * FROM drift_metrics WHERE pipeline = :p AND batch_id = :b "
                         "ORDER BY feature", p=pipeline, b=batch_id)
        return [{**r, "drifted": bool(r["drifted"])} for r in rows]

    # -- lineage ---------------------------------------------------------------------------
    def training_run_of_version(self, pipeline: str, version: str) -> dict[str, Any] | None:
        """The training run that registered `version` of the pipeline's model, or None."""
        row = self._one("SELECT * FROM training_runs WHERE pipeline = :p AND model_version = :v "
                        "ORDER BY updated_at DESC", p=pipeline, v=str(version))
        if row is not None:
            row["trigger"] = json.loads(row.pop("trigger_json"))
        return row

    # -- drift policy ----------------------------------------------------------------------
    if TYPE_CHECKING:  # here, not in the module header, so this section stands on its own
        from mlops_lib.drift_policy import BatchDrift, DriftVerdict

    def drift_history(self, pipeline: str, limit_batches: int = 50) -> list[BatchDrift]:
        """Per-batch drift summaries of the newest `limit_batches` batches, oldest first."""
        from mlops_lib.drift_policy import summarise

        rows = self._all(
            "SELECT m.batch_id, m.feature, m.score, m.psi, m.drifted, m.created_at "
            "FROM drift_metrics m JOIN (SELECT batch_id, MIN(created_at) AS first_at "
            "FROM drift_metrics WHERE pipeline = :p GROUP BY batch_id "
            "ORDER BY first_at DESC, batch_id DESC LIMIT :n) recent "
            "ON m.batch_id = recent.batch_id WHERE m.pipeline = :p", p=pipeline, n=limit_batches)
        return summarise(rows)

    def record_drift_crossing(self, pipeline: str, batch_id: str, dag_run_id: str,
                              verdict: DriftVerdict) -> bool:
        """Record a crossing keyed by its newest batch; False when it was recorded before."""
        if not verdict.crossed:
            raise ValueError(f"not a crossing: {verdict.reason}")
        evidence = {"batch_ids": list(verdict.batch_ids), **verdict.evidence}
        return self._insert_once("drift_crossings", {
            "pipeline": pipeline, "batch_id": batch_id, "dag_run_id": dag_run_id,
            "reason": verdict.reason, "evidence_json": json.dumps(evidence),
            "created_at": utcnow()})

    def last_drift_crossing(self, pipeline: str) -> dict[str, Any] | None:
        """The newest crossing (its `created_at` starts the cooldown), or None."""
        row = self._one("SELECT * FROM drift_crossings WHERE pipeline = :p "
                        "ORDER BY created_at DESC, batch_id DESC LIMIT 1", p=pipeline)
        return None if row is None else self._crossing(row)

    def drift_crossings(self, pipeline: str) -> list[dict[str, Any]]:
        """Every crossing of the pipeline, oldest first, `evidence` parsed."""
        rows = self._all("SELECT * FROM drift_crossings WHERE pipeline = :p "
                         "ORDER BY created_at, batch_id", p=pipeline)
        return [self._crossing(r) for r in rows]

    @staticmethod
    def _crossing(row: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in row.items() if k != "evidence_json"},
                "evidence": json.loads(row["evidence_json"])}


def _batch(row: dict[str, Any]) -> BatchRecord:
    return BatchRecord(pipeline=row["pipeline"], batch_id=row["batch_id"],
                       fingerprint=row["fingerprint"], files=json.loads(row["files_json"]),
                       status=row["status"], reason_code=row["reason_code"],
                       reason=row["reason"], dag_run_id=row["dag_run_id"],
                       arrived_at=row["arrived_at"], rows_accepted=row.get("rows_accepted"),
                       staged_uri=row.get("staged_uri"))


def _decision_row(d: DecisionRecord, created_at: str | None = None) -> dict[str, Any]:
    return {"pipeline": d.pipeline, "dag_run_id": d.dag_run_id,
            "candidate_version": d.candidate_version, "baseline_version": d.baseline_version,
            "metric": d.metric, "candidate_value": d.candidate_value,
            "baseline_value": d.baseline_value, "decision": d.decision, "reason": d.reason,
            "data_rev": d.data_rev, "details_json": json.dumps(d.details),
            "created_at": created_at or utcnow()}


def _decision(row: dict[str, Any]) -> DecisionRecord:
    details = json.loads(row.pop("details_json"))
    return DecisionRecord(**row, details=details)


def apply_migrations(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply every `sql/NNN_*.sql` not yet recorded, in order; returns the names recorded now.

    Portable DDL is the rule. A migration only one database needs is named
    `NNN_<name>.<dialect>.sql` (`006_wide_batch_ids.postgresql.sql`, the dialect as SQLAlchemy
    names it: `engine.dialect.name`); on any other dialect its statements are skipped, but it
    is recorded (and returned) like the others, so it is never tried again and every store
    holds the same list of migrations."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations ("
                          "name VARCHAR(128) PRIMARY KEY, applied_at VARCHAR(32) NOT NULL)"))
        done = {r[0] for r in conn.execute(text("SELECT name FROM schema_migrations"))}
    applied = []
    for path in sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql")):
        if path.name in done:
            continue
        stem = path.name.removesuffix(".sql")
        dialect = stem.rpartition(".")[2] if "." in stem else None
        ours = dialect is None or dialect == engine.dialect.name
        try:
            with engine.begin() as conn:
                for statement in _statements(path.read_text()) if ours else []:
                    conn.execute(text(statement))
                conn.execute(text("INSERT INTO schema_migrations (name, applied_at) "
                                  "VALUES (:n, :t)"), {"n": path.name, "t": utcnow()})
        except IntegrityError:
            continue  # another process applied it concurrently
        applied.append(path.name)
    return applied


def _statements(sql: str) -> list[str]:
    without_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in without_comments.split(";") if s.strip()]
