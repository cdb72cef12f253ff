"""Dataset versions with DVC (git repo + S3 remote on moto's server over HTTP)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dvc.exceptions import DvcException

from mlops_lib.stores.versioning import DatasetVersioner, DataVersion

pytestmark = pytest.mark.integration

PIPELINE = "credit_default"


@pytest.fixture
def remote_bucket(s3: Any) -> str:
    name = f"ct-artifacts-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def versioner(tmp_path: Path, remote_bucket: str, s3_endpoint: str) -> DatasetVersioner:
    return DatasetVersioner(tmp_path / "home" / "datasets", f"s3://{remote_bucket}/dvc",
                            s3_endpoint)


def parquet_file(path: Path, seed: int, rows: int = 200) -> Path:
    frame = pd.DataFrame({"x": [float(i * seed) for i in range(rows)],
                          "region": [("north", "south")[i % 2] for i in range(rows)],
                          "default": [i % 3 == 0 for i in range(rows)]})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                          check=True).stdout.strip()


def commit_count(repo: Path) -> int:
    return int(git(repo, "rev-list", "--count", "HEAD"))


def remote_key(md5: str) -> str:
    return f"dvc/files/md5/{md5[:2]}/{md5[2:]}"  # DVC 3 remote layout


def drop_local_copies(versioner: DatasetVersioner, version: DataVersion) -> None:
    """Leave the data nowhere on this machine: no DVC cache, no workspace file."""
    cache = versioner.repo_dir / ".dvc" / "cache"
    assert cache.is_dir()
    shutil.rmtree(cache)
    (versioner.repo_dir / version.path).unlink(missing_ok=True)


def test_version_commits_and_pushes(versioner: DatasetVersioner, tmp_path: Path, s3: Any,
                                    remote_bucket: str) -> None:
    data = parquet_file(tmp_path / "in" / "train.parquet", seed=1)
    raw = data.read_bytes()

    v = versioner.version(PIPELINE, "2026-05-01", data)

    repo = versioner.repo_dir
    assert v.pipeline == PIPELINE
    assert v.tag == f"ct/{PIPELINE}/2026-05-01"
    assert v.path == f"data/{PIPELINE}/train.parquet"
    assert v.md5 == hashlib.md5(raw).hexdigest()
    assert v.size == len(raw)
    assert v.remote_url == f"s3://{remote_bucket}/dvc"
    assert len(v.rev) == 40 and v.rev == git(repo, "rev-parse", "HEAD")
    assert git(repo, "rev-list", "-n", "1", v.tag) == v.rev
    assert git(repo, "status", "--porcelain") == ""  # everything it made is committed
    # git holds only the pointer; the bytes are on the remote.
    tracked = git(repo, "ls-tree", "-r", "--name-only", v.rev).splitlines()
    assert f"{v.path}.dvc" in tracked and v.path not in tracked
    obj = s3.get_object(Bucket=remote_bucket, Key=remote_key(v.md5))
    assert obj["Body"].read() == raw
    # The endpoint is machine-local config, kept out of git.
    assert ".dvc/config.local" not in tracked
    assert "endpointurl" not in git(repo, "show", f"{v.rev}:.dvc/config")


def test_version_is_idempotent_per_batch(versioner: DatasetVersioner, tmp_path: Path) -> None:
    data = parquet_file(tmp_path / "in" / "train.parquet", seed=1)
    first = versioner.version(PIPELINE, "2026-05-01", data)
    commits = commit_count(versioner.repo_dir)

    again = versioner.version(PIPELINE, "2026-05-01", data)
    # Even a retry that brings other bytes gets the version recorded for the batch.
    other = versioner.version(PIPELINE, "2026-05-01",
                              parquet_file(tmp_path / "other" / "train.parquet", seed=7))

    assert again == first
    assert other == first
    assert commit_count(versioner.repo_dir) == commits


def test_new_batch_new_version(versioner: DatasetVersioner, tmp_path: Path) -> None:
    v1 = versioner.version(PIPELINE, "2026-05-01",
                           parquet_file(tmp_path / "a" / "train.parquet", seed=1))
    commits = commit_count(versioner.repo_dir)
    v2 = versioner.version(PIPELINE, "2026-05-02",
                           parquet_file(tmp_path / "b" / "train.parquet", seed=2))
    # Same bytes as an earlier batch: still its own version (lineage is per batch).
    v3 = versioner.version(PIPELINE, "2026-05-03", tmp_path / "a" / "train.parquet")

    assert commit_count(versioner.repo_dir) == commits + 2
    assert len({v1.rev, v2.rev, v3.rev}) == 3
    assert v2.tag == f"ct/{PIPELINE}/2026-05-02"
    assert v2.md5 != v1.md5
    assert v3.md5 == v1.md5
    assert git(versioner.repo_dir, "rev-parse", f"{v2.rev}^") == v1.rev


def test_batch_ids_that_are_not_ref_names(versioner: DatasetVersioner, tmp_path: Path) -> None:
    data = parquet_file(tmp_path / "in" / "train.parquet", seed=1)
    a = versioner.version(PIPELINE, "2026-05-01 12:00", data)
    b = versioner.version(PIPELINE, "2026-05-01:12:00", data)
    assert a.rev != b.rev and a.tag != b.tag
    assert versioner.version(PIPELINE, "2026-05-01 12:00", data) == a


def test_read_returns_exact_bytes_of_each_version(versioner: DatasetVersioner,
                                                  tmp_path: Path) -> None:
    a = parquet_file(tmp_path / "a" / "train.parquet", seed=1)
    b = parquet_file(tmp_path / "b" / "train.parquet", seed=2, rows=300)
    v1 = versioner.version(PIPELINE, "2026-05-01", a)
    v2 = versioner.version(PIPELINE, "2026-05-02", b)

    assert versioner.read(v1) == a.read_bytes()  # an older rev, not the workspace file
    assert versioner.read(v2) == b.read_bytes()
    assert pd.read_parquet(io.BytesIO(versioner.read(v2))).shape == (300, 3)


def test_read_pulls_from_the_remote(versioner: DatasetVersioner, tmp_path: Path) -> None:
    a = parquet_file(tmp_path / "a" / "train.parquet", seed=1)
    b = parquet_file(tmp_path / "b" / "train.parquet", seed=2)
    v1 = versioner.version(PIPELINE, "2026-05-01", a)
    v2 = versioner.version(PIPELINE, "2026-05-02", b)
    drop_local_copies(versioner, v2)

    assert versioner.read(v1) == a.read_bytes()
    assert versioner.read(v2) == b.read_bytes()


def test_read_fails_when_the_remote_lost_the_data(versioner: DatasetVersioner, tmp_path: Path,
                                                  s3: Any, remote_bucket: str) -> None:
    """The control for the test above: with no local copy, the remote is the only source."""
    v = versioner.version(PIPELINE, "2026-05-01",
                          parquet_file(tmp_path / "a" / "train.parquet", seed=1))
    drop_local_copies(versioner, v)
    s3.delete_object(Bucket=remote_bucket, Key=remote_key(v.md5))

    # read() lets DVC's own error through (PathMissingError, a DvcException).
    with pytest.raises(DvcException, match="train.parquet"):
        versioner.read(v)


def test_a_fresh_clone_of_the_repo_reads_from_the_remote(versioner: DatasetVersioner,
                                                         tmp_path: Path, s3_endpoint: str,
                                                         remote_bucket: str) -> None:
    """Another machine with the git repo (no cache at all) gets the same bytes."""
    data = parquet_file(tmp_path / "a" / "train.parquet", seed=3)
    v = versioner.version(PIPELINE, "2026-05-01", data)
    clone = tmp_path / "elsewhere" / "datasets"
    clone.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(versioner.repo_dir), str(clone)], check=True)

    other = DatasetVersioner(clone, f"s3://{remote_bucket}/dvc", s3_endpoint)
    assert other.at(PIPELINE, v.rev).md5 == v.md5
    assert other.read(other.at(PIPELINE, v.rev)) == data.read_bytes()


def test_at_round_trip(versioner: DatasetVersioner, tmp_path: Path) -> None:
    v1 = versioner.version(PIPELINE, "2026-05-01",
                           parquet_file(tmp_path / "a" / "train.parquet", seed=1))
    v2 = versioner.version(PIPELINE, "2026-05-02",
                           parquet_file(tmp_path / "b" / "train.parquet", seed=2))

    assert versioner.at(PIPELINE, v1.tag) == v1
    by_rev = versioner.at(PIPELINE, v1.rev)
    assert (by_rev.rev, by_rev.path, by_rev.md5, by_rev.size, by_rev.remote_url) == \
        (v1.rev, v1.path, v1.md5, v1.size, v1.remote_url)
    assert versioner.read(by_rev) == (tmp_path / "a" / "train.parquet").read_bytes()
    assert versioner.at(PIPELINE, v2.rev).md5 == v2.md5
    assert versioner.at(PIPELINE, v2.rev).to_dict()["rev"] == v2.rev
