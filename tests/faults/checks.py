"""What must hold after a fault and its retry, read back from the store, S3, DVC and MLflow."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from unittest import mock

from mlops_lib.services import Services
from mlops_lib.steps import train
from mlops_lib.steps.registration import KEY_TAG
from mlops_lib.stores import s3io
from mlops_lib.stores.registry import CHALLENGER, CHAMPION
from mlops_lib.training import trainer
from tests.faults.case import Case
from tests.faults.stack import Stack


def assert_ingested(stack: Stack, case: Case, *, status: str) -> None:
    """One record per batch, ended (`status`); accepted: one staged copy, the one recorded;
    rejected: the quarantine record, `_REASON.json` beside the copy, nothing staged."""
    svc = stack.services()
    rows = svc.store._all("SELECT batch_id, status FROM batches WHERE pipeline = :p",
                          p=case.name)
    assert sorted(r["batch_id"] for r in rows) == sorted(case.batch_ids)
    bucket = svc.settings.artifact_bucket
    for batch_id in case.batch_ids:
        record = svc.store.get_batch(case.name, batch_id)
        assert record is not None and record.status == status, record
        staged = [o.key for o in s3io.list_objects(svc.s3, bucket, f"staging/{case.name}/")]
        quarantined = svc.store.get_quarantine(case.name, batch_id)
        if status == "accepted":
            key = s3io.staging_key(case.name, batch_id, record.fingerprint)
            assert record.staged_uri == f"s3://{bucket}/{key}" and key in staged
            assert quarantined is None
            continue
        assert staged == [] and quarantined is not None
        assert quarantined["reason_code"] == record.reason_code == "NULLS_ABOVE_LIMIT", record
        reason = s3io.quarantine_prefix(case.name, batch_id) + "_REASON.json"
        svc.s3.head_object(Bucket=case.landing_bucket, Key=reason)


def assert_trained(stack: Stack, case: Case, *runs: str) -> str:
    """One DVC tag for the data, of the staged bytes; one registered version for the key, a
    whole model that loads, which every run points at; a decision per run, and the champion
    (store and alias) as the decisions say. Returns the version."""
    svc = stack.services()
    model_name = f"ct_{case.name}"
    stored = [svc.store.get_training_run(case.name, run) for run in runs]
    assert all(s is not None for s in stored)
    (data_rev,) = {s["data_rev"] for s in stored if s}
    _assert_one_dvc_tag(svc, case, data_rev)
    if len(case.batch_ids) == 1:  # the training set is the staged copy, byte for byte
        record = svc.store.get_batch(case.name, case.batch_ids[0])
        assert record is not None and record.staged_uri
        bucket, key = record.staged_uri.removeprefix("s3://").split("/", 1)
        staged = svc.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert {s["data_md5"] for s in stored if s} == {hashlib.md5(staged).hexdigest()}

    with mock.patch.object(trainer, "git_sha", lambda: case.code_sha):  # as the attempts
        key = train.idempotency_key(case.spec(), data_rev)
    versions = svc.registry.client.search_model_versions(f"name = '{model_name}'")
    assert [v.tags.get(KEY_TAG) for v in versions] == [key], versions
    version = str(versions[0].version)
    assert {s["model_version"] for s in stored if s} == {version}
    # no claim is left without the version (a released one is gone; a dead one is completed)
    claims = svc.store._all("SELECT idempotency_key, model_version FROM model_claims "
                            "WHERE pipeline = :p", p=case.name)
    assert all(c["model_version"] == version for c in claims), claims
    _assert_whole_model(svc, model_name, version, data_rev)
    assert svc.registry.alias_version(model_name, CHALLENGER) == version
    _assert_decisions(svc, case, runs, version)
    return version


def _assert_one_dvc_tag(svc: Services, case: Case, data_rev: str) -> None:
    repo = svc.settings.dvc_repo_dir
    tags = subprocess.run(["git", "tag", "-l", f"ct/{case.name}/*"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.split()
    assert len(tags) == 1, tags
    rev = subprocess.run(["git", "rev-list", "-n", "1", tags[0]], cwd=repo, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert rev == data_rev


def _assert_whole_model(svc: Services, model_name: str, version: str, data_rev: str) -> None:
    """The version's logged model finished uploading, loads, and is of this data."""
    mv = svc.registry.client.get_model_version(model_name, version)
    assert mv.tags["ct.data_rev"] == data_rev
    assert mv.source.startswith("models:/m-"), mv.source
    logged = svc.registry.client.get_logged_model(mv.source.removeprefix("models:/"))
    assert str(logged.status) == "READY", logged.status  # never a half-logged model
    booster = svc.registry.load_booster(model_name, version)
    assert booster.num_boosted_rounds() >= 1 and booster.num_features() > 0


def _assert_decisions(svc: Services, case: Case, runs: Sequence[str], version: str) -> None:
    """A decision per run, on the one version; at most one move; store and alias agree."""
    decisions = [svc.store.get_decision(case.name, run) for run in runs]
    assert all(d is not None and d.candidate_version == version for d in decisions), decisions
    moves = svc.store.champion_moves(case.name)
    promoted = [d for d in decisions if d is not None and d.promote]
    assert len(moves) == len(promoted) <= 1, (moves, decisions)
    champion = svc.store.get_champion(case.name)
    alias = svc.registry.alias_version(f"ct_{case.name}", CHAMPION)
    if promoted:
        assert champion is not None and champion.model_version == version == alias
    else:
        assert champion is None and alias is None
    for run in runs:  # each report of the run recorded once, and there on S3
        reports = svc.store.reports(case.name, run)
        assert reports and len({(r["kind"], r["format"]) for r in reports}) == len(reports)
        for r in reports:
            bucket, key = r["uri"].removeprefix("s3://").split("/", 1)
            svc.s3.head_object(Bucket=bucket, Key=key)
