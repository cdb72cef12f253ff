"""The serving contract: a raw batch as it lands -> the model's scores, with the spec's encoding.

This module is shipped inside every registered model (MLflow `code_paths`), so it imports only
the standard library, numpy, pandas and (when predicting) xgboost: a service that has none of
`mlops_lib` can load `models:/ct_<name>@champion` with `mlflow.pyfunc` and get the numbers the
service's own scoring step writes. Training encodes categories with `category_codes` from here
too (mlops_lib.training.matrix), so a label means the same code at training and serving time.

The contract (`contract.json` beside the booster) is plain JSON made from the pipeline spec
(mlops_lib.scoring.contract): the model's input columns in model order with their dtype and,
for categories, the labels in code order; the task, the classes, the decision threshold.

Input rules (`check_input`):
- columns the model does not use are ignored (dropped), so a batch with its target, ids or
  anything else scores as it is;
- a missing model input: `ScoringInputError` MISSING_COLUMNS;
- a column whose values cannot be that input (text in a numeric column, numbers in a category
  column): `ScoringInputError` WRONG_DTYPE; an all-null column is missing values, whatever
  its dtype;
- an unknown category label, like a null, is a missing value: XGBoost follows each tree's
  default branch for it (as for the labels training never saw).

Output (`output_frame`), one row per input row, the input's index:
- binary_classification: `score` (float32, P(class 1)) and `predicted_label` (int64, 1 when
  score >= the spec's metric.threshold);
- multiclass_classification: `score_<class>` per class (float32, in the spec's class order)
  and `predicted_label` (the class with the highest score, the first on ties, as text);
- regression: `prediction` (float32).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CONTRACT_FORMAT = 1
MISSING_COLUMNS = "MISSING_COLUMNS"
WRONG_DTYPE = "WRONG_DTYPE"
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned ints, floats


class ScoringInputError(ValueError):
    """A batch the model cannot score; `code` is a stable reason code (MISSING_COLUMNS,
    WRONG_DTYPE), `columns` the columns concerned."""

    def __init__(self, code: str, message: str, columns: list[str]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.columns = columns


@dataclass(frozen=True)
class InputColumn:
    """One model input: its name, the spec dtype (float, int, bool, category) and the
    category labels in code order."""

    name: str
    dtype: str
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServingContract:
    pipeline: str
    task: str
    inputs: tuple[InputColumn, ...]
    classes: tuple[str, ...] = ()
    threshold: float = 0.5

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @property
    def output_columns(self) -> list[str]:
        if self.task == "regression":
            return ["prediction"]
        if self.task == "multiclass_classification":
            return [*(f"score_{c}" for c in self.classes), "predicted_label"]
        return ["score", "predicted_label"]

    def to_dict(self) -> dict[str, Any]:
        return {"format": CONTRACT_FORMAT, "pipeline": self.pipeline, "task": self.task,
                "classes": list(self.classes), "threshold": self.threshold,
                "inputs": [{"name": c.name, "dtype": c.dtype, "categories": list(c.categories)}
                           for c in self.inputs]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServingContract:
        if data.get("format") != CONTRACT_FORMAT:
            raise ValueError(f"unknown serving contract format {data.get('format')!r}")
        return cls(pipeline=str(data["pipeline"]), task=str(data["task"]),
                   classes=tuple(str(c) for c in data["classes"]),
                   threshold=float(data["threshold"]),
                   inputs=tuple(InputColumn(str(c["name"]), str(c["dtype"]),
                                            tuple(str(x) for x in c["categories"]))
                                for c in data["inputs"]))


def category_codes(series: pd.Series, categories: list[str]) -> np.ndarray:
    """Each label's index in `categories` as float32; unknown labels and nulls are NaN."""
    dtype = series.dtype
    codes: np.ndarray
    if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == categories:
        codes = series.cat.codes.to_numpy()  # conformed batches: codes are already ours
    else:
        codes = pd.Categorical(series, categories=categories).codes
    values = codes.astype(np.float32)
    values[codes < 0] = np.nan
    return values


def numeric_values(series: pd.Series) -> np.ndarray:
    """A numeric or bool column ready to be cast to float32 (NaN for missing)."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in _NUMERIC_KINDS:
        values: np.ndarray = series.to_numpy()  # no copy; cast in the write to the matrix
        return values
    converted: np.ndarray = series.to_numpy(dtype=np.float32, na_value=np.nan)  # nullable
    return converted


def check_input(frame: pd.DataFrame, contract: ServingContract) -> None:
    """Raise ScoringInputError when `frame` lacks a model input or holds one with values it
    cannot be; extra columns are fine (they are ignored)."""
    present = set(frame.columns)
    missing = [name for name in contract.input_names if name not in present]
    if missing:
        raise ScoringInputError(MISSING_COLUMNS, f"the model needs columns {missing}",
                                missing)
    wrong = [f"{c.name} ({frame[c.name].dtype}, expected {c.dtype})" for c in contract.inputs
             if not _fits(frame[c.name], c)]
    if wrong:
        raise ScoringInputError(WRONG_DTYPE, f"columns of the wrong type: {', '.join(wrong)}",
                                [w.split(" ", 1)[0] for w in wrong])


def _fits(series: pd.Series, column: InputColumn) -> bool:
    if isinstance(series, pd.DataFrame):  # a duplicated column name
        return False
    if bool(series.isna().all()):
        return True  # all missing: no value contradicts the type
    if column.dtype == "category":
        labels = (series.cat.categories if isinstance(series.dtype, pd.CategoricalDtype)
                  else series)
        return str(pd.api.types.infer_dtype(labels, skipna=True)) == "string"
    return bool(pd.api.types.is_numeric_dtype(series.dtype)
                or pd.api.types.is_bool_dtype(series.dtype))


def encode(frame: pd.DataFrame, contract: ServingContract) -> np.ndarray:
    """The model matrix of a checked frame: float32, model column order, Fortran order."""
    out = np.empty((len(frame), len(contract.inputs)), dtype=np.float32, order="F")
    for j, column in enumerate(contract.inputs):
        series = frame[column.name]
        out[:, j] = (category_codes(series, list(column.categories))
                     if column.dtype == "category" else numeric_values(series))
    return out


def output_frame(raw: np.ndarray, contract: ServingContract, index: pd.Index) -> pd.DataFrame:
    """The model's raw predictions as the contract's output columns (see the module doc)."""
    if contract.task == "regression":
        return pd.DataFrame({"prediction": _one_column(raw, index)}, index=index)
    if contract.task == "multiclass_classification":
        probs = raw.astype(np.float32, copy=False).reshape(len(index), len(contract.classes))
        out = pd.DataFrame({f"score_{c}": probs[:, j] for j, c in enumerate(contract.classes)},
                           index=index)
        labels = np.asarray(contract.classes, dtype=object)
        out["predicted_label"] = labels[probs.argmax(axis=1)] if len(index) else labels[:0]
        return out
    score = _one_column(raw, index)
    return pd.DataFrame({"score": score,
                         "predicted_label": (score >= contract.threshold).astype(np.int64)},
                        index=index)


def _one_column(raw: np.ndarray, index: pd.Index) -> np.ndarray:
    return raw.astype(np.float32, copy=False).reshape(len(index))


class ServingModel:
    """An XGBoost booster and its serving contract: `predict(raw frame) -> output frame`."""

    def __init__(self, booster: Any, contract: ServingContract) -> None:
        self.booster = booster
        self.contract = contract

    @classmethod
    def load(cls, model_file: str | Path, contract_file: str | Path) -> ServingModel:
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(model_file))
        contract = ServingContract.from_dict(json.loads(Path(contract_file).read_text()))
        return cls(booster, contract)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score a raw frame; the same rows give the same bytes, whatever else is in it."""
        check_input(frame, self.contract)
        if not len(frame):
            raw = np.empty((0, max(1, len(self.contract.classes))), dtype=np.float32)
        else:
            raw = self.booster.inplace_predict(encode(frame, self.contract))
        return output_frame(raw, self.contract, frame.index)
