"""How much history a training run learns from: `training.window`, resolved. Pure.

A run is fired by some batches (the new ones, or a backfill interval's); the window widens
them to the batches it trains on, from the accepted ones the store offers as `history`:

- new_batches: the firing batches only;
- all: every batch of the history (for a live run, those that arrived up to the newest firing
  batch; for a backfill, those whose data begins before the interval's end);
- last_batches N: the newest N of them by data time, never fewer than the firing batches;
- event_time {column, days}: the batches with rows in the D days up to the newest data (a
  backfill: up to the interval's end), and of their rows exactly those.

`RowSelection` says which rows of those batches the training set keeps; the dataset step
applies it, and the versioned training set is what it kept (so lineage stays exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from mlops_lib.spec.window import TrainingWindow

NEW_BATCHES = TrainingWindow(mode="new_batches")


class Batchlike(Protocol):
    @property
    def batch_id(self) -> str: ...
    @property
    def rows(self) -> int: ...
    @property
    def arrived_at(self) -> str: ...
    @property
    def data_start(self) -> str: ...
    @property
    def data_end(self) -> str: ...


@dataclass(frozen=True)
class RowSelection:
    """The rows of the window's batches a training set keeps: those whose `column` lies in
    [start, end) (a bound that is None does not bound), then at most `max_rows` of them (the
    newest batches whole, a sample seeded with `seed` of the older rows)."""

    column: str | None = None
    start: str | None = None
    end: str | None = None
    max_rows: int | None = None
    seed: int = 0

    @property
    def keeps_all(self) -> bool:
        return (self.column is None or (self.start is None and self.end is None)) and (
            self.max_rows is None)

    def key(self) -> str:
        """What makes two training sets of the same batches differ (the dataset key's part)."""
        return "" if self.keeps_all else (f"{self.column}|{self.start}|{self.end}|"
                                          f"{self.max_rows}|{self.seed}")


@dataclass(frozen=True)
class WindowChoice:
    """The batches a run trains on (oldest data first), the rows it keeps of them, and what
    the run records about it."""

    batches: tuple[Batchlike, ...]
    rows: RowSelection
    details: dict[str, Any]

    @property
    def batch_ids(self) -> tuple[str, ...]:
        return tuple(b.batch_id for b in self.batches)


def resolve(window: TrainingWindow, firing: Sequence[Batchlike], history: Sequence[Batchlike],
            *, until: str | None = None, time_column: str | None = None,
            seed: int = 0) -> WindowChoice:
    """The window around the `firing` batches. `history`: the accepted batches the run may
    look back on; `until`: a backfill interval's end (rows at or after it are left out when
    the spec has a time column); `time_column`: the spec's event-time column."""
    ids = {b.batch_id for b in firing}
    past = [b for b in history if until is None or b.data_start < until]
    pool = _by_data_time({b.batch_id: b for b in (*past, *firing)}.values())
    chosen, start = _choose(window, firing, pool, ids, until)
    column = window.column or time_column
    rows = RowSelection(column=column if (start or until) else None, start=start, end=until,
                        max_rows=window.max_rows, seed=seed)
    details: dict[str, Any] = {
        "mode": window.mode, "describe": window.describe(), "batches": len(chosen),
        "first": chosen[0].batch_id if chosen else None,
        "last": chosen[-1].batch_id if chosen else None,
        "rows": sum(b.rows for b in chosen), "firing": [b.batch_id for b in firing]}
    if rows.column:
        details["event_time"] = {"column": rows.column, "from": start, "before": until}
    if window.max_rows:
        details["max_rows"] = window.max_rows
    details["selection"] = asdict(rows)  # read back by a re-run of the plan
    return WindowChoice(batches=tuple(chosen), rows=rows, details=details)


def _choose(window: TrainingWindow, firing: Sequence[Batchlike], pool: list[Batchlike],
            ids: set[str], until: str | None) -> tuple[list[Batchlike], str | None]:
    """(the batches, the event-time start of the rows kept) of the window's mode."""
    if window.mode == "new_batches":
        return [b for b in pool if b.batch_id in ids], None
    if window.mode == "all":
        return pool, None
    if window.mode == "last_batches":
        assert window.last_batches is not None
        newest = {b.batch_id for b in pool[-window.last_batches:]}
        return [b for b in pool if b.batch_id in newest or b.batch_id in ids], None
    assert window.event_time is not None
    anchor = until or max((b.data_end for b in firing), default=None)
    if anchor is None:
        return [b for b in pool if b.batch_id in ids], None
    start = shift(anchor, -window.event_time.days)
    return [b for b in pool if b.data_end >= start or b.batch_id in ids], start


def _by_data_time(batches: Sequence[Batchlike] | Any) -> list[Batchlike]:
    return sorted(batches, key=lambda b: (b.data_start, b.arrived_at, b.batch_id))


def shift(moment: str, days: float) -> str:
    """A store time (UTC text) moved by `days`, in the same text form."""
    when = datetime.fromisoformat(moment) + timedelta(days=days)
    return when.isoformat(timespec="milliseconds")
