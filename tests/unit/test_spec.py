from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_lib.settings import Settings
from mlops_lib.spec import (
    Contract,
    DaskConfig,
    Feature,
    Freshness,
    MetricPolicy,
    PipelineSpec,
    SliceSpec,
    SpecError,
    load_spec,
    load_specs,
)
from tests.support import EXAMPLE_SPEC, HOUSE_SPEC

pytestmark = pytest.mark.unit

EXAMPLE = EXAMPLE_SPEC


@pytest.fixture
def raw() -> dict[str, Any]:
    """The example spec as plain data, to be broken one field at a time."""
    return copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))


def write(tmp_path: Path, data: Any, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def assert_spec_error(path: Path, needle: str) -> None:
    """Loading fails with a SpecError that names the file and the offending field."""
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value)
    assert needle in str(info.value)


# --- the example -------------------------------------------------------------------------------


def test_example_spec_loads(spec: PipelineSpec) -> None:
    assert spec.name == "credit_default"
    assert spec.task == "binary_classification"
    assert spec.target == "default"
    assert spec.source.bucket == "ct-landing"
    assert spec.source.prefix == "landing/credit_default/"
    assert spec.source.format == "parquet"
    assert spec.source.marker == "_SUCCESS"
    assert spec.metric == MetricPolicy(
        name="roc_auc", direction="maximize", floor=0.70, min_improvement=0.0, threshold=0.5,
        bootstrap_samples=1000, bootstrap_confidence=0.95, bootstrap_seed=42,
        non_inferiority_margin=None, slices=(SliceSpec("region"),), slice_tolerance=0.03,
        min_slice_rows=200, leakage_ceiling=0.999)
    assert spec.training.time_column is None  # random seeded holdout
    assert spec.training.seed == 42
    assert spec.training.device == "auto"
    assert spec.training.params["max_depth"] == 5
    assert spec.trigger.poke_interval_s == 2
    assert spec.path == str(EXAMPLE)


def test_example_columns(spec: PipelineSpec) -> None:
    assert spec.feature_names[0] == "income"
    assert len(spec.feature_names) == 8
    assert spec.columns == [*spec.feature_names, "default"]
    region = next(f for f in spec.features if f.name == "region")
    assert region.dtype == "category"
    assert region.categories == ("north", "south", "east", "west")


def test_dag_id_and_registered_model_name(spec: PipelineSpec) -> None:
    assert spec.dag_id == "ct_credit_default"
    assert spec.registered_model_name == "ct_credit_default"


def test_prefix_is_normalised_to_one_trailing_slash(tmp_path: Path, raw: dict) -> None:
    raw["source"]["prefix"] = "/landing/x//"
    assert load_spec(write(tmp_path, raw)).source.prefix == "landing/x/"


def test_defaults_for_optional_sections(tmp_path: Path, raw: dict) -> None:
    for key in ("training", "trigger", "owner", "description"):
        raw.pop(key)
    del raw["source"]["format"], raw["source"]["marker"], raw["metric"]["direction"]
    del raw["metric"]["min_improvement"]
    for key in ("threshold", "bootstrap", "slices", "slice_tolerance", "min_slice_rows",
                "leakage_ceiling"):
        raw["metric"].pop(key, None)
    loaded = load_spec(write(tmp_path, raw))
    assert loaded.source.format == "parquet"
    assert loaded.source.marker == "_SUCCESS"
    assert loaded.metric.direction == "maximize"  # implied by roc_auc
    assert loaded.metric.min_improvement == 0.0
    assert loaded.metric == MetricPolicy("roc_auc", "maximize", floor=0.70)
    assert (loaded.metric.threshold, loaded.metric.bootstrap_samples) == (0.5, 1000)
    assert (loaded.metric.bootstrap_confidence, loaded.metric.bootstrap_seed) == (0.95, 0)
    assert loaded.metric.non_inferiority_margin is None
    assert loaded.metric.slices == ()
    assert (loaded.metric.slice_tolerance, loaded.metric.min_slice_rows) == (0.02, 100)
    assert loaded.metric.leakage_ceiling == 0.999
    assert loaded.training.time_column is None
    assert loaded.training.device == "auto"
    assert loaded.owner == "data-engineering"


def test_regression_spec_gets_minimize_direction(tmp_path: Path, raw: dict) -> None:
    raw["target"]["task"] = "regression"
    raw["metric"] = {"name": "rmse", "floor": 5.0}
    del raw["contract"]["target"]  # rows per class: classification only
    loaded = load_spec(write(tmp_path, raw))
    assert loaded.task == "regression"
    assert loaded.metric.direction == "minimize"


# --- MetricPolicy ------------------------------------------------------------------------------


def test_better_when_maximizing() -> None:
    policy = MetricPolicy("roc_auc", "maximize", floor=0.7, min_improvement=0.01)
    assert policy.better(0.85, 0.80)
    assert not policy.better(0.805, 0.80)  # gain below min_improvement
    assert not policy.better(0.80, 0.80)
    assert not policy.better(0.75, 0.80)


def test_better_when_minimizing() -> None:
    policy = MetricPolicy("rmse", "minimize", floor=10.0, min_improvement=0.5)
    assert policy.better(8.0, 9.0)
    assert not policy.better(8.8, 9.0)  # gain 0.2 < 0.5
    assert not policy.better(9.0, 9.0)
    assert not policy.better(10.0, 9.0)


def test_equal_scores_are_never_better_even_with_zero_min_improvement() -> None:
    assert not MetricPolicy("roc_auc", "maximize", floor=0.0).better(0.8, 0.8)
    assert not MetricPolicy("rmse", "minimize", floor=1.0).better(0.8, 0.8)


def test_clears_floor_both_directions() -> None:
    up = MetricPolicy("roc_auc", "maximize", floor=0.7)
    assert up.clears_floor(0.7)
    assert up.clears_floor(0.9)
    assert not up.clears_floor(0.69)
    down = MetricPolicy("rmse", "minimize", floor=3.0)
    assert down.clears_floor(3.0)
    assert down.clears_floor(1.0)
    assert not down.clears_floor(3.1)


def test_nan_never_clears_the_floor() -> None:
    assert not MetricPolicy("roc_auc", "maximize", floor=0.7).clears_floor(float("nan"))
    assert not MetricPolicy("rmse", "minimize", floor=3.0).clears_floor(float("nan"))


# --- bad specs ---------------------------------------------------------------------------------


def _remove_target(r: dict) -> None:
    del r["target"]


def _remove_target_column(r: dict) -> None:
    del r["target"]["column"]


def _unknown_task(r: dict) -> None:
    r["target"]["task"] = "multiclass"


def _unknown_dtype(r: dict) -> None:
    r["features"][0]["dtype"] = "decimal"


def _category_without_categories(r: dict) -> None:
    r["features"][-1].pop("categories")


def _no_features(r: dict) -> None:
    r["features"] = []


def _target_is_feature(r: dict) -> None:
    r["features"].append({"name": "default", "dtype": "int"})


def _metric_unknown(r: dict) -> None:
    r["metric"]["name"] = "gini"


def _metric_wrong_task(r: dict) -> None:
    r["metric"]["name"] = "rmse"


def _metric_wrong_direction(r: dict) -> None:
    r["metric"]["direction"] = "minimize"


def _metric_bad_floor(r: dict) -> None:
    r["metric"]["floor"] = "high"


def _metric_missing_floor(r: dict) -> None:
    del r["metric"]["floor"]


def _bad_format(r: dict) -> None:
    r["source"]["format"] = "json"


def _bad_name(r: dict) -> None:
    r["name"] = "Credit-Default"


def _bad_holdout(r: dict) -> None:
    r["training"]["holdout_share"] = 0.9


def _bad_device(r: dict) -> None:
    r["training"]["device"] = "tpu"


def _unknown_training_key(r: dict) -> None:
    r["training"]["epochs"] = 3


def _missing_bucket(r: dict) -> None:
    del r["source"]["bucket"]


@pytest.mark.parametrize(("mutate", "needle"), [
    (_remove_target, "target"),
    (_remove_target_column, "column"),
    (_unknown_task, "multiclass"),
    (_unknown_dtype, "decimal"),
    (_category_without_categories, "categories"),
    (_no_features, "at least one feature"),
    (_target_is_feature, "also listed as a feature"),
    (_metric_unknown, "gini"),
    (_metric_wrong_task, "does not fit task"),
    (_metric_wrong_direction, "always maximized"),
    (_metric_bad_floor, "high"),
    (_metric_missing_floor, "floor"),
    (_bad_format, "source.format"),
    (_bad_name, "Credit-Default"),
    (_bad_holdout, "holdout_share"),
    (_bad_device, "training.device"),
    (_unknown_training_key, "epochs"),
    (_missing_bucket, "bucket"),
], ids=lambda v: v.__name__.strip("_") if callable(v) else "")
def test_bad_spec_raises_spec_error_naming_file_and_field(
    tmp_path: Path, raw: dict, mutate: Any, needle: str
) -> None:
    mutate(raw)
    path = write(tmp_path, raw)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert str(path) in message
    assert needle in message


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(SpecError, ValueError)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError, match="mapping at the top level"):
        load_spec(write(tmp_path, text))


def test_name_with_trailing_newline_is_rejected(tmp_path: Path, raw: dict) -> None:
    # A block scalar (`name: |`) keeps its newline; the name becomes a DAG id, so it must be exact.
    raw["name"] = "credit_default\n"
    with pytest.raises(SpecError, match="must match"):
        load_spec(write(tmp_path, raw))


# --- directories -------------------------------------------------------------------------------


def test_load_specs_reads_yaml_and_yml_sorted(tmp_path: Path, raw: dict) -> None:
    for name, suffix in [("zeta", ".yaml"), ("alpha", ".yml"), ("mid", ".yaml")]:
        raw["name"] = name
        write(tmp_path, raw, f"{name}{suffix}")
    (tmp_path / "notes.txt").write_text("name: not_a_spec\n")
    specs = load_specs(tmp_path)
    assert [s.name for s in specs] == ["alpha", "mid", "zeta"]
    assert [s.dag_id for s in specs] == ["ct_alpha", "ct_mid", "ct_zeta"]


def test_load_specs_of_repo_pipelines_includes_example() -> None:
    specs = load_specs(EXAMPLE.parent)
    assert "credit_default" in [s.name for s in specs]


def test_load_specs_rejects_duplicate_names(tmp_path: Path, raw: dict) -> None:
    write(tmp_path, raw, "a.yaml")
    write(tmp_path, raw, "b.yaml")
    with pytest.raises(SpecError, match="duplicate pipeline names.*credit_default"):
        load_specs(tmp_path)


def test_load_specs_propagates_a_bad_file(tmp_path: Path, raw: dict) -> None:
    write(tmp_path, raw, "good.yaml")
    raw["name"] = "other"
    raw["target"]["task"] = "ranking"
    bad = write(tmp_path, raw, "bad.yaml")
    with pytest.raises(SpecError, match=str(bad)):
        load_specs(tmp_path)


def test_load_specs_of_empty_directory(tmp_path: Path) -> None:
    assert load_specs(tmp_path) == []


# --- the evaluation policy and the time-based holdout --------------------------------------------


def test_evaluation_policy_fields_are_parsed(tmp_path: Path, raw: dict) -> None:
    raw["features"].append({"name": "applied_at", "dtype": "datetime"})
    raw["metric"].update({
        "name": "pr_auc", "threshold": 0.3,
        "bootstrap": {"samples": 500, "confidence": 0.9, "seed": 7},
        "non_inferiority_margin": 0.01,
        "slices": [{"column": "region"}, {"column": "income", "bins": 4}, "late_payments"],
        "slice_tolerance": 0.05, "min_slice_rows": 50, "leakage_ceiling": None})
    raw["training"]["time_column"] = "applied_at"
    loaded = load_spec(write(tmp_path, raw))
    m = loaded.metric
    assert (m.name, m.direction, m.threshold) == ("pr_auc", "maximize", 0.3)
    assert (m.bootstrap_samples, m.bootstrap_confidence, m.bootstrap_seed) == (500, 0.9, 7)
    assert m.non_inferiority_margin == 0.01
    assert m.slices == (SliceSpec("region"), SliceSpec("income", 4), SliceSpec("late_payments"))
    assert (m.slice_tolerance, m.min_slice_rows) == (0.05, 50)
    assert m.leakage_ceiling is None  # explicitly switched off
    assert loaded.training.time_column == "applied_at"


@pytest.mark.parametrize("name", ["pr_auc", "f1", "brier", "log_loss", "accuracy", "roc_auc"])
def test_binary_primary_metrics(tmp_path: Path, raw: dict, name: str) -> None:
    raw["metric"]["name"] = name
    raw["metric"].pop("direction")
    raw["metric"]["floor"] = 0.5
    expected = "minimize" if name in ("brier", "log_loss") else "maximize"
    assert load_spec(write(tmp_path, raw)).metric.direction == expected


@pytest.mark.parametrize(("metric", "training", "needle"), [
    ({"threshold": 1.0}, {}, "metric.threshold"),
    ({"threshold": 0}, {}, "metric.threshold"),
    ({"bootstrap": {"samples": 10}}, {}, "bootstrap.samples"),
    ({"bootstrap": {"confidence": 1.2}}, {}, "bootstrap.confidence"),
    ({"bootstrap": {"iterations": 100}}, {}, "metric.bootstrap"),
    ({"bootstrap": [1000]}, {}, "metric.bootstrap"),
    ({"non_inferiority_margin": -0.1}, {}, "non_inferiority_margin"),
    ({"min_improvement": -0.1}, {}, "min_improvement"),
    ({"slice_tolerance": -0.01}, {}, "slice_tolerance"),
    ({"min_slice_rows": 0}, {}, "min_slice_rows"),
    ({"slices": [{"column": "zip_code"}]}, {}, "zip_code"),
    ({"slices": [{"column": "income"}]}, {}, "bins"),                  # float needs bins
    ({"slices": [{"column": "region", "bins": 3}]}, {}, "numeric"),    # bins on a category
    ({"slices": [{"column": "income", "bins": 1}]}, {}, "bins"),
    ({"slices": [{"column": "income", "bins": "four"}]}, {}, "bins"),
    ({"slices": [{"column": "region"}, {"column": "region"}]}, {}, "twice"),
    ({"slices": [{"col": "region"}]}, {}, "metric.slices"),
    ({"leakage": 0.99}, {}, "leakage"),                                # unknown key
    ({}, {"time_column": "when"}, "time_column"),
    ({}, {"time_column": "region"}, "time_column"),
], ids=lambda v: str(v))
def test_bad_evaluation_policy(tmp_path: Path, raw: dict, metric: dict, training: dict,
                               needle: str) -> None:
    raw["metric"].update(metric)
    raw["training"].update(training)
    assert_spec_error(write(tmp_path, raw), needle)


def test_numeric_time_column_is_accepted(tmp_path: Path, raw: dict) -> None:
    raw["training"]["time_column"] = "tenure_months"
    assert load_spec(write(tmp_path, raw)).training.time_column == "tenure_months"


# --- training: early stopping -------------------------------------------------------------------


def test_early_stopping_defaults_apply_when_not_given(tmp_path: Path, raw: dict) -> None:
    raw["training"].pop("early_stopping_rounds", None)
    raw["training"].pop("validation_share", None)
    training = load_spec(write(tmp_path, raw)).training
    assert (training.early_stopping_rounds, training.validation_share) == (20, 0.1)


def test_early_stopping_settings_are_read(tmp_path: Path, raw: dict) -> None:
    raw["training"].update({"early_stopping_rounds": 0, "validation_share": 0.25})
    training = load_spec(write(tmp_path, raw)).training
    assert (training.early_stopping_rounds, training.validation_share) == (0, 0.25)


@pytest.mark.parametrize(("training", "needle"), [
    ({"early_stopping_rounds": -1}, "early_stopping_rounds"),
    ({"early_stopping_rounds": 2.5}, "early_stopping_rounds"),
    ({"early_stopping_rounds": True}, "early_stopping_rounds"),
    ({"early_stopping_rounds": "20"}, "early_stopping_rounds"),
    ({"validation_share": 0}, "validation_share"),
    ({"validation_share": 0.6}, "validation_share"),
    ({"validation_share": "0.1"}, "validation_share"),
], ids=lambda v: str(v))
def test_bad_early_stopping_settings(tmp_path: Path, raw: dict, training: dict,
                                     needle: str) -> None:
    raw["training"].update(training)
    assert_spec_error(write(tmp_path, raw), needle)


def test_max_train_rows_is_absent_by_default_and_read_when_given(tmp_path: Path,
                                                                raw: dict) -> None:
    raw["training"].pop("max_train_rows", None)
    assert load_spec(write(tmp_path, raw)).training.max_train_rows is None
    raw["training"]["max_train_rows"] = 5_000_000
    assert load_spec(write(tmp_path, raw)).training.max_train_rows == 5_000_000


@pytest.mark.parametrize("cap", [0, 99, 2.5, True, "1000000"], ids=repr)
def test_bad_max_train_rows(tmp_path: Path, raw: dict, cap: object) -> None:
    raw["training"]["max_train_rows"] = cap
    assert_spec_error(write(tmp_path, raw), "max_train_rows")


# --- the data contract ---------------------------------------------------------------------------


def test_example_contract(spec: PipelineSpec) -> None:
    by_name = {f.name: f for f in spec.features}
    assert by_name["income"].nullable is False and by_name["income"].null_limit == 0.0
    assert (by_name["age"].min_value, by_name["age"].max_value) == (0.0, 120.0)
    assert by_name["debt_ratio"] == Feature("debt_ratio", "float")  # every default
    assert by_name["debt_ratio"].null_limit is None
    assert spec.contract == Contract(min_rows=100, max_duplicate_share=0.01,
                                     extra_columns="drop", min_rows_per_class=10)


def test_contract_defaults_check_nothing_new(tmp_path: Path, raw: dict) -> None:
    raw.pop("contract")
    raw["features"] = [{"name": f["name"], "dtype": f["dtype"],
                        **({"categories": f["categories"]} if "categories" in f else {})}
                       for f in raw["features"]]
    loaded = load_spec(write(tmp_path, raw))
    assert loaded.contract == Contract()
    assert loaded.contract.extra_columns == "drop" and loaded.contract.freshness is None
    region = loaded.features[-1]
    assert (region.nullable, region.max_null_share, region.max_new_category_share) == (
        True, None, 0.0)
    assert all(f.min_value is None and f.max_value is None for f in loaded.features)


def test_house_prices_contract() -> None:
    loaded = load_spec(HOUSE_SPEC)
    assert loaded.contract == Contract(min_rows=50, max_duplicate_share=0.01)
    assert {f.name: f.min_value for f in loaded.features}["rooms"] == 0.0


def test_full_contract_is_parsed(tmp_path: Path, raw: dict) -> None:
    raw["features"] += [
        {"name": "applied_at", "dtype": "datetime", "min": "2020-01-01",
         "max": "2030-01-01T02:00:00+02:00", "max_null_share": 0.2},
        {"name": "opened_on", "dtype": "datetime", "min": datetime(2021, 5, 1, 12)},
    ]
    raw["features"][-3]["max_new_category_share"] = 0.05  # region
    raw["contract"] = {
        "min_rows": 10, "max_rows": 1000, "max_duplicate_share": 0,
        "freshness": {"column": "applied_at", "max_age_hours": 36},
        "extra_columns": "reject", "target": {"min_rows_per_class": 3}}
    loaded = load_spec(write(tmp_path, raw))
    by_name = {f.name: f for f in loaded.features}
    assert by_name["region"].max_new_category_share == 0.05
    applied = by_name["applied_at"]
    assert applied.min_value == datetime(2020, 1, 1, tzinfo=UTC)
    assert applied.max_value == datetime(2030, 1, 1, tzinfo=UTC)  # the offset, in UTC
    assert (applied.nullable, applied.null_limit) == (True, 0.2)
    assert by_name["opened_on"].min_value == datetime(2021, 5, 1, 12, tzinfo=UTC)  # naive: UTC
    assert loaded.contract == Contract(
        min_rows=10, max_rows=1000, max_duplicate_share=0.0,
        freshness=Freshness("applied_at", 36.0, allow_future_minutes=5.0),
        extra_columns="reject", min_rows_per_class=3)


def _with_feature(name: str, **keys: Any) -> Any:
    def mutate(r: dict) -> None:
        feature = next(f for f in r["features"] if f["name"] == name)
        feature.update(keys)
    mutate.__name__ = f"{name}_{'_'.join(keys)}"
    return mutate


def _with_contract(**keys: Any) -> Any:
    def mutate(r: dict) -> None:
        r["contract"] = {**(r.get("contract") or {}), **keys}
    mutate.__name__ = f"contract_{'_'.join(keys)}"
    return mutate


def _with_time_feature(r: dict) -> None:
    r["features"].append({"name": "applied_at", "dtype": "datetime"})


@pytest.mark.parametrize(("mutate", "needle"), [
    (_with_feature("income", nullable="no"),
     "features[0].nullable (feature 'income'): must be true or false, not 'no'"),
    (_with_feature("income", max_null_share=0.1), "not both"),         # income has nullable
    (_with_feature("debt_ratio", max_null_share=1.5),
     "max_null_share (feature 'debt_ratio'): must be a number within [0, 1], not 1.5"),
    (_with_feature("debt_ratio", max_null_share="10%"), "max_null_share"),
    (_with_feature("debt_ratio", min=5, max=1), "greater than max"),
    (_with_feature("debt_ratio", min="low"), "min (feature 'debt_ratio'): must be a number"),
    (_with_feature("debt_ratio", max=True), "max (feature 'debt_ratio'): must be a number"),
    (_with_feature("region", min=0), "ranges apply to float, int and datetime"),
    (_with_feature("region", max_new_category_share=2), "max_new_category_share"),
    (_with_feature("debt_ratio", max_new_category_share=0.1), "category features only"),
    (_with_feature("debt_ratio", nullabel=False),
     "nullabel (feature 'debt_ratio'): unknown key; allowed: name, dtype, categories"),
    (_with_contract(min_rows=0), "contract.min_rows: must be an integer >= 1, not 0"),
    (_with_contract(min_rows=10.5), "contract.min_rows"),
    (_with_contract(max_rows=50), "greater than contract.max_rows"),   # min_rows is 100
    (_with_contract(max_duplicate_share=-0.1), "contract.max_duplicate_share"),
    (_with_contract(extra_columns="keep"),
     "contract.extra_columns: 'keep' is not one of: reject, drop"),
    (_with_contract(target={"min_rows": 5}),
     "contract.target.min_rows: unknown key; allowed: min_rows_per_class"),
    (_with_contract(target={"min_rows_per_class": 0}), "min_rows_per_class"),
    (_with_contract(max_null_share=0.1),
     "contract.max_null_share: unknown key; allowed: min_rows, max_rows"),
    (_with_contract(freshness={"column": "income", "max_age_hours": 1}), "datetime feature"),
    (_with_contract(freshness={"column": "applied_at", "max_age_hours": 1}), "applied_at"),
    (_with_contract(freshness={"column": "age"}), "contract.freshness.max_age_hours: required"),
], ids=lambda v: v.__name__ if callable(v) else "")
def test_bad_contract_raises_spec_error(tmp_path: Path, raw: dict, mutate: Any,
                                        needle: str) -> None:
    mutate(raw)
    assert_spec_error(write(tmp_path, raw), needle)


@pytest.mark.parametrize(("freshness", "needle"), [
    ({"max_age_hours": 0}, "max_age_hours: must be a number > 0, not 0"),
    ({"max_age_hours": "1d"}, "max_age_hours"),
    ({"max_age_hours": 1, "allow_future_minutes": -1},
     "allow_future_minutes: must be a number >= 0, not -1"),
    ({"max_age_hours": 1, "grace": 1}, "contract.freshness.grace: unknown key"),
], ids=str)
def test_bad_freshness(tmp_path: Path, raw: dict, freshness: dict, needle: str) -> None:
    _with_time_feature(raw)
    raw["contract"]["freshness"] = {"column": "applied_at", **freshness}
    with pytest.raises(SpecError, match=needle):
        load_spec(write(tmp_path, raw))


@pytest.mark.parametrize(("bound", "needle"), [
    ("yesterday", "ISO 8601"),
    (20240101, "ISO 8601"),
], ids=str)
def test_bad_datetime_bound(tmp_path: Path, raw: dict, bound: object, needle: str) -> None:
    raw["features"].append({"name": "applied_at", "dtype": "datetime", "min": bound})
    with pytest.raises(SpecError, match=needle):
        load_spec(write(tmp_path, raw))


def test_min_rows_per_class_needs_classification(tmp_path: Path, raw: dict) -> None:
    raw["target"]["task"] = "regression"
    raw["metric"] = {"name": "rmse", "floor": 5.0}
    with pytest.raises(SpecError, match="needs a classification task"):
        load_spec(write(tmp_path, raw))
    raw["contract"]["target"] = {}
    assert load_spec(write(tmp_path, raw)).contract.min_rows_per_class is None


# --- multiclass --------------------------------------------------------------------------------


def _multiclass(raw: dict, classes: Any = ("low", "mid", "high"), metric: str = "log_loss") -> dict:
    raw["target"].update(task="multiclass_classification", classes=list(classes))
    raw["metric"] = {"name": metric, "floor": 1.0 if metric == "log_loss" else 0.4}
    return raw


def test_multiclass_spec_keeps_the_class_order(tmp_path: Path, raw: dict) -> None:
    spec = load_spec(write(tmp_path, _multiclass(raw, ["mid", 3, "low"])))

    assert spec.task == "multiclass_classification"
    assert spec.classes == ("mid", "3", "low")  # text, in the given order: indices 0, 1, 2
    assert spec.contract.min_rows_per_class == 10  # allowed for multiclass too
    assert (spec.metric.name, spec.metric.direction) == ("log_loss", "minimize")


def test_multiclass_fixture_spec_loads() -> None:
    spec = load_spec(Path(__file__).parent.parent / "fixtures" / "product_tier.yaml")
    assert spec.classes == ("bronze", "silver", "gold")
    assert spec.metric.direction == "minimize" and spec.metric.leakage_ceiling == 0.999


@pytest.mark.parametrize(("metric", "direction"), [
    ("log_loss", "minimize"), ("macro_f1", "maximize"), ("accuracy", "maximize")])
def test_multiclass_primary_metrics(tmp_path: Path, raw: dict, metric: str,
                                    direction: str) -> None:
    spec = load_spec(write(tmp_path, _multiclass(raw, metric=metric)))
    assert spec.metric.direction == direction


@pytest.mark.parametrize(("mutate", "needle"), [
    (lambda r: r["target"].pop("classes"),
     "target.classes: required for multiclass_classification"),
    (lambda r: r["target"].update(classes=["only"]), "at least two classes"),
    (lambda r: r["target"].update(classes=["a", "b", "a"]), "lists ['a'] more than once"),
    (lambda r: r["target"].update(classes=[1, "1", 2]), "lists ['1'] more than once"),
    (lambda r: r["target"].update(classes=[True, False, "maybe"]), "strings or integers"),
    (lambda r: r["target"].update(classes=[0.5, 1.5, 2.5]), "strings or integers"),
    (lambda r: r["target"].update(classes="a,b,c"),
     "target.classes: must be a list of labels, not 'a,b,c'"),
    (lambda r: r.update(metric={"name": "roc_auc", "floor": 0.6}), "does not fit task"),
    (lambda r: r.update(metric={"name": "f1", "floor": 0.6}), "does not fit task"),
    (lambda r: r["target"].update(clases=["a", "b"]),
     "target.clases: unknown key; allowed: column, task, classes"),
], ids=["no-classes", "one-class", "repeated-label", "int-and-str-alike", "bools", "floats",
        "comma-string", "roc_auc-metric", "f1-metric", "misspelt-key"])
def test_bad_multiclass_spec(tmp_path: Path, raw: dict, mutate: Any, needle: str) -> None:
    mutate(_multiclass(raw))
    assert_spec_error(write(tmp_path, raw), needle)


def test_classes_are_for_multiclass_only(tmp_path: Path, raw: dict) -> None:
    raw["target"]["classes"] = [0, 1]
    assert_spec_error(write(tmp_path, raw), "applies to multiclass_classification only")
    raw["metric"] = {"name": "macro_f1", "floor": 0.5}
    del raw["target"]["classes"]
    assert_spec_error(write(tmp_path, raw), "does not fit task")


def test_two_classes_are_allowed_with_a_hint(tmp_path: Path, raw: dict,
                                             caplog: pytest.LogCaptureFixture) -> None:
    spec = load_spec(write(tmp_path, _multiclass(raw, ["no", "yes"])))
    assert spec.classes == ("no", "yes")
    assert "binary_classification" in caplog.text and "preferred" in caplog.text


# --- promotion: auto | manual, or the section ---------------------------------------------------


def test_promotion_is_auto_by_default(spec: PipelineSpec) -> None:
    assert spec.promotion == "auto"
    assert spec.approval_timeout_h == 72.0


def test_manual_promotion_with_a_timeout(tmp_path: Path, raw: dict) -> None:
    raw.update(promotion="manual", approval_timeout_h=1.5)
    spec = load_spec(write(tmp_path, raw))
    assert (spec.promotion, spec.approval_timeout_h) == ("manual", 1.5)
    del raw["approval_timeout_h"]
    assert load_spec(write(tmp_path, raw)).approval_timeout_h == 72.0


def test_the_promotion_section_asks_for_live_rows_and_a_rollback(tmp_path: Path,
                                                                 raw: dict) -> None:
    raw.update(promotion={"mode": "auto", "require_live_rows": 500, "auto_rollback": True},
               scoring={"id_column": "loan_id", "shadow": True}, labels={})
    spec = load_spec(write(tmp_path, raw))
    assert (spec.promotion, spec.require_live_rows, spec.auto_rollback) == ("auto", 500, True)
    raw.update(promotion={"mode": "manual"})
    assert (load_spec(write(tmp_path, raw)).promotion,
            load_spec(write(tmp_path, raw)).require_live_rows) == ("manual", 0)


@pytest.mark.parametrize(("fields", "needle"), [
    ({"promotion": "human"}, "promotion.mode: 'human' is not one of: auto, manual"),
    ({"promotion": True}, "promotion: must be a mapping of: mode, require_live_rows, "
                          "auto_rollback; not True"),
    ({"promotion": {"require_live_rows": 500}},
     "promotion.require_live_rows: needs scoring.shadow: true and a `labels:` section"),
    ({"promotion": {"mode": "manual", "require_live_rows": 5}},
     "promotion.require_live_rows: applies to promotion mode auto only"),
    ({"promotion": {"auto_rollback": True}},
     "promotion.auto_rollback: needs a `labels:` section"),
    ({"promotion": "manual", "approval_timeout_h": 0},
     "approval_timeout_h: must be a number > 0, not 0"),
    ({"promotion": "manual", "approval_timeout_h": "3d"},
     "approval_timeout_h: must be a number > 0, not '3d'"),
    ({"approval_timeout_h": 24}, "approval_timeout_h: applies to promotion: manual only"),
], ids=str)
def test_bad_promotion_raises_spec_error(tmp_path: Path, raw: dict, fields: dict,
                                         needle: str) -> None:
    raw.update(fields)
    assert_spec_error(write(tmp_path, raw), needle)


# --- training: engine (local | dask) -------------------------------------------------------------


def test_training_engine_defaults_to_local_with_a_default_dask_block(tmp_path: Path,
                                                                     raw: dict) -> None:
    training = load_spec(write(tmp_path, raw)).training
    assert training.engine == "local"
    assert training.dask == DaskConfig(scheduler_address=None, n_workers=2, threads_per_worker=1)


def test_dask_engine_without_a_dask_block_starts_a_default_local_cluster(tmp_path: Path,
                                                                         raw: dict) -> None:
    raw["training"]["engine"] = "dask"
    training = load_spec(write(tmp_path, raw)).training
    assert (training.engine, training.dask) == ("dask", DaskConfig())


def test_dask_block_is_read(tmp_path: Path, raw: dict) -> None:
    raw["training"].update(engine="dask", device="cuda", dask={
        "scheduler_address": "tcp://10.0.0.5:8786", "n_workers": 4, "threads_per_worker": 8})
    training = load_spec(write(tmp_path, raw)).training
    assert training.engine == "dask"
    assert training.device == "cuda"  # xgboost.dask trains on GPU workers too
    assert training.dask == DaskConfig(scheduler_address="tcp://10.0.0.5:8786", n_workers=4,
                                       threads_per_worker=8)


def test_partial_dask_block_keeps_the_other_defaults(tmp_path: Path, raw: dict) -> None:
    raw["training"].update(engine="dask", dask={"n_workers": 3})
    assert load_spec(write(tmp_path, raw)).training.dask == DaskConfig(n_workers=3)


@pytest.mark.parametrize(("training", "needle"), [
    ({"engine": "spark"}, "training.engine: 'spark' is not one of: local, dask"),
    ({"engine": None}, "training.engine: None is not one of: local, dask"),
    ({"engine": "dask", "dask": {"workers": 2}},
     "training.dask.workers: unknown key; allowed: scheduler_address, n_workers, "
     "threads_per_worker"),
    ({"engine": "dask", "dask": "tcp://10.0.0.5:8786"},
     "training.dask: must be a mapping of: scheduler_address, n_workers, threads_per_worker"),
    ({"engine": "dask", "dask": {"n_workers": 0}},
     "training.dask.n_workers: must be an integer >= 1, not 0"),
    ({"engine": "dask", "dask": {"n_workers": 1.5}}, "training.dask.n_workers"),
    ({"engine": "dask", "dask": {"n_workers": "2"}}, "training.dask.n_workers"),
    ({"engine": "dask", "dask": {"n_workers": True}}, "training.dask.n_workers"),
    ({"engine": "dask", "dask": {"threads_per_worker": -1}},
     "training.dask.threads_per_worker: must be an integer >= 1, not -1"),
    ({"engine": "dask", "dask": {"threads_per_worker": 2.0}}, "training.dask.threads_per_worker"),
    ({"engine": "dask", "dask": {"scheduler_address": 8786}},
     "training.dask.scheduler_address: must be a scheduler address"),
    ({"engine": "dask", "dask": {"scheduler_address": ""}}, "training.dask.scheduler_address"),
    ({"engine": "local", "dask": {"n_wrokers": 2}}, "n_wrokers"),  # typos fail even when unused
], ids=str)
def test_bad_training_engine_settings(tmp_path: Path, raw: dict, training: dict,
                                      needle: str) -> None:
    raw["training"].update(training)
    assert_spec_error(write(tmp_path, raw), needle)


# --- how errors read ------------------------------------------------------------------------


def test_an_error_names_the_key_path_and_the_allowed_values(tmp_path: Path, raw: dict) -> None:
    raw["trigger"]["mode"] = "pollling"
    assert_spec_error(write(tmp_path, raw), "trigger.mode: 'pollling' is not one of: polling, "
                                            "events")


def test_an_unknown_key_is_named_with_the_allowed_keys(tmp_path: Path, raw: dict) -> None:
    raw["training"]["epochs"] = 3
    assert_spec_error(write(tmp_path, raw), "training.epochs: unknown key; allowed: seed, "
                                            "holdout_share, num_boost_round, device, params")


def test_a_range_error_says_the_range_and_the_value(tmp_path: Path, raw: dict) -> None:
    raw["training"]["holdout_share"] = 0.9
    assert_spec_error(write(tmp_path, raw), "training.holdout_share: must be a number within "
                                            "[0.05, 0.5], not 0.9")


def test_every_problem_is_listed_at_once(tmp_path: Path, raw: dict) -> None:
    raw["training"]["holdout_share"] = 0.9
    raw["features"][1]["min"] = "low"
    raw["metric"]["bootstrap"]["samples"] = 10
    path = write(tmp_path, raw)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    lines = str(info.value).splitlines()
    assert lines[0] == f"{path}: 3 problems:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "features[1].min (feature 'age')", "metric.bootstrap.samples", "training.holdout_share"]


# --- refusals at load time: specs that could not work on data -----------------------------------


def test_a_feature_listed_twice_is_refused(tmp_path: Path, raw: dict) -> None:
    raw["features"].append({"name": "age", "dtype": "float"})
    assert_spec_error(write(tmp_path, raw), "features[8].name (feature 'age'): 'age' is listed "
                                            "twice (first as features[1])")


@pytest.mark.parametrize(("categories", "needle"), [
    (["north", "south", "north"], "lists ['north'] more than once"),
    # categories are text at data time: 1 and "1" would be one label listed twice
    ([1, "1", 2], "lists ['1'] more than once (labels are compared as text: 1 and '1' are one "
                  "label)"),
], ids=["repeated", "same-as-text"])
def test_a_category_listed_twice_is_refused(tmp_path: Path, raw: dict, categories: list,
                                            needle: str) -> None:
    raw["features"][-1]["categories"] = categories
    assert_spec_error(write(tmp_path, raw),
                      f"features[7].categories (feature 'region'): {needle}")


def test_numeric_categories_become_text(tmp_path: Path, raw: dict) -> None:
    raw["features"][-1]["categories"] = [1, 2, "3"]
    region = load_spec(write(tmp_path, raw)).features[-1]
    assert region.categories == ("1", "2", "3")


def test_unquoted_yaml_booleans_in_categories_are_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    assert "categories: [north, south, east, west]" in text
    bad = write(tmp_path, text.replace("categories: [north, south, east, west]",
                                       "categories: [yes, no, maybe]"))
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    message = str(info.value)
    assert "2 problems" in message
    assert ("features[7].categories[0] (feature 'region'): True: labels are strings or numbers, "
            "and YAML read this one as a boolean (an unquoted yes, no, true, false, on or off): "
            "quote it") in message
    assert "features[7].categories[1] (feature 'region'): False:" in message

    quoted = write(tmp_path, text.replace("categories: [north, south, east, west]",
                                          "categories: ['yes', 'no', maybe]"), "quoted.yaml")
    assert load_spec(quoted).features[-1].categories == ("yes", "no", "maybe")


def test_unquoted_yaml_booleans_in_classes_are_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parent.parent / "fixtures" / "product_tier.yaml").read_text()
    assert "classes: [bronze, silver, gold]" in text
    bad = write(tmp_path, text.replace("classes: [bronze, silver, gold]",
                                       "classes: [on, off, auto]"))
    assert_spec_error(bad, "target.classes[0]: True: labels are strings or integers, and YAML "
                           "read this one as a boolean")
    quoted = write(tmp_path, text.replace("classes: [bronze, silver, gold]",
                                          "classes: ['on', 'off', auto]"), "quoted.yaml")
    assert load_spec(quoted).classes == ("on", "off", "auto")


def test_categories_on_a_feature_that_is_not_a_category_are_refused(tmp_path: Path,
                                                                    raw: dict) -> None:
    raw["features"][2]["categories"] = ["a", "b"]  # debt_ratio, a float
    assert_spec_error(write(tmp_path, raw), "features[2].categories (feature 'debt_ratio'): "
                                            "apply to category features only, not float")


def test_a_psi_limit_on_a_datetime_feature_is_refused(tmp_path: Path, raw: dict) -> None:
    raw["features"].append({"name": "applied_at", "dtype": "datetime"})
    raw["trigger"]["drift"]["feature_psi"] = {"applied_at": 0.2}
    assert_spec_error(write(tmp_path, raw), "trigger.drift.feature_psi.applied_at: 'applied_at' "
                                            "is a datetime feature")


def test_example_pipelines_load_only_when_opted_in(tmp_path: Path) -> None:
    """`pipelines/examples/` gets DAGs with CT_EXAMPLES=1 only (the demos show their own)."""
    plain = Settings.from_env({"CT_HOME": str(tmp_path)})
    opted = Settings.from_env({"CT_HOME": str(tmp_path), "CT_EXAMPLES": "1"})
    assert [s.name for s in load_specs(*plain.spec_dirs)] == ["credit_default", "credit_loop"]
    assert [s.name for s in load_specs(*opted.spec_dirs)] == ["credit_default", "credit_loop",
                                                               "house_prices"]


def test_load_specs_refuses_a_name_twice_across_folders(tmp_path: Path, raw: dict) -> None:
    write(tmp_path, raw, "one.yaml")
    (tmp_path / "examples").mkdir()
    write(tmp_path / "examples", raw, "again.yaml")
    with pytest.raises(SpecError, match="duplicate pipeline names"):
        load_specs(tmp_path, tmp_path / "examples")
