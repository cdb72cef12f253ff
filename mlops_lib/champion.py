"""Operating the champion: the store owns it, MLflow's `champion` alias follows.

Every move goes through the store's compare-and-set (with an audit row in the same
transaction); the alias is then made to match and read back. `reconcile` repairs an alias that
disagrees with the store (a task killed between the two writes, a hand edit in the MLflow UI).
"""

from __future__ import annotations

import getpass
import logging
import time
from dataclasses import dataclass
from typing import Any

from mlops_lib.registry import CHAMPION
from mlops_lib.services import Services

log = logging.getLogger(__name__)


class ChampionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Reconciled:
    pipeline: str
    store_version: str | None
    alias_before: str | None
    changed: bool


def model_name(pipeline: str) -> str:
    return f"ct_{pipeline}"


def reconcile(svc: Services, pipeline: str, *, attempts: int = 5) -> Reconciled:
    """Make the MLflow alias `champion` equal the store's champion (or absent if none).

    Several reconcilers may run at once (every run starts with one, promotions end with one).
    MLflow rejects concurrent first writes of an alias, and a reconciler may have read the store
    just before a move: so re-read both sides and try again until they agree.
    """
    name = model_name(pipeline)
    first_seen: str | None = None
    for attempt in range(attempts):
        champion = svc.store.get_champion(pipeline)
        wanted = None if champion is None else champion.model_version
        before = svc.registry.alias_version(name, CHAMPION)
        if attempt == 0:
            first_seen = before
        if before == wanted:
            return Reconciled(pipeline, wanted, first_seen, attempt > 0)
        try:
            if wanted is None:
                svc.registry.delete_alias(name, CHAMPION)
            else:
                svc.registry.set_alias(name, CHAMPION, wanted)
            log.warning("Reconciled %s@%s: was %s, store says %s", name, CHAMPION, before,
                        wanted)
        except Exception as exc:  # a concurrent writer; the next round re-reads both sides
            log.info("Alias write raced (%s); retrying", exc)
            time.sleep(0.1 * (attempt + 1))
    raise ChampionError(f"{name}@{CHAMPION} could not be brought in line with the store after "
                        f"{attempts} attempts")


def promote_version(svc: Services, pipeline: str, version: str, *, reason: str,
                    actor: str | None = None, action: str = "manual_promote") -> dict[str, Any]:
    """Make `version` the champion (manual override), through the same compare-and-set."""
    if not reason.strip():
        raise ChampionError("a reason is required")
    name = model_name(pipeline)
    try:
        tags = svc.registry.version_tags(name, version)
    except Exception as exc:
        raise ChampionError(f"{name} has no version {version}: {exc}") from exc
    current = svc.store.get_champion(pipeline)
    if current is not None and current.model_version == version:
        reconcile(svc, pipeline)
        return {"pipeline": pipeline, "version": version, "moved": False,
                "note": "already the champion"}
    moved = svc.store.move_champion(
        pipeline, version, expected_epoch=0 if current is None else current.epoch,
        dag_run_id=None, data_rev=tags.get("ct.data_rev"), action=action,
        actor=actor or _whoami(), reason=reason)
    if not moved:
        raise ChampionError(f"the champion of {pipeline} moved while promoting; try again")
    reconcile(svc, pipeline)
    return {"pipeline": pipeline, "version": version, "moved": True,
            "previous": None if current is None else current.model_version}


def rollback(svc: Services, pipeline: str, *, reason: str, to: str | None = None,
             actor: str | None = None) -> dict[str, Any]:
    """Move the champion back: to the version before the current one, or to `to`."""
    current = svc.store.get_champion(pipeline)
    if current is None:
        raise ChampionError(f"{pipeline} has no champion to roll back")
    target = to
    if target is None:
        moves = svc.store.champion_moves(pipeline)
        previous = [m["previous_version"] for m in moves if m["epoch"] == current.epoch]
        target = previous[0] if previous else None
        if target is None:
            raise ChampionError(f"{pipeline} v{current.model_version} has no previous champion")
    return promote_version(svc, pipeline, target, reason=reason, actor=actor, action="rollback")


def history(svc: Services, pipeline: str) -> list[dict[str, Any]]:
    """Every decision and every champion move, oldest first."""
    events: list[dict[str, Any]] = []
    for d in svc.store.decisions(pipeline):
        events.append({"at": d.created_at, "kind": "decision", "decision": d.decision,
                       "candidate": d.candidate_version, "baseline": d.baseline_version,
                       "metric": d.metric, "candidate_value": d.candidate_value,
                       "baseline_value": d.baseline_value, "reason": d.reason,
                       "dag_run_id": d.dag_run_id, "actor": "pipeline"})
    for m in svc.store.champion_moves(pipeline):
        events.append({"at": m["created_at"], "kind": "move", "action": m["action"],
                       "version": m["model_version"], "previous": m["previous_version"],
                       "epoch": m["epoch"], "actor": m["actor"], "reason": m["reason"],
                       "dag_run_id": m["dag_run_id"]})
    return sorted(events, key=lambda e: (e["at"], e["kind"] == "move"))


def _whoami() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
