"""Late labels: a label drop checked against the pipeline's target and the rows it scored.

A label drop is a file (or folder of files) of `<id column>, <target>[, <event time>]` rows
that lands after the rows were scored. It is refused whole, with one reason code, when a row
cannot count: its columns are missing, an id or a target is null, a target is outside the
task's domain, an id is labelled twice in the drop, or an id was never scored. A refused drop
is quarantined as a refused batch is; nothing of it is joined.

Targets are read as training reads them (`validation.labels`): binary 0/1 or False/True,
multiclass by the class's text in the spec's order (stored as the class index), regression
any finite number. Ids are compared as text, so `17`, `17.0` from a float column and `"17"`
name the same row only when their text is equal; the id column is read as the scoring file
wrote it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from mlops_lib.validation.labels import binary_labels, class_codes

ROW_ID = "row_id"
LABEL = "label"
EVENT_TIME = "event_time"
EXAMPLES = 5  # ids quoted in a refusal's message


class LabelReason(StrEnum):
    LABELS_EMPTY = "LABELS_EMPTY"
    LABELS_MISSING_COLUMNS = "LABELS_MISSING_COLUMNS"
    LABELS_MISSING_VALUES = "LABELS_MISSING_VALUES"  # a null id or target
    LABELS_INVALID_TARGET = "LABELS_INVALID_TARGET"  # outside the task's domain
    LABELS_DUPLICATE_IDS = "LABELS_DUPLICATE_IDS"  # one id twice in one drop
    LABELS_NEVER_SCORED = "LABELS_NEVER_SCORED"  # an id no scored batch has
    LABELS_CORRECTION_REFUSED = "LABELS_CORRECTION_REFUSED"  # on_correction: refuse


class LabelsRejected(Exception):
    """A label drop that must not be joined; `code` says why."""

    def __init__(self, code: LabelReason, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.code, self.message))


@dataclass(frozen=True)
class LabelTask:
    """What a label must be: the spec's target column and task (and classes)."""

    target: str
    task: str
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelDrop:
    """One drop's checked labels: `frame` has `row_id` (text), `label` (float64: 0/1, the
    class index, or the number) and `event_time` (UTC, or NaT without the column)."""

    drop_id: str
    received_at: str
    frame: pd.DataFrame

    @property
    def rows(self) -> int:
        return len(self.frame)


def check_drop(raw: pd.DataFrame, task: LabelTask, *, id_column: str, drop_id: str,
               received_at: str, scored_ids: Collection[str],
               event_time_column: str | None = None) -> LabelDrop:
    """The drop's labels, or LabelsRejected with the first reason that refuses it."""
    missing = [c for c in (id_column, task.target, event_time_column)
               if c is not None and c not in raw.columns]
    if missing:
        raise LabelsRejected(LabelReason.LABELS_MISSING_COLUMNS,
                             f"missing column(s) {missing}; a label file has the id column "
                             f"{id_column!r}, the target {task.target!r}"
                             + (f" and {event_time_column!r}" if event_time_column else ""))
    if raw.empty:
        raise LabelsRejected(LabelReason.LABELS_EMPTY, "the drop has no rows")
    ids, targets = raw[id_column], raw[task.target]
    nulls = int(ids.isna().sum()), int(targets.isna().sum())
    if any(nulls):
        raise LabelsRejected(LabelReason.LABELS_MISSING_VALUES,
                             f"{nulls[0]} null id(s) and {nulls[1]} null target(s)")
    labels = target_values(targets, task)
    bad = ~np.isfinite(labels)
    if bad.any():
        raise LabelsRejected(LabelReason.LABELS_INVALID_TARGET,
                             f"{int(bad.sum())} target(s) outside {_domain(task)}, e.g. "
                             f"{targets[bad].astype(str).unique()[:EXAMPLES].tolist()}")
    row_ids = id_text(ids)
    duplicated = row_ids[row_ids.duplicated()].unique()
    if len(duplicated):
        raise LabelsRejected(LabelReason.LABELS_DUPLICATE_IDS,
                             f"{len(duplicated)} id(s) labelled more than once in the drop, "
                             f"e.g. {duplicated[:EXAMPLES].tolist()}")
    never = row_ids[~row_ids.isin(scored_ids)] if len(scored_ids) else row_ids
    if len(never):
        raise LabelsRejected(LabelReason.LABELS_NEVER_SCORED,
                             f"{len(never)} id(s) were never scored, e.g. "
                             f"{never[:EXAMPLES].tolist()}")
    event_time = (pd.to_datetime(raw[event_time_column], utc=True, errors="coerce")
                  if event_time_column else pd.Series(pd.NaT, index=raw.index,
                                                      dtype="datetime64[ns, UTC]"))
    frame = pd.DataFrame({ROW_ID: row_ids.to_numpy(), LABEL: labels,
                          EVENT_TIME: event_time.to_numpy()})
    return LabelDrop(drop_id=drop_id, received_at=received_at, frame=frame)


def target_values(targets: pd.Series, task: LabelTask) -> np.ndarray:
    """Each target as training reads it (float64), NaN where it is outside the domain."""
    if task.task == "binary_classification":
        values: np.ndarray = binary_labels(targets).astype("float64").to_numpy(na_value=np.nan)
        return values
    if task.task == "multiclass_classification":
        codes = class_codes(targets, task.classes).astype("float64")
        return np.where(codes < 0, np.nan, codes)
    numbers = pd.to_numeric(targets, errors="coerce").astype("float64").to_numpy()
    return np.where(np.isfinite(numbers), numbers, np.nan)


def id_text(ids: pd.Series) -> pd.Series:
    """Ids as text: integers without a `.0`, whatever column type carried them."""
    if pd.api.types.is_float_dtype(ids) and bool((ids.dropna() % 1 == 0).all()):
        ids = ids.astype("Int64")
    return ids.astype(str).reset_index(drop=True)


def _domain(task: LabelTask) -> str:
    if task.task == "binary_classification":
        return "0/1 (or False/True)"
    if task.task == "multiclass_classification":
        return f"the classes {list(task.classes)}"
    return "the finite numbers"
