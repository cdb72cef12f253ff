"""The pyfunc of every registered model, logged as code ("models from code"), never pickled.

MLflow copies this file into the model and runs it when the model is loaded; it sets the
model with `mlflow.models.set_model`. The artifacts are the booster as XGBoost JSON
(`model`) and the serving contract (`contract`); the encoding, the input checks and the
output columns are `ct_serving`: the installed `mlops_lib.scoring.ct_serving` inside the
service, else the copy logged with the model (`code/ct_serving.py`), so another service needs
only mlflow, xgboost, pandas and numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel


def _ct_serving() -> Any:
    try:
        return importlib.import_module("mlops_lib.scoring.ct_serving")
    except ImportError:  # another service: the copy logged with the model (code_paths)
        return importlib.import_module("ct_serving")


class CtServingModel(PythonModel):
    """`predict(raw frame)` -> the contract's output frame (see ct_serving)."""

    def load_context(self, context: Any) -> None:
        serving = _ct_serving()
        self._model = serving.ServingModel.load(context.artifacts["model"],
                                                context.artifacts["contract"])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
            model_input)
        predictions: pd.DataFrame = self._model.predict(frame)
        return predictions


mlflow.models.set_model(CtServingModel())
