"""What a bad-input case is: the files a producer lands, the reason code the ingest step must
give them, and (for some) a change to the pipeline's spec they are judged by.

A case's files are built when it is landed, from `Good`: a good batch of the pipeline, made
once per spec. Building nothing at import keeps test collection cheap (the catalogue is
parametrized by case id).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.landing.manifest import build_manifest
from mlops_lib.spec import Feature, PipelineSpec

Files = dict[str, bytes]
Tweak = Callable[[PipelineSpec], PipelineSpec]


@dataclass
class Good:
    """A good batch of `spec`: 600 fresh rows for parquet (its `applied_at` stamps lie in the
    six hours before `now`), 300 rows for CSV. Cases break a copy of it."""

    spec: PipelineSpec
    now: datetime

    @property
    def fmt(self) -> str:
        return self.spec.source.format

    @property
    def name(self) -> str:
        return f"part-0000.{self.fmt}"

    @cached_property
    def frame(self) -> pd.DataFrame:
        if self.fmt == "parquet":
            return fresh(self.spec, 600, 11, self.now)
        return generate_batch(self.spec, 300, seed=12)

    @cached_property
    def body(self) -> bytes:
        return to_file_bytes(self.frame, self.fmt)

    @cached_property
    def lines(self) -> list[str]:
        """A CSV batch's lines (header first)."""
        return self.body.decode().splitlines()

    def one(self, content: pd.DataFrame | bytes | str) -> Files:
        """A batch of one data file: a frame (written in the pipeline's format), bytes or text."""
        if isinstance(content, pd.DataFrame):
            content = to_file_bytes(content, self.fmt)
        return {self.name: content.encode() if isinstance(content, str) else content}

    def every(self, step: int, column: str, value: Any) -> pd.DataFrame:
        """The good frame with `column` set to `value` in every `step`-th row (as object, so
        any value fits)."""
        s = self.frame[column].astype(object)
        return self.frame.assign(**{column: s.where(s.index % step != 0, value)})


@dataclass(frozen=True)
class Case:
    """One bad drop: `files(good)` landed under `<prefix><batch_id>/`, then the marker (or
    the manifest: `manifest(good, files)`, built from the files if None)."""

    batch_id: str
    code: str
    files: Callable[[Good], Files]
    manifest: Callable[[Good, Files], bytes] | None = None
    tweak: Tweak | None = field(default=None, compare=False)
    """A change to the pipeline's spec the case is judged by (smaller limits, other
    categories); None: the pipeline's own spec."""

    def spec_for(self, spec: PipelineSpec) -> PipelineSpec:
        return spec if self.tweak is None else self.tweak(spec)

    def marker_body(self, good: Good, files: Files) -> bytes:
        """What the completion marker holds: the manifest in manifest mode, else nothing."""
        if good.spec.source.completion != "manifest":
            return b""
        if self.manifest is not None:
            return self.manifest(good, files)
        return build_manifest(files, {n: rows_of(n, b) for n, b in files.items()})


def fresh(spec: PipelineSpec, rows: int, seed: int, now: datetime) -> pd.DataFrame:
    """A good batch whose `applied_at` stamps lie in the six hours before `now`."""
    frame = generate_batch(spec, rows, seed=seed)
    ages = np.random.default_rng(seed).uniform(0, 6 * 3600, rows)
    stamps = pd.Timestamp(now).tz_convert(None) - pd.to_timedelta(ages, unit="s")
    return frame.assign(applied_at=stamps.astype("datetime64[ns]"))


def rows_of(name: str, body: bytes) -> int:
    """Rows a producer would state in its manifest for a file it wrote."""
    if not body:
        return 0
    if not name.endswith(".parquet"):
        return max(body.count(b"\n") - 1, 0)
    return len(pd.read_parquet(io.BytesIO(body)))


# --- spec changes -------------------------------------------------------------------------------


def source(**changes: Any) -> Tweak:
    """The spec with other `source` settings (limits, CSV null cells)."""
    def change(spec: PipelineSpec) -> PipelineSpec:
        return replace(spec, source=replace(spec.source, **changes))
    return change


def contract(**changes: Any) -> Tweak:
    def change(spec: PipelineSpec) -> PipelineSpec:
        return replace(spec, contract=replace(spec.contract, **changes))
    return change


def feature(name: str, **changes: Any) -> Tweak:
    """The spec with feature `name` changed (its categories, its null share)."""
    def change(spec: PipelineSpec) -> PipelineSpec:
        features = tuple(_changed(f, changes) if f.name == name else f for f in spec.features)
        return replace(spec, features=features)
    return change


def _changed(f: Feature, changes: Mapping[str, Any]) -> Feature:
    return replace(f, **changes)
