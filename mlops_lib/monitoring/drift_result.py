"""The drift decision's records: one `FeatureDrift` per feature, gathered in a `DriftResult`.

Plain data (JSON through `to_dict`/`from_dict`), apart from Evidently's own objects; the
statistics behind them are computed by `mlops_lib.monitoring.drift.compute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical"]
Verdict = Literal["drifted", "not_drifted", "insufficient_data", "not_compared"]
INSUFFICIENT: Verdict = "insufficient_data"


@dataclass(frozen=True)
class FeatureDrift:
    """Drift statistics and verdict of one feature; statistics that do not apply are None."""

    feature: str
    kind: FeatureKind
    method: str  # the statistic the verdict was taken on: wasserstein | jensenshannon | psi
    threshold: float
    score: float | None  # value of that statistic
    drifted: bool
    psi: float | None
    wasserstein: float | None  # normed by the reference std; numeric features only
    js: float | None
    unseen_share: float | None  # categorical features only
    null_share: float  # of the current batch
    reference_null_share: float
    n_reference: int  # non-null values compared
    n_current: int
    n_distinct_reference: int  # distinct non-null values
    n_distinct_current: int
    few_values: bool  # <= 5 distinct values in both frames together (Evidently then uses JS)
    note: str = ""
    noise_floor: float | None = None  # the statistic on same-sized resamples of the reference
    verdict: Verdict | None = None  # None: a record from before verdicts were stored

    @property
    def comparable(self) -> bool:
        return self.score is not None

    @property
    def effective_threshold(self) -> float:
        """What the score had to reach: the threshold, or the noise floor when higher."""
        return max(self.threshold, self.noise_floor or 0.0)

    @property
    def insufficient(self) -> bool:
        return self.verdict == INSUFFICIENT


@dataclass(frozen=True)
class DriftResult:
    features: tuple[FeatureDrift, ...]
    method: str
    threshold: float | None  # None: each method's default
    n_reference_rows: int
    n_current_rows: int
    skipped: tuple[str, ...] = ()
    min_rows_per_test: int = 0  # the sample-size rule the verdicts were taken under
    noise_floor_quantile: float | None = None
    n_compared: int = field(init=False)
    n_drifted: int = field(init=False)
    share_drifted: float = field(init=False)
    drifted_features: tuple[str, ...] = field(init=False)
    insufficient_features: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        compared = [f for f in self.features if f.comparable]
        drifted = tuple(f.feature for f in compared if f.drifted)
        object.__setattr__(self, "n_compared", len(compared))
        object.__setattr__(self, "n_drifted", len(drifted))
        object.__setattr__(self, "share_drifted", len(drifted) / len(compared) if compared else 0.0)
        object.__setattr__(self, "drifted_features", drifted)
        object.__setattr__(self, "insufficient_features",
                           tuple(f.feature for f in self.features if f.insufficient))

    def feature(self, name: str) -> FeatureDrift:
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (XCom, `_REASON.json`, MLflow tags)."""
        return {
            "method": self.method,
            "threshold": self.threshold,
            "n_reference_rows": self.n_reference_rows,
            "n_current_rows": self.n_current_rows,
            "n_compared": self.n_compared,
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "drifted_features": list(self.drifted_features),
            "skipped": list(self.skipped),
            "min_rows_per_test": self.min_rows_per_test,
            "noise_floor_quantile": self.noise_floor_quantile,
            "insufficient_features": list(self.insufficient_features),
            "features": [asdict(f) for f in self.features],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        names = {f.name for f in fields(FeatureDrift)}
        feats = tuple(FeatureDrift(**{k: v for k, v in f.items() if k in names})
                      for f in data["features"])
        return cls(features=feats, method=data["method"], threshold=data["threshold"],
                   n_reference_rows=int(data["n_reference_rows"]),
                   n_current_rows=int(data["n_current_rows"]),
                   skipped=tuple(data.get("skipped", ())),
                   min_rows_per_test=int(data.get("min_rows_per_test", 0)),
                   noise_floor_quantile=data.get("noise_floor_quantile"))
