"""The freshness SLA (`alerts.freshness_sla_h`): data is stale when no batch was accepted for
that long. The age counts from the last accepted batch's arrival or, before any, from when the
check first watched the pipeline (recorded as a resolved `freshness_watch` row). The stale
alert's subject is the time the age counts from, so one stale period raises one alert however
often the check runs; fresh data resolves it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops_lib.alerting.kinds import airflow_run_url, make_alert
from mlops_lib.alerting.notify import notify, resolve
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.alerts import WATCH_KIND, AlertRecord, AlertTables
from mlops_lib.stores.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FreshnessVerdict:
    pipeline: str
    stale: bool
    sla_h: float
    since: str               # UTC ISO time the age counts from
    since_what: str          # "the last accepted batch" | "the freshness check began"
    age_h: float
    reason: str
    alert: AlertRecord | None = None  # the stale_data alert to raise, when stale


def check_freshness(store: Store, spec: PipelineSpec, now: datetime | None = None
                    ) -> FreshnessVerdict:
    """The verdict at `now` (default: the current time). Raises nothing, notifies nothing."""
    now = now or datetime.now(UTC)
    sla_h = spec.alerts.freshness_sla_h if spec.alerts else None
    if sla_h is None:
        raise ValueError(f"{spec.name}: alerts.freshness_sla_h is not set")
    accepted = store.accepted_batches(spec.name)
    if accepted:
        last = accepted[-1]
        since, since_what = last.arrived_at, f"the last accepted batch ({last.batch_id})"
    else:
        since, since_what = _watch_began(store, spec, now), "the freshness check began"
    age_h = max(0.0, (now - _parse(since)).total_seconds() / 3600)
    if age_h < sla_h:
        return FreshnessVerdict(spec.name, False, sla_h, since, since_what, age_h,
                                f"fresh: {age_h:.2f} h since {since_what} (SLA {sla_h:g} h)")
    what = "No batch" if accepted else "No batch ever"
    summary = (f"{what} of {spec.name} accepted for {age_h:.1f} h (SLA {sla_h:g} h): "
               f"counting since {since_what} at {since}")
    alert = make_alert(
        spec, "stale_data", f"since {since}", summary,
        links={"ingest_dag": airflow_run_url(spec.ingest_dag_id),
               "landing": f"s3://{spec.source.bucket}/{spec.source.prefix}"},
        since=since, age_h=round(age_h, 3), sla_h=sla_h)
    return FreshnessVerdict(spec.name, True, sla_h, since, since_what, age_h, summary, alert)


def watch_freshness(store: Store, spec: PipelineSpec, now: datetime | None = None
                    ) -> FreshnessVerdict:
    """The freshness DAG's check: a stale verdict raises (and sends) its alert and closes
    those of an earlier stale period; a fresh one resolves the open stale_data alerts."""
    verdict = check_freshness(store, spec, now)
    if verdict.alert is None:
        resolve(store, spec.name, ["stale_data"])
        log.info("%s: %s", spec.name, verdict.reason)
        return verdict
    for old in store.alerts(spec.name, open_only=True):
        if old.kind == "stale_data" and old.subject != verdict.alert.subject:
            resolve(store, spec.name, ["stale_data"], old.subject)
    notify(store, spec, verdict.alert)
    return verdict


def _watch_began(store: AlertTables, spec: PipelineSpec, now: datetime) -> str:
    mark = AlertRecord(pipeline=spec.name, kind=WATCH_KIND, subject="began", severity="info",
                       summary=f"The freshness check of {spec.name} began watching at "
                               f"{now.isoformat(timespec='milliseconds')}", runbook="",
                       details={"began_at": now.isoformat(timespec="milliseconds")})
    stored, _ = store.raise_alert(mark, resolved=True)
    return str(stored.details.get("began_at") or stored.created_at)


def _parse(stamp: str) -> datetime:
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
