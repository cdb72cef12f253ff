"""Synthetic tabular batches for any pipeline spec, so demos and tests never download data.

Two sources of randomness are kept apart on purpose:

* the *concept* (feature distributions at drift 0 and the label function) is derived from a hash
  of the spec name and feature names, so every batch of one pipeline shares it and a model
  trained on one batch generalises to the next;
* the *sample* is drawn from `seed`, so two seeds give two independent batches of one concept.

`drift` moves only the feature distributions (covariate drift). The label function is unchanged,
which is what a champion model trained before the drift should still be able to score.

`concept` changes the label function instead (concept drift): P(y|x) moves while P(x) stays put.
Concept k > 0 keeps every feature's distribution (one seed, one set of feature columns; only the
target differs) but labels through fresh weights, category effects and interaction pair hashed
from the spec name and k, with concept 0's signal projected out of it: the two signals are
uncorrelated, so a model of concept 0 ranks concept-k labels little better than chance. The base
rate, class shares and regression scale are those of concept 0. `concept_drift_stream` lays out
a run of batches that switches from concept 0 to concept 1 at one index.

A multiclass label is an ordered logit of the same signal: logistic noise is added to the scaled
signal and cut at points that give each class of `spec.classes` its (hashed, roughly even)
share, so neighbouring classes are confused more than distant ones. Labels are the spec's class
labels (integers when every class is an integer).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TypeAlias

import numpy as np
import pandas as pd

from mlops_lib.spec import Feature, PipelineSpec, TaskType

_Column: TypeAlias = "np.ndarray | pd.Categorical"  # one drawn feature (or target) column

# A logit slope of this size on a unit-variance signal gives a Bayes AUC near 0.85; a model
# trained on a few thousand rows lands a little below that, inside the 0.75-0.9 band we want.
_LOGIT_SLOPE = 2.2
# Regression noise relative to the unit-variance signal: R^2 of a perfect model is ~0.8.
_REGRESSION_NOISE = 0.5
# Rows drawn once per concept to normalise the signal and calibrate the base rate.
_CALIBRATION_ROWS = 20_000
_EPOCH = np.datetime64("2024-01-01T00:00:00", "ns")
_SECONDS_PER_YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class _FeatureModel:
    """Drift-free distribution of one feature and its contribution to the label."""

    feature: Feature
    loc: float = 0.0
    scale: float = 1.0
    weight: float = 0.0
    drift_sign: float = 1.0
    prob_true: float = 0.5
    probs: tuple[float, ...] = ()
    effects: tuple[float, ...] = ()
    tilt: tuple[float, ...] = ()


@dataclass(frozen=True)
class _Concept:
    task: TaskType
    models: tuple[_FeatureModel, ...]
    interaction: tuple[str, ...]
    interaction_weight: float
    signal_mean: float = 0.0
    signal_std: float = 1.0
    intercept: float = 0.0
    target_loc: float = 0.0
    target_scale: float = 1.0
    cutpoints: tuple[float, ...] = ()  # multiclass: k - 1 ascending cuts of the latent score
    classes: tuple[str, ...] = ()
    # Concept k > 0: base_weight times concept 0's raw signal is subtracted from this one's.
    base: _Concept | None = None
    base_weight: float = 0.0


def generate_batch(
    spec: PipelineSpec, n_rows: int, *, seed: int, drift: float = 0.0, concept: int = 0
) -> pd.DataFrame:
    """A frame with exactly `spec.columns`, typed as validation expects; same seed, same frame.

    `concept` picks the label function (0: the original); the features do not depend on it.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    if not 0.0 <= drift <= 1.0:
        raise ValueError(f"drift must be within [0, 1], got {drift}")
    if concept < 0:
        raise ValueError(f"concept must be >= 0, got {concept}")
    model = _concept_for(spec.name, spec.task, spec.features, spec.classes, concept)
    rng = np.random.default_rng([_stable_hash(spec.name), seed])
    columns = _draw_features(model, n_rows, rng, drift)
    signal = _normalised_signal(model, columns)
    columns[spec.target] = _draw_target(model, signal, rng)
    return pd.DataFrame(columns, columns=spec.columns)


def concept_drift_stream(
    spec: PipelineSpec, batches: int, rows: int, *, change_at: int, seed: int
) -> list[pd.DataFrame]:
    """`batches` frames of `rows` rows (seeds seed, seed + 1, ...) without feature drift, labelled
    by concept 0 before index `change_at` and by concept 1 from it on."""
    if batches < 0:
        raise ValueError(f"batches must be >= 0, got {batches}")
    return [generate_batch(spec, rows, seed=seed + i, concept=int(i >= change_at))
            for i in range(batches)]


def to_file_bytes(df: pd.DataFrame, fmt: str) -> bytes:
    """Serialise a batch the way a producer would land it: parquet or CSV with a header."""
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, engine="pyarrow", index=False)
        return buf.getvalue()
    if fmt == "csv":
        text: str = df.to_csv(index=False)
        return text.encode("utf-8")
    raise ValueError(f"unknown file format {fmt!r}; expected parquet or csv")


# --- concept -----------------------------------------------------------------------------------


def _stable_hash(*parts: str) -> int:
    """A process-independent 63-bit hash (Python's hash() is salted per process)."""
    digest = hashlib.sha256(":".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@lru_cache(maxsize=64)
def _concept_for(name: str, task: TaskType, features: tuple[Feature, ...],
                 classes: tuple[str, ...] = (), k: int = 0) -> _Concept:
    if k > 0:
        return _relabelled(name, _concept_for(name, task, features, classes, 0), k)
    # Each feature's parameters hash its own name, so adding a feature to a spec leaves the
    # distributions of the others unchanged.
    models = tuple(_feature_model(name, f) for f in features)
    numeric = [m.feature.name for m in models if m.feature.dtype in ("float", "int")]
    order = np.random.default_rng(_stable_hash(name, "interaction")).permutation(len(numeric))
    interaction = tuple(numeric[i] for i in order[:2])
    concept = _Concept(task=task, models=models, interaction=interaction,
                       interaction_weight=0.9, classes=classes)
    return _calibrate(name, concept)


def _feature_model(spec_name: str, feature: Feature) -> _FeatureModel:
    rng = np.random.default_rng(_stable_hash(spec_name, feature.name))
    weight = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.2))
    drift_sign = float(rng.choice([-1.0, 1.0]))
    if feature.dtype == "float":
        loc = float(10 ** rng.uniform(0, 4))
        return _FeatureModel(feature, loc=loc, scale=loc * float(rng.uniform(0.1, 0.4)),
                             weight=weight, drift_sign=drift_sign)
    if feature.dtype == "int":
        center = float(rng.uniform(3, 60))
        spread = max(1.0, center * float(rng.uniform(0.15, 0.35)))
        return _FeatureModel(feature, loc=center, scale=spread, weight=weight,
                             drift_sign=drift_sign)
    if feature.dtype == "bool":
        return _FeatureModel(feature, prob_true=float(rng.uniform(0.2, 0.6)), weight=weight,
                             drift_sign=drift_sign)
    if feature.dtype == "category":
        k = len(feature.categories)
        probs = rng.dirichlet(np.full(k, 4.0))
        effects = rng.normal(0.0, 1.0, k)
        effects = effects - float(probs @ effects)
        # A random tilt per category decides which ones drift makes more frequent.
        tilt = rng.permutation(np.linspace(-1.0, 1.0, k)) if k > 1 else np.zeros(k)
        return _FeatureModel(feature, weight=weight, probs=tuple(map(float, probs)),
                             effects=tuple(map(float, effects)), tilt=tuple(map(float, tilt)))
    # string and datetime features carry no signal: ids and timestamps should not be learnable.
    return _FeatureModel(feature, drift_sign=drift_sign)


def _relabelled(name: str, base: _Concept, k: int) -> _Concept:
    """Concept k > 0: `base`'s feature distributions, a new label function uncorrelated to it."""
    tag = f"concept-{k}"
    models = tuple(_reweighted(name, m, tag) for m in base.models)
    numeric = [m.feature.name for m in models if m.feature.dtype in ("float", "int")]
    order = np.random.default_rng(_stable_hash(name, "interaction", tag)).permutation(len(numeric))
    interaction = tuple(numeric[i] for i in order[:2])
    fresh = _Concept(task=base.task, models=models, interaction=interaction,
                     interaction_weight=base.interaction_weight, classes=base.classes)
    # Project concept 0's signal out on the calibration sample, so the two are uncorrelated.
    rng = np.random.default_rng(_stable_hash(name, "calibration"))
    reference = _draw_features(fresh, _CALIBRATION_ROWS, rng, drift=0.0)
    own, old = _raw_signal(fresh, reference), _raw_signal(base, reference)
    variance = float(old.var())
    covariance = float(((own - own.mean()) * (old - old.mean())).mean())
    beta = covariance / variance if variance > 1e-12 else 0.0
    return _calibrate(name, replace(fresh, base=base, base_weight=beta))


def _reweighted(spec_name: str, m: _FeatureModel, tag: str) -> _FeatureModel:
    """The same distribution with a weight (and category effects) drawn from a hash with `tag`."""
    if m.feature.dtype in ("string", "datetime"):
        return m
    rng = np.random.default_rng(_stable_hash(spec_name, m.feature.name, tag))
    weight = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.2))
    if m.feature.dtype != "category":
        return replace(m, weight=weight)
    probs = np.asarray(m.probs)
    effects = rng.normal(0.0, 1.0, len(probs))
    return replace(m, weight=weight, effects=tuple(map(float, effects - float(probs @ effects))))


def _calibrate(name: str, concept: _Concept) -> _Concept:
    """Normalise the signal to unit variance and set the base rate on a fixed reference sample."""
    rng = np.random.default_rng(_stable_hash(name, "calibration"))
    reference = _draw_features(concept, _CALIBRATION_ROWS, rng, drift=0.0)
    raw = _raw_signal(concept, reference)
    mean, std = float(raw.mean()), float(raw.std())
    # A spec whose features all carry no signal (ids, timestamps) gets a constant signal.
    std = std if std > 1e-12 else 1.0
    target_rng = np.random.default_rng(_stable_hash(name, "target"))
    if concept.task == "binary_classification":
        base_rate = float(target_rng.uniform(0.22, 0.35))
        intercept = _intercept_for_rate(_LOGIT_SLOPE * (raw - mean) / std, base_rate)
        return replace(concept, signal_mean=mean, signal_std=std, intercept=intercept)
    if concept.task == "multiclass_classification":
        k = len(concept.classes)
        shares = target_rng.dirichlet(np.full(k, 8.0))
        latent = _LOGIT_SLOPE * (raw - mean) / std + target_rng.logistic(size=len(raw))
        cuts = np.quantile(latent, np.cumsum(shares)[:-1])
        return replace(concept, signal_mean=mean, signal_std=std,
                       cutpoints=tuple(map(float, cuts)))
    loc = float(10 ** target_rng.uniform(1, 3))
    return replace(concept, signal_mean=mean, signal_std=std, target_loc=loc,
                   target_scale=loc * float(target_rng.uniform(0.1, 0.3)))


def _intercept_for_rate(logits: np.ndarray, rate: float) -> float:
    """Bisection on the intercept so the mean predicted probability equals `rate`."""
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(_sigmoid(logits + mid).mean()) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# --- sampling ----------------------------------------------------------------------------------


def _draw_features(
    concept: _Concept, n: int, rng: np.random.Generator, drift: float
) -> dict[str, _Column]:
    return {m.feature.name: _draw_feature(m, n, rng, drift) for m in concept.models}


def _draw_feature(m: _FeatureModel, n: int, rng: np.random.Generator, drift: float) -> _Column:
    dtype = m.feature.dtype
    if dtype in ("float", "int"):
        # Drift moves the mean by `drift` standard deviations and widens the spread by half that.
        z = rng.standard_normal(n) * (1.0 + 0.5 * drift) + m.drift_sign * drift
        values = m.loc + m.scale * z
        if dtype == "float":
            return values.astype("float64")
        return np.clip(np.rint(values), 0, None).astype("int64")
    if dtype == "bool":
        p = float(np.clip(m.prob_true + 0.35 * drift * m.drift_sign, 0.02, 0.98))
        return rng.random(n) < p
    if dtype == "category":
        logits = np.log(np.asarray(m.probs)) + 3.0 * drift * np.asarray(m.tilt)
        probs = np.exp(logits - logits.max())
        codes = rng.choice(len(probs), size=n, p=probs / probs.sum())
        return pd.Categorical.from_codes(codes, categories=list(m.feature.categories))
    if dtype == "string":
        ids = rng.integers(0, 10**7, size=n)
        return np.array([f"{m.feature.name}-{i:07d}" for i in ids], dtype=object)
    # datetime: a year of timestamps; drift pushes them later, as a stale training window would.
    seconds = rng.uniform(0, _SECONDS_PER_YEAR, n) + drift * _SECONDS_PER_YEAR
    return _EPOCH + seconds.astype("int64").astype("timedelta64[s]").astype("timedelta64[ns]")


def _standardised(m: _FeatureModel, values: _Column) -> np.ndarray:
    """The feature on a drift-free unit scale, computed from the observed values."""
    dtype = m.feature.dtype
    if dtype in ("float", "int"):
        return np.asarray((np.asarray(values, dtype="float64") - m.loc) / m.scale)
    if dtype == "bool":
        p = m.prob_true
        return np.asarray((np.asarray(values, dtype="float64") - p) / np.sqrt(p * (1 - p)))
    if dtype == "category":
        codes = np.asarray(pd.Categorical(values).codes)
        effects: np.ndarray = np.asarray(m.effects)[codes]
        return effects
    raise ValueError(f"feature {m.feature.name!r} of dtype {dtype} carries no signal")


def _raw_signal(concept: _Concept, columns: dict[str, _Column]) -> np.ndarray:
    n = len(next(iter(columns.values()))) if columns else 0
    signal = np.zeros(n)
    scaled: dict[str, np.ndarray] = {}
    for m in concept.models:
        if m.feature.dtype in ("string", "datetime"):
            continue
        scaled[m.feature.name] = _standardised(m, columns[m.feature.name])
        signal += m.weight * scaled[m.feature.name]
    # The interaction term is what keeps the concept out of reach of a linear model.
    if len(concept.interaction) == 2:
        a, b = (scaled[c] for c in concept.interaction)
        signal += concept.interaction_weight * a * b
    elif len(concept.interaction) == 1:
        a = scaled[concept.interaction[0]]
        signal += concept.interaction_weight * (a * a - 1.0)
    if concept.base is not None:
        signal -= concept.base_weight * _raw_signal(concept.base, columns)
    return signal


def _normalised_signal(concept: _Concept, columns: dict[str, _Column]) -> np.ndarray:
    return (_raw_signal(concept, columns) - concept.signal_mean) / concept.signal_std


def _draw_target(concept: _Concept, signal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if concept.task == "binary_classification":
        prob = _sigmoid(concept.intercept + _LOGIT_SLOPE * signal)
        return (rng.random(len(signal)) < prob).astype("int64")
    if concept.task == "multiclass_classification":
        latent = _LOGIT_SLOPE * signal + rng.logistic(size=len(signal))
        codes = np.searchsorted(np.asarray(concept.cutpoints), latent)
        if all(c.lstrip("-").isdigit() and str(int(c)) == c for c in concept.classes):
            return np.asarray([int(c) for c in concept.classes], dtype="int64")[codes]
        return np.asarray(concept.classes, dtype=object)[codes]
    noise = rng.standard_normal(len(signal)) * _REGRESSION_NOISE
    return (concept.target_loc + concept.target_scale * (signal + noise)).astype("float64")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))
