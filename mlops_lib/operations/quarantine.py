"""`mlops quarantine list|show|replay`: the batches a pipeline refused, and a second look.

A replay judges a quarantined batch again with the validate step's own checks and staging
(`steps.ingest.check_batch`, `stage_batch`): the producer's fixed upload under the batch's
landing folder (`landing`, a new fingerprint), or the quarantine copy (`quarantine`, after a
spec change). It is audited (`batch_replays`: who, why, the content and the spec that judged
it), never deletes the quarantine copy, and is idempotent: the same content under the same
spec gives back the recorded verdict without judging again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mlops_lib.landing.batches import BatchRef, completed_batches
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.alerts import ReplayRecord
from mlops_lib.stores.records import utcnow
from mlops_lib.stores.store import Store

ReplaySource = Literal["landing", "quarantine"]
REASON_FILE = "_REASON.json"


class ReplayError(Exception):
    """The batch cannot be replayed (unknown, not quarantined, nothing landed)."""


@dataclass(frozen=True)
class QuarantinedBatch:
    batch_id: str
    reason_code: str
    reason: str
    quarantine_uri: str
    arrived_at: str
    quarantined_at: str

    def line(self) -> str:
        return (f"{self.batch_id}  quarantined {self.quarantined_at}  [{self.reason_code}] "
                f"{self.reason}  {self.quarantine_uri}")


@dataclass(frozen=True)
class FailedCheck:
    name: str
    reason_code: str | None
    observed: str
    expected: str


@dataclass(frozen=True)
class QuarantineDetail:
    pipeline: str
    batch_id: str
    status: str  # the batch's status now: rejected, or accepted by a replay
    reason_code: str
    reason: str
    quarantine_uri: str
    quarantined_at: str
    failed_checks: tuple[FailedCheck, ...]
    original_files: tuple[str, ...]  # the landing keys, as they were refused
    replays: tuple[ReplayRecord, ...]

    def lines(self) -> list[str]:
        checks = [f"  [{c.reason_code}] {c.name}: {c.observed} (expected {c.expected})"
                  for c in self.failed_checks] or ["  none recorded"]
        replays = [f"  {r.created_at}  {r.source}  {r.outcome}"
                   + (f" [{r.reason_code}] {r.reason}" if r.outcome == "rejected" else "")
                   + f"  by {r.actor}  (content {r.fingerprint[:12]}, spec {r.spec_digest[:12]})"
                   for r in self.replays] or ["  none"]
        return [f"batch       {self.batch_id} ({self.pipeline})",
                f"status      {self.status}",
                f"reason      [{self.reason_code}] {self.reason}",
                f"quarantine  {self.quarantine_uri} (since {self.quarantined_at})",
                "files       " + ("\n            ".join(self.original_files) or "none"),
                "failed checks", *checks, "replays", *replays]


@dataclass(frozen=True)
class ReplayOutcome:
    replay: ReplayRecord
    repeated: bool  # the same content under the same spec was replayed before: nothing done

    @property
    def accepted(self) -> bool:
        return self.replay.outcome == "accepted"

    def lines(self) -> list[str]:
        r = self.replay
        again = " (replayed before with this content and spec: the recorded verdict)" \
            if self.repeated else ""
        if not self.accepted:
            return [f"batch {r.batch_id}: rejected again [{r.reason_code}] {r.reason}{again}"]
        return [f"batch {r.batch_id}: accepted{again}",
                "the next training run takes it (or train now: "
                f"`mlops trigger {r.pipeline} --reason ...`)"]


def quarantined(store: Store, pipeline: str) -> list[QuarantinedBatch]:
    """The batches refused and not accepted since, oldest first."""
    return [QuarantinedBatch(batch_id=r["batch_id"], reason_code=r["reason_code"],
                             reason=r["reason"], quarantine_uri=r["quarantine_uri"],
                             arrived_at=str(r["arrived_at"]),
                             quarantined_at=str(r["created_at"]))
            for r in store.quarantined_batches(pipeline)]


def detail(store: Store, pipeline: str, batch_id: str) -> QuarantineDetail:
    row = store.get_quarantine(pipeline, batch_id)
    record = store.get_batch(pipeline, batch_id)
    if row is None or record is None:
        raise ReplayError(f"batch {batch_id!r} of {pipeline} was never quarantined")
    report = json.loads(row["report_json"]) if row["report_json"] else {}
    failed = tuple(FailedCheck(name=str(c["name"]), reason_code=c.get("reason_code"),
                               observed=str(c.get("observed", "")),
                               expected=str(c.get("expected", "")))
                   for c in report.get("checks", [])
                   if not c.get("passed") and c.get("severity", "error") == "error")
    return QuarantineDetail(
        pipeline=pipeline, batch_id=batch_id, status=record.status,
        reason_code=row["reason_code"], reason=row["reason"],
        quarantine_uri=row["quarantine_uri"], quarantined_at=str(row["created_at"]),
        failed_checks=failed, original_files=tuple(str(f["key"]) for f in record.files),
        replays=tuple(store.replays(pipeline, batch_id)))


def spec_digest(spec: PipelineSpec) -> str:
    """What judges a batch: the spec's source rules, target, features and contract."""
    judged = {"source": asdict(spec.source), "target": spec.target,
              "features": [asdict(f) for f in spec.features], "contract": asdict(spec.contract)}
    return hashlib.sha256(json.dumps(judged, sort_keys=True, default=str).encode()).hexdigest()


def recorded_verdict(replays: list[ReplayRecord], fingerprint: str,
                     digest: str) -> ReplayRecord | None:
    """The replay that already judged this content under this spec, if any."""
    return next((r for r in replays if r.fingerprint == fingerprint and r.spec_digest == digest),
                None)


def replay(svc: Services, spec: PipelineSpec, batch_id: str, *, reason: str, actor: str,
           source: ReplaySource = "landing") -> ReplayOutcome:
    """Judge a quarantined batch again; accept it (staged, alerts resolved) or keep it refused.

    `reason` is the operator's why (the audit keeps it in the outcome's reason when accepted
    and logs it); nothing is deleted, the quarantine row and copy stay as they are."""
    from mlops_lib.steps.ingest import check_batch, crashes_reject, stage_batch
    from mlops_lib.validation.reasons import BatchRejected, ReasonCode

    record = svc.store.get_batch(spec.name, batch_id)
    row = svc.store.get_quarantine(spec.name, batch_id)
    if record is None or row is None:
        raise ReplayError(f"batch {batch_id!r} of {spec.name} was never quarantined")
    batch = _landed(svc, spec, batch_id) if source == "landing" else _copy(svc, spec, row)
    digest = spec_digest(spec)
    prior = recorded_verdict(svc.store.replays(spec.name, batch_id), batch.fingerprint, digest)
    if prior is not None:
        return ReplayOutcome(prior, repeated=True)
    if record.status != "rejected":
        raise ReplayError(f"batch {batch_id!r} is {record.status}, not quarantined")
    run_id = f"replay-{batch.fingerprint[:16]}"
    code: str | None = None
    why: str | None = f"replayed from {source}: {reason}"
    try:
        with crashes_reject(batch, run_id, ReasonCode.INTERNAL_ERROR):
            frame, report, stated_span = check_batch(svc, spec, batch,
                                                     with_manifest=source == "landing")
        held = [frame]
        del frame
        with crashes_reject(batch, run_id, ReasonCode.CONFORM_FAILED):
            staged, span = stage_batch(svc, spec, batch, run_id, held)
    except BatchRejected as exc:
        code, why = str(exc.code), str(exc)
    else:
        # a quarantine copy is the landed content under other keys: the record keeps the
        # landing fingerprint, which the sensor knows
        fingerprint, files = ((batch.fingerprint, [f.to_dict() for f in batch.files])
                              if source == "landing" else (record.fingerprint, record.files))
        svc.store.accept_replayed_batch(spec.name, batch_id, fingerprint, files,
                                        report.n_rows, staged, report.to_dict(),
                                        event_span=span or stated_span)
        svc.store.resolve_alerts(spec.name, ["rejected_batch"], subject=batch_id)
    stored, created = svc.store.record_replay(ReplayRecord(
        pipeline=spec.name, batch_id=batch_id, fingerprint=batch.fingerprint,
        spec_digest=digest, source=source, previous_code=row["reason_code"],
        outcome="rejected" if code else "accepted", reason_code=code, reason=why,
        actor=actor, created_at=utcnow()))
    return ReplayOutcome(stored, repeated=not created)


def _landed(svc: Services, spec: PipelineSpec, batch_id: str) -> BatchRef:
    """The batch as its landing folder holds it now, complete by the spec's rule (as the
    landing sensor lists it)."""
    from mlops_lib.stores import s3io

    prefix = spec.source.prefix
    objects = list(s3io.list_objects(svc.s3, spec.source.bucket, f"{prefix}{batch_id}/"))
    found = [b for b in completed_batches(objects, prefix, spec.source.completion_rule,
                                          now=datetime.now(UTC)) if b.batch_id == batch_id]
    if not found:
        state = "is not complete yet" if objects else "holds nothing"
        raise ReplayError(f"s3://{spec.source.bucket}/{prefix}{batch_id}/ {state}: upload the "
                          "fixed files (and the completion marker) there, or replay --from "
                          "quarantine")
    return found[0]


def _copy(svc: Services, spec: PipelineSpec, row: dict[str, Any]) -> BatchRef:
    """The quarantine copy as a batch: its data files, without the reason beside them."""
    from mlops_lib.stores import s3io

    bucket, _, prefix = str(row["quarantine_uri"]).removeprefix("s3://").partition("/")
    # the copies its reason lists: not the reason, nor the copies of changed uploads beside
    reason = json.loads(s3io.read_small(svc.s3, bucket, prefix + REASON_FILE,
                                        s3io.MANIFEST_MAX_BYTES))
    copies = {str(o["quarantined_as"]) for o in reason.get("objects", [])
              if "copy_error" not in o}
    files = tuple(sorted((o for o in s3io.list_objects(svc.s3, bucket, prefix)
                          if o.key in copies), key=lambda o: o.key))
    if bucket != spec.source.bucket or not files:
        raise ReplayError(f"no quarantine copy to replay at {row['quarantine_uri']}")
    return BatchRef(batch_id=str(row["batch_id"]), prefix=prefix, marker_key="",
                    completed_at=str(row["created_at"]), files=files)
