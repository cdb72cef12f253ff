"""Where a pipeline's unlabelled batches land to be scored by its champion (`scoring:`)."""

from __future__ import annotations

from typing import ClassVar

from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Flag
from mlops_lib.spec.drop_folder import DropFolder


@dataclass(frozen=True, config=SPEC_CONFIG)
class ScoringConfig(DropFolder):
    """The YAML `scoring:` section; see docs/scoring.md. Every key is optional. A scoring
    batch is a folder under the prefix (never the landing prefix: it has no labels to train
    on)."""

    FOLDER: ClassVar[str] = "scoring"

    shadow: Flag = False
    """true: the challenger scores each batch beside the champion (logged as shadow, never the
    primary output)."""
    id_column: str | None = None
    """A column of the batch copied into the predictions to join them back; absent: the
    feature of role id, else the row number (`row_number`, 0-based, in file order)."""
