"""The champion's drift reference in S3 (`monitoring.drift_reference`), read by every drift
monitor run instead of the champion's training set.

Built by the training DAG's `publish_drift_reference` task after a promotion, and by the
monitor for a champion without one (a rollback target, or one promoted before references
existed). Stored at `s3://<artifacts>/drift-references/<pipeline>/<data rev>/<fingerprint>/`:
keyed by what it is made of, the champion's versioned training data and the compared features
(`drift_reference.fingerprint`), so a retry, a later champion trained on the same data or a
rollback to an earlier one finds it, and a spec that compares other features gets its own.
`reference.json` is uploaded last; a folder without it is built and uploaded again, to the
same keys.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.services import Services
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.records import ChampionSnapshot, Decision, DriftReferenceResult
from mlops_lib.steps.shared import champion_snapshot, remove_scratch, versioned_file

if TYPE_CHECKING:
    from mlops_lib.monitoring.drift_reference import StoredReference

log = logging.getLogger(__name__)

PREFIX = "drift-references"


def reference_prefix(spec: PipelineSpec, data_rev: str) -> str:
    from mlops_lib.monitoring.drift import compared_kinds
    from mlops_lib.monitoring.drift_reference import fingerprint

    return f"{PREFIX}/{spec.name}/{data_rev}/{fingerprint(compared_kinds(spec))}/"


def champion_reference(svc: Services, spec: PipelineSpec, champion: ChampionSnapshot,
                       dag_run_id: str, into: Path) -> StoredReference:
    """The champion's reference in the folder `into`: downloaded when it is in S3, else built
    from the champion's versioned training set and uploaded (a champion promoted before
    references existed, or one a failed promotion-time build left without)."""
    from mlops_lib.monitoring.drift_reference import META, StoredReference
    from mlops_lib.stores import s3io

    assert champion.data_rev, "a champion without a data version has no reference"
    bucket, prefix = svc.settings.artifact_bucket, reference_prefix(spec, champion.data_rev)
    keys = [obj.key for obj in s3io.list_objects(svc.s3, bucket, prefix)]
    if prefix + META not in keys:
        return _build_and_upload(svc, spec, champion, dag_run_id, into, prefix)
    into.mkdir(parents=True, exist_ok=True)
    for key in keys:
        svc.s3.download_file(bucket, key, str(into / key.removeprefix(prefix)))
    return StoredReference(into)


def _build_and_upload(svc: Services, spec: PipelineSpec, champion: ChampionSnapshot,
                      dag_run_id: str, into: Path, prefix: str) -> StoredReference:
    """The reference built in `into` from the champion's versioned training set, uploaded
    under `prefix` (`reference_prefix`) with its marker last."""
    from mlops_lib.monitoring.drift import compared_kinds
    from mlops_lib.monitoring.drift_reference import META, build_reference
    from mlops_lib.steps.drift_reports import report_positions
    from mlops_lib.stores import s3io

    assert champion.data_rev
    bucket = svc.settings.artifact_bucket
    log.info("Building the drift reference of champion v%s (data %s)", champion.version,
             champion.data_rev)
    with versioned_file(svc, spec, svc.versioner.at(spec.name, champion.data_rev),
                        dag_run_id) as data:
        reference = build_reference(data, compared_kinds(spec), into, report_positions)
    files = sorted(into.iterdir(), key=lambda f: f.name == META)  # the marker last
    for path in files:
        s3io.upload_path(svc.s3, bucket, prefix + path.name, path)
    log.info("Drift reference of v%s: s3://%s/%s (%d files, %.1f MiB)", champion.version,
             bucket, prefix, len(files), sum(f.stat().st_size for f in files) / 2**20)
    return reference


def publish_champion_reference(svc: Services, spec: PipelineSpec, decision: Decision,
                               dag_run_id: str) -> DriftReferenceResult:
    """After a run that promoted: the new champion's reference, so that no monitor run waits
    for it. Its own task after the decision, so the decision never waits for it either; a
    failure fails that task (Airflow retries it), never the decision, and the monitor builds a
    reference it cannot find."""
    from mlops_lib.monitoring.drift_reference import META
    from mlops_lib.stores import s3io

    champion = champion_snapshot(svc, spec)
    if decision.decision != "promote" or champion is None or not champion.data_rev:
        return DriftReferenceResult(None, "", False, f"the run decided {decision.decision}: "
                                    "the champion's reference is unchanged")
    if champion.version != decision.candidate_version:
        return DriftReferenceResult(champion.version, "", False,
                                    f"v{decision.candidate_version} is no longer champion")
    bucket, prefix = svc.settings.artifact_bucket, reference_prefix(spec, champion.data_rev)
    uri = f"s3://{bucket}/{prefix}"
    if any(obj.key == prefix + META for obj in s3io.list_objects(svc.s3, bucket,
                                                                   prefix + META)):
        return DriftReferenceResult(champion.version, uri, False,
                                    "built before (a retry, or a champion of the same data)")
    try:  # its absence is known: built without listing the prefix again
        with tempfile.TemporaryDirectory(dir=svc.scratch_dir(spec.name, dag_run_id)) as tmp:
            _build_and_upload(svc, spec, champion, dag_run_id, Path(tmp) / "reference",
                              prefix)
    finally:
        remove_scratch(svc, spec, dag_run_id)  # the decision removed it; this task's too
    return DriftReferenceResult(champion.version, uri, True, "built for the new champion")
