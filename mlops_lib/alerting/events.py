"""Where the steps raise and resolve alerts: one call per situation, each of which never
raises (an alert must not fail the batch, the run or the move it reports)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec

from mlops_lib.alerting import builders
from mlops_lib.alerting.notify import notify, resolve
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec
from mlops_lib.stores.champion import ChampionMove
from mlops_lib.stores.records import DecisionRecord
from mlops_lib.stores.store import Store

log = logging.getLogger(__name__)
P = ParamSpec("P")


def _never_raises(fn: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(fn)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            log.error("Alert not raised (%s): %s: %s", fn.__name__, type(exc).__name__, exc)
    return guarded


@_never_raises
def batch_rejected(store: Store, settings: Settings, spec: PipelineSpec, batch_id: str,
                   reason_code: str, reason: str, quarantine_uri: str,
                   dag_run_id: str | None) -> None:
    notify(store, spec, builders.rejected_batch(
        spec, batch_id, reason_code, reason, quarantine_uri=quarantine_uri,
        quarantine_http=settings.http_url(quarantine_uri.rstrip("/") + "/_REASON.json")
        or None, dag_run_id=dag_run_id))


@_never_raises
def drift_crossed(store: Store, spec: PipelineSpec, batch_id: str, reason: str,
                  dag_run_id: str) -> None:
    notify(store, spec, builders.drift_crossing(
        spec, batch_id, reason, dag_run_id=dag_run_id,
        retrains="drift" in spec.trigger.retrain_on))


@_never_raises
def performance_dropped(store: Store, spec: PipelineSpec, model_version: str,
                        window_kind: str, window: str, reason: str, dag_run_id: str) -> None:
    notify(store, spec, builders.performance_drop(spec, model_version, window_kind, window,
                                                  reason, dag_run_id=dag_run_id))


@_never_raises
def decided(store: Store, settings: Settings, spec: PipelineSpec, record: DecisionRecord,
            moved: bool) -> None:
    """A decision answers the drift and performance alerts before it; a promotion it made is
    announced (informational: raised resolved)."""
    resolve(store, spec.name, ["drift_crossing", "performance_drop"])
    champion = store.get_champion(spec.name)
    if not (record.promote and moved) or champion is None:
        return
    from mlops_lib.reports.index import index_key

    notify(store, spec, builders.promotion(
        spec, record.candidate_version, record.baseline_version, champion.epoch,
        record.reason, actor="pipeline", dag_run_id=record.dag_run_id,
        report_url=settings.http_url(f"s3://{settings.artifact_bucket}/"
                                     f"{index_key(spec.name)}") or None), resolved=True)


@_never_raises
def champion_moved(store: Store, spec: PipelineSpec, move: ChampionMove) -> None:
    """An operator's (or auto_rollback's) move of the champion, announced resolved."""
    build: Any = builders.rollback if "rollback" in move.action else builders.promotion
    notify(store, spec, build(spec, move.model_version, move.previous_version, move.epoch,
                              move.reason, actor=move.actor), resolved=True)
