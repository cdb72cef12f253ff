"""The serving contract without services: what a raw batch must hold, how it is encoded (the
training encoding), what the output is, and the spec -> contract/signature."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlops_dev import datagen
from mlops_lib.scoring import contract as serving
from mlops_lib.scoring.batch import read_chunks, score_chunks
from mlops_lib.scoring.ct_serving import (
    ScoringInputError,
    ServingContract,
    ServingModel,
    check_input,
    encode,
)
from mlops_lib.spec import PipelineSpec
from mlops_lib.training.matrix import feature_matrix
from mlops_lib.training.trainer import predict, train_model

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def model(spec: PipelineSpec) -> tuple[PipelineSpec, ServingModel, pd.DataFrame]:
    spec = replace(spec, training=replace(spec.training, device="cpu", num_boost_round=5))
    data = datagen.generate_batch(spec, 400, seed=2)
    trained = train_model(data, spec)
    return spec, ServingModel(trained.booster, serving.serving_contract(spec)), data


def test_the_contract_round_trips_and_names_the_model_inputs(spec: PipelineSpec) -> None:
    c = serving.serving_contract(spec)
    assert ServingContract.from_dict(c.to_dict()) == c
    assert c.input_names == spec.model_inputs
    assert c.output_columns == ["score", "predicted_label"]


def test_encoding_is_the_training_encoding(model: tuple[PipelineSpec, ServingModel,
                                                        pd.DataFrame]) -> None:
    spec, served, data = model
    as_text = data.assign(region=data["region"].astype(object), extra=1)
    assert encode(as_text, served.contract).tobytes() == feature_matrix(data, spec).tobytes()


def test_predict_gives_the_training_predictions_and_a_label(
        model: tuple[PipelineSpec, ServingModel, pd.DataFrame]) -> None:
    spec, served, data = model
    out = served.predict(data)
    expected = predict(served.booster, data, spec)
    assert out["score"].to_numpy().tobytes() == expected.astype(np.float32).tobytes()
    assert (out["predicted_label"] == (expected >= spec.metric.threshold)).all()
    assert out.index.equals(data.index)


def test_unknown_labels_are_missing_values(
        model: tuple[PipelineSpec, ServingModel, pd.DataFrame]) -> None:
    _, served, data = model
    rows = data.head(4)
    assert served.predict(rows.assign(region="atlantis"))["score"].tolist() == served.predict(
        rows.assign(region=None))["score"].tolist()


@pytest.mark.parametrize(("change", "code", "column"), [
    (lambda d: d.drop(columns=["income"]), "MISSING_COLUMNS", "income"),
    (lambda d: d.assign(age="forty"), "WRONG_DTYPE", "age"),
    (lambda d: d.assign(region=3), "WRONG_DTYPE", "region"),
])
def test_a_batch_the_model_cannot_score_says_why(
        model: tuple[PipelineSpec, ServingModel, pd.DataFrame], change: object, code: str,
        column: str) -> None:
    _, served, data = model
    with pytest.raises(ScoringInputError) as err:
        check_input(change(data), served.contract)  # type: ignore[operator]
    assert err.value.code == code and err.value.columns == [column]


def test_an_all_null_column_is_missing_values_whatever_its_dtype(
        model: tuple[PipelineSpec, ServingModel, pd.DataFrame]) -> None:
    _, served, data = model
    check_input(data.assign(region=np.nan, age=None), served.contract)


def test_chunked_scoring_writes_the_same_numbers_as_one_predict(
        model: tuple[PipelineSpec, ServingModel, pd.DataFrame], tmp_path: object) -> None:
    from datetime import UTC, datetime
    from pathlib import Path

    _, served, data = model
    raw = data.drop(columns=["default"])
    body = datagen.to_file_bytes(raw, "parquet")
    out = Path(str(tmp_path)) / "p.parquet"
    at = datetime(2026, 1, 2, tzinfo=UTC)
    scored = score_chunks(served, read_chunks([("a", body), ("b", body)], "parquet",
                                              chunk_rows=64), out, model_version="7",
                          scored_at=at)
    written = pd.read_parquet(out)
    assert scored.rows == 800 and written["row_number"].tolist() == list(range(800))
    whole = served.predict(pd.concat([raw, raw], ignore_index=True))
    assert written["score"].to_numpy().tobytes() == whole["score"].to_numpy().tobytes()
    assert set(written["model_version"]) == {"7"} and set(written["scored_at"]) == {
        pd.Timestamp(at)}
    again = Path(str(tmp_path)) / "q.parquet"
    score_chunks(served, read_chunks([("a", body), ("b", body)], "parquet", chunk_rows=64),
                 again, model_version="7", scored_at=at)
    assert again.read_bytes() == out.read_bytes()  # deterministic: a re-run, the same bytes


def test_the_signature_lists_every_feature_optional_and_the_outputs(
        spec: PipelineSpec) -> None:
    sig = serving.signature(spec)
    inputs = sig.inputs.to_dict()
    assert [c["name"] for c in inputs] == spec.feature_names
    assert all(not c["required"] and c["type"] == "any" for c in inputs)
    assert [c["name"] for c in sig.outputs.to_dict()] == ["score", "predicted_label"]
    example = serving.input_example(spec)
    assert list(example.columns) == spec.feature_names and len(example) == 3
    assert set(example["region"]) <= set(next(f for f in spec.features
                                              if f.name == "region").categories)
