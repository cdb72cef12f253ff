"""The serving contract of a pipeline spec, and the MLflow model that carries it.

`serving_contract(spec)` is what the registered model needs to score a raw batch (ct_serving);
`log_serving_model` logs the booster as a pyfunc "from code" (pyfunc_model.py) with that
contract, an MLflow signature of the raw columns as they land and an input example: no pickle
anywhere, the model file stays XGBoost JSON.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_lib.scoring import ct_serving
from mlops_lib.scoring.ct_serving import InputColumn, ServingContract
from mlops_lib.spec import Feature, PipelineSpec

if TYPE_CHECKING:
    import pandas as pd
    import xgboost as xgb

    from mlops_lib.stores.registry import LoggedModel, Registry

MODEL_FILE = "model.json"
CONTRACT_FILE = "contract.json"
EXAMPLE_ROWS = 3


def serving_contract(spec: PipelineSpec) -> ServingContract:
    inputs = set(spec.model_inputs)
    return ServingContract(
        pipeline=spec.name, task=spec.task, classes=tuple(spec.classes),
        threshold=float(spec.metric.threshold),
        inputs=tuple(InputColumn(f.name, f.dtype, tuple(f.categories))
                     for f in spec.features if f.name in inputs))


def signature(spec: PipelineSpec) -> Any:
    """The raw columns of a batch: every feature (a model input or not), none required, of
    any type; the outputs as ct_serving writes them.

    Any type, not the spec's: MLflow's schema enforcement runs before the model and refuses
    what raw batches hold (int64 for a double, float64 for a long when an int column has nulls,
    a pandas categorical for a string, UTC timestamps for a datetime, an object column of bools
    with nulls for a boolean). The spec's types are in the contract (the artifact
    `contract.json`, and the model's metadata `ct_serving_contract`), and the model's own check
    (ct_serving.check_input) judges each column by them with a reason code. Not required, so a
    missing column reaches that check too (MISSING_COLUMNS). Extra columns are dropped by
    MLflow and ignored by the model."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema, TensorSpec

    contract = serving_contract(spec)
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec("float", name) for name in contract.output_columns if name != "predicted_label"]
    if spec.task == "binary_classification":
        outputs.append(ColSpec("long", "predicted_label"))
    elif spec.task == "multiclass_classification":
        outputs.append(ColSpec("string", "predicted_label"))
    any_type = AnyType()  # type: ignore[no-untyped-call]
    inputs: list[ColSpec | TensorSpec] = [ColSpec(any_type, f.name, required=False)
                                          for f in spec.features]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(list(outputs)))


def input_example(spec: PipelineSpec) -> pd.DataFrame:
    """A few raw rows as they land: numbers, category labels as text, UTC timestamps."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for f in spec.features:
        columns[f.name] = _example_values(f)
    return pd.DataFrame(columns)


def _example_values(f: Feature) -> Any:
    import numpy as np
    import pandas as pd

    n = EXAMPLE_ROWS
    if f.dtype == "category":
        return [f.categories[i % len(f.categories)] for i in range(n)]
    if f.dtype == "bool":
        return [i % 2 == 0 for i in range(n)]
    if f.dtype == "datetime":
        return pd.date_range("2026-01-01", periods=n, freq="D")
    if f.dtype == "string":
        return [f"text {i}" for i in range(n)]
    low = f.min_value if isinstance(f.min_value, float) else 0.0
    high = f.max_value if isinstance(f.max_value, float) else low + 10.0
    values = np.linspace(low, high, n)
    return np.round(values).astype(np.int64) if f.dtype == "int" else values


def log_serving_model(registry: Registry, run_id: str, booster: xgb.Booster,
                      spec: PipelineSpec) -> LoggedModel:
    """Log the booster with the spec's serving contract on the run: a new logged model."""
    import xgboost as xgb

    with tempfile.TemporaryDirectory() as tmp:
        model_file = Path(tmp) / MODEL_FILE
        booster.save_model(str(model_file))
        contract_file = Path(tmp) / CONTRACT_FILE
        contract_file.write_text(json.dumps(serving_contract(spec).to_dict(), indent=2))
        return registry.log_pyfunc(
            run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
            artifacts={"model": str(model_file), "contract": str(contract_file)},
            code_paths=[ct_serving.__file__], signature=signature(spec),
            input_example=input_example(spec),
            metadata={"ct_serving_contract": serving_contract(spec).to_dict()},
            pip_requirements=[f"xgboost=={xgb.__version__}", _requirement("pandas"),
                              _requirement("numpy")])


def _requirement(package: str) -> str:
    from importlib.metadata import version

    return f"{package}=={version(package)}"
