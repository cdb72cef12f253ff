"""Dataset versions with DVC: every training set is a commit in a service-managed git repo
whose data lives on the DVC remote (S3), so any model traces back to its exact bytes.

One dataset path per pipeline (`data/<pipeline>/train.parquet`); each version is a git commit
tagged `ct/<pipeline>/<batch id>`. The tag is the idempotency key: versioning the same batch
again returns the existing commit instead of making a new one.
"""

from __future__ import annotations

import configparser
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

_DVC = [sys.executable, "-m", "dvc"]
_CHUNK = 8 << 20  # bytes per read when a version is streamed to a file


class VersioningError(RuntimeError):
    pass


@dataclass(frozen=True)
class DataVersion:
    pipeline: str
    tag: str
    rev: str  # git commit sha in the dataset repo
    path: str  # path of the data file inside the dataset repo
    md5: str  # DVC's content hash of the data file
    size: int
    remote_url: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class DatasetVersioner:
    """A DVC repository (git + DVC, remote on S3) owned by the service."""

    def __init__(self, repo_dir: Path, remote_url: str, endpoint_url: str | None) -> None:
        self.repo_dir = Path(repo_dir)
        self.remote_url = remote_url
        self.endpoint_url = endpoint_url

    def version(self, pipeline: str, batch_id: str, data_file: Path) -> DataVersion:
        """Commit `data_file` as the pipeline's training set for `batch_id` and push it."""
        tag = f"ct/{pipeline}/{_safe_ref(batch_id)}"
        rel = f"data/{pipeline}/train.parquet"
        with self._locked():
            self._ensure_repo()
            if not self._git_ok("rev-parse", "-q", "--verify", f"refs/tags/{tag}"):
                dest = self.repo_dir / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data_file, dest)  # streamed: a training set may not fit twice
                self._dvc("add", rel)
                self._git("add", f"{rel}.dvc", f"data/{pipeline}/.gitignore")
                self._git("commit", "--allow-empty", "-q", "-m",
                          f"{pipeline}: training set from batch {batch_id}")
                self._git("tag", tag)
            # Pushing again is a cheap no-op and repairs a push that died after the commit.
            self._dvc("push", "-q", f"{rel}.dvc")
            return self._describe(pipeline, tag, rel)

    def at(self, pipeline: str, rev: str) -> DataVersion:
        """The pipeline's dataset version recorded at a git revision of the dataset repo."""
        with self._locked():
            self._ensure_repo()
            return self._describe(pipeline, rev, f"data/{pipeline}/train.parquet")

    def read(self, version: DataVersion) -> bytes:
        """The exact bytes of a version, from the local cache or the remote."""
        import dvc.api  # heavy; only needed here

        with self._locked():
            self._ensure_repo()
            with dvc.api.open(version.path, repo=str(self.repo_dir), rev=version.rev,
                              mode="rb") as fh:
                data: bytes = fh.read()
        if hashlib.md5(data).hexdigest() != version.md5:
            raise VersioningError(f"{version.tag}: content hash mismatch")
        return data

    def read_to(self, version: DataVersion, dest: Path) -> Path:
        """The exact bytes of a version written to `dest`, streamed (the memory held does not
        grow with the data set); the content hash is checked before `dest` appears."""
        import dvc.api

        dest = Path(dest)
        partial = dest.with_name(f".{dest.name}.partial")
        digest = hashlib.md5()
        with self._locked():
            self._ensure_repo()
            with dvc.api.open(version.path, repo=str(self.repo_dir), rev=version.rev,
                              mode="rb") as fh, partial.open("wb") as out:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != version.md5:
            partial.unlink(missing_ok=True)
            raise VersioningError(f"{version.tag}: content hash mismatch")
        partial.replace(dest)
        return dest

    # -- repository plumbing -----------------------------------------------------------------
    def _describe(self, pipeline: str, tag: str, rel: str) -> DataVersion:
        rev = self._git("rev-list", "-n", "1", tag).strip()
        meta = yaml.safe_load(self._git("show", f"{rev}:{rel}.dvc"))
        out = meta["outs"][0]
        return DataVersion(pipeline=pipeline, tag=tag, rev=rev, path=rel, md5=out["md5"],
                           size=int(out["size"]), remote_url=self.remote_url)

    def _ensure_repo(self) -> None:
        self.repo_dir.mkdir(parents=True, exist_ok=True)
        if not (self.repo_dir / ".git").exists():
            self._git("init", "-q", "-b", "main")
            self._git("config", "user.name", "ct-service")
            self._git("config", "user.email", "ct-service@localhost")
        if not (self.repo_dir / ".dvc").exists():
            self._dvc("init", "-q")
            self._dvc("config", "core.autostage", "false")
            self._dvc("remote", "add", "-d", "storage", self.remote_url)
            self._git("add", ".dvc", ".dvcignore")
            self._git("commit", "-q", "-m", "Initialise dataset repository")
        # Endpoints differ per machine (local stack, compose, CI): keep them out of git.
        local = configparser.ConfigParser()
        local['remote "storage"'] = {"url": self.remote_url}
        if self.endpoint_url:
            local['remote "storage"']["endpointurl"] = self.endpoint_url
        with open(self.repo_dir / ".dvc" / "config.local", "w") as fh:
            local.write(fh)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Tasks of different pipelines share one git work tree; git and DVC are not safe
        # under concurrent writers.
        self.repo_dir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.repo_dir.parent / ".datasets.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _git(self, *args: str) -> str:
        return run_command(["git", *args], self.repo_dir)

    def _git_ok(self, *args: str) -> bool:
        proc = subprocess.run(["git", *args], cwd=self.repo_dir, capture_output=True)
        return proc.returncode == 0

    def _dvc(self, *args: str) -> str:
        return run_command([*_DVC, *args], self.repo_dir)


def run_command(cmd: list[str], cwd: Path) -> str:
    """Run git or dvc quietly; a failure raises VersioningError with its stderr."""
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise VersioningError(f"{' '.join(cmd[-3:])} failed ({proc.returncode}): "
                              f"{proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout


def _safe_ref(batch_id: str) -> str:
    """Git ref names forbid some characters; batch ids are folder names and may use them.

    The result is one valid ref component (`git check-ref-format`): no `/`, no `..`, no
    leading or trailing `.`, no `.lock` ending; an id changed to get there gets a digest. It
    is also a file name (`.git/refs/tags/...`, at most 255 bytes): a longer id (up to ~1000
    bytes as an S3 folder name) keeps its first 100 bytes and gets the digest."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in batch_id)
    while ".." in cleaned:
        cleaned = cleaned.replace("..", ".")
    cleaned = cleaned.strip(".")
    if len(cleaned.encode()) > 200:  # no lone surrogate is alphanumeric: all encodable
        cleaned = cleaned.encode()[:100].decode("utf-8", "ignore")
    elif cleaned and cleaned == batch_id and not cleaned.endswith(".lock"):
        return cleaned
    digest = hashlib.sha256(batch_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned or 'batch'}-{digest}"
