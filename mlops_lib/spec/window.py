"""`training.window`: which accepted batches a training run learns from.

    window: all                                  # every accepted batch so far (the default)
    window: new_batches                          # only those no earlier run trained on
    window: {last_batches: 6}                    # the newest six, the new ones included
    window: {event_time: {column: applied_at, days: 90}, max_rows: 2000000}

docs/triggers.md, "Choosing a training window", says when to pick which.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Count, Positive, problem

WindowMode = Literal["new_batches", "all", "last_batches", "event_time"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class EventTimeWindow:
    """The rows whose `column` lies within `days` of the newest data (or of a backfill
    interval's end)."""

    column: str
    """A datetime feature: the data's own time, not its arrival."""
    days: Positive
    """How far back the window reaches."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class TrainingWindow:
    """Which accepted batches a training run trains on. A run is still fired by new data (or
    drift, a schedule, ...); the window says how much history comes with it."""

    mode: WindowMode = "all"
    """all | new_batches | last_batches | event_time (written as a key: `{last_batches: 6}`,
    `{event_time: {column: ..., days: ...}}`)."""
    last_batches: Count | None = None
    """mode last_batches: this many newest batches (at least the new ones)."""
    event_time: EventTimeWindow | None = None
    """mode event_time: the sliding window by the data's time column."""
    max_rows: int | None = Field(default=None, ge=100, strict=True)
    """More rows than this in the window: the newest batches are kept whole while they fit,
    and a seeded sample of the older rows fills the rest. Absent: every row."""

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`all` / `new_batches` as a bare word; `{last_batches: N}` and `{event_time: ...}`
        name their mode by their key."""
        if isinstance(value, str):
            if value not in ("all", "new_batches"):
                raise problem((), f"{value!r} is not a window: write all, new_batches, "
                                  "{last_batches: N} or {event_time: {column: ..., days: ...}}")
            return {"mode": value}
        if isinstance(value, dict) and "mode" not in value:
            keyed = [m for m in ("last_batches", "event_time") if m in value]
            if len(keyed) > 1:
                raise problem((), "give one of last_batches and event_time")
            return {**value, "mode": keyed[0] if keyed else "all"}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainingWindow:
        if self.mode == "last_batches" and self.last_batches is None:
            raise problem("last_batches", "mode last_batches needs the number of batches")
        if self.mode == "event_time" and self.event_time is None:
            raise problem("event_time", "mode event_time needs {column: ..., days: ...}")
        if self.last_batches is not None and self.mode != "last_batches":
            raise problem("last_batches", f"applies to mode last_batches, not {self.mode}")
        if self.event_time is not None and self.mode != "event_time":
            raise problem("event_time", f"applies to mode event_time, not {self.mode}")
        return self

    @property
    def column(self) -> str | None:
        return None if self.event_time is None else self.event_time.column

    def describe(self) -> str:
        """'event_time 90 days of applied_at', 'last 6 batches', 'all', 'new batches'."""
        if self.event_time is not None:
            shown = f"{self.event_time.days:g}"
            what = f"event_time {shown} days of {self.event_time.column}"
        elif self.last_batches is not None:
            what = f"last {self.last_batches} batches"
        else:
            what = "all accepted batches" if self.mode == "all" else "new batches only"
        return what + (f", at most {self.max_rows:,} rows" if self.max_rows else "")
