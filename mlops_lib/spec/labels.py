"""Where the labels of scored rows land, late, and how they are read (`labels:`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Count, Positive
from mlops_lib.spec.drop_folder import DropFolder

CorrectionRule = Literal["last_write_wins", "refuse"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class LabelsConfig(DropFolder):
    """The YAML `labels:` section; see docs/monitoring.md. A label file carries the id column,
    the target column (named as in training data) and, optionally, an event-time column. A
    label drop is a folder under the prefix, complete as a landing batch is."""

    FOLDER: ClassVar[str] = "labels"

    id_column: str | None = None
    """The column that names a scored row; absent: scoring.id_column, else the feature of
    role id (one of them required then)."""
    event_time_column: str | None = None
    """A datetime column of the label files: when the outcome happened (kept, not required)."""
    on_correction: CorrectionRule = "last_write_wins"
    """A later drop labels an id again with another value: last_write_wins (the newer label
    counts; every change is kept in the audit) | refuse (the drop is rejected)."""
    window_rows: Count = 1000
    """Rolling windows of realized performance: this many labelled rows each, oldest first."""
    window_days: Positive | None = None
    """Also windows of realized performance by scoring time: this many days each (counted
    from 1970-01-01 UTC, so a window keeps its key as late labels arrive); null: none."""

