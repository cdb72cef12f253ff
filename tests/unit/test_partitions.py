"""The day a batch's data belongs to, from a date partition in its folder name, and the
backfill's selection by it: history uploaded today still belongs to its own days."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from mlops_lib.landing.partitions import (
    DEFAULT_PARTITION_DATE,
    event_time_text,
    partition_date,
    partition_pattern_problem,
)
from mlops_lib.spec import SpecError, load_spec
from mlops_lib.stores.store import Store
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

P = "credit_default"
FILES = [{"key": "landing/credit_default/x/part-0.parquet", "etag": "e0", "size": 10}]


@pytest.mark.parametrize(("batch_id", "day"), [
    ("dt=2026-11-01", "2026-11-01"),
    ("2026-11-23", "2026-11-23"),
    ("date=2025-02-28", "2025-02-28"),
    ("sales_2024-02-29_eu", "2024-02-29"),  # a leap day
])
def test_an_iso_date_in_the_folder_name_is_the_datas_day(batch_id: str, day: str) -> None:
    found = partition_date(batch_id, DEFAULT_PARTITION_DATE)
    assert found == datetime.fromisoformat(day).replace(tzinfo=UTC)
    assert event_time_text(batch_id, DEFAULT_PARTITION_DATE) == f"{day}T00:00:00.000+00:00"


@pytest.mark.parametrize("batch_id", [
    "batch-20261124T054513471679Z",  # the generator's drop time: no partition, arrival counts
    "dt=2026-02-30",                 # no such day
    "dt=2026-13-01",
    "v12026-11-011",                 # digits run on either side: not a date standing alone
    "",
])
def test_a_name_without_a_calendar_day_has_no_partition(batch_id: str) -> None:
    assert partition_date(batch_id, DEFAULT_PARTITION_DATE) is None
    assert event_time_text(batch_id, DEFAULT_PARTITION_DATE) is None


def test_a_pattern_of_the_users_own_and_none() -> None:
    compact = r"day=(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    assert partition_date("day=20261105", compact) == datetime(2026, 11, 5, tzinfo=UTC)
    assert partition_date("dt=2026-11-05", compact) is None
    assert partition_date("dt=2026-11-05", None) is None


def test_a_pattern_that_cannot_read_a_day_is_refused_in_the_spec(tmp_path: Path) -> None:
    assert partition_pattern_problem(DEFAULT_PARTITION_DATE) is None
    assert "missing day" in str(partition_pattern_problem(r"(?P<year>\d{4})-(?P<month>\d\d)"))
    assert "not a regular expression" in str(partition_pattern_problem("dt=(?P<year>"))
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    bad = copy.deepcopy(raw)
    bad["source"]["partition_date"] = r"dt=(?P<year>\d{4})"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(SpecError, match="partition_date"):
        load_spec(tmp_path / "bad.yaml")
    raw["source"]["partition_date"] = None
    (tmp_path / "off.yaml").write_text(yaml.safe_dump(raw))
    assert load_spec(tmp_path / "off.yaml").source.partition_date is None
    assert load_spec(EXAMPLE_SPEC).source.partition_date == DEFAULT_PARTITION_DATE


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.engine.dispose()


def test_a_window_by_data_time_takes_partitions_by_their_day_and_others_by_arrival(
        store: Store) -> None:
    """Three partitions of November uploaded today, and one batch without a partition: a
    backfill window over 2 November takes that day's partition only; by arrival (the live
    runs' order) all four arrived today."""
    for batch_id in ("dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03", "batch-now"):
        store.claim_batch(P, batch_id, f"fp-{batch_id}", FILES, f"ingest-{batch_id}",
                          event_time=event_time_text(batch_id, DEFAULT_PARTITION_DATE))
        store.accept_batch(P, batch_id, 10, f"s3://a/staging/{batch_id}.parquet")
    day = store.accepted_batches(P, arrived_from="2026-11-02T00:00:00.000+00:00",
                                 arrived_before="2026-11-03T00:00:00.000+00:00",
                                 by_data_time=True)
    assert [b.batch_id for b in day] == ["dt=2026-11-02"]
    assert day[0].data_time == "2026-11-02T00:00:00.000+00:00"
    assert day[0].arrived_at > day[0].data_time  # it arrived today, after the day it describes
    by_arrival = store.accepted_batches(P, arrived_from="2026-11-02T00:00:00.000+00:00",
                                        arrived_before="2026-11-03T00:00:00.000+00:00")
    assert by_arrival == []
    now = store.get_batch(P, "batch-now")
    assert now is not None and now.event_time is None and now.data_time == now.arrived_at
    today = store.accepted_batches(P, arrived_from=now.arrived_at[:10], by_data_time=True)
    assert [b.batch_id for b in today] == ["batch-now"]


# --- event spans: a batch's data time from its manifest or its event-time column -------------


def test_a_manifest_may_state_the_span_of_its_data_in_utc() -> None:
    import json

    from mlops_lib.landing.manifest import ManifestError, parse_manifest

    def manifest(event_time: object) -> bytes:
        return json.dumps({"files": [{"name": "a.csv"}], "event_time": event_time}).encode()

    stated = parse_manifest(manifest({"start": "2024-07-01T02:00:00+02:00",
                                      "end": "2024-07-31T23:59:59Z"}))
    assert stated.event_span == ("2024-07-01T00:00:00.000+00:00",
                                 "2024-07-31T23:59:59.000+00:00")
    assert parse_manifest(json.dumps({"files": [{"name": "a.csv"}]}).encode()).event_span is None
    for bad in ({"start": "2024-08-01", "end": "2024-07-01"}, {"start": "soon", "end": "later"},
                {"start": "2024-07-01"}, "2024-07"):
        with pytest.raises(ManifestError) as caught:
            parse_manifest(manifest(bad))
        assert caught.value.code == "MANIFEST_INVALID"


def test_the_span_of_an_event_time_column_ignores_missing_times() -> None:
    import pandas as pd

    from mlops_lib.steps.event_span import column_span

    times = pd.Series(pd.to_datetime(["2024-07-03 10:00:00", None, "2024-07-01 09:30:00.1234"],
                                     utc=True, format="ISO8601"))
    assert column_span(times) == ("2024-07-01T09:30:00.123+00:00",
                                  "2024-07-03T10:00:00.000+00:00")
    assert column_span(pd.Series([None, None], dtype="datetime64[ns, UTC]")) is None
