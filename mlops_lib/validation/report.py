"""The validation report: every check's outcome, collected rather than stopped at the first.

One quarantine report tells the producer everything that is wrong with a batch. Light (no
pandas): the listing checks build a report before anything is downloaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlops_lib.validation.reasons import BatchRejected, ReasonCode

Severity = Literal["error", "warning"]
Scalar = int | float | str | None  # JSON-safe: a check's measured value and its threshold


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    observed: str
    expected: str
    reason_code: ReasonCode | None = None
    severity: Severity = "error"
    # The measured quantity and the limit it was held to, for dashboards (observed/expected are
    # the human text). A check fails when value exceeds threshold, or for minimums
    # (non_empty, min_rows, min_rows_per_class) when it falls below.
    value: Scalar = None
    threshold: Scalar = None


@dataclass
class ValidationReport:
    pipeline: str
    batch_id: str
    n_rows: int
    checks: list[CheckResult]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "warning"]

    @property
    def reason_code(self) -> ReasonCode | None:
        failures = self.failures
        return failures[0].reason_code if failures else None

    def detail(self) -> str:
        """The summary without its `[CODE]` prefix."""
        failures = self.failures
        if not failures:
            note = f" ({len(self.warnings)} warnings)" if self.warnings else ""
            return f"passed {len(self.checks)} checks{note}"
        more = f" (+{len(failures) - 1} more failures)" if len(failures) > 1 else ""
        return f"{failures[0].observed}{more}"

    def summary(self) -> str:
        code = self.reason_code
        return f"[{code}] {self.detail()}" if code else self.detail()

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "batch_id": self.batch_id,
            "n_rows": int(self.n_rows),
            "passed": self.passed,
            "reason_code": None if self.reason_code is None else str(self.reason_code),
            "summary": self.summary(),
            "checks": [
                {**asdict(c), "reason_code": None if c.reason_code is None else str(c.reason_code)}
                for c in self.checks
            ],
        }

    def raise_for_failures(self) -> None:
        if not self.passed:
            raise BatchRejected.from_report(self)
