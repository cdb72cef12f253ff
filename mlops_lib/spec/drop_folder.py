"""What the `scoring:` and `labels:` sections share: a folder of drops, each a sub-folder
complete by the same rules as a landing batch (marker, manifest or quiet period)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.landing.batches import Completion, CompletionMode
from mlops_lib.spec.base import SPEC_CONFIG, Positive
from mlops_lib.spec.source import bucket_name, key_prefix, manifest_marker, marker_name


@dataclass(frozen=True, config=SPEC_CONFIG)
class DropFolder:
    FOLDER: ClassVar[str] = "drops"  # the default folder's first part (the section's name)

    bucket: str | None = None
    """The bucket the drops land in; absent: source.bucket."""
    prefix: str | None = None
    """A drop is a folder under this prefix; absent: `<section>/<pipeline name>/`, e.g.
    `scoring/credit_default/` or `labels/credit_default/`."""
    completion: CompletionMode = "marker"
    """The same rules as landing: marker | manifest | quiet."""
    marker: str = "_SUCCESS"
    """completion marker (default `_SUCCESS`) or manifest (default `_manifest.json`)."""
    quiet_period_s: Positive = 60.0
    """completion quiet: seconds without a new file after which a drop counts as complete."""

    @model_validator(mode="before")
    @classmethod
    def _manifest_marker(cls, data: Any) -> Any:
        return manifest_marker(data)

    @field_validator("prefix")
    @classmethod
    def _one_trailing_slash(cls, prefix: str | None) -> str | None:
        return None if prefix is None else key_prefix(prefix, example=f"{cls.FOLDER}/<pipeline>/")

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
