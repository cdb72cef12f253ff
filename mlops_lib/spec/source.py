"""Where a pipeline's batches land, and how a batch is known to be complete."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.landing.batches import Completion, CompletionMode
from mlops_lib.landing.keys import unsafe_key_reason
from mlops_lib.landing.partitions import DEFAULT_PARTITION_DATE, partition_pattern_problem
from mlops_lib.spec.base import SPEC_CONFIG, OrEmpty, Positive

FileFormat = Literal["parquet", "csv"]
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3  # 2 GiB: source.max_file_bytes when the spec gives none
# A batch's decoded size drives the pipeline's memory (several times it at the peak: the scaling
# benchmark's 10M-row, 28-column batch is 2.2 GB decoded and peaks at 8 GiB). 4 GiB is about
# twice that batch and still fits a 24 GiB worker; rows are a looser bound of their own
# (per-row costs), 5x that batch.
DEFAULT_MAX_ROWS = 50_000_000
DEFAULT_MAX_UNCOMPRESSED_BYTES = 4 * 1024**3
_MANIFEST = "_manifest.json"


@dataclass(frozen=True, config=SPEC_CONFIG)
class CsvOptions:
    null_values: tuple[str, ...] = ("",)
    """The cells that mean null. By default only an empty cell: pandas' own list ("NA", "N/A",
    "null", "None", "nan", ...) would turn a label or a category such as "NA" (Namibia, not
    applicable) into a null without a word. Writers that spell null some other way (R's "NA",
    a database's "NULL") list their token here."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class Source:
    bucket: str
    """The landing bucket."""
    prefix: str
    """A batch is a folder under this prefix (normalised to one trailing slash)."""
    format: FileFormat = "parquet"
    """The data files' format."""
    marker: str = "_SUCCESS"
    """The file that says a batch is complete (default `_manifest.json` with completion
    manifest); its name starts with _ or . so it is never mistaken for data."""
    completion: CompletionMode = "marker"
    """marker: a marker file written last | manifest: a manifest listing each file | quiet: no
    new file for quiet_period_s."""
    quiet_period_s: Positive = 60.0
    """completion quiet: seconds without a new file after which a batch counts as complete."""
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0, strict=True)
    """Largest data file accepted, in bytes, judged on the listing before any download; a
    larger file rejects the batch with FILE_TOO_LARGE."""
    max_rows: int = Field(default=DEFAULT_MAX_ROWS, gt=0, strict=True)
    """Most rows a batch (all its data files) may hold, counted before it is decoded (parquet:
    the footers; CSV: a streaming count); more rejects it with TOO_MANY_ROWS."""
    max_uncompressed_bytes: int = Field(default=DEFAULT_MAX_UNCOMPRESSED_BYTES, gt=0,
                                        strict=True)
    """Most bytes a batch may decode to, estimated before it is decoded (each column's
    uncompressed size, at least 8 bytes a cell) and counted while parquet is read; more rejects
    it with DECOMPRESSED_TOO_LARGE, so a small file that expands enormously is never read."""
    csv: Annotated[CsvOptions, OrEmpty] = Field(default_factory=CsvOptions)
    """format csv: how its cells are read."""
    partition_date: str | None = DEFAULT_PARTITION_DATE
    """A regular expression with the named groups year, month and day that finds the day a
    batch's data belongs to in its folder name (default: an ISO date such as `2026-11-01` or
    `dt=2026-11-01`); null: none. A backfill selects batches by that day, and by arrival
    when the name has none (docs/backfill.md)."""

    @property
    def completion_rule(self) -> Completion:
        return Completion(mode=self.completion, marker=self.marker,
                          quiet_period_s=self.quiet_period_s)

    @model_validator(mode="before")
    @classmethod
    def _manifest_marker(cls, data: Any) -> Any:
        return manifest_marker(data)

    @field_validator("bucket")
    @classmethod
    def _a_bucket_name(cls, bucket: str) -> str:
        return bucket_name(bucket)

    @field_validator("prefix")
    @classmethod
    def _one_trailing_slash(cls, prefix: str) -> str:
        return key_prefix(prefix, example="landing/<pipeline>/")

    @field_validator("partition_date")
    @classmethod
    def _reads_a_date(cls, pattern: str | None) -> str | None:
        problem = None if pattern is None else partition_pattern_problem(pattern)
        if problem is not None:
            raise ValueError(problem)
        return pattern

    @field_validator("marker")
    @classmethod
    def _marker_is_not_data(cls, marker: str) -> str:
        return marker_name(marker)


# The checks of a place batches land, shared by `source:` and `scoring:`.

def bucket_name(bucket: str) -> str:
    """`bucket` if it is a bucket's name, not a URI or a path."""
    if not bucket or any(c in bucket for c in ":/ ") or bucket != bucket.lower():
        raise ValueError(f"{bucket!r} must be a bucket's name (lowercase, no s3:// or "
                         "folder: those go in `prefix`)")
    return bucket


def key_prefix(prefix: str, *, example: str) -> str:
    """`prefix` with one trailing slash, if keys may start with it (`example`: a folder to
    suggest when it names the bucket's root)."""
    normal = prefix.strip("/") + "/"
    if normal == "/":
        raise ValueError(f"must name a folder such as {example}, not the bucket's "
                         "root (every batch folder and key would be unsafe)")
    # A prefix no key may start with makes every batch under it UNSAFE_KEY: refuse it here.
    why = unsafe_key_reason(normal)
    if why is not None:
        raise ValueError(f"{prefix!r} is not a safe key prefix: {why}")
    return normal


def marker_name(marker: str) -> str:
    """`marker` if it is a safe file name that is never mistaken for data."""
    if "/" in marker or not marker.startswith(("_", ".")):
        raise ValueError(f"{marker!r} must be a file name starting with _ (so it is never "
                         "mistaken for data)")
    why = unsafe_key_reason(marker)
    if why is not None:
        raise ValueError(f"{marker!r} is not a safe file name: {why}")
    return marker


def manifest_marker(data: Any) -> Any:
    """In YAML, `completion: manifest` names its marker `_manifest.json` unless told (the
    landing and the scoring folders alike)."""
    if isinstance(data, dict) and data.get("completion") == "manifest" and "marker" not in data:
        return {**data, "marker": _MANIFEST}
    return data
