"""The benchmarks' shared synthetic schema: 28 model inputs like a typical tabular model."""

from __future__ import annotations

from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec, Source


def synthetic_spec(name: str) -> PipelineSpec:
    """28 inputs: 16 float, 6 int, 5 category (3 to 11 labels), 1 bool; binary target `y`."""
    feats = [Feature(f"num_{i:02d}", "float") for i in range(16)]
    feats += [Feature(f"int_{i:02d}", "int") for i in range(6)]
    feats += [Feature(f"cat_{i:02d}", "category",
                      tuple(f"c{k}" for k in range(3 + 2 * i))) for i in range(5)]
    feats += [Feature("flag", "bool")]
    return PipelineSpec(name=name, source=Source("bench", "bench/"), target="y",
                        task="binary_classification", features=tuple(feats),
                        metric=MetricPolicy("roc_auc", "maximize", 0.5))
