"""Disk hygiene (issue 19, goal 5): a run's scratch folder goes at its end, `mlops gc` removes
what crashed or ended runs left, by the store's record and by age, and never a folder that may
belong to a running run."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_lib.cli import main
from mlops_lib.operations import gc
from mlops_lib.services import Services, scratch_path
from mlops_lib.settings import Settings
from mlops_lib.stores.store import DecisionRecord, Store

pytestmark = pytest.mark.unit

PIPELINE = "credit_default"
NOW = time.time()
HOUR = 3600.0


class Records:
    """`gc.RunRecords` of a store that recorded the decisions of `ended`."""

    def __init__(self, *ended: str) -> None:
        self.ended = set(ended)

    def ended_runs(self, pipeline: str) -> set[str]:
        return self.ended if pipeline == PIPELINE else set()


def run_folder(home: Path, run_id: str, *, size: int, hours_ago: float,
               pipeline: str = PIPELINE) -> Path:
    """A run's scratch as the steps leave it (a training set, a report), last written
    `hours_ago`."""
    folder = Services(Settings.from_env({"CT_HOME": str(home)})).scratch_dir(pipeline, run_id)
    (folder / "train.parquet").write_bytes(b"x" * size)
    (folder / "reports").mkdir()
    (folder / "reports" / "data_drift.html").write_bytes(b"<html/>")
    age(folder, hours_ago)
    return folder


def age(folder: Path, hours_ago: float) -> None:
    stamp = NOW - hours_ago * HOUR
    for top, dirs, files in os.walk(folder, topdown=False):
        for name in (*files, *dirs):
            os.utime(os.path.join(top, name), (stamp, stamp))
    os.utime(folder, (stamp, stamp))


def test_gc_removes_ended_and_old_runs_and_keeps_the_others(tmp_path: Path) -> None:
    ended = run_folder(tmp_path, "ended-run", size=1000, hours_ago=1)
    crashed = run_folder(tmp_path, "crashed-run", size=2000, hours_ago=30)
    running = run_folder(tmp_path, "running-run", size=4000, hours_ago=2)
    just_ended = run_folder(tmp_path, "just-ended", size=8000, hours_ago=0.05)
    other_dag = run_folder(tmp_path, "scoring_b7", size=16, hours_ago=50, pipeline="other")

    report = gc.collect(tmp_path, Records("ended-run", "just-ended"), now=NOW)

    assert {f.run for f in report.removed} == {"ended-run", "crashed-run", "scoring_b7"}
    assert {f.run for f in report.kept} == {"running-run", "just-ended"}
    assert not ended.exists() and not crashed.exists() and not other_dag.exists()
    assert running.is_dir() and just_ended.is_dir()
    html = len(b"<html/>")
    assert report.freed_bytes == 1000 + 2000 + 16 + 3 * html
    assert report.failed == ()
    assert "freed" in report.lines()[-1] and str(report.freed_bytes) in report.lines()[-1]


def test_gc_dry_run_removes_nothing_and_says_what_it_would_free(tmp_path: Path) -> None:
    crashed = run_folder(tmp_path, "crashed-run", size=5000, hours_ago=48)
    recent = run_folder(tmp_path, "recent-run", size=5000, hours_ago=1)

    report = gc.collect(tmp_path, Records(), dry_run=True, now=NOW)

    assert [f.run for f in report.removed] == ["crashed-run"]
    assert [f.run for f in report.kept] == ["recent-run"]
    assert report.freed_bytes == 5000 + len(b"<html/>")
    assert crashed.is_dir() and recent.is_dir()
    assert report.lines()[0].strip().startswith("would remove")


def test_gc_threshold_counts_from_the_newest_write_in_the_folder(tmp_path: Path) -> None:
    """A long run that wrote a temp file an hour ago is not idle, however old its folder."""
    folder = run_folder(tmp_path, "long-run", size=10, hours_ago=40)
    fresh = folder / "tmpabc" / "data.parquet"
    fresh.parent.mkdir()
    fresh.write_bytes(b"y")
    for path in (fresh, fresh.parent, folder):
        os.utime(path, (NOW - HOUR, NOW - HOUR))

    assert gc.collect(tmp_path, Records(), older_than_h=24, now=NOW).removed == ()
    assert [f.run for f in gc.collect(tmp_path, Records(), older_than_h=24,
                                      now=NOW + 23.5 * HOUR).removed] == ["long-run"]


def test_gc_refuses_a_threshold_that_could_catch_a_running_training(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="running"):
        gc.collect(tmp_path, Records(), older_than_h=0.5)


def test_gc_without_any_scratch_frees_nothing(tmp_path: Path) -> None:
    report = gc.collect(tmp_path, Records())
    assert report.removed == report.kept == () and report.freed_bytes == 0


def test_store_records_name_the_folders_the_steps_wrote(tmp_path: Path, store_url: str) -> None:
    """Airflow run ids have `:` and `+`: the store's decision must match the safe folder."""
    run_id = "manual__2026-01-01T00:00:00+00:00"
    store = Store(store_url)
    try:
        store.record_decision_and_move(DecisionRecord(
            pipeline=PIPELINE, dag_run_id=run_id, candidate_version="1",
            baseline_version=None, metric="roc_auc", candidate_value=0.8,
            baseline_value=None, decision="keep", reason="test", data_rev="r1", details={}),
            expected_epoch=0)
        folder = run_folder(tmp_path, run_id, size=10, hours_ago=1)
        assert gc.StoreRunRecords(store).ended_runs(PIPELINE) == {folder.name}
        assert [f.run for f in gc.collect(tmp_path, gc.StoreRunRecords(store),
                                          now=NOW).removed] == [folder.name]
    finally:
        store.engine.dispose()


def test_run_end_cleanup_removes_the_runs_scratch_and_keeps_lineage(tmp_path: Path) -> None:
    """What lineage needs is the DVC repository (`<home>/datasets`, data on the remote) and
    the store: the cleanup touches neither, nor another run's scratch."""
    settings = Settings.from_env({"CT_HOME": str(tmp_path)})
    run_id = "manual__2026-01-01T00:00:00+00:00"
    mine = run_folder(tmp_path, run_id, size=3000, hours_ago=0)
    other = run_folder(tmp_path, "other-run", size=10, hours_ago=0)
    dvc_file = settings.dvc_repo_dir / "data" / PIPELINE / "train.parquet.dvc"
    dvc_file.parent.mkdir(parents=True)
    dvc_file.write_text("outs: []\n")

    assert gc.remove_run_scratch(settings.home, PIPELINE, run_id) == 3000 + len(b"<html/>")
    assert not mine.exists() and mine == scratch_path(settings.home, PIPELINE, run_id)
    assert other.is_dir() and dvc_file.is_file()
    # A retried decide (or one re-run after a clear) finds it gone: nothing to do, no error.
    assert gc.remove_run_scratch(settings.home, PIPELINE, run_id) == 0


@pytest.fixture
def cli_home(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CT_HOME", str(tmp_path))
    monkeypatch.setenv("CT_STORE_URL", store_url)
    yield tmp_path


def test_cli_gc_dry_run_json_then_gc(cli_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crashed = run_folder(cli_home, "crashed-run", size=700, hours_ago=72)
    age(crashed.parent, 72)

    assert main(["gc", "--dry-run", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["dry_run"] and shown["freed_bytes"] == 700 + len(b"<html/>")
    assert [f["run"] for f in shown["removed"]] == ["crashed-run"] and crashed.is_dir()

    assert main(["gc", "--older-than", "48"]) == 0
    out = capsys.readouterr().out
    assert "removed" in out and "crashed-run" in out and not crashed.exists()

    assert main(["gc", "--older-than", "1"]) == 2
    assert "running" in capsys.readouterr().err
