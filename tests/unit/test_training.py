from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xgboost as xgb

from mlops_dev.datagen import generate_batch
from mlops_lib.settings import REPO_ROOT
from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec, Source
from mlops_lib.training import environment, matrix, split, trainer
from mlops_lib.training.environment import (
    available_cores,
    capture_environment,
    choose_device,
    gpu_name,
)
from mlops_lib.training.split import split_holdout
from mlops_lib.training.trainer import TrainedModel, load_booster, predict, score, train_model

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
    # Early stopping keeps the trees up to the best validation round, never more than asked for.
    assert 0 <= model.best_iteration < ROUNDS
    assert model.booster.num_boosted_rounds() == model.best_iteration + 1
    assert 0 < model.train_rows < len(frame)
    assert model.validation_rows > 0
    assert model.best_score is not None and 0.5 < model.best_score <= 1.0
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
    assert len(trees) == model.best_iteration + 1


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


MULTICLASS_SPEC = REPO_ROOT / "tests" / "fixtures" / "product_tier.yaml"


@pytest.fixture(scope="module")
def tiers() -> PipelineSpec:
    from mlops_lib.spec import load_spec

    return load_spec(MULTICLASS_SPEC)  # classes bronze, silver, gold; device cpu


@pytest.fixture(scope="module")
def tier_frame(tiers: PipelineSpec) -> pd.DataFrame:
    from mlops_lib.validation.conform import conform

    return conform(generate_batch(tiers, 2000, seed=5), tiers)  # as staged: labels categorical


@pytest.fixture(scope="module")
def tier_model(tier_frame: pd.DataFrame, tiers: PipelineSpec) -> TrainedModel:
    train, _ = split_holdout(tier_frame, tiers.training.holdout_share, tiers.training.seed)
    return train_model(train, tiers)


def test_multiclass_training_uses_softprob(tier_model: TrainedModel, tiers: PipelineSpec) -> None:
    assert tier_model.params["objective"] == "multi:softprob"
    assert tier_model.params["num_class"] == 3
    assert tier_model.params["eval_metric"] == "mlogloss"
    assert tier_model.validation_rows > 0 and tier_model.best_score is not None
    assert 0 < tier_model.best_score < math.log(3)  # better than a uniform guess
    raw = json.loads(tier_model.to_json_bytes())  # XGBoost JSON, never a pickle
    assert raw["learner"]["objective"]["name"] == "multi:softprob"
    assert raw["learner"]["learner_model_param"]["num_class"] == "3"


def test_multiclass_predictions_are_one_probability_per_class(
        tier_model: TrainedModel, tier_frame: pd.DataFrame, tiers: PipelineSpec) -> None:
    _, holdout = split_holdout(tier_frame, tiers.training.holdout_share, tiers.training.seed)
    p = predict(tier_model.booster, holdout, tiers)
    assert p.shape == (len(holdout), 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    again = predict(load_booster(tier_model.to_json_bytes()), holdout, tiers)
    np.testing.assert_array_equal(again, p)
    y = matrix.target_values(holdout, tiers)
    metrics = score(y, p, tiers.task)
    assert set(metrics) == {"log_loss", "macro_f1", "accuracy", "ece"}
    assert tiers.metric.clears_floor(metrics["log_loss"])
    assert metrics["accuracy"] > 0.5 and metrics["macro_f1"] > 0.45  # chance is about 1/3
    assert metrics["accuracy"] < 0.99  # a noisy concept


def test_multiclass_label_order_follows_the_spec(tier_frame: pd.DataFrame,
                                                 tiers: PipelineSpec) -> None:
    # Column j of predict is class spec.classes[j]: reversing the classes reverses the columns.
    reordered = replace(tiers, classes=tiers.classes[::-1])
    train, holdout = split_holdout(tier_frame, 0.25, seed=0)
    forward = predict(train_model(train, tiers).booster, holdout, tiers)
    backward = predict(train_model(train, reordered).booster, holdout, reordered)
    assert matrix.target_values(holdout, reordered).tolist() == (
        2 - matrix.target_values(holdout, tiers)).tolist()
    forward_labels = np.asarray(tiers.classes)[forward.argmax(axis=1)]
    backward_labels = np.asarray(reordered.classes)[backward.argmax(axis=1)]
    assert np.mean(forward_labels == backward_labels) > 0.9  # the same concept, other columns


def test_multiclass_labels_outside_the_classes_are_refused(tier_frame: pd.DataFrame,
                                                           tiers: PipelineSpec) -> None:
    raw = tier_frame.assign(tier=tier_frame["tier"].astype(object))
    raw.loc[0, "tier"] = "platinum"
    with pytest.raises(ValueError, match="outside the classes"):
        train_model(raw, tiers)


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
    monkeypatch.setattr(environment.shutil, "which", lambda _: None)
    assert gpu_name() is None
    assert choose_device("auto") == "cpu"


def test_auto_device_is_cuda_when_a_gpu_and_a_cuda_build_are_there(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environment, "gpu_name", lambda: "NVIDIA H100")
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": True})
    assert choose_device("auto") == "cuda"
    monkeypatch.setattr(xgb, "build_info", lambda: {"USE_CUDA": False})
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


def test_score_reports_every_metric_of_the_task() -> None:
    y = np.array([0, 0, 1, 1])
    binary = score(y, np.array([0.1, 0.4, 0.35, 0.8]), "binary_classification")
    assert set(binary) == {"roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1", "ece"}
    assert set(score(y, np.array([0.0, 1.0, 1.0, 2.0]), "regression")) == {"rmse", "mae", "r2"}


def test_score_honours_the_decision_threshold() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert score(y, p, "binary_classification")["accuracy"] == pytest.approx(0.75)
    low = score(y, p, "binary_classification", threshold=0.3)
    assert low["accuracy"] == pytest.approx(0.75)  # 0.35 is now positive, but so is 0.4
    assert low["f1"] == pytest.approx(0.8)         # tp 2, fp 1, fn 0
    assert score(y, p, "binary_classification", threshold=0.38)["accuracy"] == 0.5
    # The ranking metrics do not depend on the threshold.
    assert low["roc_auc"] == score(y, p, "binary_classification")["roc_auc"]


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


def test_time_split_holds_out_the_newest_rows() -> None:
    rng = np.random.default_rng(0)
    when = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.permutation(1000), unit="h")
    df = pd.DataFrame({"row": np.arange(1000), "when": when})
    train, holdout = split_holdout(df, 0.2, seed=42, time_column="when")
    assert len(holdout) == 200
    assert train["when"].max() < holdout["when"].min()  # every holdout row is newer
    assert set(train["row"]).isdisjoint(holdout["row"])
    assert len(train) + len(holdout) == 1000
    assert list(holdout["row"]) == sorted(holdout["row"])  # the frame's row order is kept
    assert list(holdout.index) == list(range(200))
    # The seed plays no part in a time split.
    pd.testing.assert_frame_equal(holdout, split_holdout(df, 0.2, seed=7, time_column="when")[1])


def test_time_split_keeps_a_timestamp_on_one_side() -> None:
    # 10 days of 10 rows each: 25% would cut day 8 in half, so all of day 8 goes to the holdout.
    df = pd.DataFrame({"day": np.repeat(np.arange(10), 10), "row": np.arange(100)})
    train, holdout = split_holdout(df.sample(frac=1, random_state=1), 0.25, seed=0,
                                   time_column="day")
    assert sorted(set(holdout["day"])) == [7, 8, 9]
    assert len(holdout) == 30
    assert train["day"].max() == 6


def test_time_split_treats_missing_times_as_oldest() -> None:
    df = pd.DataFrame({"t": [3.0, np.nan, 1.0, 4.0, np.nan, 2.0, 5.0, 6.0, 7.0, 8.0]})
    train, holdout = split_holdout(df, 0.2, seed=0, time_column="t")
    assert sorted(holdout["t"]) == [7.0, 8.0]
    assert train["t"].isna().sum() == 2


def test_time_split_with_a_single_timestamp_still_leaves_rows_to_train_on() -> None:
    df = pd.DataFrame({"t": np.zeros(50), "row": np.arange(50)})
    train, holdout = split_holdout(df, 0.2, seed=0, time_column="t")
    assert len(holdout) == 10 and len(train) == 40


def test_random_split_is_unchanged_without_a_time_column() -> None:
    df = pd.DataFrame({"row": np.arange(500), "t": np.arange(500)})
    a = split_holdout(df, 0.2, seed=3)
    b = split_holdout(df, 0.2, seed=3, time_column=None)
    pd.testing.assert_frame_equal(a[1], b[1])
    assert a[1]["t"].min() < 400  # random rows, not the newest


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


def test_datetime_and_string_features_are_validated_but_not_model_inputs(
        spec: PipelineSpec) -> None:
    from mlops_lib.spec import Feature

    extended = replace(spec, features=(*spec.features, Feature("seen_at", "datetime"),
                                       Feature("note", "string")))
    assert "seen_at" not in extended.model_inputs and "note" not in extended.model_inputs
    assert set(spec.feature_names) <= set(extended.model_inputs)
    frame = generate_batch(spec, 400, seed=3).assign(
        seen_at=pd.date_range("2026-01-01", periods=400, freq="h"), note="free text")
    model = train_model(frame, extended)
    assert model.booster.num_features() == len(spec.feature_names)


# --- the float32 / native categorical / QuantileDMatrix path -----------------------------------


def _tree_split_types(booster: xgb.Booster) -> list[int]:
    raw = json.loads(bytes(booster.save_raw(raw_format="json")))
    return [t for tree in raw["learner"]["gradient_booster"]["model"]["trees"]
            for t in tree["split_type"]]


def test_categories_are_native_categorical_features(model: TrainedModel,
                                                    cpu_spec: PipelineSpec) -> None:
    raw = json.loads(model.to_json_bytes())
    types = dict(zip(raw["learner"]["feature_names"], raw["learner"]["feature_types"],
                     strict=True))
    assert types["region"] == "c"
    assert all(t == "q" for name, t in types.items() if name != "region")


def test_a_category_only_signal_is_learnt_with_categorical_splits() -> None:
    # The label is a function of the category alone, and its codes are not monotone in the
    # target: a model reading codes as numbers would need several splits, a categorical one
    # gets it with partition splits (split_type 1).
    spec = PipelineSpec(
        name="cats", source=Source("b", "p/"), target="y", task="regression",
        features=(Feature("colour", "category", ("red", "green", "blue", "grey")),
                  Feature("noise", "float")),
        metric=MetricPolicy("rmse", "minimize", floor=1e9))
    spec = replace(spec, training=replace(spec.training, device="cpu", num_boost_round=30,
                                          params={"max_depth": 1, "eta": 1.0}))
    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "green", "blue", "grey"], size=4000)
    y = np.select([colour == "red", colour == "blue"], [1.0, 1.0], 0.0)
    df = pd.DataFrame({"colour": pd.Categorical(colour, categories=spec.features[0].categories),
                       "noise": rng.normal(size=4000), "y": y})
    trained = train_model(df, spec)
    assert 1 in _tree_split_types(trained.booster)
    pred = predict(trained.booster, pd.DataFrame({
        "colour": ["red", "green", "blue", "grey"], "noise": [0.0] * 4}), spec)
    np.testing.assert_allclose(pred, [1.0, 0.0, 1.0, 0.0], atol=0.05)


def test_prediction_reads_categories_by_label_not_by_code(model: TrainedModel,
                                                          frame: pd.DataFrame,
                                                          cpu_spec: PipelineSpec) -> None:
    # The same labels as plain strings, or as a categorical with another category order, must
    # score exactly like the conformed frame: codes follow the spec's order, not the frame's.
    conformed = predict(model.booster, frame, cpu_spec)
    as_strings = frame.assign(region=frame["region"].astype(str))
    reordered = frame.assign(region=frame["region"].cat.reorder_categories(
        ["west", "east", "south", "north"]))
    np.testing.assert_array_equal(predict(model.booster, as_strings, cpu_spec), conformed)
    np.testing.assert_array_equal(predict(model.booster, reordered, cpu_spec), conformed)


def test_unknown_or_missing_category_is_a_missing_value(cpu_spec: PipelineSpec) -> None:
    df = pd.DataFrame({"region": pd.Series(["north", "mars", None], dtype=object)})
    features = [f for f in cpu_spec.features if f.name == "region"]
    values = matrix._column_values(df["region"], features[0])
    assert values[0] == 0.0  # north is the first category of the spec
    assert np.isnan(values[1]) and np.isnan(values[2])


def test_float32_path_predicts_like_the_pandas_dmatrix_path(model: TrainedModel,
                                                            frame: pd.DataFrame,
                                                            cpu_spec: PipelineSpec) -> None:
    ours = predict(model.booster, frame, cpu_spec)
    reference = model.booster.predict(
        xgb.DMatrix(frame[cpu_spec.model_inputs], enable_categorical=True))
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)
    x = matrix.feature_matrix(frame, cpu_spec)
    assert x.dtype == np.float32
    assert x.shape == (len(frame), len(cpu_spec.model_inputs))


def test_a_model_trained_on_a_pandas_dmatrix_predicts_the_same_through_our_path(
        frame: pd.DataFrame, cpu_spec: PipelineSpec) -> None:
    # Champions registered before the float32 path were trained on a pandas DMatrix.
    params = trainer.training_params(cpu_spec, "cpu")
    old = xgb.train(params, xgb.DMatrix(frame[cpu_spec.model_inputs],
                                        label=frame[cpu_spec.target], enable_categorical=True),
                    num_boost_round=10)
    reference = old.predict(xgb.DMatrix(frame[cpu_spec.model_inputs], enable_categorical=True))
    np.testing.assert_allclose(predict(old, frame, cpu_spec), reference, rtol=1e-6, atol=1e-6)


def test_early_stopping_stops_before_the_round_limit_on_an_easy_problem() -> None:
    spec = PipelineSpec(
        name="easy", source=Source("b", "p/"), target="y", task="binary_classification",
        features=(Feature("x", "float"), Feature("z", "float")),
        metric=MetricPolicy("roc_auc", "maximize", floor=0.5))
    spec = replace(spec, training=replace(spec.training, device="cpu", num_boost_round=500,
                                          early_stopping_rounds=5, validation_share=0.2,
                                          params={"eta": 0.5, "max_depth": 2}))
    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    df = pd.DataFrame({"x": x, "z": rng.normal(size=3000), "y": (x > 0).astype(int)})
    trained = train_model(df, spec)
    assert trained.stopped_early
    assert trained.best_iteration < 50  # separable: AUC is 1 after a few trees
    assert trained.booster.num_boosted_rounds() == trained.best_iteration + 1
    assert trained.best_score == pytest.approx(1.0)
    assert trained.validation_rows + trained.train_rows == len(df)
    assert 450 < trained.validation_rows < 750


def test_early_stopping_off_trains_every_round_on_every_row(frame: pd.DataFrame,
                                                            cpu_spec: PipelineSpec) -> None:
    off = replace(cpu_spec, training=replace(cpu_spec.training, early_stopping_rounds=0,
                                             num_boost_round=15))
    trained = train_model(frame, off)
    assert trained.booster.num_boosted_rounds() == 15
    assert trained.best_iteration == 14
    assert trained.validation_rows == 0 and trained.best_score is None
    assert trained.train_rows == len(frame)
    assert not trained.stopped_early


def test_validation_rows_are_seeded_and_disjoint_from_training(frame: pd.DataFrame,
                                                               cpu_spec: PipelineSpec) -> None:
    mask = split.validation_mask(frame, cpu_spec)
    assert mask is not None
    np.testing.assert_array_equal(mask, split.validation_mask(frame, cpu_spec))
    assert 0.05 < mask.mean() < 0.15  # validation_share 0.1
    other = replace(cpu_spec, training=replace(cpu_spec.training, seed=1))
    assert not np.array_equal(mask, split.validation_mask(frame, other))


def test_validation_matrix_reuses_the_training_cuts(frame: pd.DataFrame,
                                                    cpu_spec: PipelineSpec) -> None:
    params = trainer.training_params(cpu_spec, "cpu")
    x = matrix.feature_matrix(frame, cpu_spec)
    y = frame[cpu_spec.target].to_numpy(dtype=np.float32)
    dtrain = matrix.quantile_matrix(x[:1500], y[:1500], cpu_spec, params)
    dval = matrix.quantile_matrix(x[1500:], y[1500:], cpu_spec, params, ref=dtrain)
    alone = matrix.quantile_matrix(x[1500:], y[1500:], cpu_spec, params)
    cuts_train = dtrain.get_quantile_cut()
    for a, b in zip(cuts_train, dval.get_quantile_cut(), strict=True):
        np.testing.assert_array_equal(a, b)
    # Built alone, the 500 validation rows would have cuts of their own.
    assert not np.array_equal(cuts_train[1], alone.get_quantile_cut()[1])
    booster = xgb.train(params, dtrain, 10, evals=[(dval, "v")], verbose_eval=False)
    np.testing.assert_array_equal(booster.predict(dval), booster.predict(dval))


def test_nthread_is_the_available_cores(model: TrainedModel) -> None:
    assert model.params["nthread"] == available_cores()
    assert 1 <= available_cores() <= len(os.sched_getaffinity(0))
    assert model.environment["cpu_cores_available"] == str(available_cores())


def test_available_cores_follow_affinity_and_cgroup_quota(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment.os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    monkeypatch.setattr(environment, "cgroup_cpu_quota", lambda: None)
    assert available_cores() == 4
    monkeypatch.setattr(environment, "cgroup_cpu_quota", lambda: 2.5)
    assert available_cores() == 2
    monkeypatch.setattr(environment, "cgroup_cpu_quota", lambda: 0.5)
    assert available_cores() == 1


def test_environment_capture_keys_and_lock_hash() -> None:
    env = capture_environment("cpu")
    for key in ("xgboost_version", "xgboost_use_cuda", "xgboost_build_info", "device",
                "nthread", "python", "cpu_model", "cpu_cores_total", "cpu_cores_available",
                "ram_total_gib", "gpu_name", "uv_lock_sha256", "code_git_sha"):
        assert key in env and env[key], key
    assert env["uv_lock_sha256"] == hashlib.sha256((REPO_ROOT / "uv.lock").read_bytes()).hexdigest()
    assert json.loads(env["xgboost_build_info"])["USE_CUDA"] == xgb.build_info()["USE_CUDA"]
    assert env["cpu_cores_total"] == str(os.cpu_count())
    assert float(env["ram_total_gib"]) > 0
    assert all(isinstance(v, str) and len(v) <= environment.MAX_TAG_CHARS for v in env.values())


def test_environment_without_a_gpu_has_no_gpu_details(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment.shutil, "which", lambda _: None)
    env = capture_environment("cpu")
    assert env["gpu_name"] == "none"
    assert not {"gpu_memory_mib", "gpu_driver", "gpu_count"} & set(env)


def test_environment_with_a_gpu_records_name_memory_and_driver(
        monkeypatch: pytest.MonkeyPatch) -> None:
    class Smi:
        returncode = 0
        stdout = "NVIDIA H100 80GB HBM3, 81559, 570.86.15\n"

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(environment.shutil, "which", lambda _: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(environment.subprocess, "run", lambda *a, **k: Smi())
    monkeypatch.setattr(environment, "git_sha", lambda: "abc")
    env = capture_environment("cuda")
    assert env["gpu_count"] == "1"
    assert env["gpu_memory_mib"] == "81559"
    assert env["gpu_driver"] == "570.86.15"
    assert env["device"] == "cuda"


def test_long_environment_values_are_cut_to_the_tag_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "cpu_model", lambda: "x" * 9000)
    env = capture_environment("cpu")
    assert env["cpu_model"] == "x" * environment.MAX_TAG_CHARS


def test_with_a_time_column_the_validation_rows_are_the_newest(frame: pd.DataFrame,
                                                               cpu_spec: PipelineSpec) -> None:
    timed = replace(cpu_spec, training=replace(cpu_spec.training, time_column="tenure_months"))
    mask = split.validation_mask(frame, timed)
    assert mask is not None and mask.any()
    assert frame["tenure_months"][mask].min() >= frame["tenure_months"][~mask].max()


# --- the Arrow path (the pipeline's train and evaluate steps read the versioned parquet) -----


def _as_parquet_table(df: pd.DataFrame) -> pa.Table:
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return pq.read_table(io.BytesIO(buffer.getvalue()))


def test_arrow_feature_matrix_equals_the_pandas_one_bit_for_bit(cpu_spec: PipelineSpec) -> None:
    df = generate_batch(cpu_spec, 500, seed=3)
    numeric = [f.name for f in cpu_spec.features if f.dtype in ("float", "int")]
    df.loc[::7, numeric[0]] = np.nan  # missing values
    df[numeric[-1]] = df[numeric[-1]].astype("Int64")  # nullable integer with a null
    df.loc[3, numeric[-1]] = pd.NA
    category = next(f for f in cpu_spec.features if f.dtype == "category")
    df.loc[::5, category.name] = None  # missing category
    table = _as_parquet_table(df)
    rows = np.array([4, 0, 499, 17, 17])

    for from_pandas, from_arrow in zip(matrix.feature_matrices(df, cpu_spec, None, rows),
                                       matrix.feature_matrices(table, cpu_spec, None, rows),
                                       strict=True):
        assert from_arrow.dtype == np.float32 and from_arrow.flags.f_contiguous
        np.testing.assert_array_equal(from_arrow, from_pandas)  # NaN == NaN here
    assert np.isnan(matrix.feature_matrices(table, cpu_spec)[0]).any()


def test_large_integers_round_like_numpy_on_the_arrow_path(cpu_spec: PipelineSpec) -> None:
    feature = next(f for f in cpu_spec.features if f.dtype == "int")
    values = np.array([2**24 + 1, 2**40 + 3, -(2**31) - 5, 7], dtype=np.int64)
    arrow = matrix._arrow_column_values(pa.chunked_array([values[:2], values[2:]]), feature)
    np.testing.assert_array_equal(arrow, values.astype(np.float32))


def test_training_on_table_rows_gives_the_model_of_the_pandas_split(
        frame: pd.DataFrame, cpu_spec: PipelineSpec, model: TrainedModel) -> None:
    table = _as_parquet_table(frame)
    mask = split.holdout_mask(table, cpu_spec.training.holdout_share, cpu_spec.training.seed,
                                 None)
    from_table = train_model(table, cpu_spec, rows=np.flatnonzero(~mask))
    assert from_table.to_json_bytes() == model.to_json_bytes()
    assert from_table.validation_rows == model.validation_rows > 0


def test_time_ordered_training_on_table_rows_matches_the_pandas_split(
        frame: pd.DataFrame, cpu_spec: PipelineSpec) -> None:
    timed = replace(cpu_spec, training=replace(cpu_spec.training, time_column="tenure_months"))
    train, _ = split_holdout(frame, 0.2, timed.training.seed, "tenure_months")
    table = _as_parquet_table(frame)
    mask = split.holdout_mask(table, 0.2, timed.training.seed, "tenure_months")
    assert mask.sum() == len(frame) - len(train)
    assert (train_model(table, timed, rows=np.flatnonzero(~mask)).to_json_bytes()
            == train_model(train, timed).to_json_bytes())


def test_max_train_rows_trains_on_a_seeded_stratified_sample(
        frame: pd.DataFrame, cpu_spec: PipelineSpec, model: TrainedModel) -> None:
    capped = replace(cpu_spec, training=replace(cpu_spec.training, max_train_rows=500))
    train, _ = split_holdout(frame, cpu_spec.training.holdout_share, cpu_spec.training.seed)

    rows = split.capped_rows(train, capped, None)
    sampled = train_model(train, capped)

    assert rows is not None and len(rows) == 500 and np.all(np.diff(rows) > 0)
    share = train[cpu_spec.target].mean()
    assert abs(train[cpu_spec.target].to_numpy()[rows].mean() - share) <= 1 / 500 + 1e-9
    assert sampled.train_rows + sampled.validation_rows == 500
    assert sampled.rows_available == len(train) and sampled.sampled and not model.sampled
    assert train_model(train, capped).to_json_bytes() == sampled.to_json_bytes()
    assert sampled.to_json_bytes() != model.to_json_bytes()


def test_max_train_rows_above_the_data_changes_nothing(
        frame: pd.DataFrame, cpu_spec: PipelineSpec, model: TrainedModel) -> None:
    roomy = replace(cpu_spec, training=replace(cpu_spec.training, max_train_rows=10**9))
    train, _ = split_holdout(frame, cpu_spec.training.holdout_share, cpu_spec.training.seed)
    assert split.capped_rows(train, roomy, None) is None
    assert train_model(train, roomy).to_json_bytes() == model.to_json_bytes()


def test_max_train_rows_samples_within_the_given_rows(cpu_spec: PipelineSpec,
                                                      frame: pd.DataFrame) -> None:
    capped = replace(cpu_spec, training=replace(cpu_spec.training, max_train_rows=300))
    table = _as_parquet_table(frame)
    given = np.arange(0, len(frame), 2)  # every other row, as a holdout split would leave
    rows = split.capped_rows(table, capped, given)
    assert rows is not None and len(rows) == 300 and set(rows) <= set(given)
