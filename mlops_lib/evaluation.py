"""The champion/challenger gate: a pure function from scores and a policy to a decision."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlops_lib.spec import MetricPolicy


@dataclass(frozen=True)
class Decision:
    """The gate's verdict ("blessing"): what to do, why, and every number it looked at."""

    decision: Literal["promote", "keep"]
    reason: str
    metric: str
    candidate_value: float
    baseline_value: float | None
    candidate_metrics: dict[str, float] = field(default_factory=dict)
    baseline_metrics: dict[str, float] | None = None

    @property
    def promote(self) -> bool:
        return self.decision == "promote"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(policy: MetricPolicy, candidate: dict[str, float],
           baseline: dict[str, float] | None, *, baseline_error: str | None = None) -> Decision:
    """Promote only on evidence; anything unclear keeps the incumbent.

    `baseline` is None when there is no champion yet (the first model must clear the floor);
    `baseline_error` says the champion exists but could not be scored, which fails closed.
    """
    value = candidate.get(policy.name, math.nan)

    def verdict(decision: Literal["promote", "keep"], reason: str) -> Decision:
        base_value = None if baseline is None else baseline.get(policy.name)
        return Decision(decision=decision, reason=reason, metric=policy.name,
                        candidate_value=value, baseline_value=base_value,
                        candidate_metrics=dict(candidate),
                        baseline_metrics=None if baseline is None else dict(baseline))

    if not math.isfinite(value):
        return verdict("keep", f"candidate {policy.name} is not a finite number")
    if baseline_error is not None:
        return verdict("keep", f"champion could not be evaluated ({baseline_error}); "
                               "keeping it rather than promoting blind")
    if not policy.clears_floor(value):
        return verdict("keep", f"candidate {policy.name}={value:.4f} does not clear the floor "
                               f"{policy.floor}")
    if baseline is None:
        return verdict("promote", f"first model: {policy.name}={value:.4f} clears the floor "
                                  f"{policy.floor}")
    base = baseline.get(policy.name, math.nan)
    if not math.isfinite(base):
        return verdict("promote", f"champion {policy.name} is undefined on this holdout; "
                                  f"candidate {value:.4f} clears the floor")
    if policy.better(value, base):
        return verdict("promote", f"challenger {policy.name}={value:.4f} beats champion "
                                  f"{base:.4f} by more than {policy.min_improvement}")
    return verdict("keep", f"challenger {policy.name}={value:.4f} does not beat champion "
                           f"{base:.4f} by more than {policy.min_improvement}")
