"""The bad-input catalogue (tests/catalogue/bad_inputs.py), every case through the ingest steps
the DAG's tasks call, without Airflow: landed on moto's S3 over HTTP, found as the sensor finds
it (the listing's completion rule; in manifest mode the manifest's files), claimed and
validated against the real store (SQLite, and PostgreSQL when CT_TEST_PG is set).

For each case: the rejection's reason code, the batch record rejected with that code, the
quarantine record, a copy of every landed data file under `quarantine/<pipeline>/<batch>/`
beside a `_REASON.json` naming the code, the landed objects byte-identical with the same ETags,
nothing else written in the bucket, and nothing accepted, staged or trained. One S3 server,
bucket and store serve the whole module. The edge cases that look bad and are not
(`ACCEPTED`) must be accepted, which also shows that the specs the cases break accept good
data.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from mlops_lib.landing.batches import BatchRef, completed_batches, new_batches
from mlops_lib.landing.keys import unsafe_key_reason
from mlops_lib.landing.manifest import ready_batch
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_specs
from mlops_lib.steps import ingest as steps
from mlops_lib.stores import s3io
from mlops_lib.validation.reasons import BatchRejected, ReasonCode
from tests.catalogue.bad_inputs import ACCEPTED, CATALOGUE, NOT_FROM_A_DROP
from tests.catalogue.cases import Case, Good
from tests.e2e.pipelines import write_strict_pipelines
from tests.support import create_pg_database, drop_pg_database, migrated, pg_server_url

pytestmark = pytest.mark.integration

Snapshot = dict[str, tuple[bytes, str]]


@dataclass
class Bench:
    """One bucket and store for the module, the strict pipelines landing in that bucket."""

    svc: Services
    s3: Any
    bucket: str
    specs: dict[str, PipelineSpec]
    now: datetime

    def spec_for(self, pipeline: str, case: Case) -> PipelineSpec:
        return case.spec_for(self.specs[pipeline])

    def land(self, spec: PipelineSpec, case: Case) -> Snapshot:
        """The case's data files, then the marker (or manifest), as a producer writes them;
        returns every landed key's bytes and ETag."""
        good = Good(spec, self.now)
        files = case.files(good)
        base = f"{spec.source.prefix}{case.batch_id}/"
        for name, body in {**files, spec.source.marker: case.marker_body(good, files)}.items():
            self.s3.put_object(Bucket=self.bucket, Key=base + name, Body=body)
        return self.snapshot(base)

    def snapshot(self, prefix: str) -> Snapshot:
        return {o.key: (self.s3.get_object(Bucket=self.bucket, Key=o.key)["Body"].read(), o.etag)
                for o in s3io.list_objects(self.s3, self.bucket, prefix)}

    def etags(self, bucket: str | None = None, prefix: str = "") -> dict[str, str]:
        return {o.key: o.etag for o in s3io.list_objects(self.s3, bucket or self.bucket, prefix)}

    def find(self, spec: PipelineSpec, batch_id: str) -> BatchRef:
        """The batch as the sensor hands it on: complete by the spec's rule, new to the store,
        and in manifest mode the manifest's files once they have all landed."""
        src = spec.source
        listing = s3io.list_objects(self.s3, self.bucket, src.prefix)
        complete = completed_batches(listing, src.prefix, src.completion_rule)
        found = {b.batch_id: b for b in new_batches(complete,
                                                    self.svc.store.known_batches(spec.name))}
        batch = found[batch_id]
        if src.completion == "manifest":
            manifest = s3io.read_small(self.s3, self.bucket, batch.marker_key,
                                       s3io.MANIFEST_MAX_BYTES)
            ready = ready_batch(manifest, batch)
            assert ready is not None, f"{batch_id}: the manifest leaves the batch waiting"
            batch = ready
        return batch

    def ingest(self, spec: PipelineSpec, batch: BatchRef, run_id: str) -> None:
        """What the ingest DAG's mapped tasks do: register (claim), then validate."""
        steps.register_batch(self.svc, spec, batch, run_id)
        steps.validate(self.svc, spec, batch, run_id)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def store_url_once(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated store for the module: SQLite, or a fresh PostgreSQL database (CT_TEST_PG)."""
    if request.param == "sqlite":
        yield migrated(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")
        return
    server = pg_server_url()
    if server is None:
        pytest.skip("CT_TEST_PG is not set: no PostgreSQL server to test against")
    name, url = create_pg_database(server)
    try:
        yield migrated(url)
    finally:
        drop_pg_database(server, name)


@pytest.fixture(scope="module")
def bench(s3_endpoint: str, store_url_once: str,
          tmp_path_factory: pytest.TempPathFactory) -> Bench:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket, artifacts = (f"{kind}-{uuid.uuid4().hex[:10]}" for kind in ("landing", "artifacts"))
    s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=artifacts)
    home = tmp_path_factory.mktemp("catalogue")
    svc = Services(Settings.from_env({
        "CT_HOME": str(home / "home"), "CT_S3_ENDPOINT_URL": s3_endpoint,
        "CT_STORE_URL": store_url_once, "CT_ARTIFACT_BUCKET": artifacts}))
    svc.__dict__["s3"] = s3
    specs = {s.name: replace(s, source=replace(s.source, bucket=bucket))
             for s in load_specs(write_strict_pipelines(home / "pipelines"))}
    return Bench(svc, s3, bucket, specs, datetime.now(UTC))


def _id(value: object) -> str:
    return value.batch_id if isinstance(value, Case) else str(value)


# --- the catalogue ------------------------------------------------------------------------------


def test_the_catalogue_has_70_cases_and_every_code_a_drop_can_earn() -> None:
    ids = [(pipeline, case.batch_id) for pipeline, case in CATALOGUE]
    assert len(ids) >= 70 and len(set(ids)) == len(ids), Counter(ids).most_common(3)
    codes = {case.code for _, case in CATALOGUE}
    assert codes <= set(ReasonCode)
    assert set(ReasonCode) - NOT_FROM_A_DROP <= codes, set(ReasonCode) - NOT_FROM_A_DROP - codes


@pytest.mark.parametrize(("pipeline", "case"), CATALOGUE, ids=_id)
def test_a_bad_drop_is_quarantined_with_its_reason_code(bench: Bench, pipeline: str,
                                                         case: Case) -> None:
    spec = bench.spec_for(pipeline, case)
    outside = bench.etags()  # everything in the bucket before this drop
    landed = bench.land(spec, case)
    batch = bench.find(spec, case.batch_id)
    run_id = f"ingest__{uuid.uuid4().hex[:8]}"
    with pytest.raises(BatchRejected) as info:
        bench.ingest(spec, batch, run_id)
    assert info.value.code == case.code, str(info.value)[:2000]

    record = bench.svc.store.get_batch(spec.name, case.batch_id)
    assert record is not None and (record.status, record.reason_code) == ("rejected", case.code)
    quarantined = bench.svc.store.get_quarantine(spec.name, case.batch_id)
    dest = s3io.quarantine_prefix(spec.name, case.batch_id)
    assert quarantined is not None and quarantined["reason_code"] == case.code
    assert quarantined["quarantine_uri"] == f"s3://{bench.bucket}/{dest}"
    assert dest.startswith(f"quarantine/{spec.name}/")
    reason = json.loads(bench.s3.get_object(Bucket=bench.bucket,
                                            Key=dest + "_REASON.json")["Body"].read())
    assert (reason["reason_code"], reason["batch_id"], reason["dag_run_id"]) == (
        case.code, case.batch_id, run_id)
    # A copy of every landed data file (the marker and a hidden file are no data; a file with
    # an unsafe key is), byte for byte; nothing else written anywhere in the bucket; the landed
    # objects as they were.
    data = {k for k in landed if k != batch.marker_key and (
        unsafe_key_reason(k) is not None or not k[len(batch.prefix):].startswith("."))}
    copies = {o["key"]: o["quarantined_as"] for o in reason["objects"]}
    assert set(copies) == data and all("copy_error" not in o for o in reason["objects"])
    for key, copy in copies.items():
        assert copy.startswith(dest)
        assert bench.s3.get_object(Bucket=bench.bucket, Key=copy)["Body"].read() == landed[key][0]
    assert bench.snapshot(batch.prefix) == landed
    after = bench.etags()
    assert after == {**outside, **{k: etag for k, (_, etag) in landed.items()},
                     **{k: after[k] for k in [*copies.values(), dest + "_REASON.json"]}}
    # Nothing accepted, staged or trained.
    assert case.batch_id not in {b.batch_id for b in bench.svc.store.accepted_batches(spec.name)}
    assert bench.etags(bench.svc.settings.artifact_bucket,
                       f"staging/{spec.name}/{dest.split('/')[2]}/") == {}
    assert bench.svc.store.training_runs_of_batch(spec.name, case.batch_id) == []


@pytest.mark.parametrize(("pipeline", "case"), ACCEPTED, ids=_id)
def test_an_edge_case_that_is_no_defect_is_accepted(bench: Bench, pipeline: str,
                                                    case: Case) -> None:
    spec = bench.spec_for(pipeline, case)
    landed = bench.land(spec, case)
    batch = bench.find(spec, case.batch_id)
    bench.ingest(spec, batch, f"ingest__{uuid.uuid4().hex[:8]}")
    record = bench.svc.store.get_batch(spec.name, case.batch_id)
    assert record is not None and record.status == "accepted", record
    assert bench.snapshot(batch.prefix) == landed
    assert bench.svc.store.get_quarantine(spec.name, case.batch_id) is None


def test_no_bad_drop_was_staged(bench: Bench) -> None:
    """Module-wide, after the cases: only the accepted edge cases have a staged copy."""
    staged = {key.split("/")[2] for key in bench.etags(bench.svc.settings.artifact_bucket,
                                                       "staging/")}
    assert staged <= {case.batch_id for _, case in ACCEPTED}
