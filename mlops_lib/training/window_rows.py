"""The rows a training window keeps of its batches (`RowSelection`), in Arrow.

Event-time bounds first (a row without a time is outside any bounded window), then the row
cap: the newest batches whole while they fit, and a seeded sample of the older rows for the
rest, in their order. The same tables and selection give the same rows, so a re-run versions
the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlops_lib.training.window import RowSelection


def select_rows(tables: Sequence[pa.Table], rows: RowSelection) -> list[pa.Table]:
    """`tables` (one per batch, oldest data first) cut to the selection."""
    kept = [_in_bounds(t, rows) for t in tables]
    if rows.max_rows is None or sum(t.num_rows for t in kept) <= rows.max_rows:
        return kept
    return _capped(kept, rows.max_rows, rows.seed)


def _in_bounds(table: pa.Table, rows: RowSelection) -> pa.Table:
    if rows.column is None or (rows.start is None and rows.end is None):
        return table
    times = table[rows.column]
    mask = pc.is_valid(times)
    for bound, compare in ((rows.start, pc.greater_equal), (rows.end, pc.less)):
        if bound is not None:
            moment = pa.scalar(datetime.fromisoformat(bound), type=times.type)
            mask = pc.and_(mask, pc.fill_null(compare(times, moment), False))
    return table.filter(mask)


def _capped(tables: list[pa.Table], cap: int, seed: int) -> list[pa.Table]:
    """The newest tables whole while they fit; a seeded sample of the rest fills the cap."""
    whole: list[pa.Table] = []
    room = cap
    older = list(tables)
    while older and older[-1].num_rows <= room:
        room -= older[-1].num_rows
        whole.insert(0, older.pop())
    if not older or room == 0:
        return whole
    rest = pa.concat_tables(older, promote_options="permissive")
    picked = np.sort(np.random.default_rng(seed).choice(rest.num_rows, size=room,
                                                         replace=False))
    return [rest.take(pa.array(picked)), *whole]
