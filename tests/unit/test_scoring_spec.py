"""The `scoring:` spec section: defaults, completion rules as landing's, and the checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_lib.spec import SpecError, load_spec, load_specs
from tests.conftest import EXAMPLE_SPEC

pytestmark = pytest.mark.unit


def _load(tmp_path: Path, scoring: Any) -> Any:
    raw = yaml.safe_load(Path(EXAMPLE_SPEC).read_text())
    raw.pop("scoring", None)
    if scoring is not None:
        raw["scoring"] = scoring
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True))
    return load_spec(path)


def test_without_a_section_batches_are_scored_from_scoring_name(tmp_path: Path) -> None:
    spec = _load(tmp_path, None)
    assert spec.scoring_prefix == f"scoring/{spec.name}/"
    assert spec.scoring_bucket == spec.source.bucket
    assert spec.scoring.shadow is False and spec.scoring.id_column is None


def test_the_section_takes_landing_s_completion_rules(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"prefix": "/unlabelled/x", "completion": "manifest",
                            "bucket": "other", "shadow": True, "id_column": "loan_id"})
    assert spec.scoring_prefix == "unlabelled/x/" and spec.scoring_bucket == "other"
    assert spec.scoring.completion_rule.mode == "manifest"
    assert spec.scoring.completion_rule.marker == "_manifest.json"
    assert spec.scoring.shadow and spec.scoring.id_column == "loan_id"


@pytest.mark.parametrize(("scoring", "message"), [
    ({"prefix": "landing/"}, "overlaps the landing prefix"),
    ({"id_column": "default"}, "the target cannot be the id column"),
    ({"shadow": "yes"}, "scoring.shadow"),
])
def test_a_bad_section_is_refused_with_its_key(tmp_path: Path, scoring: Any,
                                               message: str) -> None:
    with pytest.raises(SpecError, match=message):
        _load(tmp_path, scoring)


# The checks source.prefix, source.bucket and source.marker get (tests/unit/test_spec_mistakes.py)
@pytest.mark.parametrize(("scoring", "message"), [
    ({"prefix": "/"}, "scoring.prefix: must name a folder such as scoring/<pipeline>/"),
    ({"prefix": "scoring/../landing/"}, "is not a safe key prefix: '..' path segment"),
    ({"prefix": "scoring//credit/"}, "is not a safe key prefix: empty path segment"),
    ({"prefix": "scoring/\u202ecredit/"}, "is not a safe key prefix: format character"),
    ({"bucket": "s3://ct-landing/scoring"},
     "scoring.bucket: 's3://ct-landing/scoring' must be a bucket's name"),
    ({"bucket": "CT-Landing"}, "must be a bucket's name"),
    ({"marker": "SUCCESS"}, "scoring.marker: 'SUCCESS' must be a file name starting with _"),
    ({"marker": "_SUCCESS\u200b"}, "is not a safe file name: format character"),
], ids=["root", "dotdot", "empty-segment", "bidi-control", "bucket-uri", "bucket-uppercase",
        "marker-not-hidden", "marker-zero-width-space"])
def test_an_unsafe_scoring_place_is_refused_as_landing_s_is(tmp_path: Path, scoring: Any,
                                                            message: str) -> None:
    with pytest.raises(SpecError) as info:
        _load(tmp_path, scoring)
    assert message in str(info.value), str(info.value)


def test_a_safe_scoring_place_loads(tmp_path: Path) -> None:
    spec = _load(tmp_path, {"prefix": "scoring/credit.v2/in-2026", "bucket": "ct-scoring",
                            "marker": ".done"})
    assert spec.scoring_prefix == "scoring/credit.v2/in-2026/"
    assert (spec.scoring_bucket, spec.scoring.marker) == ("ct-scoring", ".done")


def test_only_a_spec_with_the_section_gets_a_scoring_dag(tmp_path: Path) -> None:
    assert _load(tmp_path, None).scoring_dag is False
    empty = _load(tmp_path, {})  # `scoring:` left empty: the defaults, and the DAG
    assert empty.scoring_dag is True and empty.score_dag_id == f"ct_{empty.name}_score"
    assert _load(tmp_path, {"shadow": True}).scoring_dag is True


def _write(directory: Path, name: str, **sections: Any) -> None:
    raw = yaml.safe_load(Path(EXAMPLE_SPEC).read_text())
    raw.update(name=name, source={**raw["source"], "prefix": f"landing/{name}/"}, **sections)
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(raw))


def test_copies_of_a_spec_score_from_folders_of_their_own(tmp_path: Path) -> None:
    _write(tmp_path, "one")
    _write(tmp_path, "two")
    assert {s.scoring_prefix for s in load_specs(tmp_path)} == {"scoring/one/", "scoring/two/"}


@pytest.mark.parametrize(("second", "message"), [
    ({"scoring": {"prefix": "scoring/one/"}}, "one's scoring prefix .* overlaps two's scoring"),
    ({"scoring": {"prefix": "landing/one/unlabelled/"}},
     "two's scoring prefix .* overlaps one's landing"),
])
def test_two_pipelines_cannot_watch_one_folder(tmp_path: Path, second: dict[str, Any],
                                               message: str) -> None:
    _write(tmp_path, "one")
    _write(tmp_path, "two", **second)
    with pytest.raises(SpecError, match=message):
        load_specs(tmp_path)
