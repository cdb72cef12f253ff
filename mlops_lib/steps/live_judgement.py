"""A challenger judged on live rows (`promotion.require_live_rows`).

A training run whose gate would promote records `pending_live` instead (`steps.decide`): the
challenger scores in shadow beside the champion, and labels arrive for rows both scored. Each
labels run then calls `judge_live_challenger`: with fewer than `require_live_rows` labelled rows
that both versions scored, the decision keeps waiting; with enough, the same gate
(`evaluation.gate.decide`: paired bootstrap, floor, degenerate checks, slice guardrails on the
slice columns read back from the raw scoring batches) judges the challenger against the champion
on exactly those rows, and the decision is recorded and applied through
the race-free path (`record_decision_and_move`, compare-and-set on the champion's epoch).

The live decision is keyed `<training run>#live`: written once, whichever labels run gets there
first; a retry finds it. Its details say `judged_on: live` and how many rows it saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mlops_lib.evaluation import gate
from mlops_lib.monitoring.label_join import MergedLabels
from mlops_lib.monitoring.labels import LABEL, ROW_ID, id_text
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
    """Labelled rows both versions scored, aligned: the labels, each one's predictions, and
    the values of the spec's slice columns (read back from the raw scoring batches; empty when
    a batch could not be read back)."""

    y: np.ndarray
    champion: np.ndarray
    challenger: np.ndarray
    slices: dict[str, np.ndarray] = field(default_factory=dict)

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
    slices = (gate.slice_columns(rows.slices, spec.metric.slices)
              if rows.slices and spec.metric.slices else None)
    verdict = gate.decide(spec.metric, rows.y, rows.challenger, rows.champion, slices=slices)
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
    names = set.intersection(*(set(p.slices) for p in parts))
    return LiveRows(np.concatenate([p.y for p in parts]),
                    np.concatenate([p.champion for p in parts]),
                    np.concatenate([p.challenger for p in parts]),
                    slices={n: np.concatenate([p.slices[n] for p in parts]) for n in names})


def _aligned(svc: Services, spec: PipelineSpec, champion: PredictionRecord,
             shadow: PredictionRecord, labels: MergedLabels) -> LiveRows:
    """One batch's labelled rows that both versions scored, in id order."""
    id_column, scores = spec.label_id_column or "", score_columns(spec)
    champ, chal = (read_predictions(svc, r, [id_column, *scores]).assign(
        _key=lambda f: id_text(f[id_column]).to_numpy()) for r in (champion, shadow))
    label_of = labels.frame.set_index(ROW_ID)[LABEL]
    both = champ.merge(chal, on="_key", suffixes=("_c", "_s"))
    both = both[both["_key"].isin(label_of.index)].sort_values("_key", kind="stable")

    def predictions(suffix: str) -> np.ndarray:
        p: np.ndarray = both[[f"{c}{suffix}" for c in scores]].to_numpy(dtype="float64")
        return p[:, 0] if p.shape[1] == 1 else p

    return LiveRows(label_of.reindex(both["_key"]).to_numpy(dtype="float64"), predictions("_c"),
                    predictions("_s"), _slice_values(svc, spec, champion, both["_key"]))


def _slice_values(svc: Services, spec: PipelineSpec, record: PredictionRecord,
                  keys: pd.Series) -> dict[str, np.ndarray]:
    """The slice columns of the rows `keys` (ids as text), from the raw scoring batch."""
    from mlops_lib.steps.labelled_rows import scoring_rows

    wanted = [s.column for s in spec.metric.slices]
    raw = scoring_rows(svc, spec, record.batch_id, record.input_fingerprint) if wanted else None
    if raw is None or not set(wanted) <= set(raw.columns):
        return {}
    raw = raw.assign(_key=id_text(raw[spec.label_id_column or ""]).to_numpy())
    by_key = raw.drop_duplicates("_key").set_index("_key")
    return {c: by_key[c].reindex(keys.to_numpy()).to_numpy() for c in wanted}


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
