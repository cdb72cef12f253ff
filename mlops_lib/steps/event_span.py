"""When a batch's data happened: the span of its event-time column.

The column is the spec's event time (a feature with role `event_time`) or the one
`training.window` slides on. Times are UTC text as the store writes them, so the store
compares them with arrivals and interval bounds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lib.spec import PipelineSpec

if TYPE_CHECKING:
    import pandas as pd


def time_column(spec: PipelineSpec) -> str | None:
    """The datetime column that says when a row happened, if the spec names one."""
    return spec.training.window.column or spec.event_time_column


def column_span(values: pd.Series) -> tuple[str, str] | None:
    """(oldest, newest) of a datetime column; None when it holds no time at all."""
    import pandas as pd

    times = pd.to_datetime(values, utc=True, errors="coerce").dropna()
    if times.empty:
        return None
    return utc_text(times.min()), utc_text(times.max())


def utc_text(moment: pd.Timestamp) -> str:
    return str(moment.tz_convert("UTC").isoformat(timespec="milliseconds"))
