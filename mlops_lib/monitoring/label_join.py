"""Label drops merged into one label per scored row, and joined to the predictions.

Drops are merged in the order they were received. An id labelled again with the same value
is a re-delivery and changes nothing. An id labelled again with another value is a
correction: with `last_write_wins` the newer label counts and the change is kept as a
`Correction` (the audit: id, old and new label, which drops); with `refuse` the newer drop is
refused whole (LABELS_CORRECTION_REFUSED) and the labels stay as they were.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlops_lib.monitoring.labels import (
    EVENT_TIME,
    EXAMPLES,
    LABEL,
    ROW_ID,
    LabelDrop,
    LabelReason,
    LabelsRejected,
    id_text,
)
from mlops_lib.spec.labels import CorrectionRule

DROP_ID = "drop_id"


@dataclass(frozen=True)
class Correction:
    """A label that a later drop changed."""

    row_id: str
    old_label: float
    new_label: float
    old_drop: str
    new_drop: str


@dataclass(frozen=True)
class MergedLabels:
    """One label per id (`row_id`, `label`, `event_time`, `drop_id`: the drop it came from),
    and every correction made on the way, oldest first."""

    frame: pd.DataFrame
    corrections: tuple[Correction, ...] = ()

    @classmethod
    def empty(cls) -> MergedLabels:
        return cls(pd.DataFrame({ROW_ID: pd.Series(dtype=object),
                                 LABEL: pd.Series(dtype="float64"),
                                 EVENT_TIME: pd.Series(dtype="datetime64[ns, UTC]"),
                                 DROP_ID: pd.Series(dtype=object)}))

    @property
    def rows(self) -> int:
        return len(self.frame)


def add_drop(merged: MergedLabels, drop: LabelDrop, rule: CorrectionRule) -> MergedLabels:
    """`merged` with `drop`'s labels; LabelsRejected when `rule` refuses a correction."""
    new = drop.frame.assign(**{DROP_ID: drop.drop_id})
    before = merged.frame.set_index(ROW_ID)
    again = new[new[ROW_ID].isin(before.index)]
    old = before.loc[again[ROW_ID]]
    changed = again[LABEL].to_numpy() != old[LABEL].to_numpy()
    if changed.any() and rule == "refuse":
        ids = again[ROW_ID][changed].tolist()
        raise LabelsRejected(LabelReason.LABELS_CORRECTION_REFUSED,
                             f"{len(ids)} id(s) already have another label and "
                             f"labels.on_correction is refuse, e.g. {ids[:EXAMPLES]}")
    corrections = tuple(
        Correction(row_id=str(row_id), old_label=float(o), new_label=float(n),
                   old_drop=str(od), new_drop=drop.drop_id)
        for row_id, o, n, od in zip(again[ROW_ID][changed], old[LABEL].to_numpy()[changed],
                                    again[LABEL].to_numpy()[changed],
                                    old[DROP_ID].to_numpy()[changed], strict=True))
    # A re-delivered label keeps the drop it first came from; a changed one takes the new drop.
    fresh = new[~new[ROW_ID].isin(before.index)]
    replaced = again[changed]
    kept = merged.frame[~merged.frame[ROW_ID].isin(replaced[ROW_ID])]
    parts = [p for p in (kept, replaced, fresh) if len(p)]
    frame = (pd.concat(parts, ignore_index=True) if parts else MergedLabels.empty().frame)
    return MergedLabels(frame=frame, corrections=merged.corrections + corrections)


def merge_drops(drops: Iterable[LabelDrop], rule: CorrectionRule) -> MergedLabels:
    """Every drop, in the order received; a refused one raises (see `add_drop`)."""
    merged = MergedLabels.empty()
    for drop in drops:
        merged = add_drop(merged, drop, rule)
    return merged


@dataclass(frozen=True)
class Labelled:
    """The scored rows of one prediction file that have a label: `y` and the predictions
    `p` (one score per row, or (rows, k) probabilities), row for row; `rows_scored` is the
    file's row count, so `coverage` is the labelled share; `all_scores` are the scores of
    every scored row (labelled or not), for the label-free estimate (None: not kept)."""

    y: np.ndarray
    p: np.ndarray
    rows_scored: int
    all_scores: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.y.shape[0])

    @property
    def coverage(self) -> float:
        return self.rows / self.rows_scored if self.rows_scored else 0.0


def join(predictions: pd.DataFrame, labels: MergedLabels, *, id_column: str,
         score_columns: list[str]) -> Labelled:
    """The predictions' rows that have a label, in the predictions' order."""
    by_id = labels.frame.set_index(ROW_ID)[LABEL]
    row_ids = id_text(predictions[id_column])  # the same text as the labels' ids
    hit = row_ids.isin(by_id.index).to_numpy()
    y = by_id.reindex(row_ids[hit]).to_numpy(dtype="float64")
    scores = predictions[score_columns].to_numpy(dtype="float64")
    if scores.shape[1] == 1:
        scores = scores[:, 0]
    return Labelled(y=y, p=scores[hit], rows_scored=len(predictions), all_scores=scores)
