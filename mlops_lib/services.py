"""The stores a pipeline step talks to, built lazily from Settings (or passed in by tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mlops_lib.landing.keys import hashed_name
from mlops_lib.settings import Settings
from mlops_lib.stores.registry import Registry
from mlops_lib.stores.store import Store
from mlops_lib.stores.versioning import DatasetVersioner


@dataclass
class Services:
    settings: Settings = field(default_factory=Settings.from_env)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings.store_url)

    @cached_property
    def s3(self) -> Any:
        from mlops_lib.stores.s3io import s3_client

        return s3_client(self.settings)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.settings.mlflow_tracking_uri)

    @cached_property
    def versioner(self) -> DatasetVersioner:
        return DatasetVersioner(self.settings.dvc_repo_dir, self.settings.dvc_remote_url,
                                self.settings.s3_endpoint_url)

    def scratch_dir(self, pipeline: str, dag_run_id: str) -> Path:
        """`<home>/runs/<pipeline>/<run id made a safe folder name>`, created; never outside."""
        path = scratch_path(self.settings.home, pipeline, dag_run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path


def scratch_path(home: Path, pipeline: str, dag_run_id: str) -> Path:
    """Where a run's scratch folder is (`Services.scratch_dir`), without creating it: the
    run-end cleanup and `mlops gc` must find the very folder the steps wrote."""
    root = home / "runs"
    path = root / pipeline / scratch_name(dag_run_id)
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"run folder {path} would lie outside {root}")
    return path


def scratch_name(dag_run_id: str) -> str:
    """The folder name of a run id: safe characters only; a hash for `.`, `..` or too long."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dag_run_id)
    if not safe.strip(".") or len(safe.encode()) > 200:
        safe = hashed_name(dag_run_id, "run")
    return safe
