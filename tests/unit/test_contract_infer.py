from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlops_dev.datagen import generate_batch, to_file_bytes
from mlops_lib.cli import main
from mlops_lib.spec import PipelineSpec, load_spec
from mlops_lib.validation.checks import validate_batch
from mlops_lib.validation.reading import read_batch

pytestmark = pytest.mark.unit


def _infer(spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str],
           fmt: str = "parquet", seed: int = 4,
           options: tuple[str, ...] = ()) -> tuple[Path, PipelineSpec]:
    path = tmp_path / f"reference.{fmt}"
    path.write_bytes(to_file_bytes(generate_batch(spec, 3000, seed=seed), fmt))
    assert main(["contract", "infer", str(path), "--name", "inferred", "--target",
                 spec.target, *options]) == 0
    spec_file = tmp_path / "inferred.yaml"
    spec_file.write_text(capsys.readouterr().out)
    return path, load_spec(spec_file)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_inferred_spec_loads_and_accepts_its_reference_batch(
        spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    # datagen's floats are normal: a later batch may reach below 0 where this one did not
    path, inferred = _infer(spec, tmp_path, capsys, fmt, options=("--allow-negative",))
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


# --- a process that goes on: ids and times grow, money is never negative -----------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_contract_inferred_from_the_first_batch_accepts_the_next_ten(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    from mlops_dev.datagen_orders import TARGET, order_batches
    from mlops_lib.monitoring import drift

    first, *later = order_batches(11, 2000, seed=7)
    path = tmp_path / f"orders.{fmt}"
    path.write_bytes(to_file_bytes(first, fmt))
    assert main(["contract", "infer", str(path), "--name", "orders", "--target", TARGET]) == 0
    spec_file = tmp_path / "orders.yaml"
    spec_file.write_text(capsys.readouterr().out)
    inferred = load_spec(spec_file)

    assert (inferred.id_column, inferred.event_time_column) == ("order_id", "created_at")
    assert {"order_id", "created_at"}.isdisjoint(inferred.model_inputs)
    reference = read_batch([(path.name, path.read_bytes())], fmt)
    for i, frame in enumerate(later, start=1):
        batch = read_batch([(f"part-{i}.{fmt}", to_file_bytes(frame, fmt))], fmt)
        report = validate_batch(batch, inferred, batch_id=f"b{i}")
        assert report.passed, (i, report.summary())
        assert batch["order_id"].min() > reference["order_id"].max()  # ids did grow
        measured = drift.compute(reference, batch, inferred)
        assert {f.feature for f in measured.features}.isdisjoint({"order_id", "created_at"})


def _draft(frame: Any, **options: Any) -> Any:
    from mlops_lib.spec.infer import infer_draft

    return infer_draft(frame.assign(y=[0, 1] * (len(frame) // 2)), name="probe", target="y",
                       **options)


def _fields(frame: Any, **options: Any) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in _draft(frame, **options).spec["features"]}


def test_ids_are_unique_and_ordered_or_named_as_keys() -> None:
    import uuid

    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame({
        "seq": np.arange(10, 10 + n),                          # increasing
        "customer_id": rng.permutation(n) + 7000,              # shuffled, named as a key
        "token": [str(uuid.UUID(int=int(v))) for v in rng.integers(0, 2**62, n)],  # UUIDs
        "amount_cents": rng.permutation(n) * 13 + 5,           # unique by chance, no more
        "store_id": rng.integers(0, 20, n),                    # named as a key, not unique
    })
    fields = _fields(frame)
    assert {name: f.get("role") for name, f in fields.items()} == {
        "seq": "id", "customer_id": "id", "token": "id", "amount_cents": None, "store_id": None}
    assert fields["token"]["dtype"] == "string" and fields["seq"]["dtype"] == "int"
    assert not {"min", "max"} & (set(fields["seq"]) | set(fields["customer_id"]))
    assert "min" in fields["amount_cents"]


def test_timestamps_become_datetimes_without_a_bound_time_would_pass() -> None:
    import pandas as pd

    n = 200
    created = pd.date_range("2026-03-01", periods=n, freq="min", tz="UTC")
    frame = pd.DataFrame({
        "signup": pd.Series(created[::-1]).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),  # ISO text
        "created_at": created,
        "note": ["2026 was a good year"] * n,  # text that merely starts with a number
    })
    fields = _fields(frame)
    assert fields["created_at"]["dtype"] == fields["signup"]["dtype"] == "datetime"
    assert fields["created_at"]["role"] == "event_time"  # named as a time and increasing
    assert "role" not in fields["signup"]  # at most one event_time
    assert fields["note"]["dtype"] == "category"
    assert not {"min", "max"} & (set(fields["created_at"]) | set(fields["signup"]))


def test_ranges_never_cross_zero_unless_asked_and_counts_stay_whole() -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 1000
    frame = pd.DataFrame({"price": np.round(rng.gamma(2.0, 10.0, n), 2),
                          "items": 1 + rng.poisson(2.0, n),
                          "balance": rng.normal(0, 50, n)})
    fields = _fields(frame)
    price, items, balance = fields["price"], fields["items"], fields["balance"]
    assert price["min"] == 0 and price["max"] > frame["price"].max()
    assert items["min"] == 0 and isinstance(items["max"], int) and items["dtype"] == "int"
    assert balance["min"] < frame["balance"].min() < 0  # negatives seen: no bound at 0
    q_lo, q_hi = frame["price"].quantile([0.001, 0.999])
    assert price["max"] == pytest.approx(q_hi + (q_hi - q_lo), abs=1e-6)  # margin 1: the span
    loose = _fields(frame, allow_negative=True)["price"]
    assert loose["min"] < 0


def test_each_inferred_rule_says_why_and_the_text_loads(tmp_path: Path) -> None:
    import yaml

    from mlops_dev.datagen_orders import order_batches

    first = order_batches(1, 500, seed=2)[0].drop(columns=["refunded"])
    draft = _draft(first)
    text = draft.render()
    assert yaml.safe_load(text) == draft.spec  # the comments change nothing
    lines = text.splitlines()
    assert "    role: id  # 500 distinct values in 500 rows, increasing, named as a key " \
           "('order_id')" in lines
    assert "    min: 0  # no negative value observed (0 is a natural bound)" in lines
    assert any(line.startswith("    role: event_time  # the data's own time: timestamps from")
               for line in lines)
    assert any(line.startswith("    max: ") and "99.9 % quantile" in line for line in lines)
    assert any("categories: [app, phone, store, web]  # the 4 labels observed" in line
               for line in lines)
    path = tmp_path / "probe.yaml"
    path.write_text(text)
    loaded = load_spec(path)
    assert loaded.id_column == "order_id" and len(loaded.features) == len(first.columns)
