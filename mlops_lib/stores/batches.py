"""Batches: claimed by the run that found them, accepted or quarantined, taken by training."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mlops_lib.stores.database import query
from mlops_lib.stores.records import BatchRecord, BatchTaken, batch_of_row, utcnow
from mlops_lib.stores.tables import Tables


class BatchTables(Tables):
    """`batches`, `batch_conflicts`, `quarantine` and `training_batches`."""

    def claim_batch(self, pipeline: str, batch_id: str, fingerprint: str,
                    files: list[dict[str, Any]], dag_run_id: str,
                    event_time: str | None = None) -> tuple[BatchRecord, bool]:
        """Record a batch as claimed by a run; returns (record, created). `event_time`: the
        day its data belongs to, when its folder name is a date partition.

        If the batch is already recorded the existing row is returned unchanged, so a re-fired
        sensor or a retried task never processes a batch twice.
        """
        now = utcnow()
        created = self._insert_once("batches", {
            "pipeline": pipeline, "batch_id": batch_id, "fingerprint": fingerprint,
            "files_json": json.dumps(files), "status": "claimed", "reason_code": None,
            "reason": None, "dag_run_id": dag_run_id, "arrived_at": now, "updated_at": now,
            "event_time": event_time,
        })
        record = self.get_batch(pipeline, batch_id)
        assert record is not None
        return record, created

    def get_batch(self, pipeline: str, batch_id: str) -> BatchRecord | None:
        row = self._one("SELECT * FROM batches WHERE pipeline = :p AND batch_id = :b",
                        p=pipeline, b=batch_id)
        return None if row is None else batch_of_row(row)

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
                     report: dict[str, Any] | None = None,
                     event_span: tuple[str, str] | None = None) -> None:
        """Mark the batch accepted, unless it was rejected: a verdict of quarantine is final.
        `event_span`: the oldest and newest event time of its rows, which then replace the
        partition's day as its data time."""
        span = {} if event_span is None else dict(zip(("start", "end"), event_span,
                                                        strict=True))
        sets = "event_time = :start, event_time_end = :end, " if span else ""
        self._exec("UPDATE batches SET status = 'accepted', rows_accepted = :n, "
                   f"staged_uri = :u, report_json = :r, {sets}updated_at = :t "
                   "WHERE pipeline = :p AND batch_id = :b AND status <> 'rejected'",
                   n=rows, u=staged_uri, r=None if report is None else json.dumps(report),
                   t=utcnow(), p=pipeline, b=batch_id, **span)

    def accept_replayed_batch(self, pipeline: str, batch_id: str, fingerprint: str,
                              files: list[dict[str, Any]], rows: int, staged_uri: str,
                              report: dict[str, Any],
                              event_span: tuple[str, str] | None = None) -> bool:
        """A quarantined batch accepted by a replay (`mlops quarantine replay`), with the
        content it judged; the quarantine row stays. False when the batch was not rejected."""
        span = {} if event_span is None else dict(zip(("start", "end"), event_span,
                                                        strict=True))
        sets = "event_time = :start, event_time_end = :end, " if span else ""
        with self._begin() as conn:
            done = conn.execute(text(
                "UPDATE batches SET status = 'accepted', reason_code = NULL, reason = NULL, "
                "fingerprint = :f, files_json = :files, rows_accepted = :n, staged_uri = :u, "
                f"report_json = :r, {sets}updated_at = :t "
                "WHERE pipeline = :p AND batch_id = :b AND status = 'rejected'"),
                {"f": fingerprint, "files": json.dumps(files), "n": rows, "u": staged_uri,
                 "r": json.dumps(report), "t": utcnow(), "p": pipeline, "b": batch_id, **span})
            return bool(done.rowcount)

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
                         arrived_before: str | None = None, untrained_only: bool = False,
                         by_data_time: bool = False) -> list[BatchRecord]:
        """Accepted batches by arrival time (oldest first), optionally in [from, before) and
        only those no live training run has consumed. `by_data_time`: the bounds apply to the
        batch's data time instead (its span of event times, else its partition's day, else
        its arrival): the batches with any data in [from, before)."""
        sql = ["SELECT * FROM batches b WHERE b.pipeline = :p AND b.status = 'accepted'"]
        begins = "COALESCE(b.event_time, b.arrived_at)" if by_data_time else "b.arrived_at"
        ends = ("COALESCE(b.event_time_end, b.event_time, b.arrived_at)" if by_data_time
                else "b.arrived_at")
        if arrived_from is not None:  # by data time: any of its rows is this new
            sql.append(f"AND {ends} >= :start")
        if arrived_before is not None:  # by data time: any of its rows is older than the end
            sql.append(f"AND {begins} < :end")
        if untrained_only:
            sql.append("AND NOT EXISTS (SELECT 1 FROM training_batches t WHERE "
                       "t.pipeline = b.pipeline AND t.batch_id = b.batch_id AND t.live = 1)")
        sql.append("ORDER BY b.arrived_at, b.batch_id")
        rows = self._all(" ".join(sql), p=pipeline, start=arrived_from, end=arrived_before)
        return [batch_of_row(r) for r in rows]

    def recent_batches(self, pipeline: str, limit: int) -> list[BatchRecord]:
        """The newest `limit` batches of any status, newest first."""
        rows = self._all("SELECT * FROM batches WHERE pipeline = :p "
                         "ORDER BY arrived_at DESC, batch_id DESC LIMIT :n", p=pipeline, n=limit)
        return [batch_of_row(r) for r in rows]

    def take_training_batches(self, pipeline: str, dag_run_id: str, batch_ids: list[str], *,
                              live: bool, consumed: Collection[str] | None = None) -> list[str]:
        """Record the batches a training run trains on; a re-run gets its first selection.

        Live runs consume the new batches among them (`consumed`; all of them when not
        given): if another live run took any of those first, nothing is recorded and
        BatchTaken is raised (both runs cannot train on the same new data). The older batches
        of a training window are recorded as read, like a shadow run's.
        """
        existing = self.training_batch_ids(pipeline, dag_run_id)
        if existing:
            return existing
        now = utcnow()
        taking = set(batch_ids if consumed is None else consumed) if live else set()
        try:
            with self._begin() as conn:
                for batch_id in batch_ids:
                    conn.execute(*self._insert_sql("training_batches", {
                        "pipeline": pipeline, "dag_run_id": dag_run_id, "batch_id": batch_id,
                        "live": int(batch_id in taking), "created_at": now}))
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
                         "t.pipeline = :p AND t.dag_run_id = :r ORDER BY "
                         "COALESCE(b.event_time, b.arrived_at), b.arrived_at, "
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
