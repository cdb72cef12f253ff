"""Alerts and batch replays: what the service told an operator, and what an operator did.

An alert is keyed by pipeline, kind and subject (the batch, the run, the freshness window it
is about), so a retried task or the next freshness check finds the alert raised before and
sends nothing twice. A replay is keyed by the content it judged and the contract that judged
it, so replaying the same bytes under the same spec gives back the recorded verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import text

from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables

Severity = Literal["page", "ticket", "info"]
# Not an alert: when the freshness check began watching a pipeline that never had a batch
# (raised resolved, never sent, never listed).
WATCH_KIND = "freshness_watch"


@dataclass(frozen=True)
class AlertRecord:
    pipeline: str
    kind: str
    subject: str
    severity: str
    summary: str
    runbook: str
    created_at: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    delivered_at: str | None = None
    delivery_error: str | None = None
    resolved_at: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertRecord:
        row = dict(row)
        details = json.loads(row.pop("details_json") or "{}")
        return cls(details=details, **row)


@dataclass(frozen=True)
class ReplayRecord:
    pipeline: str
    batch_id: str
    fingerprint: str
    spec_digest: str
    source: str
    previous_code: str | None
    outcome: str
    reason_code: str | None
    reason: str | None
    actor: str
    created_at: str


class AlertTables(Tables):
    """`alerts` and `batch_replays`."""

    def raise_alert(self, alert: AlertRecord, *, resolved: bool = False) -> tuple[AlertRecord,
                                                                                   bool]:
        """Record an alert once; returns (the alert as stored, created). An alert already
        raised on the same subject comes back as it was (delivered or not)."""
        now = utcnow()
        created = self._insert_once("alerts", {
            "pipeline": alert.pipeline, "kind": alert.kind, "subject": alert.subject,
            "severity": alert.severity, "summary": alert.summary,
            "details_json": json.dumps(alert.details, sort_keys=True, default=str),
            "runbook": alert.runbook, "created_at": now, "delivered_at": None,
            "delivery_error": None, "resolved_at": now if resolved else None})
        stored = self.get_alert(alert.pipeline, alert.kind, alert.subject)
        assert stored is not None  # inserted, or there before: alerts are never deleted
        return stored, created

    def get_alert(self, pipeline: str, kind: str, subject: str) -> AlertRecord | None:
        row = self._one("SELECT * FROM alerts WHERE pipeline = :p AND kind = :k "
                        "AND subject = :s", p=pipeline, k=kind, s=subject)
        return None if row is None else AlertRecord.from_row(row)

    def mark_delivered(self, alert: AlertRecord, error: str | None = None) -> None:
        """The notifiers' outcome: delivered (error None) or the error, for the next try."""
        self._exec("UPDATE alerts SET delivered_at = :d, delivery_error = :e "
                   "WHERE pipeline = :p AND kind = :k AND subject = :s",
                   d=None if error else utcnow(), e=error, p=alert.pipeline, k=alert.kind,
                   s=alert.subject)

    def resolve_alerts(self, pipeline: str, kinds: Iterable[str],
                       subject: str | None = None) -> int:
        """Close the open alerts of these kinds (of one subject, or all); returns how many."""
        kinds = list(kinds)
        if not kinds:
            return 0
        names = ", ".join(f":k{i}" for i in range(len(kinds)))
        params: dict[str, Any] = {f"k{i}": k for i, k in enumerate(kinds)}
        only = "" if subject is None else " AND subject = :s"
        if subject is not None:
            params["s"] = subject
        with self._begin() as conn:
            done = conn.execute(text(
                f"UPDATE alerts SET resolved_at = :t WHERE pipeline = :p AND resolved_at IS "
                f"NULL AND kind IN ({names}){only}"), {"t": utcnow(), "p": pipeline, **params})
            return int(done.rowcount or 0)

    def alerts(self, pipeline: str | None = None, *, open_only: bool = False,
               limit: int | None = None) -> list[AlertRecord]:
        """Alerts newest first: of one pipeline or all, open ones only if asked."""
        where = ["kind <> :watch"] + ([] if pipeline is None else ["pipeline = :p"])
        if open_only:
            where.append("resolved_at IS NULL")
        sql = ("SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
               + " ORDER BY created_at DESC" + ("" if limit is None else f" LIMIT {int(limit)}"))
        return [AlertRecord.from_row(r) for r in self._all(sql, p=pipeline, watch=WATCH_KIND)]

    def record_replay(self, replay: ReplayRecord) -> tuple[ReplayRecord, bool]:
        """Record a replay's verdict once per content and spec; (as stored, created)."""
        created = self._insert_once("batch_replays", dict(replay.__dict__))
        row = self._one("SELECT * FROM batch_replays WHERE pipeline = :p AND batch_id = :b "
                        "AND fingerprint = :f AND spec_digest = :d", p=replay.pipeline,
                        b=replay.batch_id, f=replay.fingerprint, d=replay.spec_digest)
        assert row is not None
        return ReplayRecord(**row), created

    def replays(self, pipeline: str, batch_id: str | None = None) -> list[ReplayRecord]:
        only = "" if batch_id is None else " AND batch_id = :b"
        return [ReplayRecord(**r) for r in self._all(
            f"SELECT * FROM batch_replays WHERE pipeline = :p{only} ORDER BY created_at",
            p=pipeline, b=batch_id)]

    def quarantined_batches(self, pipeline: str | None = None) -> list[dict[str, Any]]:
        """Batches rejected and not accepted since (by a replay): the quarantine's rows with
        the batch's arrival, oldest first."""
        only = "" if pipeline is None else " AND q.pipeline = :p"
        return self._all(
            "SELECT q.*, b.arrived_at, b.fingerprint FROM quarantine q JOIN batches b "
            "ON b.pipeline = q.pipeline AND b.batch_id = q.batch_id "
            f"WHERE b.status = 'rejected'{only} ORDER BY b.arrived_at", p=pipeline)
