"""A registered version as the scoring step uses it: its booster and its serving contract."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_lib.scoring.contract import CONTRACT_FILE, MODEL_FILE, serving_contract
from mlops_lib.scoring.ct_serving import ServingModel
from mlops_lib.spec import PipelineSpec

if TYPE_CHECKING:
    from mlops_lib.stores.registry import Registry


def load_serving_model(registry: Registry, spec: PipelineSpec, version: str) -> ServingModel:
    """The version's booster and the contract logged with it: exactly what
    `mlflow.pyfunc.load_model` of the version scores with. A version registered before models
    carried a contract (the bare XGBoost flavor) gets the spec's contract of today."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = registry.download_model(spec.registered_model_name, version, Path(tmp))
        artifacts = folder / "artifacts"
        if (artifacts / CONTRACT_FILE).exists():
            return ServingModel.load(artifacts / MODEL_FILE, artifacts / CONTRACT_FILE)
        booster = registry.load_booster(spec.registered_model_name, version)
        return ServingModel(booster, serving_contract(spec))
