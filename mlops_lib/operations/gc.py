"""Disk hygiene: the per-run scratch folders under `<home>/runs/<pipeline>/<run>`.

A training run's scratch holds its assembled training set (1.3 GB at 10M rows) and its report
files while it runs; once the decision is recorded nothing reads them again (the data is in
DVC, the reports in S3 and MLflow), so `decide` removes the folder (`remove_run_scratch`). A
failed run keeps its folder for debugging; `mlops gc` (`collect`) removes those leftovers, and
the empty or half-written folders of other DAGs' runs, once they are old enough.

Never the folder of a run still running: a folder goes only when the store recorded its run's
decision and nothing in it changed for `ENDED_IDLE`, or when nothing in it changed for the
threshold (24 h by default, never under `MIN_OLDER_THAN_H`). Every step that writes scratch
touches the folder's tree (files or temp folders), so "nothing changed" is "nobody is there".
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mlops_lib.services import scratch_name, scratch_path

if TYPE_CHECKING:
    from mlops_lib.stores.store import Store

log = logging.getLogger(__name__)

DEFAULT_OLDER_THAN_H = 24.0
# A long training (external memory, Dask) may read files in its scratch for hours without
# writing there (reads leave mtimes alone): `mlops gc --older-than` refuses less than this.
MIN_OLDER_THAN_H = 6.0
# An ended run's folder still waits this long: a task of the run cleared and re-run by hand
# after the decision may be writing there.
ENDED_IDLE_S = 15 * 60


class RunRecords(Protocol):
    """What the store knows of a pipeline's runs: which ones ended (their decision is
    recorded)."""

    def ended_runs(self, pipeline: str) -> set[str]: ...


@dataclass(frozen=True)
class StoreRunRecords:
    """`RunRecords` from the store's `decisions` table, as scratch folder names."""

    store: Store

    def ended_runs(self, pipeline: str) -> set[str]:
        return {scratch_name(d.dag_run_id) for d in self.store.decisions(pipeline)}


@dataclass(frozen=True)
class ScratchFolder:
    pipeline: str
    run: str  # the folder's name (the run id made safe)
    path: str
    size: int  # bytes
    idle_h: float  # hours since anything in it last changed
    ended: bool  # the store recorded the run's decision
    why: str  # why it goes, or why it stays
    removed: bool = False
    error: str | None = None


@dataclass(frozen=True)
class GcReport:
    root: str
    older_than_h: float
    dry_run: bool
    removed: tuple[ScratchFolder, ...] = ()
    kept: tuple[ScratchFolder, ...] = ()
    failed: tuple[ScratchFolder, ...] = ()

    @property
    def freed_bytes(self) -> int:
        return sum(f.size for f in self.removed)

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [f"{verb:>12}  {f.pipeline}/{f.run}  {human_bytes(f.size)}  ({f.why})"
               for f in self.removed]
        out += [f"{'kept':>12}  {f.pipeline}/{f.run}  {human_bytes(f.size)}  ({f.why})"
                for f in self.kept]
        out += [f"{'failed':>12}  {f.pipeline}/{f.run}  {f.error}" for f in self.failed]
        out.append(f"{'would free' if self.dry_run else 'freed'} "
                   f"{human_bytes(self.freed_bytes)} ({self.freed_bytes} bytes) in "
                   f"{len(self.removed)} folder(s) under {self.root}; kept {len(self.kept)}")
        return out


def remove_run_scratch(home: Path, pipeline: str, dag_run_id: str) -> int:
    """Remove a run's scratch folder (its end: the decision is recorded); the bytes freed.
    A folder already gone frees 0: a retried or re-cleared decide must not fail on it."""
    path = scratch_path(home, pipeline, dag_run_id)
    size = _tree(path)[0] if path.is_dir() else 0
    _remove(path)
    if size:
        log.info("Scratch of run %s removed: %s freed (%s)", dag_run_id, human_bytes(size), path)
    return size


def collect(home: Path, records: RunRecords, *, older_than_h: float = DEFAULT_OLDER_THAN_H,
            dry_run: bool = False, now: float | None = None) -> GcReport:
    """Remove (or, dry, list) the scratch folders of ended runs and of runs idle for
    `older_than_h`; the others are kept and listed with why."""
    if older_than_h < MIN_OLDER_THAN_H:
        raise ValueError(f"older than {older_than_h:g} h: under {MIN_OLDER_THAN_H:g} h a "
                         "running training could lose its scratch")
    root = home / "runs"
    now = time.time() if now is None else now
    removed: list[ScratchFolder] = []
    kept: list[ScratchFolder] = []
    failed: list[ScratchFolder] = []
    for pipeline, folders in _run_folders(root):
        ended = records.ended_runs(pipeline)
        for path in folders:
            found = _judge(pipeline, path, path.name in ended, older_than_h, now)
            if found.removed and not dry_run:
                try:
                    _remove(path)
                except OSError as exc:  # one stuck folder must not stop the others
                    found = replace(found, removed=False, error=f"{type(exc).__name__}: {exc}")
            (failed if found.error else removed if found.removed else kept).append(found)
    return GcReport(root=str(root), older_than_h=older_than_h, dry_run=dry_run,
                    removed=tuple(removed), kept=tuple(kept), failed=tuple(failed))


def _judge(pipeline: str, path: Path, ended: bool, older_than_h: float,
           now: float) -> ScratchFolder:
    size, newest = _tree(path)
    idle_s = max(0.0, now - newest)
    idle_h = idle_s / 3600
    if ended and idle_s >= ENDED_IDLE_S:
        why, goes = "run ended: decision recorded", True
    elif idle_h >= older_than_h:
        why, goes = f"idle {idle_h:.1f} h >= {older_than_h:g} h", True
    elif ended:
        why, goes = f"run ended, but written {idle_s / 60:.0f} min ago", False
    else:
        why, goes = f"idle {idle_h:.1f} h < {older_than_h:g} h: may be running", False
    return ScratchFolder(pipeline=pipeline, run=path.name, path=str(path), size=size,
                         idle_h=round(idle_h, 3), ended=ended, why=why, removed=goes)


def _run_folders(root: Path) -> Iterator[tuple[str, list[Path]]]:
    if not root.is_dir():
        return
    for pipeline in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        yield pipeline.name, sorted(p for p in pipeline.iterdir()
                                    if p.is_dir() and not p.is_symlink())


def _tree(path: Path) -> tuple[int, float]:
    """(bytes, newest mtime) of a folder and everything in it; links are not followed (a
    link's target is not the run's to free)."""
    size, newest = 0, path.lstat().st_mtime
    for top, dirs, files in os.walk(path, onerror=lambda exc: None):
        for name in (*dirs, *files):
            try:
                st = os.lstat(os.path.join(top, name))
            except FileNotFoundError:  # a temp file the run just removed
                continue
            newest = max(newest, st.st_mtime)
            if name in files:
                size += st.st_size
    return size, newest


def _remove(path: Path) -> None:
    """Remove a folder; one already gone (or a file in it that vanished meanwhile, a task's
    temp file) is fine, one that stays is an error."""
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise OSError(f"{path} could not be removed entirely")


def human_bytes(n: int) -> str:
    """1536 -> "1.5 KiB"."""
    if n < 1024:
        return f"{n} B"
    size, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"
