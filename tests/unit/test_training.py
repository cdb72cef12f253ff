from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from mlops_lib import training
from mlops_lib.datagen import generate_batch
from mlops_lib.spec import MetricPolicy, PipelineSpec
from mlops_lib.training import (
    TrainedModel,
    capture_environment,
    choose_device,
    gpu_name,
    load_booster,
    predict,
    score,
    split_holdout,
    train_model,
)

pytestmark = pytest.mark.unit

ROUNDS = 40


@pytest.fixture(scope="module")
def cpu_spec(spec: PipelineSpec) -> PipelineSpec:
    return replace(spec, training=replace(spec.training, device="cpu", num_boost_round=ROUNDS))


@pytest.fixture(scope="module")
def regression_spec(cpu_spec: PipelineSpec) -> PipelineSpec:
    return replace(cpu_spec, name="credit_amount", task="regression",
                   metric=MetricPolicy("rmse", "minimize", floor=1e9))


@pytest.fixture(scope="module")
def frame(cpu_spec: PipelineSpec) -> pd.DataFrame:
    return generate_batch(cpu_spec, 2000, seed=1)


@pytest.fixture(scope="module")
def model(frame: pd.DataFrame, cpu_spec: PipelineSpec) -> TrainedModel:
    train, _ = split_holdout(frame, cpu_spec.training.holdout_share, cpu_spec.training.seed)
    return train_model(train, cpu_spec)


# --- training ----------------------------------------------------------------------------------


def test_train_model_on_cpu(model: TrainedModel, frame: pd.DataFrame,
                            cpu_spec: PipelineSpec) -> None:
    assert model.device == "cpu"
    assert model.params["device"] == "cpu"
    assert model.params["objective"] == "binary:logistic"
    assert model.params["seed"] == cpu_spec.training.seed
    assert model.params["max_depth"] == cpu_spec.training.params["max_depth"]  # spec params win
    assert model.num_boost_round == ROUNDS
    assert model.booster.num_boosted_rounds() == ROUNDS
    assert 0 < model.train_rows < len(frame)
    assert model.train_seconds >= 0
    assert model.environment["device"] == "cpu"


def test_training_is_deterministic_for_a_seed(frame: pd.DataFrame, cpu_spec: PipelineSpec,
                                              model: TrainedModel) -> None:
    train, holdout = split_holdout(frame, cpu_spec.training.holdout_share,
                                   cpu_spec.training.seed)
    again = train_model(train, cpu_spec)
    assert again.to_json_bytes() == model.to_json_bytes()
    np.testing.assert_array_equal(predict(again.booster, holdout, cpu_spec),
                                  predict(model.booster, holdout, cpu_spec))


def test_a_different_seed_gives_a_different_model(frame: pd.DataFrame, cpu_spec: PipelineSpec,
                                                  model: TrainedModel) -> None:
    # subsample/colsample < 1 in the example spec, so the seed matters.
    other = replace(cpu_spec, training=replace(cpu_spec.training, seed=7))
    train, _ = split_holdout(frame, cpu_spec.training.holdout_share, cpu_spec.training.seed)
    assert train_model(train, other).to_json_bytes() != model.to_json_bytes()


def test_model_learns_the_synthetic_concept(model: TrainedModel, frame: pd.DataFrame,
                                            cpu_spec: PipelineSpec) -> None:
    _, holdout = split_holdout(frame, cpu_spec.training.holdout_share, cpu_spec.training.seed)
    metrics = score(holdout[cpu_spec.target].to_numpy(),
                    predict(model.booster, holdout, cpu_spec), cpu_spec.task)
    assert cpu_spec.metric.clears_floor(metrics["roc_auc"])
    assert metrics["roc_auc"] < 0.99  # a noisy concept: a perfect score would mean a leak


def test_model_json_is_xgboost_json(model: TrainedModel) -> None:
    raw = json.loads(model.to_json_bytes())
    assert "learner" in raw
    assert "version" in raw
    assert raw["learner"]["objective"]["name"] == "binary:logistic"
    trees = raw["learner"]["gradient_booster"]["model"]["trees"]
    assert len(trees) == ROUNDS


def test_model_json_round_trip_predicts_identically(model: TrainedModel, frame: pd.DataFrame,
                                                    cpu_spec: PipelineSpec) -> None:
    blob = model.to_json_bytes()
    loaded = load_booster(blob)
    np.testing.assert_array_equal(predict(loaded, frame, cpu_spec),
                                  predict(model.booster, frame, cpu_spec))
    assert bytes(loaded.save_raw(raw_format="json")) == blob


def test_predictions_are_probabilities(model: TrainedModel, frame: pd.DataFrame,
                                       cpu_spec: PipelineSpec) -> None:
    p = predict(model.booster, frame.drop(columns=[cpu_spec.target]), cpu_spec)
    assert p.shape == (len(frame),)
    assert ((p > 0) & (p < 1)).all()


def test_regression_training(regression_spec: PipelineSpec) -> None:
    df = generate_batch(regression_spec, 2000, seed=3)
    train, holdout = split_holdout(df, 0.2, seed=0)
    trained = train_model(train, regression_spec)
    assert trained.params["objective"] == "reg:squarederror"
    y = holdout[regression_spec.target].to_numpy()
    metrics = score(y, predict(trained.booster, holdout, regression_spec), "regression")
    assert set(metrics) == {"rmse", "mae", "r2"}
    baseline = score(y, np.full_like(y, train[regression_spec.target].mean()), "regression")
    assert metrics["rmse"] < baseline["rmse"]  # beats predicting the mean
    assert metrics["r2"] > 0.3


# --- device ------------------------------------------------------------------------------------


def test_explicit_device_preference_is_honoured() -> None:
    assert choose_device("cpu") == "cpu"
    assert choose_device("cuda") == "cuda"


@pytest.mark.skipif(gpu_name() is not None, reason="a GPU is visible on this machine")
def test_auto_device_is_cpu_without_a_gpu() -> None:
    assert gpu_name() is None
    assert choose_device("auto") == "cpu"


@pytest.mark.parametrize("visible", ["", "-1"])
def test_hidden_gpus_mean_cpu(monkeypatch: pytest.MonkeyPatch, visible: str) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_name() is None
    assert choose_device("auto") == "cpu"


def test_no_nvidia_smi_means_no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(training.shutil, "which", lambda _: None)
    assert gpu_name() is None
    assert choose_device("auto") == "cpu"


def test_auto_device_is_cuda_when_a_gpu_and_a_cuda_build_are_there(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "gpu_name", lambda: "NVIDIA H100")
    monkeypatch.setattr(training.xgb, "build_info", lambda: {"USE_CUDA": True})
    assert choose_device("auto") == "cuda"
    monkeypatch.setattr(training.xgb, "build_info", lambda: {"USE_CUDA": False})
    assert choose_device("auto") == "cpu"


# --- scoring -----------------------------------------------------------------------------------


def test_score_binary() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    m = score(y, p, "binary_classification")
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (pos, neg) pairs ranked right
    assert m["accuracy"] == pytest.approx(0.75)  # 0.35 falls below the 0.5 threshold
    expected_ll = -np.mean(np.log([0.9, 0.6, 0.35, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_ll)


def test_score_binary_perfect_and_clipped() -> None:
    m = score(np.array([0, 1, 1]), np.array([0.0, 1.0, 1.0]), "binary_classification")
    assert m["roc_auc"] == 1.0
    assert m["accuracy"] == 1.0
    assert 0 < m["log_loss"] < 1e-5  # clipping keeps log(0) out


def test_score_binary_single_class_has_no_auc() -> None:
    m = score(np.array([1, 1, 1]), np.array([0.9, 0.8, 0.3]), "binary_classification")
    assert math.isnan(m["roc_auc"])
    assert math.isfinite(m["log_loss"])
    assert m["accuracy"] == pytest.approx(2 / 3)


def test_score_regression() -> None:
    m = score(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]), "regression")
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["r2"] == pytest.approx(1 - 4 / 2)  # SSE 4 over SST 2


# --- holdout -----------------------------------------------------------------------------------


def test_split_holdout_is_disjoint_complete_and_deterministic() -> None:
    df = pd.DataFrame({"row": np.arange(1000), "x": np.linspace(0, 1, 1000)})
    train, holdout = split_holdout(df, 0.2, seed=42)
    assert set(train["row"]).isdisjoint(holdout["row"])
    assert sorted([*train["row"], *holdout["row"]]) == list(range(1000))
    assert 150 < len(holdout) < 250
    assert list(train.index) == list(range(len(train)))  # fresh index for DMatrix
    again_train, again_holdout = split_holdout(df, 0.2, seed=42)
    pd.testing.assert_frame_equal(train, again_train)
    pd.testing.assert_frame_equal(holdout, again_holdout)
    _, other = split_holdout(df, 0.2, seed=43)
    assert set(other["row"]) != set(holdout["row"])


def test_split_holdout_share_scales() -> None:
    df = pd.DataFrame({"row": np.arange(2000)})
    small = len(split_holdout(df, 0.05, seed=0)[1])
    large = len(split_holdout(df, 0.5, seed=0)[1])
    assert 50 < small < 150
    assert 900 < large < 1100


# --- environment -------------------------------------------------------------------------------


def test_capture_environment() -> None:
    env = capture_environment("cpu")
    assert env["xgboost_version"] == xgb.__version__
    assert env["device"] == "cpu"
    assert env["xgboost_use_cuda"] in ("True", "False")
    assert env["gpu_name"] == (gpu_name() or "none")
    assert len(env["uv_lock_sha256"]) == 64
    assert all(isinstance(v, str) for v in env.values())
    assert capture_environment("cuda")["device"] == "cuda"
