"""The feedback loop's producer side, for the loop demo and the end-to-end tests: rows to score
that carry an id (and the outcomes that will only be known later), label drops, and waits for
the service's verdicts on them.

The rows come from `datagen` with a `concept`: the same feature distribution under every
concept, another labelling function after a change (concept drift), which only labels reveal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from mlops_dev.demo import DroppedBatch
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_specs
from mlops_lib.stores.labels import LabelDropClaim, PerformanceWindow
from mlops_lib.stores.store import Store


@dataclass(frozen=True)
class RowsToScore:
    """An unlabelled batch as dropped, and the outcomes of its rows (id, target) to come."""

    batch: DroppedBatch
    outcomes: pd.DataFrame


def spec_of(pipeline: str, settings: Settings) -> PipelineSpec:
    return next(s for s in load_specs(*settings.spec_dirs) if s.name == pipeline)


def drop_rows_to_score(pipeline: str, *, rows: int, seed: int, first_id: int,
                       concept: int = 0, settings: Settings | None = None) -> RowsToScore:
    """A synthetic batch of `concept` without its target, ids `first_id`.. in the spec's id
    column, on the scoring prefix (data first, then the marker or manifest)."""
    from mlops_dev.datagen import generate_batch, to_file_bytes
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = spec_of(pipeline, settings)
    id_column = spec.label_id_column
    if id_column is None:
        raise ValueError(f"{pipeline} has no id column (scoring.id_column or labels.id_column)")
    frame = generate_batch(spec, rows, seed=seed, concept=concept)
    frame.insert(0, id_column, range(first_id, first_id + rows))
    outcomes = frame[[id_column, spec.target]].reset_index(drop=True)
    unlabelled = frame.drop(columns=[spec.target])
    batch_id = datetime.now(UTC).strftime("score-%Y%m%dT%H%M%S%fZ")
    ext = "parquet" if spec.source.format == "parquet" else "csv"
    files = {f"part-0000.{ext}": to_file_bytes(unlabelled, spec.source.format)}
    rule = spec.scoring
    manifest = (build_manifest(files, {name: rows for name in files})
                if rule.completion == "manifest" else b"")
    uri = upload_batch(s3_client(settings), spec.scoring_bucket, spec.scoring_prefix, batch_id,
                       files, marker=None if rule.completion == "quiet" else rule.marker,
                       marker_body=manifest)
    return RowsToScore(DroppedBatch(batch_id, uri), outcomes)


def drop_labels(pipeline: str, outcomes: pd.DataFrame, *, settings: Settings | None = None,
                drop_id: str | None = None) -> DroppedBatch:
    """Outcomes (id, target) as one CSV label drop under the spec's labels prefix."""
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = spec_of(pipeline, settings)
    if spec.labels is None:
        raise ValueError(f"{pipeline} has no `labels:` section")
    drop_id = drop_id or datetime.now(UTC).strftime("labels-%Y%m%dT%H%M%S%fZ")
    rule = spec.labels
    files = {"labels.csv": outcomes.to_csv(index=False).encode()}
    uri = upload_batch(s3_client(settings), spec.labels_bucket, spec.labels_prefix, drop_id,
                       files, marker=None if rule.completion == "quiet" else rule.marker)
    return DroppedBatch(drop_id, uri)


def wait_for_label_drop(store: Store, pipeline: str, drop_id: str, *,
                        timeout: float) -> LabelDropClaim:
    """Block until the labels DAG accepted or refused the drop; refused raises ValueError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in store.label_drops(pipeline) if d.drop_id == drop_id
                 and d.status != "claimed"]
        if found and found[0].status == "rejected":
            raise ValueError(f"label drop {drop_id} was refused: [{found[0].reason_code}]")
        if found:
            return found[0]
        time.sleep(1)
    raise TimeoutError(f"label drop {drop_id} of {pipeline}: no verdict after {timeout:.0f}s")


def wait_for_window(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                    labelled: int) -> PerformanceWindow:
    """Block until the champion's batch window of `batch_id` counts `labelled` labels."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [w for w in store.performance(pipeline) if w.window_kind == "batch"
                 and w.window_key == batch_id and w.role == "champion"
                 and w.rows_labelled >= labelled]
        if found:
            return found[0]
        time.sleep(1)
    raise TimeoutError(f"no performance window of {batch_id} with {labelled} labels after "
                       f"{timeout:.0f}s")
