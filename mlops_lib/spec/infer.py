"""A first pipeline spec (features, target, contract) inferred from a reference batch.

`mlops contract infer <file> --name <pipeline> --target <column>` prints YAML to edit, not to
trust, with a comment beside each inferred rule saying what it rests on: likely ids get role id
and no range, timestamps dtype datetime (the likeliest one role event_time) and no range,
numbers the range of their 0.1 % and 99.9 % quantiles widened by `margin` of that span and cut
at 0 when nothing negative was seen (`infer_columns`), null limits twice the observed share,
categories the observed labels. Then `load_spec` checks the edited file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_lib.spec import commented_yaml
from mlops_lib.spec.infer_columns import (
    MAX_CATEGORIES,
    Drafted,
    draft_feature,
    labels,
    round_up,
)
from mlops_lib.spec.source import CsvOptions

# The span itself on each side: a reference batch samples its tails poorly (in trials of later
# batches of the same gamma-distributed amounts, half the span let one batch in five fail), and a
# bound is there to catch a value of another magnitude (cents for euros, a -999 sentinel).
DEFAULT_MARGIN = 1.0


@dataclass(frozen=True)
class Draft:
    """An inferred spec document and the note beside each inferred rule."""

    spec: dict[str, Any]
    notes: commented_yaml.Notes

    def render(self) -> str:
        header = ("# Inferred by `mlops contract infer` from one reference batch: review every "
                  "rule\n# before use; each comment says what the rule rests on.\n")
        return header + commented_yaml.dump(self.spec, self.notes)


def infer_spec(df: pd.DataFrame, **kwargs: Any) -> dict[str, Any]:
    """The spec document `infer_draft` drafts, without its notes."""
    return infer_draft(df, **kwargs).spec


def infer_draft(df: pd.DataFrame, *, name: str, target: str, bucket: str = "ct-landing",
                fmt: str = "parquet", margin: float = DEFAULT_MARGIN,
                allow_negative: bool = False) -> Draft:
    if target not in df.columns:
        raise ValueError(f"target column {target!r} is not in the batch; columns: "
                         f"{sorted(map(str, df.columns))}")
    y = df[target].dropna()
    binary = y.nunique() == 2
    # Labels that are not numbers, more than two and few enough to be classes: multiclass (a
    # numeric target with a few values stays regression; edit the task if it is a class id).
    multiclass = (not binary and not pd.api.types.is_numeric_dtype(y)
                  and 2 < y.nunique() <= MAX_CATEGORIES)
    if not binary and not multiclass and not pd.api.types.is_numeric_dtype(y):
        raise ValueError(f"target {target!r} has {y.nunique()} labels and is not numeric: only "
                         f"binary and multiclass (at most {MAX_CATEGORIES} classes) "
                         "classification and regression are supported")
    drafts = [draft_feature(str(c), df[c], margin=margin, allow_negative=allow_negative)
              for c in df.columns if c != target]
    _choose_event_time(drafts)
    duplicates = float(df.duplicated().mean()) if len(df) else 0.0
    contract: dict[str, Any] = {
        "min_rows": max(1, min(100, len(df) // 10)),
        "max_duplicate_share": min(1.0, round(max(0.01, 2 * duplicates), 4)),  # a share
        "extra_columns": "drop",
    }
    if binary or multiclass:
        contract["target"] = {"min_rows_per_class": max(1, min(10, int(y.value_counts().min())))}
    metric = ({"name": "roc_auc", "direction": "maximize", "floor": 0.6} if binary else
              # the log loss of predicting 1/k for every class: any model must beat a guess
              {"name": "log_loss", "direction": "minimize",
               "floor": round_up(math.log(y.nunique()))} if multiclass else
              {"name": "rmse", "direction": "minimize", "floor": round_up(float(y.std()) * 2)})
    target_section: dict[str, Any] = {
        "column": target, "task": "binary_classification" if binary else
        "multiclass_classification" if multiclass else "regression"}
    if multiclass:
        target_section["classes"] = labels(y)
    spec = {
        "name": name,
        "description": f"Inferred from a reference batch of {len(df)} rows; edit before use.",
        "source": {"bucket": bucket, "prefix": f"landing/{name}/", "format": fmt},
        "target": target_section,
        "features": [d.fields for d in drafts],
        "contract": contract,
        "metric": metric,
    }
    notes: dict[commented_yaml.Path, str] = {
        ("features", i, key): note for i, d in enumerate(drafts) for key, note in d.notes.items()}
    return Draft(spec, notes)


def infer_file(path: Path, **kwargs: Any) -> str:
    fmt = "csv" if path.suffix.lower() == ".csv" else "parquet"
    # CSV cells read as the validate step reads them: only the default null cells are nulls.
    df = (pd.read_csv(path, keep_default_na=False, na_values=list(CsvOptions().null_values))
          if fmt == "csv" else pd.read_parquet(path))
    return infer_draft(df, fmt=fmt, **kwargs).render()


def _choose_event_time(drafts: list[Drafted]) -> None:
    """The likeliest timestamp is the data's own time (the first of equals); other timestamps
    stay features, which are neither model inputs nor drift-measured as datetimes."""
    stamps = [d for d in drafts if d.time_score]
    if not stamps:
        return
    chosen = max(stamps, key=lambda d: d.time_score)
    for d in stamps:
        if d is chosen:
            d.set_role("event_time", f"the data's own time: {d.time_note}")
        else:
            d.notes["dtype"] += f" ({d.time_note})"
