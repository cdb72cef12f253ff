"""How a decision of the gate becomes a champion: `promotion:` as a mode (`auto`, `manual`) or as
a section that also asks for evidence on live rows and for an automatic rollback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, TypeAdapter, WithJsonSchema
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG

PromotionMode = Literal["auto", "manual"]


@dataclass(frozen=True, config=SPEC_CONFIG)
class PromotionSection:
    """The YAML `promotion:` section (or just its mode: `promotion: manual`)."""

    mode: PromotionMode = "auto"
    """auto: the gate's decision is applied | manual: a person approves each promotion in
    Airflow."""
    require_live_rows: Annotated[int, Field(ge=0, strict=True)] = 0
    """A challenger the gate would promote on its holdout waits (decision `pending_live`)
    until this many labelled rows were scored by both it (in shadow) and the champion, and is
    judged again on them by the same gate; 0: the holdout decides. Needs scoring.shadow and a
    `labels:` section."""
    auto_rollback: bool = False
    """When the champion's realized performance crosses trigger.performance, move the champion
    back to the previous one (audited), besides announcing the retrain."""


def _mode_or_section(value: Any) -> Any:
    """`promotion: manual` is the section `{mode: manual}`; nothing is the default section."""
    return {"mode": value} if isinstance(value, str) else {} if value is None else value


# In the JSON Schema (editors), the mode alone or the section.
Promotion = Annotated[PromotionSection, BeforeValidator(_mode_or_section), WithJsonSchema({
    "anyOf": [{"type": "string", "enum": ["auto", "manual"]},
              TypeAdapter(PromotionSection).json_schema()]})]
