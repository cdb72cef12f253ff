"""When measured drift asks for a retrain: the spec's `DriftPolicy` applied to stored history.

Pure and cheap (no pandas, no I/O besides reading a packaged query): the drift monitor, the
store and the triggerer's drift trigger all take the same decision with `evaluate`.
A batch *breaches* when its share of drifted features reaches `share_drifted` (if set) or a
feature named in `feature_psi` reaches its PSI limit; the policy is *crossed* when the newest
`consecutive_batches` batches all breach and no crossing happened within the cooldown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops_lib.spec import DriftPolicy

# The row shaping lives with the store that returns it; re-exported for the policy's users.
from mlops_lib.stores.drift_rows import BatchDrift as BatchDrift
from mlops_lib.stores.drift_rows import summarise as summarise

QUERIES_DIR = Path(__file__).resolve().parents[2] / "sql" / "queries"


@dataclass(frozen=True)
class DriftVerdict:
    """The policy's answer: crossed or not, a sentence saying why, and the numbers behind it."""

    crossed: bool
    reason: str
    batch_ids: tuple[str, ...] = ()  # the batches that make the crossing, oldest first
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (trigger events, XCom, the store)."""
        return {"crossed": self.crossed, "reason": self.reason,
                "batch_ids": list(self.batch_ids), "evidence": self.evidence}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DriftVerdict:
        return cls(crossed=bool(raw["crossed"]), reason=str(raw["reason"]),
                   batch_ids=tuple(raw.get("batch_ids") or ()),
                   evidence=dict(raw.get("evidence") or {}))


# -- policy as plain data (trigger kwargs are JSON) -----------------------------------------
def policy_to_dict(policy: DriftPolicy) -> dict[str, Any]:
    return {"share_drifted": policy.share_drifted, "feature_psi": dict(policy.feature_psi),
            "consecutive_batches": policy.consecutive_batches,
            "cooldown_minutes": policy.cooldown_minutes,
            "min_rows_per_test": policy.min_rows_per_test,
            "noise_floor_quantile": policy.noise_floor_quantile,
            "noise_floor_resamples": policy.noise_floor_resamples}


def policy_of(raw: DriftPolicy | Mapping[str, Any]) -> DriftPolicy:
    if isinstance(raw, DriftPolicy):
        return raw
    share = raw.get("share_drifted", 0.5)
    floor = raw.get("noise_floor_quantile", DriftPolicy.noise_floor_quantile)
    return DriftPolicy(
        share_drifted=None if share is None else float(share),
        feature_psi={str(k): float(v) for k, v in (raw.get("feature_psi") or {}).items()},
        consecutive_batches=int(raw.get("consecutive_batches", 1)),
        cooldown_minutes=float(raw.get("cooldown_minutes", 60.0)),
        min_rows_per_test=int(raw.get("min_rows_per_test", DriftPolicy.min_rows_per_test)),
        noise_floor_quantile=None if floor is None else float(floor),
        noise_floor_resamples=int(raw.get("noise_floor_resamples",
                                          DriftPolicy.noise_floor_resamples)))


# -- the decision ---------------------------------------------------------------------------
def evaluate(history: Sequence[BatchDrift], policy: DriftPolicy, *,
             last_crossing_at: str | None, now: datetime) -> DriftVerdict:
    """Whether the newest batches of `history` (oldest first) cross `policy` at `now`."""
    if not history:
        return DriftVerdict(False, "No drift measured yet: nothing to evaluate.",
                            evidence={"policy": policy_to_dict(policy), "batches": []})
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    need = policy.consecutive_batches
    window = list(history[-need:])
    checks = [(batch, _breaches(batch, policy)) for batch in window]
    evidence: dict[str, Any] = {"policy": policy_to_dict(policy),
                                "batches": [_batch_evidence(b, policy, why)
                                            for b, why in checks]}
    streak = _streak(checks)
    newest, newest_why = checks[-1]
    if not newest_why:
        return DriftVerdict(False, f"Below threshold: newest batch {newest.batch_id} has "
                            f"{_measures(newest, policy)}.", evidence=evidence)
    if streak < need:
        return DriftVerdict(False, f"Only {streak} of {need} consecutive batches breach the "
                            f"drift policy ({len(history)} measured; newest "
                            f"{newest.batch_id}: {'; '.join(newest_why)}).", evidence=evidence)
    ids = tuple(b.batch_id for b in window)
    breaches = ", ".join(f"{b.batch_id} ({'; '.join(why)})" for b, why in checks)
    until = _cooldown_until(last_crossing_at, policy)
    if until is not None and now < until:
        evidence["cooldown_until"] = until.isoformat()
        return DriftVerdict(False, f"Cooldown until {until.isoformat()} ({_clock(until)}; "
                            f"the last drift retrain was announced at "
                            f"{_clock(parse_utc(str(last_crossing_at)))}, cooldown "
                            f"{policy.cooldown_minutes:g} min): {need} consecutive batch(es) "
                            f"breach: {breaches}.", batch_ids=ids, evidence=evidence)
    return DriftVerdict(True, f"Drift policy crossed: {need} consecutive batch(es) breach: "
                        f"{breaches}.", batch_ids=ids, evidence=evidence)


def evaluate_rows(rows: Iterable[Mapping[str, Any]], policy: DriftPolicy | Mapping[str, Any],
                  *, last_crossing_at: str | None, now: datetime) -> DriftVerdict:
    """`evaluate` straight from `drift_metrics` rows: the one decision of sensor and trigger."""
    return evaluate(summarise(rows), policy_of(policy), last_crossing_at=last_crossing_at,
                    now=now)


def _breaches(batch: BatchDrift, policy: DriftPolicy) -> list[str]:
    """The rules this batch breaks, as short phrases; empty when it is within the policy."""
    why = []
    if policy.share_drifted is not None and batch.share_drifted >= policy.share_drifted:
        why.append(f"share of drifted features {batch.share_drifted:.3g} >= "
                   f"{policy.share_drifted:.3g}")
    for feature, limit in sorted(policy.feature_psi.items()):
        value = batch.psi.get(feature)
        if value is not None and value >= limit:
            why.append(f"PSI of {feature} {value:.3g} >= {limit:.3g}")
    return why


def _measures(batch: BatchDrift, policy: DriftPolicy) -> str:
    """Every measure the policy looks at against its limit (for a batch within the policy)."""
    parts = []
    if policy.share_drifted is not None:
        parts.append(f"share of drifted features {batch.share_drifted:.3g} < "
                     f"{policy.share_drifted:.3g}")
    for feature, limit in sorted(policy.feature_psi.items()):
        value = batch.psi.get(feature)
        parts.append(f"PSI of {feature} not measured" if value is None
                     else f"PSI of {feature} {value:.3g} < {limit:.3g}")
    if batch.insufficient_features:
        parts.append(f"insufficient data (too few rows to test) for "
                     f"{', '.join(batch.insufficient_features)}")
    return "; ".join(parts)


def _batch_evidence(batch: BatchDrift, policy: DriftPolicy, why: list[str]) -> dict[str, Any]:
    return {"batch_id": batch.batch_id, "measured_at": batch.measured_at,
            "share_drifted": batch.share_drifted, "share_limit": policy.share_drifted,
            "n_features": batch.n_features, "drifted_features": list(batch.drifted_features),
            "insufficient_features": list(batch.insufficient_features),
            "psi": {f: {"value": batch.psi.get(f), "limit": limit}
                    for f, limit in sorted(policy.feature_psi.items())},
            "breaches": why}


def _streak(checks: list[tuple[BatchDrift, list[str]]]) -> int:
    """How many of the newest batches breach in a row."""
    n = 0
    for _, why in reversed(checks):
        if not why:
            break
        n += 1
    return n


def _clock(at: datetime) -> str:
    """A time a person reads at a glance: 14:20 UTC, with the date when it is not today's."""
    at = at.astimezone(UTC)
    today = datetime.now(UTC).date()
    return at.strftime("%H:%M UTC" if at.date() == today else "%Y-%m-%d %H:%M UTC")


def _cooldown_until(last_crossing_at: str | None, policy: DriftPolicy) -> datetime | None:
    if not last_crossing_at or policy.cooldown_minutes <= 0:
        return None
    return parse_utc(last_crossing_at) + timedelta(minutes=policy.cooldown_minutes)


def parse_utc(iso: str) -> datetime:
    """An ISO timestamp as an aware UTC datetime (naive text is taken as UTC)."""
    moment = datetime.fromisoformat(iso)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the trigger's read query ---------------------------------------------------------------
def drift_metrics_since_sql() -> str:
    """`sql/queries/drift_metrics_since.sql` without comments (a colon there would be a bind)."""
    raw = (QUERIES_DIR / "drift_metrics_since.sql").read_text()
    return re.sub(r"--[^\n]*", "", raw).strip().rstrip(";")
