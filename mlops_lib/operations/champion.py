"""Operating the champion: the store owns it, MLflow's `champion` alias follows.

Every move is one store transaction that chooses its target, moves the champion and writes the
audit row; what an operator is told is built from that row. The alias is then made to match
and read back; an alias that cannot be brought in line is reported pending, never as a failed
move. `reconcile` repairs an alias that disagrees with the store (a task killed between the two
writes, a hand edit in the MLflow UI, a mover that gave up on it).
"""

from __future__ import annotations

import getpass
import logging
import time
from dataclasses import dataclass
from typing import Any

from mlops_lib.services import Services
from mlops_lib.stores.champion import ChampionMove, MoveRefused
from mlops_lib.stores.registry import CHAMPION

log = logging.getLogger(__name__)

ALIAS_PENDING = "pending: the next run's reconcile (or `mlops reconcile`) brings it in line"


class ChampionError(RuntimeError):
    pass


@dataclass(frozen=True)
class Reconciled:
    pipeline: str
    store_version: str | None
    alias_before: str | None
    changed: bool
    pending: bool = False  # only from follow_alias: the alias may still disagree with the store


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


def follow_alias(svc: Services, pipeline: str, *, attempts: int = 10) -> Reconciled:
    """After a move in the store: make the alias follow it, without ever failing that move.

    Each mover re-reads the store's *current* champion and the alias until they agree, so the
    last one to finish leaves the alias on the final champion. A mover that cannot get there
    (MLflow down, more contention than `attempts`) reports the alias as pending: the store is
    the truth, and the next run's reconcile (or `mlops reconcile`) repairs the alias.
    """
    try:
        return reconcile(svc, pipeline, attempts=attempts)
    except Exception as exc:  # the move is done: an alias that lags is reported, not raised
        log.warning("%s@%s not brought in line with the store yet (%s: %s); %s",
                    model_name(pipeline), CHAMPION, type(exc).__name__, exc, ALIAS_PENDING)
        return Reconciled(pipeline, None, None, changed=False, pending=True)


def promote_version(svc: Services, pipeline: str, version: str, *, reason: str,
                    actor: str | None = None, action: str = "manual_promote") -> dict[str, Any]:
    """Make `version` the champion (manual override), replacing whichever one is current.

    Returns what the store's transaction did (the audit row), then the alias's state.
    """
    if not reason.strip():
        raise ChampionError("a reason is required")
    tags = _version_tags(svc, pipeline, version)
    move = svc.store.promote_champion(pipeline, version, data_rev=tags.get("ct.data_rev"),
                                      action=action, actor=actor or _whoami(), reason=reason)
    return _outcome(svc, pipeline, version, move)


def rollback(svc: Services, pipeline: str, *, reason: str, to: str | None = None,
             actor: str | None = None) -> dict[str, Any]:
    """Move the champion back: to the version that was champion before the current one, or to
    `to` (which must have been champion before).

    The target is chosen in the transaction that moves the champion, from the champion that
    move replaces, so a promotion racing this rollback cannot make it install a stale target.
    """
    if not reason.strip():
        raise ChampionError("a reason is required")
    if to is not None:
        _version_tags(svc, pipeline, to)
    try:
        move = svc.store.rollback_champion(pipeline, to=to, actor=actor or _whoami(),
                                           reason=reason)
    except MoveRefused as exc:
        raise ChampionError(str(exc)) from exc
    # No move without `to` cannot happen: a previous champion differs from the current one.
    return _outcome(svc, pipeline, to or "", move)


def _version_tags(svc: Services, pipeline: str, version: str) -> dict[str, str]:
    name = model_name(pipeline)
    try:
        return svc.registry.version_tags(name, version)
    except Exception as exc:
        raise ChampionError(f"{name} has no version {version}: {exc}") from exc


def _outcome(svc: Services, pipeline: str, version: str,
             move: ChampionMove | None) -> dict[str, Any]:
    """What the operator is told: the audited move (or that there was none), and the alias."""
    alias = follow_alias(svc, pipeline)
    if move is None:
        result: dict[str, Any] = {"pipeline": pipeline, "version": version, "moved": False,
                                  "note": "already the champion"}
    else:
        result = {"pipeline": pipeline, "version": move.model_version, "moved": True,
                  "previous": move.previous_version, "epoch": move.epoch,
                  "action": move.action}
        _announce(svc, pipeline, move)
    result["alias"] = ALIAS_PENDING if alias.pending else "in sync"
    return result


def _announce(svc: Services, pipeline: str, move: ChampionMove) -> None:
    """The move's informational alert (never raised into the move: it is done)."""
    from mlops_lib.alerting import events
    from mlops_lib.spec import load_specs

    try:
        spec = next((s for s in load_specs(*svc.settings.spec_dirs) if s.name == pipeline), None)
    except Exception as exc:
        log.error("No alert for the move of %s: specs unreadable: %s", pipeline, exc)
        return
    if spec is not None:
        events.champion_moved(svc.store, spec, move)


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
