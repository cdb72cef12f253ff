from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlops_dev.datagen import generate_batch
from mlops_lib.monitoring import drift, drift_numeric
from mlops_lib.monitoring.drift import DriftResult, compute
from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec, Source

pytestmark = pytest.mark.unit

EPS = drift.DEFAULT_EPS


def make_spec(**dtypes: str) -> PipelineSpec:
    feats = tuple(Feature(name, dtype, ("a", "b") if dtype == "category" else ())  # type: ignore[arg-type]
                  for name, dtype in dtypes.items())
    return PipelineSpec(name="drift_test", source=Source("b", "p/"), target="y",
                        task="binary_classification", features=feats,
                        metric=MetricPolicy("roc_auc", "maximize", 0.5))


def psi_by_hand(ref: np.ndarray, cur: np.ndarray, n_bins: int = 10) -> float:
    """The documented definition, written the slow obvious way."""
    inner = np.quantile(ref, np.arange(1, n_bins) / n_bins)
    edges = np.unique(np.concatenate(([ref.min()], inner, [np.nextafter(ref.max(), np.inf)])))
    def shares(x: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1)
        return np.maximum(counts / len(x), EPS)
    p, q = shares(ref), shares(cur)
    return float(np.sum((q - p) * np.log(q / p)))


# --- numeric statistics ------------------------------------------------------------------------


def test_same_distribution_large_samples_do_not_cry_wolf() -> None:
    # 400k rows a side: a KS test calls a 0.02-std shift significant; the effect sizes do not.
    rng = np.random.default_rng(0)
    n = 400_000
    ref = pd.DataFrame({"x": rng.normal(50, 10, n), "k": rng.integers(0, 40, n),
                        "c": rng.choice(["u", "v", "w"], n, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame({"x": rng.normal(50.2, 10, n), "k": rng.integers(0, 40, n),
                        "c": rng.choice(["u", "v", "w"], n, p=[0.5, 0.3, 0.2])})
    spec = make_spec(x="float", k="int", c="string")

    result = compute(ref, cur, spec)

    assert stats.ks_2samp(ref["x"], cur["x"]).pvalue < 1e-6  # a p-value test would fire
    assert result.n_drifted == 0 and result.share_drifted == 0.0
    assert result.drifted_features == ()
    x = result.feature("x")
    assert x.method == "wasserstein" and x.threshold == 0.1
    assert 0.01 < x.wasserstein < 0.03  # ~ the 0.02-std shift, far under 0.1
    assert x.psi < 0.01
    for f in result.features:
        assert f.score is not None and f.score < 0.05
        assert f.psi is not None and f.psi < 0.01


@pytest.mark.parametrize("shift", [0.25, 0.5, 1.0, 2.0])
def test_mean_shift_gives_normed_wasserstein_of_the_shift_in_stds(shift: float) -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(100, 20, 200_000)})
    cur = pd.DataFrame({"x": rng.normal(100 + shift * 20, 20, 150_000)})

    f = compute(ref, cur, make_spec(x="float")).feature("x")

    assert f.wasserstein == pytest.approx(shift, abs=0.02)
    assert f.drifted and f.method == "wasserstein" and f.score == f.wasserstein
    assert f.psi == pytest.approx(psi_by_hand(ref["x"].to_numpy(), cur["x"].to_numpy()),
                                  rel=1e-12)


def test_larger_shifts_give_larger_psi_and_wasserstein() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 100_000)})
    results = [compute(ref, pd.DataFrame({"x": rng.normal(s, 1, 100_000)}),
                       make_spec(x="float")).feature("x") for s in (0.0, 0.3, 1.0, 3.0)]
    psis = [f.psi for f in results]
    ws = [f.wasserstein for f in results]
    assert psis == sorted(psis) and ws == sorted(ws)
    assert psis[0] < 0.005 < 0.1 < psis[2] < psis[3]
    assert psis[3] > 5  # almost everything beyond the reference's 9th decile


def test_scale_change_is_detected() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 200_000)})
    cur = pd.DataFrame({"x": rng.normal(0, 2, 200_000)})

    f = compute(ref, cur, make_spec(x="float")).feature("x")

    # W1(N(0,1), N(0,2)) = E|z| = sqrt(2/pi) ~ 0.798 reference stds.
    assert f.wasserstein == pytest.approx(math.sqrt(2 / math.pi), abs=0.01)
    assert f.psi > 0.3 and f.drifted


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 7), (5, 3), (1000, 1000), (1000, 777),
                                      (12_345, 9_876), (3, 50_000)])
@pytest.mark.parametrize("integer_grid", [False, True])
def test_wasserstein_is_exact(n: int, m: int, integer_grid: bool,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    if integer_grid:
        monkeypatch.setattr(drift_numeric, "_FLOAT_GRID_LIMIT", 0.0)
    rng = np.random.default_rng(n * 31 + m)
    r = np.sort(rng.normal(size=n))
    c = np.sort(np.round(rng.normal(0.3, 1.5, size=m), 1))  # ties too
    assert drift_numeric.wasserstein_sorted(r, c) == pytest.approx(stats.wasserstein_distance(r, c),
                                                            rel=1e-12, abs=1e-15)


def test_psi_matches_its_definition_on_a_known_case() -> None:
    # Reference uniform on 0..999 (deciles exact); the whole current batch in one decile.
    ref = pd.DataFrame({"x": np.arange(1000, dtype=float)})
    cur = pd.DataFrame({"x": np.full(500, 550.0)})

    f = compute(ref, cur, make_spec(x="float")).feature("x")

    expected = 0.9 * math.log(10) + 9 * (0.1 - EPS) * math.log(0.1 / EPS)
    assert f.psi == pytest.approx(expected, rel=1e-3)


def test_values_outside_the_reference_range_count_for_psi() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.uniform(0, 1, 50_000)})
    inside = compute(ref, pd.DataFrame({"x": rng.uniform(0, 1, 50_000)}), make_spec(x="float"))
    above = compute(ref, pd.DataFrame({"x": rng.uniform(0, 1, 50_000) + 0.5}),
                    make_spec(x="float"))
    assert inside.feature("x").psi < 0.01
    assert above.feature("x").psi > 1.0


def test_few_distinct_numeric_values_are_judged_by_jensen_shannon() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"k": rng.choice([0, 1, 2], 20_000, p=[0.6, 0.3, 0.1])})
    cur = pd.DataFrame({"k": rng.choice([0, 1, 2], 20_000, p=[0.2, 0.3, 0.5])})

    f = compute(ref, cur, make_spec(k="int")).feature("k")

    assert f.few_values and f.method == "jensenshannon"
    expected = distance.jensenshannon(np.bincount(ref["k"]), np.bincount(cur["k"]))
    assert f.js == pytest.approx(expected, rel=1e-9)
    assert f.drifted and f.wasserstein is not None  # still reported


# --- categorical statistics --------------------------------------------------------------------


def test_categorical_shift_is_detected() -> None:
    rng = np.random.default_rng(6)
    cats = ["north", "south", "east", "west"]
    ref = pd.DataFrame({"r": pd.Categorical(rng.choice(cats, 50_000, p=[.4, .3, .2, .1]),
                                            categories=cats)})
    same = pd.DataFrame({"r": pd.Categorical(rng.choice(cats, 50_000, p=[.4, .3, .2, .1]),
                                             categories=cats)})
    moved = pd.DataFrame({"r": pd.Categorical(rng.choice(cats, 50_000, p=[.1, .2, .3, .4]),
                                              categories=cats)})
    spec = make_spec(r="category")

    quiet, loud = compute(ref, same, spec).feature("r"), compute(ref, moved, spec).feature("r")

    assert not quiet.drifted and quiet.js < 0.02 and quiet.psi < 0.005
    assert loud.drifted and loud.method == "jensenshannon" and loud.js > 0.2
    r_counts = ref["r"].value_counts().reindex(cats).to_numpy()
    m_counts = moved["r"].value_counts().reindex(cats).to_numpy()
    assert loud.js == pytest.approx(distance.jensenshannon(r_counts, m_counts), rel=1e-9)
    p, q = r_counts / r_counts.sum(), m_counts / m_counts.sum()
    assert loud.psi == pytest.approx(float(np.sum((q - p) * np.log(q / p))), rel=1e-9)
    assert loud.unseen_share == 0.0 and loud.wasserstein is None


@pytest.mark.parametrize("as_categorical", [True, False])
def test_unseen_categories(as_categorical: bool) -> None:
    rng = np.random.default_rng(7)
    ref_values = rng.choice(["a", "b", "c"], 10_000)
    cur_values = np.where(rng.random(10_000) < 0.3, "zzz", rng.choice(["a", "b", "c"], 10_000))
    if as_categorical:
        ref = pd.DataFrame({"c": pd.Categorical(ref_values)})
        cur = pd.DataFrame({"c": pd.Categorical(cur_values)})  # its own categories, in other order
    else:
        ref, cur = pd.DataFrame({"c": ref_values}), pd.DataFrame({"c": cur_values})

    f = compute(ref, cur, make_spec(c="string")).feature("c")

    assert f.unseen_share == pytest.approx(0.3, abs=0.015)
    assert f.drifted and f.js > 0.3 and f.psi > 1.0
    assert (f.n_distinct_reference, f.n_distinct_current) == (3, 4)


def test_bool_features_are_categorical() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"b": rng.random(20_000) < 0.3})
    cur = pd.DataFrame({"b": rng.random(20_000) < 0.6})

    f = compute(ref, cur, make_spec(b="bool")).feature("b")

    assert f.kind == "categorical" and f.drifted
    assert f.js == pytest.approx(distance.jensenshannon(
        np.bincount(ref["b"].to_numpy(), minlength=2),
        np.bincount(cur["b"].to_numpy(), minlength=2)), rel=1e-9)


# --- missing values, constants, degenerate input -----------------------------------------------


def test_nans_are_ignored_and_their_share_reported() -> None:
    rng = np.random.default_rng(9)
    n = 40_000
    ref = pd.DataFrame({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n).astype(object)})
    cur = pd.DataFrame({"x": rng.normal(0.5, 1, n), "c": rng.choice(["a", "b"], n).astype(object)})
    holed = cur.copy()
    holes = rng.random(n) < 0.2
    holed.loc[holes, "x"] = np.nan
    holed.loc[holes[::-1], "c"] = None
    holed.loc[np.flatnonzero(~holes)[:10], "x"] = np.inf  # non-finite: treated as missing
    spec = make_spec(x="float", c="string")

    got = compute(ref, holed, spec)
    clean = compute(ref, holed.replace([np.inf], np.nan).dropna(subset=["x"])[["x"]],
                    make_spec(x="float"))

    x = got.feature("x")
    assert x.null_share == pytest.approx((holes.sum() + 10) / n)
    assert x.reference_null_share == 0.0
    assert x.n_current == n - holes.sum() - 10
    assert x.wasserstein == pytest.approx(clean.feature("x").wasserstein, rel=1e-12)
    assert x.psi == pytest.approx(clean.feature("x").psi, rel=1e-12)
    assert x.drifted
    c = got.feature("c")
    assert c.null_share == pytest.approx(holes.mean())
    assert c.unseen_share == 0.0 and not c.drifted and c.n_current == n - holes.sum()


def test_constant_reference() -> None:
    ref = pd.DataFrame({"x": np.full(5_000, 5.0)})
    spec = make_spec(x="float")

    same = compute(ref, pd.DataFrame({"x": np.full(3_000, 5.0)}), spec).feature("x")
    moved = compute(ref, pd.DataFrame({"x": np.full(3_000, 6.0)}), spec).feature("x")
    spread = compute(ref, pd.DataFrame({"x": np.linspace(4, 6, 3_000)}), spec).feature("x")

    assert same.note == "reference is constant"
    assert (same.psi, same.wasserstein, same.js, same.drifted) == (0.0, 0.0, 0.0, False)
    # the norm is Evidently's floor 0.001: one unit away is 1000 "stds"
    assert moved.drifted and moved.wasserstein == pytest.approx(1000.0)
    assert moved.psi > 5
    # values both below and above the constant count for PSI (bins: below, at, above)
    assert spread.drifted and spread.psi > 5 and spread.wasserstein > 100


def test_empty_and_all_null_columns_are_not_compared_and_do_not_crash() -> None:
    spec = make_spec(x="float", c="category", t="datetime")
    ref = pd.DataFrame({"x": np.arange(100.0), "c": pd.Categorical(["a", "b"] * 50),
                        "t": pd.date_range("2024-01-01", periods=100, freq="h")})
    nulls = pd.DataFrame({"x": np.full(100, np.nan),
                          "c": pd.Categorical([None] * 100, categories=["a", "b"]),
                          "t": pd.NaT})

    result = compute(ref, nulls, spec)
    empty = compute(ref.iloc[:0], ref.iloc[:0], spec)

    for r in (result, empty):
        assert [f.feature for f in r.features] == ["x", "c"]
        assert r.skipped == ("t: datetime features are not compared",)
        assert r.n_compared == 0 and r.share_drifted == 0.0
        for f in r.features:
            assert not f.comparable and not f.drifted
            assert f.psi is None and f.js is None and f.wasserstein is None
            assert "not compared" in f.note
    assert result.feature("x").null_share == 1.0 and result.feature("c").null_share == 1.0


def test_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(10)
    ref = pd.DataFrame({"x": rng.normal(size=1000)})
    cur = pd.DataFrame({"x": rng.normal(size=1000)})
    before = ref.copy(), cur.copy()
    compute(ref, cur, make_spec(x="float"))
    pd.testing.assert_frame_equal(ref, before[0])
    pd.testing.assert_frame_equal(cur, before[1])


def test_bad_arguments() -> None:
    df = pd.DataFrame({"x": [1.0, 2.0]})
    spec = make_spec(x="float")
    with pytest.raises(ValueError, match="missing"):
        compute(df, df.rename(columns={"x": "y"}), spec)
    with pytest.raises(ValueError, match="not in spec"):
        compute(df, df, spec, features=["nope"])
    with pytest.raises(ValueError, match="method"):
        compute(df, df, spec, method="ks")  # type: ignore[arg-type]


# --- dataset level, policy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def four_features() -> DriftResult:
    rng = np.random.default_rng(11)
    n = 30_000
    ref = pd.DataFrame({"a": rng.normal(0, 1, n), "b": rng.normal(0, 1, n),
                        "c": rng.normal(0, 1, n), "d": rng.normal(0, 1, n)})
    cur = pd.DataFrame({"a": rng.normal(1, 1, n),  # drifted: W ~1, PSI ~1
                        "b": rng.normal(0.07, 1, n),  # W ~0.07, PSI ~0.005: not drifted
                        "c": rng.normal(0, 1, n), "d": rng.normal(0, 1, n)})
    return compute(ref, cur, make_spec(a="float", b="float", c="float", d="float"))


def test_dataset_share_and_list(four_features: DriftResult) -> None:
    r = four_features
    assert r.drifted_features == ("a",)
    assert (r.n_compared, r.n_drifted, r.share_drifted) == (4, 1, 0.25)


def test_verdict_re_judges_a_feature_under_another_method(four_features: DriftResult) -> None:
    method, score, limit, drifted = drift.verdict(four_features.feature("b"), "psi", 0.25)
    assert (method, limit, drifted) == ("psi", 0.25, False)
    assert score == four_features.feature("b").psi


def test_to_dict_is_json_and_round_trips(four_features: DriftResult) -> None:
    data = json.loads(json.dumps(four_features.to_dict()))
    assert data["drifted_features"] == ["a"] and data["share_drifted"] == 0.25
    assert data["features"][0]["feature"] == "a" and data["features"][0]["drifted"] is True
    assert DriftResult.from_dict(data) == four_features


# --- agreement with Evidently's DataDriftPreset ------------------------------------------------


_EVIDENTLY_METHODS = {"Wasserstein distance (normed)": "wasserstein",
                      "Jensen-Shannon distance": "jensenshannon"}


def evidently_verdicts(reference: pd.DataFrame, current: pd.DataFrame,
                       spec: PipelineSpec) -> dict[str, tuple[str, float, bool]]:
    """{column: (method, score, drifted)} from Evidently's own DataDriftPreset run."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from mlops_lib.reports.builders import drift_summary

    cols = [f.name for f in spec.features if f.dtype != "datetime"]
    numeric = [f.name for f in spec.features if f.dtype in ("float", "int")]
    definition = DataDefinition(numerical_columns=numeric,
                                categorical_columns=[c for c in cols if c not in numeric])
    snap = Report([DataDriftPreset(columns=cols)], include_tests=True).run(
        current_data=Dataset.from_pandas(current[cols], data_definition=definition),
        reference_data=Dataset.from_pandas(reference[cols], data_definition=definition)).dict()
    drifted = set(drift_summary(snap).drifted_columns)
    out: dict[str, tuple[str, float, bool]] = {}
    for metric in snap["metrics"]:
        cfg: dict[str, Any] = metric["config"]
        if cfg["type"].endswith(":ValueDrift"):
            out[cfg["column"]] = (_EVIDENTLY_METHODS[cfg["method"]], float(metric["value"]),
                                  cfg["column"] in drifted)
    return out


def assert_agrees(result: DriftResult, theirs: dict[str, tuple[str, float, bool]]) -> None:
    assert sorted(theirs) == sorted(f.feature for f in result.features)
    same = [f.feature for f in result.features if f.drifted == theirs[f.feature][2]]
    assert len(same) / len(theirs) >= 0.95, (same, theirs)
    for f in result.features:
        method, score, drifted = theirs[f.feature]
        assert (f.method, f.drifted) == (method, drifted), f.feature
        assert f.score == pytest.approx(score, rel=1e-9, abs=1e-12), f.feature


def test_agrees_with_evidently_on_generated_batches(spec: PipelineSpec) -> None:
    n = 20_000
    reference = generate_batch(spec, n, seed=1)
    quiet = generate_batch(spec, n, seed=2)
    slight = generate_batch(spec, n, seed=3, drift=0.1)
    strong = generate_batch(spec, n, seed=4, drift=0.6)
    current = quiet.copy()
    for name in ("income", "credit_lines", "region"):
        current[name] = strong[name]
    for name in ("debt_ratio", "tenure_months"):
        current[name] = slight[name]

    result = compute(reference, current, spec)

    assert {"income", "credit_lines", "region"} <= set(result.drifted_features)
    assert not {"age", "utilization", "late_payments"} & set(result.drifted_features)
    assert_agrees(result, evidently_verdicts(reference, current, spec))


def test_agrees_with_evidently_on_awkward_columns() -> None:
    rng = np.random.default_rng(12)
    n = 5_000
    spec = make_spec(few="int", mid="int", shifted="float", holes="float", flag="bool",
                     code="string", tiny="float")
    def frame(p_few: list[float], mid_hi: int, loc: float, p_flag: float,
              codes: list[str]) -> pd.DataFrame:
        holes = rng.normal(0, 1, n)
        holes[rng.random(n) < 0.1] = np.nan
        return pd.DataFrame({
            "few": rng.choice([0, 1, 2, 3], n, p=p_few),  # <= 5 values: Jensen-Shannon
            "mid": rng.integers(0, mid_hi, n),  # 6..20 values: per-value JS bins, Wasserstein
            "shifted": rng.normal(loc, 1, n), "holes": holes,
            "flag": rng.random(n) < p_flag, "code": rng.choice(codes, n),
            "tiny": rng.normal(0, 1e-6, n),  # std under Evidently's 0.001 norm floor
        })
    reference = frame([0.4, 0.3, 0.2, 0.1], 12, 0.0, 0.3, ["a", "b", "c"])
    current = frame([0.1, 0.2, 0.3, 0.4], 15, 0.12, 0.33, ["a", "b", "c", "d"])

    result = compute(reference, current, spec)

    assert result.feature("few").method == "jensenshannon"
    assert result.feature("mid").method == "wasserstein"
    assert_agrees(result, evidently_verdicts(reference, current, spec))
