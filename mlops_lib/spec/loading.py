"""Reading `pipelines/*.yaml`: YAML -> `PipelineDocument` (pydantic) -> `PipelineSpec`, and the
JSON Schema of the YAML for editors (`mlops spec schema`)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from mlops_lib.spec.base import SpecError
from mlops_lib.spec.document import PipelineDocument
from mlops_lib.spec.messages import describe
from mlops_lib.spec.pipeline import PipelineSpec

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def load_spec(path: str | Path) -> PipelineSpec:
    """Read and check one spec file; a SpecError names the file and every bad key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        document = _adapter().validate_python(raw)
    except ValidationError as exc:
        lines = describe(exc, _document_schema(), raw)
        if len(lines) == 1:
            raise SpecError(f"{path}: {lines[0]}") from exc
        listed = "".join(f"\n  {line}" for line in lines)
        raise SpecError(f"{path}: {len(lines)} problems:{listed}") from exc
    return document.to_spec(str(path))


def load_specs(*directories: str | Path) -> list[PipelineSpec]:
    """Every `*.yaml`/`*.yml` spec in the directories (each sorted by name); names must be
    unique across them all."""
    specs = [load_spec(p) for d in directories for p in sorted(Path(d).glob("*.y*ml"))]
    where = ", ".join(str(d) for d in directories)
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SpecError(f"{where}: duplicate pipeline names {sorted(duplicates)}")
    if clash := _shared_scoring_prefix(specs):
        raise SpecError(f"{where}: {clash}")
    return specs


def _shared_scoring_prefix(specs: list[PipelineSpec]) -> str | None:
    """Two scoring DAGs watching overlapping folders would each score the other's batches
    with the wrong model, and a scoring folder inside another pipeline's landing prefix would
    be taken for training batches."""
    watched = [(s.name, "scoring", s.scoring_bucket, s.scoring_prefix)
               for s in specs if s.scoring_dag]
    landing = [(s.name, "landing", s.source.bucket, s.source.prefix) for s in specs]
    for i, (name, _, bucket, prefix) in enumerate(watched):
        for other, other_kind, other_bucket, other_prefix in [*watched[i + 1:], *landing]:
            if other != name and bucket == other_bucket and (
                    prefix.startswith(other_prefix) or other_prefix.startswith(prefix)):
                return (f"{name}'s scoring prefix s3://{bucket}/{prefix} overlaps {other}'s "
                        f"{other_kind} prefix s3://{other_bucket}/{other_prefix}: give each "
                        "pipeline a scoring.prefix of its own")
    return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a pipeline spec file, for editors' completion and
    checks. Cross-section rules (a slice column must be a feature, ...) are not in it: `mlops
    spec check` applies those."""
    return {"$schema": SCHEMA_DIALECT, **copy.deepcopy(_document_schema()),
            "title": "Pipeline spec"}


@cache
def _adapter() -> TypeAdapter[PipelineDocument]:
    return TypeAdapter(PipelineDocument)


@cache
def _document_schema() -> dict[str, Any]:
    return _adapter().json_schema()
