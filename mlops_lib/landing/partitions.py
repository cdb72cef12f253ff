"""The day a batch's data belongs to, read from its folder name (a date partition).

Producers that land history name folders by the day the data describes (`dt=2026-11-01/`,
`2026-11-01/`, `date=2026-11-01/`). That day, not the day the batch arrived, is what a backfill
over past intervals must select by: two years of partitions uploaded this morning still belong
to their own days. Pure and pandas-free: the ingest task imports it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# An ISO date that stands on its own in the folder name: `2026-11-01`, `dt=2026-11-01`,
# `date=2026-11-01`, `sales_2026-11-01`; not a run of digits inside a longer number.
DEFAULT_PARTITION_DATE = (r"(?<![0-9])(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
                          r"(?![0-9])")
_GROUPS = ("year", "month", "day")


def partition_pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot read a date from a folder name, or None if it can."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"not a regular expression: {exc}"
    missing = [g for g in _GROUPS if g not in compiled.groupindex]
    if missing:
        return (f"needs the named groups (?P<year>...), (?P<month>...) and (?P<day>...); "
                f"missing {', '.join(missing)}")
    return None


def partition_date(batch_id: str, pattern: str | None) -> datetime | None:
    """Midnight UTC of the day `pattern` finds in `batch_id`, or None when it finds none (or
    what it finds is no calendar day, such as 2026-02-30): such a batch's data time is its
    arrival."""
    if not pattern:
        return None
    found = re.search(pattern, batch_id)
    if found is None:
        return None
    try:
        return datetime(int(found["year"]), int(found["month"]), int(found["day"]), tzinfo=UTC)
    except ValueError:
        return None


def event_time_text(batch_id: str, pattern: str | None) -> str | None:
    """`partition_date` as the store writes times (UTC ISO-8601, milliseconds), so the
    store compares it with arrival times and interval bounds as text."""
    day = partition_date(batch_id, pattern)
    return None if day is None else day.isoformat(timespec="milliseconds")
