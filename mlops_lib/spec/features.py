"""A feature column of the data contract: its dtype and the per-column rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Flag, Share, labels, problem

Dtype = Literal["float", "int", "bool", "category", "string", "datetime"]
Role = Literal["feature", "id", "event_time", "ignore"]
Bound = float | datetime  # a range bound: a number, or an aware UTC datetime for datetime features

RANGE_DTYPES = ("float", "int", "datetime")
# What each role's column may hold: a key is a number or text, the data's time a timestamp or
# a number (epoch seconds, a sequence), which training windows can order.
_ROLE_DTYPES: dict[str, tuple[str, ...]] = {"id": ("int", "string"),
                                            "event_time": ("datetime", "int", "float")}


@dataclass(frozen=True, config=SPEC_CONFIG)
class Feature:
    name: str
    """The column's name in the batch files."""
    dtype: Dtype
    """float | int | bool | category | string (free text) | datetime."""
    categories: tuple[str, ...] = ()
    """category features: the known labels (text; quote yes/no/true, which YAML reads as
    booleans)."""
    nullable: Flag = True
    """false: no nulls at all (max_null_share 0)."""
    max_null_share: Share | None = None
    """Share of null rows tolerated; absent: any."""
    min_value: Bound | None = Field(default=None, validation_alias="min")
    """Inclusive lower bound of a float, int (number) or datetime (ISO 8601) feature."""
    max_value: Bound | None = Field(default=None, validation_alias="max")
    """Inclusive upper bound of a float, int (number) or datetime (ISO 8601) feature."""
    max_new_category_share: Share = 0.0
    """category features: share of rows with labels outside `categories`."""
    role: Role = "feature"
    """feature: a model input whose drift is measured | id: a unique key of the row (int or
    string; each value once per batch, no nulls unless `max_null_share` allows some; never a
    model input, never drift-measured) | event_time: the data's own time (datetime or number;
    at most one per spec; not a model input, not drift-measured) | ignore: validated and
    kept, not a model input, not drift-measured."""

    @property
    def null_limit(self) -> float | None:
        """The largest share of null rows this feature tolerates; None when unlimited. An id
        tolerates none unless `max_null_share` says so: a row without its key cannot be joined
        back to anything."""
        if not self.nullable or (self.role == "id" and self.max_null_share is None):
            return 0.0
        return self.max_null_share

    @field_validator("categories", mode="before")
    @classmethod
    def _categories_are_text(cls, value: Any) -> tuple[str, ...]:
        return labels(value, numbers=(int, float), kinds="strings or numbers")

    @field_validator("min_value", "max_value", mode="before")
    @classmethod
    def _bound(cls, value: Any, info: ValidationInfo) -> Bound | None:
        dtype = info.data.get("dtype")
        if value is None or dtype is None:  # a bad dtype is reported on its own
            return None
        return parse_bound(value, dtype)

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.dtype == "category" and not self.categories:
            raise problem("categories", "a category feature needs `categories`, the list of "
                                        "its known labels")
        if self.categories and self.dtype != "category":
            raise problem("categories", f"apply to category features only, not {self.dtype} "
                                        "(no check would use them)")
        if not self.nullable and self.max_null_share is not None:
            raise problem("max_null_share", "give `nullable` or `max_null_share`, not both")
        if self.max_new_category_share and self.dtype != "category":
            raise problem("max_new_category_share", "applies to category features only")
        allowed = _ROLE_DTYPES.get(self.role)
        if allowed is not None and self.dtype not in allowed:
            raise problem("role", f"{self.role} needs a column of dtype "
                                  f"{' or '.join(allowed)}, not {self.dtype}")
        if _inverted(self.min_value, self.max_value):
            raise problem("min", f"min {self.min_value} is greater than max {self.max_value}")
        return self


def _inverted(low: Bound | None, high: Bound | None) -> bool:
    if isinstance(low, datetime) and isinstance(high, datetime):
        return low > high
    return isinstance(low, float) and isinstance(high, float) and low > high


def parse_bound(value: Any, dtype: str) -> Bound:
    """A range bound: a number for float/int features, an ISO 8601 timestamp for datetimes."""
    if dtype in ("float", "int"):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise problem((), f"must be a number for a {dtype} feature, not {value!r}")
        return float(value)
    if dtype != "datetime":
        raise problem((), f"ranges apply to float, int and datetime features, not {dtype}")
    if isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise problem((), f"must be an ISO 8601 timestamp, not {value!r}") from None
    if not isinstance(value, datetime):
        raise problem((), f"must be an ISO 8601 timestamp, not {value!r}")
    # Naive timestamps mean UTC, as they do in the data (conform() keeps UTC).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
