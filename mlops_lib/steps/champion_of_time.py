"""The champion a training run is judged against.

A live run, or a backfill that may promote, is judged against today's champion: the one it
would replace. A shadow backfill asks "what would we have trained then, and would it have
won?", so it is judged against the champion *of its time*: the one the champion's audit trail
shows at the interval's end; before the pipeline had any, the model that the backfill's own
earlier intervals would have promoted (their `shadow` decisions, in interval order). That chain
needs the backfill's runs one at a time, oldest interval first (`airflow backfill create
--max-active-runs 1`: a backfill does not follow the DAG's `max_active_runs`); a re-run reads
the baseline its plan recorded, so every pass gives the same chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.planning import RunContext
from mlops_lib.steps.records import ChampionSnapshot
from mlops_lib.steps.shared import champion_snapshot

JUDGED_AGAINST = "judged_against"  # the provenance key of a point-in-time baseline


def record_point_in_time(svc: Services, spec: PipelineSpec, ctx: RunContext,
                         may_promote: bool, trigger: dict[str, Any]) -> None:
    """A shadow backfill records the champion of its time in its provenance (None: there was
    none), so a re-run is judged against the same one."""
    if ctx.run_type != "backfill" or may_promote or ctx.interval_end is None:
        return
    past = champion_at(svc, spec, ctx.interval_start, ctx.interval_end)
    trigger[JUDGED_AGAINST] = None if past is None else asdict(past)


def judged_against(svc: Services, spec: PipelineSpec,
                   trigger: Mapping[str, Any]) -> ChampionSnapshot | None:
    """The baseline of a run: the point-in-time one its plan recorded, else today's."""
    if JUDGED_AGAINST in trigger:
        past = trigger[JUDGED_AGAINST]
        return None if past is None else ChampionSnapshot(**past)
    return champion_snapshot(svc, spec)


def champion_at(svc: Services, spec: PipelineSpec, start: str | None,
                end: str) -> ChampionSnapshot | None:
    """The champion at `end` by the audit trail, else the backfill chain's before `start`."""
    moves = [m for m in svc.store.champion_moves(spec.name) if m["created_at"] < end]
    if moves:
        last = moves[-1]
        return ChampionSnapshot(version=str(last["model_version"]), data_rev=last["data_rev"],
                                epoch=int(last["epoch"]), dag_run_id=last["dag_run_id"] or "")
    return _backfill_chain(svc, spec, start or end)


def _backfill_chain(svc: Services, spec: PipelineSpec, before: str) -> ChampionSnapshot | None:
    """The newest model an earlier backfill interval (ended by `before`) would have
    promoted."""
    best: tuple[str, ChampionSnapshot] | None = None
    for decision in svc.store.decisions(spec.name):
        if decision.decision != "shadow" or not decision.candidate_version:
            continue
        run = svc.store.get_training_run(spec.name, decision.dag_run_id) or {}
        trigger = run.get("trigger") or {}
        interval = trigger.get("interval") or [None, None]
        ended = interval[1]
        if trigger.get("type") != "backfill" or not ended or ended > before:
            continue
        snapshot = ChampionSnapshot(version=decision.candidate_version,
                                    data_rev=decision.data_rev, epoch=0,
                                    dag_run_id=decision.dag_run_id)
        if best is None or ended >= best[0]:
            best = (ended, snapshot)
    return None if best is None else best[1]
