"""Spec-level mistakes: a spec that cannot work is refused when it is loaded, with an error that
names the file, the key and the problem, instead of every batch being refused later.

The spec side of the bad-input catalogue (tests/catalogue/bad_inputs.py): a SpecError carries
no reason code, so these are counted apart from the catalogue's cases (docs/contract.md).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_lib.spec import SpecError, load_spec
from tests.support import EXAMPLE_SPEC, HOUSE_SPEC

pytestmark = pytest.mark.unit

Raw = dict[str, Any]


def _credit() -> Raw:
    return copy.deepcopy(yaml.safe_load(EXAMPLE_SPEC.read_text()))


def _house() -> Raw:
    return copy.deepcopy(yaml.safe_load(HOUSE_SPEC.read_text()))


def _feature(raw: Raw, name: str) -> dict[str, Any]:
    return next(f for f in raw["features"] if f["name"] == name)


def _set(path: str, value: Any, base: Callable[[], Raw] = _credit) -> Callable[[], Raw]:
    """The example spec with the key at `path` (`source.prefix`, `features.age.min`) set."""
    def make() -> Raw:
        raw = base()
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = _feature(raw, part) if node is raw["features"] else node[part]
        node[last] = value
        return raw
    return make


def _twice_listed_feature() -> Raw:
    raw = _credit()
    raw["features"].append(dict(_feature(raw, "age")))
    return raw


def _target_as_feature() -> Raw:
    raw = _credit()
    raw["features"].append({"name": "default", "dtype": "int"})
    return raw


# (id, the broken spec, what the error must say)
MISTAKES: list[tuple[str, Callable[[], Raw], str]] = [
    ("duplicate-categories", _set("features.region.categories", ["north", "south", "north"]),
     "features[7].categories (feature 'region'): lists ['north'] more than once"),
    ("categories-colliding-as-text", _set("features.region.categories", [1, "1"]),
     "labels are compared as text: 1 and '1' are one label"),
    ("yaml-boolean-category", _set("features.region.categories", ["north", True]),
     "YAML read this one as a boolean"),
    ("feature-listed-twice", _twice_listed_feature,
     "features[8].name (feature 'age'): 'age' is listed twice (first as features[1])"),
    ("target-also-a-feature", _target_as_feature,
     "the target 'default' is also listed as a feature"),
    ("min-above-max", _set("features.age.min", 130), "min 130.0 is greater than max 120.0"),
    ("unknown-dtype", _set("features.age.dtype", "integer"), "'integer' is not one of: float"),
    ("range-on-a-category", _set("features.region.min", 0),
     "ranges apply to float, int and datetime features, not category"),
    ("unknown-metric", _set("metric.name", "gini"), "metric.name: 'gini' is not one of"),
    ("metric-of-another-task", _set("metric.name", "rmse"),
     "'rmse' does not fit task 'binary_classification'"),
    ("prefix-is-the-bucket-root", _set("source.prefix", "/"),
     "source.prefix: must name a folder"),
    ("prefix-with-dotdot", _set("source.prefix", "landing/../other/"),
     "is not a safe key prefix: '..' path segment"),
    ("prefix-with-empty-segment", _set("source.prefix", "landing//credit/"),
     "is not a safe key prefix: empty path segment"),
    ("prefix-with-bidi-control", _set("source.prefix", "landing/\u202ecredit/"),
     "is not a safe key prefix: format character"),
    ("bucket-as-a-uri", _set("source.bucket", "s3://ct-landing/landing"),
     "source.bucket: 's3://ct-landing/landing' must be a bucket's name"),
    ("marker-not-hidden", _set("source.marker", "SUCCESS"),
     "must be a file name starting with _"),
    ("marker-with-zero-width-space", _set("source.marker", "_SUCCESS\u200b"),
     "is not a safe file name: format character"),
    ("unknown-format", _set("source.format", "csv.gz"), "source.format: 'csv.gz' is not one of"),
    ("min-rows-above-max-rows", _set("source.max_rows", 50),
     "contract.min_rows: 100 is greater than source.max_rows 50"),
    ("contract-rows-inverted", _set("contract.max_rows", 10),
     "contract.min_rows: 100 is greater than contract.max_rows 10"),
    ("freshness-on-a-non-datetime", _set("contract.freshness",
                                         {"column": "income", "max_age_hours": 24}),
     "'income' must be a datetime feature"),
    ("null-token-is-a-category", _set("source.csv", {"null_values": ["", "rural"]}, _house),
     "['rural'] are also source.csv.null_values"),
    ("unknown-key", _set("source.max_row", 10), "source.max_row: unknown key"),
]


@pytest.mark.parametrize(("make", "needle"), [(m, n) for _, m, n in MISTAKES],
                         ids=[i for i, _, _ in MISTAKES])
def test_a_spec_that_cannot_work_is_refused_naming_the_problem(
        tmp_path: Path, make: Callable[[], Raw], needle: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(make(), allow_unicode=True))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and needle in str(info.value), str(info.value)


@pytest.mark.parametrize("make", [_credit, _house, _set("source.prefix", "landing/x"),
                                  _set("source.csv", {"null_values": ["", "NA"]}, _house)],
                         ids=["credit", "house", "prefix-without-slash", "na-null-token"])
def test_the_corrected_specs_load(tmp_path: Path, make: Callable[[], Raw]) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(make()))
    assert load_spec(path).source.prefix.endswith("/")
