from __future__ import annotations

from pathlib import Path

import pytest

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.cli import main
from mlops_lib.spec import PipelineSpec, load_spec
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.reading import read_batch

pytestmark = pytest.mark.unit


def _infer(spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           fmt: str = "parquet", seed: int = 4) -> tuple[Path, PipelineSpec]:
    path = tmp_path / f"reference.{fmt}"
    path.write_bytes(to_file_bytes(generate_batch(spec, 3000, seed=seed), fmt))
    assert main(["contract", "infer", str(path), "--name", "inferred", "--target",
                 spec.target]) == 0
    spec_file = tmp_path / "inferred.yaml"
    spec_file.write_text(capsys.readouterr().out)
    return path, load_spec(spec_file)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_inferred_spec_loads_and_accepts_its_reference_batch(
        spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    path, inferred = _infer(spec, tmp_path, capsys, fmt)
    reference = read_batch([(path.name, path.read_bytes())], fmt)

    assert inferred.task == "binary_classification" and inferred.target == spec.target
    by_name = {f.name: f for f in inferred.features}
    assert set(by_name) == set(spec.feature_names)
    assert by_name["region"].dtype == "category"
    assert set(by_name["region"].categories) == {"north", "south", "east", "west"}
    assert by_name["age"].dtype == "int" and not by_name["age"].nullable
    assert by_name["income"].min_value is not None
    assert by_name["income"].min_value <= reference["income"].min()  # type: ignore[operator]
    assert validate_batch(reference, inferred, batch_id="ref").passed
    assert validate_batch(generate_batch(spec, 3000, seed=5), inferred, batch_id="next").passed


def test_ranges_reject_what_the_reference_never_saw(spec: PipelineSpec, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _, inferred = _infer(spec, tmp_path, capsys)
    bad = generate_batch(spec, 2000, seed=6)
    bad.loc[0, "age"] = 10_000
    report = validate_batch(bad, inferred, batch_id="bad")
    assert not report.passed and str(report.reason_code) == "OUT_OF_RANGE"


def test_unknown_target_is_a_clear_error(spec: PipelineSpec, tmp_path: Path) -> None:
    path = tmp_path / "reference.parquet"
    path.write_bytes(to_file_bytes(generate_batch(spec, 100, seed=1), "parquet"))
    with pytest.raises(ValueError, match="target column 'nope'"):
        main(["contract", "infer", str(path), "--name", "x", "--target", "nope"])


def test_a_text_target_with_a_few_labels_is_inferred_as_multiclass(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiers = load_spec(Path(__file__).resolve().parents[1] / "fixtures" / "product_tier.yaml")
    path, inferred = _infer(tiers, tmp_path, capsys)
    reference = read_batch([(path.name, path.read_bytes())], "parquet")

    assert inferred.task == "multiclass_classification"
    assert inferred.classes == ("bronze", "gold", "silver")  # sorted: edit to taste
    assert (inferred.metric.name, inferred.metric.direction) == ("log_loss", "minimize")
    assert inferred.contract.min_rows_per_class is not None
    assert validate_batch(reference, inferred, batch_id="ref").passed


def test_labels_that_are_equal_as_text_are_inferred_once(tmp_path: Path) -> None:
    import pandas as pd
    import yaml

    from mlops_lib.spec.infer import infer_spec

    frame = pd.DataFrame({"code": pd.Series([1, "1", "2", "yes"] * 30, dtype=object),
                          "y": [0, 1] * 60})
    spec_file = tmp_path / "mixed.yaml"
    spec_file.write_text(yaml.safe_dump(infer_spec(frame, name="mixed", target="y")))
    inferred = load_spec(spec_file)
    code = inferred.features[0]
    assert code.dtype == "category" and code.categories == ("1", "2", "yes")  # "yes" quoted
    # 116 of 120 rows repeat an earlier one: twice that share is capped at 1, a valid share
    assert inferred.contract.max_duplicate_share == 1.0
