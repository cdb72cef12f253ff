"""Column roles (`features[].role`): an id, the data's own time and ignored columns are checked
and kept but are no model inputs and never drift-measured; an id is unique in each batch."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_dev.datagen import generate_batch
from mlops_lib.monitoring import drift
from mlops_lib.reports.builders import build_reports
from mlops_lib.scoring.contract import serving_contract
from mlops_lib.spec import Feature, PipelineSpec, SpecError, load_spec
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.reasons import ReasonCode
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

ROLES = [{"name": "loan_id", "dtype": "int", "role": "id"},
         {"name": "applied_at", "dtype": "datetime", "role": "event_time"},
         {"name": "branch", "dtype": "string", "role": "ignore"}]


def _raw(*extra: dict[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = copy.deepcopy(yaml.safe_load(EXAMPLE_SPEC.read_text()))
    raw["features"] += [dict(f) for f in extra]
    return raw


def _load(tmp_path: Path, raw: dict[str, Any]) -> PipelineSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_spec(path)


@pytest.fixture(scope="module")
def roles(spec: PipelineSpec) -> PipelineSpec:
    extra = (Feature("loan_id", "int", role="id"),
             Feature("applied_at", "datetime", role="event_time"),
             Feature("branch", "string", role="ignore"))
    return replace(spec, features=(*spec.features, *extra))


def _batch(spec: PipelineSpec, rows: int, seed: int, first_id: int = 0,
           shift: float = 0.0) -> pd.DataFrame:
    """A batch of `spec` whose role columns look like a process that goes on: ids from
    `first_id`, times `shift` days later, a branch code of its own."""
    frame = generate_batch(spec, rows, seed=seed)
    stamps = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(rows) + shift * 86400,
                                                          unit="s")
    return frame.assign(loan_id=np.arange(first_id, first_id + rows), applied_at=stamps,
                        branch=[f"b{seed}-{i % 7}" for i in range(rows)])


# --- the spec ----------------------------------------------------------------------------------


def test_roles_load_and_leave_the_model_inputs_and_drift(tmp_path: Path) -> None:
    loaded = _load(tmp_path, _raw(*ROLES))
    assert [f.role for f in loaded.features[-3:]] == ["id", "event_time", "ignore"]
    assert all(f.role == "feature" for f in loaded.features[:-3])  # the default
    assert not {"loan_id", "applied_at", "branch"} & set(loaded.model_inputs)
    assert not {"loan_id", "applied_at", "branch"} & set(loaded.drift_features)
    assert set(loaded.model_inputs) <= set(loaded.drift_features)
    assert (loaded.id_column, loaded.event_time_column) == ("loan_id", "applied_at")
    assert {"loan_id", "applied_at", "branch"} <= set(loaded.feature_names)  # still checked


def test_a_spec_without_roles_has_neither_column(spec: PipelineSpec) -> None:
    assert (spec.id_column, spec.event_time_column) == (None, None)
    assert spec.model_inputs == [f.name for f in spec.features if f.dtype != "datetime"]


@pytest.mark.parametrize(("extra", "needle"), [
    ([ROLES[1], {"name": "decided_at", "dtype": "datetime", "role": "event_time"}],
     "features[9].role (feature 'decided_at'): event_time is already features[8] "
     "('applied_at'): at most one event_time column"),
    ([{"name": "loan_id", "dtype": "float", "role": "id"}],
     "features[8].role (feature 'loan_id'): id needs a column of dtype int or string, not float"),
    ([{"name": "applied_at", "dtype": "category", "categories": ["a"], "role": "event_time"}],
     "event_time needs a column of dtype datetime or int or float, not category"),
    ([{"name": "loan_id", "dtype": "int", "role": "key"}], "'key' is not one of: feature, id"),
])
def test_a_role_that_cannot_work_is_refused(tmp_path: Path, extra: list[dict[str, Any]],
                                            needle: str) -> None:
    with pytest.raises(SpecError) as info:
        _load(tmp_path, _raw(*extra))
    assert needle in str(info.value), str(info.value)


def test_a_drift_limit_on_an_id_is_refused(tmp_path: Path) -> None:
    raw = _raw(ROLES[0])
    raw.setdefault("trigger", {}).setdefault("drift", {})["feature_psi"] = {"loan_id": 0.2}
    with pytest.raises(SpecError, match="'loan_id' has role id, and its drift is not measured"):
        _load(tmp_path, raw)


def test_the_id_feature_is_the_default_scoring_and_label_id(tmp_path: Path) -> None:
    raw = _raw(ROLES[0])
    raw["scoring"], raw["labels"] = {}, {}
    loaded = _load(tmp_path, raw)
    assert (loaded.scoring_id_column, loaded.label_id_column) == ("loan_id", "loan_id")
    raw["scoring"] = {"id_column": "request_id"}  # a column of the scoring batches wins
    assert _load(tmp_path, raw).label_id_column == "request_id"
    raw["scoring"], raw["labels"] = {}, {"id_column": "other"}
    with pytest.raises(SpecError, match="'other' is not scoring.id_column .* 'loan_id'"):
        _load(tmp_path, raw)


def test_the_serving_contract_takes_model_inputs_only(roles: PipelineSpec) -> None:
    inputs = [c.name for c in serving_contract(roles).inputs]
    assert inputs == roles.model_inputs and "loan_id" not in inputs


# --- validation --------------------------------------------------------------------------------


def test_unique_ids_pass_and_a_repeated_one_is_named(roles: PipelineSpec) -> None:
    good = _batch(roles, 300, seed=1, first_id=5000)
    assert validate_batch(good, roles, batch_id="b").passed

    bad = good.copy()
    bad.loc[[10, 20], "loan_id"] = 5003
    report = validate_batch(bad, roles, batch_id="b")
    assert {c.reason_code for c in report.failures} == {ReasonCode.DUPLICATE_IDS}
    assert report.summary() == ("[DUPLICATE_IDS] loan_id: 2 rows repeat an id of an earlier "
                                "row (1 distinct ids, e.g. 5003)")


def test_an_id_has_no_nulls_unless_its_null_share_allows(roles: PipelineSpec) -> None:
    batch = _batch(roles, 300, seed=1).astype({"loan_id": "float"})
    batch.loc[[3, 4], "loan_id"] = np.nan  # two nulls are no repeated id
    report = validate_batch(batch, roles, batch_id="b")
    assert {c.reason_code for c in report.failures} == {ReasonCode.NULLS_ABOVE_LIMIT}
    tolerant = replace(roles, features=tuple(
        replace(f, max_null_share=0.01) if f.role == "id" else f for f in roles.features))
    assert validate_batch(batch, tolerant, batch_id="b").passed


def test_a_scoring_batch_checks_its_ids_too(roles: PipelineSpec) -> None:
    batch = _batch(roles, 300, seed=1).drop(columns=[roles.target])
    assert validate_batch(batch, roles, batch_id="s", labelled=False).passed
    batch.loc[5, "loan_id"] = 0
    report = validate_batch(batch, roles, batch_id="s", labelled=False)
    assert report.reason_code == ReasonCode.DUPLICATE_IDS


# --- drift -------------------------------------------------------------------------------------


def test_role_columns_are_never_drift_measured(roles: PipelineSpec) -> None:
    reference = _batch(roles, 2000, seed=1)
    # the next batch of the same process: new ids, later times, other branch codes
    current = _batch(roles, 2000, seed=2, first_id=10**6, shift=30)
    result = drift.compute(reference, current, roles)
    assert [f.feature for f in result.features] == roles.drift_features
    assert set(result.skipped) == {"loan_id: role id is not compared",
                                   "applied_at: role event_time is not compared",
                                   "branch: role ignore is not compared"}
    assert result.n_drifted == 0, result.drifted_features


def test_drift_reports_leave_role_columns_out(tmp_path: Path, roles: PipelineSpec) -> None:
    reference, current = _batch(roles, 300, seed=1), _batch(roles, 300, seed=2, first_id=10**6)
    bundle = build_reports(current, reference, roles, tmp_path)
    assert bundle.drift is not None and bundle.drift.n_columns == len(roles.drift_features)
    assert {"data_drift: role id column 'loan_id' not compared",
            "data_drift: role event_time column 'applied_at' not compared",
            "data_drift: role ignore column 'branch' not compared"} <= set(bundle.skipped)
