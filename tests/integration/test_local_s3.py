"""The local stack's S3 server keeps objects on disk across `down`/`up`, and `down` stops it."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from mlops_dev import devstack
from tests.support import free_port

pytestmark = pytest.mark.integration


def test_objects_survive_a_restart_and_down_stops_the_server(tmp_path: Path) -> None:
    cfg = devstack.StackConfig(home=tmp_path, s3_port=free_port())
    client = boto3.client("s3", endpoint_url=cfg.s3_url, region_name="us-east-1",
                          aws_access_key_id=devstack.S3_KEY,
                          aws_secret_access_key=devstack.S3_KEY)
    body = b"batch bytes \x00\x01" * 1000
    try:
        devstack.start_s3(cfg, echo=lambda _: None)
        pgid = int((cfg.run_dir / "s3.pid").read_text())
        client.put_object(Bucket=devstack.LANDING_BUCKET, Key="landing/x/b1/part-0", Body=body)
        etag = client.head_object(Bucket=devstack.LANDING_BUCKET, Key="landing/x/b1/part-0")["ETag"]

        devstack.down(cfg, echo=lambda _: None)
        assert devstack.group_pss_kib(pgid) == 0, "s3 server still running after down"
        assert not (cfg.run_dir / "s3.pid").exists()

        devstack.start_s3(cfg, echo=lambda _: None)
        obj = client.get_object(Bucket=devstack.LANDING_BUCKET, Key="landing/x/b1/part-0")
        assert obj["Body"].read() == body and obj["ETag"] == etag
        assert {b["Name"] for b in client.list_buckets()["Buckets"]} >= {
            devstack.LANDING_BUCKET, devstack.ARTIFACT_BUCKET}
    finally:
        devstack.down(cfg, echo=lambda _: None)
