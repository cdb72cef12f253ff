"""`svc` and `pipeline`: the services on the session's MLflow server (`mlflow_server`, in
tests/conftest.py) and a store, and a fresh pipeline name, for the champion tests."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mlops_lib.services import Services
from mlops_lib.settings import Settings


@pytest.fixture
def svc(mlflow_server: str, store_url: str, tmp_path: Path) -> Services:
    return Services(Settings.from_env({"CT_HOME": str(tmp_path), "CT_STORE_URL": store_url,
                                       "MLFLOW_TRACKING_URI": mlflow_server}))


@pytest.fixture
def pipeline() -> str:
    return f"p{uuid.uuid4().hex[:8]}"
