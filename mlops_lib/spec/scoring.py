"""Where a pipeline's unlabelled batches land to be scored by its champion (`scoring:`)."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.landing.batches import Completion, CompletionMode
from mlops_lib.spec.base import SPEC_CONFIG, Flag, Positive
from mlops_lib.spec.source import bucket_name, key_prefix, manifest_marker, marker_name


@dataclass(frozen=True, config=SPEC_CONFIG)
class ScoringConfig:
    """The YAML `scoring:` section; see docs/scoring.md. Every key is optional."""

    bucket: str | None = None
    """The bucket scoring batches land in; absent: source.bucket."""
    prefix: str | None = None
    """A scoring batch is a folder under this prefix; absent: `scoring/<name>/`. Never the
    landing prefix (a scoring batch has no labels to train on)."""
    completion: CompletionMode = "marker"
    """The same rules as landing: marker | manifest | quiet."""
    marker: str = "_SUCCESS"
    """completion marker (default `_SUCCESS`) or manifest (default `_manifest.json`)."""
    quiet_period_s: Positive = 60.0
    """completion quiet: seconds without a new file after which a batch counts as complete."""
    shadow: Flag = False
    """true: the challenger scores each batch beside the champion (logged as shadow, never the
    primary output)."""
    id_column: str | None = None
    """A column of the batch copied into the predictions to join them back; absent: the row
    number (`row_number`, 0-based, in file order)."""

    @model_validator(mode="before")
    @classmethod
    def _manifest_marker(cls, data: Any) -> Any:
        return manifest_marker(data)

    @field_validator("prefix")
    @classmethod
    def _one_trailing_slash(cls, prefix: str | None) -> str | None:
        return None if prefix is None else key_prefix(prefix, example="scoring/<pipeline>/")

    @field_validator("bucket")
    @classmethod
    def _a_bucket_name(cls, bucket: str | None) -> str | None:
        return None if bucket is None else bucket_name(bucket)

    @field_validator("marker")
    @classmethod
    def _marker_is_not_data(cls, marker: str) -> str:
        return marker_name(marker)

    @property
    def completion_rule(self) -> Completion:
        return Completion(mode=self.completion, marker=self.marker,
                          quiet_period_s=self.quiet_period_s)
