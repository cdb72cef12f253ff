"""A challenger judged on live rows (`promotion.require_live_rows`).

A training run whose gate would promote records `pending_live` instead (`steps.decide`): the
challenger scores in shadow beside the champion, and labels arrive for rows both scored. Each
labels run then calls `judge_live_challenger`: with fewer than `require_live_rows` labelled rows
that both versions scored, the decision keeps waiting; with enough, the same gate
(`evaluation.gate.decide`: paired bootstrap, floor, degenerate checks) judges the challenger
against the champion on exactly those rows, and the decision is recorded and applied through
the race-free path (`record_decision_and_move`, compare-and-set on the champion's epoch).

The live decision is keyed `<training run>#live`: written once, whichever labels run gets there
first; a retry finds it. Its details say `judged_on: live` and how many rows it saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_lib.evaluation import gate
from mlops_lib.monitoring.label_join import MergedLabels, join
from mlops_lib.monitoring.labels import id_text
from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.decide import after_decision
from mlops_lib.steps.holdout_scores import score_columns
from mlops_lib.steps.labels import read_predictions, stored_labels
from mlops_lib.stores.predictions import PredictionRecord
from mlops_lib.stores.store import DecisionRecord

log = logging.getLogger(__name__)

PENDING = "pending_live"


@dataclass(frozen=True)
class LiveJudgement:
    status: str  # none | waiting | promote | keep | superseded
    reason: str
    candidate_version: str | None = None
    live_rows: int = 0
    decision_key: str | None = None


@dataclass(frozen=True)
class LiveRows:
    """Labelled rows both versions scored, aligned: the labels and each one's predictions."""

    y: np.ndarray
    champion: np.ndarray
    challenger: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])


def live_key(holdout_run_id: str) -> str:
    return f"{holdout_run_id}#live"


def judge_live_challenger(svc: Services, spec: PipelineSpec, dag_run_id: str) -> LiveJudgement:
    """Judge the newest pending challenger on live rows, once there are enough of them."""
    champion = svc.store.get_champion(spec.name)
    pending = [d for d in svc.store.decisions(spec.name) if d.decision == PENDING]
    if spec.require_live_rows <= 0 or champion is None or not pending:
        return LiveJudgement("none", "no challenger waits for live rows")
    waiting = pending[-1]
    key, candidate = live_key(waiting.dag_run_id), waiting.candidate_version
    done = svc.store.get_decision(spec.name, key)
    if done is not None:
        return LiveJudgement(done.decision, done.reason, candidate,
                             int(done.details.get("live_rows", 0)), key)
    if waiting.baseline_version != champion.model_version:
        return _record(svc, spec, waiting, champion.epoch, "superseded",
                       f"live: the champion moved from v{waiting.baseline_version} to "
                       f"v{champion.model_version} while v{candidate} waited for live rows",
                       rows=0, details={}, labels_run=dag_run_id)
    rows = live_rows(svc, spec, champion.model_version, candidate)
    need = spec.require_live_rows
    if rows.rows < need:
        return LiveJudgement("waiting", f"v{candidate} waits for live rows: {rows.rows} of "
                                        f"{need} labelled rows scored by both it and "
                                        f"v{champion.model_version}", candidate, rows.rows, key)
    verdict = gate.decide(spec.metric, rows.y, rows.challenger, rows.champion)
    return _record(svc, spec, waiting, champion.epoch, verdict.decision,
                   f"live, on {rows.rows} labelled rows both scored: {verdict.reason}",
                   rows=rows.rows, details=verdict.to_dict(), labels_run=dag_run_id,
                   values=(verdict.candidate_value, verdict.baseline_value))


def live_rows(svc: Services, spec: PipelineSpec, champion: str, challenger: str) -> LiveRows:
    """Every labelled row that `champion` scored as champion and `challenger` in shadow."""
    records = svc.store.predictions(spec.name, limit=1_000_000)
    by_batch: dict[str, dict[str, PredictionRecord]] = {}
    for r in records:
        if (r.role, r.model_version) in (("champion", champion), ("shadow", challenger)):
            by_batch.setdefault(r.batch_id, {})[r.role] = r
    labels = stored_labels(svc, spec.name)
    parts = [_aligned(svc, spec, pair["champion"], pair["shadow"], labels)
             for pair in by_batch.values() if len(pair) == 2]
    if not parts:
        return LiveRows(np.empty(0), np.empty(0), np.empty(0))
    return LiveRows(*(np.concatenate([getattr(p, f) for p in parts])
                      for f in ("y", "champion", "challenger")))


def _aligned(svc: Services, spec: PipelineSpec, champion: PredictionRecord,
             shadow: PredictionRecord, labels: MergedLabels) -> LiveRows:
    id_column = spec.label_id_column or ""
    columns = [id_column, *score_columns(spec)]
    frames = [read_predictions(svc, r, columns) for r in (champion, shadow)]
    both = set(id_text(frames[0][id_column])) & set(id_text(frames[1][id_column]))
    joined = []
    for frame in frames:  # the same rows, in the same (id) order, for both versions
        ids = id_text(frame[id_column])
        kept = frame[ids.isin(both).to_numpy()].assign(_key=ids[ids.isin(both)].to_numpy())
        kept = kept.sort_values("_key", kind="stable").drop(columns="_key")
        joined.append(join(pd.DataFrame(kept), labels, id_column=id_column,
                           score_columns=score_columns(spec)))
    return LiveRows(joined[0].y, joined[0].p, joined[1].p)


def _record(svc: Services, spec: PipelineSpec, waiting: DecisionRecord, epoch: int,
            decision: str, reason: str, *, rows: int, details: dict[str, object],
            labels_run: str, values: tuple[float, float | None] | None = None) -> LiveJudgement:
    candidate_value, baseline_value = values or (waiting.candidate_value,
                                                 waiting.baseline_value)
    record, moved = svc.store.record_decision_and_move(DecisionRecord(
        pipeline=spec.name, dag_run_id=live_key(waiting.dag_run_id),
        candidate_version=waiting.candidate_version,
        baseline_version=waiting.baseline_version, metric=waiting.metric,
        candidate_value=candidate_value, baseline_value=baseline_value, decision=decision,
        reason=reason, data_rev=waiting.data_rev,
        details={**details, "judged_on": "live", "live_rows": rows,
                 "holdout_decision_run": waiting.dag_run_id, "labels_run_id": labels_run}),
        expected_epoch=epoch, actor="pipeline")
    after_decision(svc, spec, record.dag_run_id, record, moved)  # alias, index page
    return LiveJudgement(record.decision, record.reason, record.candidate_version, rows,
                         record.dag_run_id)
