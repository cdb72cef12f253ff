"""The JSON Schema of a pipeline spec (for editors) and the `mlops spec` commands."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlops_lib.cli import main
from mlops_lib.spec import json_schema
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

SHIPPED = sorted([*EXAMPLE_SPEC.parent.glob("*.yaml"),
                  *EXAMPLE_SPEC.parent.glob("examples/*.yaml")])
MULTICLASS = Path(__file__).parent.parent / "fixtures" / "product_tier.yaml"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json_schema())


def test_the_schema_is_valid_json_schema() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert json.loads(json.dumps(schema)) == schema  # plain JSON, as `mlops spec schema` writes


def test_json_schema_returns_a_fresh_copy() -> None:
    json_schema()["properties"].clear()
    assert "features" in json_schema()["properties"]


@pytest.mark.parametrize("path", [*SHIPPED, MULTICLASS], ids=lambda p: p.name)
def test_shipped_specs_validate_against_the_schema(
        validator: jsonschema.Draft202012Validator, path: Path) -> None:
    assert len(SHIPPED) >= 2
    validator.validate(yaml.safe_load(path.read_text()))


def _break(raw: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(raw)
    broken[section][key] = value
    return broken


@pytest.mark.parametrize(("section", "key", "value", "where"), [
    ("training", "epochs", 3, ["training"]),                  # unknown key
    ("trigger", "mode", "pollling", ["trigger", "mode"]),     # not one of the choices
    ("trigger", "max_batches_per_run", 0, ["trigger", "max_batches_per_run"]),
    ("metric", "threshold", 1.5, ["metric", "threshold"]),
    ("source", "format", "json", ["source", "format"]),
], ids=lambda v: str(v))
def test_a_bad_spec_does_not_validate(validator: jsonschema.Draft202012Validator, section: str,
                                      key: str, value: Any, where: list[str]) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    errors = list(validator.iter_errors(_break(raw, section, key, value)))
    assert errors
    assert [list(e.absolute_path) for e in errors] == [where]


def test_a_feature_with_an_unknown_dtype_does_not_validate(
        validator: jsonschema.Draft202012Validator) -> None:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["features"][0]["dtype"] = "decimal"
    assert [list(e.absolute_path) for e in validator.iter_errors(raw)] == [
        ["features", 0, "dtype"]]


def test_schema_describes_keys_for_editors() -> None:
    schema = json_schema()
    feature = schema["$defs"]["Feature"]["properties"]
    assert {"min", "max"} <= set(feature) and "min_value" not in feature  # the YAML's names
    assert "description" in feature["nullable"]
    assert schema["properties"]["name"]["pattern"] == "^[a-z][a-z0-9_]{1,62}$"


# --- the CLI ---------------------------------------------------------------------------------


def test_spec_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spec", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_spec_schema_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pipeline.schema.json"
    assert main(["spec", "schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json_schema()
    assert capsys.readouterr().out == ""


def test_spec_check_reports_each_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw["trigger"]["mode"] = "pollling"
    bad.write_text(yaml.safe_dump(raw))

    assert main(["spec", "check", *map(str, SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE_SPEC}: ok (credit_default, 8 features)" in out

    assert main(["spec", "check", str(EXAMPLE_SPEC), str(bad)]) == 1
    captured = capsys.readouterr()
    assert f"{EXAMPLE_SPEC}: ok" in captured.out
    assert (f"error: {bad}: trigger.mode: 'pollling' is not one of: polling, events"
            in captured.err)
