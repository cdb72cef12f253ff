"""The benchmarks' shared synthetic schema: 28 model inputs like a typical tabular model."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from mlops_lib.spec import Feature, MetricPolicy, PipelineSpec, Source


def machine(**versions: str) -> dict[str, object]:
    """The box a benchmark ran on (CPU model, cores, RAM, Python) and the given versions.

    Cheap on purpose: no xgboost or Evidently import, which would inflate a bench's RSS."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "cores_available": len(os.sched_getaffinity(0)),
            "ram_gib": round(ram, 1), "gpu": _gpu(), "python": platform.python_version(),
            **versions}


def _gpu() -> str | None:
    """The first NVIDIA GPU's name and memory, or None (no GPU or no nvidia-smi)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.strip().splitlines()
    return lines[0].strip() if out.returncode == 0 and lines else None


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
