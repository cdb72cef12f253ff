"""Where a model is trained: the device, the cores, the GPU, and the environment it records.

Light on purpose: nothing here imports xgboost, numpy or pandas at module level, so a task that
only needs the code's commit (the idempotency key of a light task) or the core count does not
pay for them. `choose_device` and `capture_environment` import xgboost when they run.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from mlops_lib.settings import REPO_ROOT

MAX_TAG_CHARS = 5000  # MLflow tag values are capped; environment values are cut to this

_GPU_FIELDS = ("name", "memory.total", "driver_version")


def gpu_name() -> str | None:
    """Name of the first visible NVIDIA GPU, or None."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
    return names[0] if out.returncode == 0 and names else None


def choose_device(preference: str) -> str:
    """`cpu` or `cuda` as asked; `auto`: cuda when a GPU is visible and xgboost is built for it."""
    if preference in ("cpu", "cuda"):
        return preference
    import xgboost as xgb

    return "cuda" if gpu_name() and xgb.build_info().get("USE_CUDA") else "cpu"


def available_cores() -> int:
    """CPU cores this process may run on: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, int(quota))
    return max(1, cores)


def cgroup_cpu_quota() -> float | None:
    """CPUs allowed by the cgroup's CFS quota (v2 `cpu.max` or v1), or None when unlimited."""
    root = Path("/sys/fs/cgroup")
    try:
        v2 = (root / "cpu.max").read_text().split()
        if v2 and v2[0] != "max":
            return float(v2[0]) / float(v2[1])
        if v2:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def capture_environment(device: str) -> dict[str, str]:
    """Where and with what a model was trained; string values, each at most MAX_TAG_CHARS long.

    Becomes the run's `ct.env.*` MLflow tags. GPU keys other than `gpu_name` ("none" without a
    GPU) and the CUDA runtime/driver keys are absent when there is no GPU or no CUDA library.
    """
    env: dict[str, Any] = {
        **_xgboost_build(),
        "device": device,
        "nthread": available_cores(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),          # kept for older runs' tag set: same as the total
        "cpu_cores_total": os.cpu_count(),
        "cpu_cores_available": available_cores(),
        "ram_total_gib": _ram_total_gib(),
        "gpu_name": gpu_name() or "none",
        "uv_lock_sha256": _file_sha256(REPO_ROOT / "uv.lock"),
        "code_git_sha": git_sha(),
        **_array_library_versions(),
    }
    gpus = query_gpus()
    if gpus:
        first = gpus[0]
        env.update({"gpu_count": len(gpus), "gpu_memory_mib": first.get("memory.total", ""),
                    "gpu_driver": first.get("driver_version", ""),
                    "gpus": "; ".join(g.get("name", "") for g in gpus)})
    env.update(cuda_versions())
    return {k: str(v)[:MAX_TAG_CHARS] for k, v in env.items()}


def _xgboost_build() -> dict[str, str]:
    """The xgboost version and build (CUDA or not, and which CUDA it was built with)."""
    import xgboost as xgb

    info = xgb.build_info()
    cuda_build = info.get("CUDA_VERSION")
    return {
        "xgboost_version": xgb.__version__,
        "xgboost_use_cuda": str(bool(info.get("USE_CUDA"))),
        "xgboost_build_info": json.dumps(
            {k: v for k, v in info.items() if k != "libxgboost"}, sort_keys=True, default=str),
        "xgboost_cuda_build": ".".join(map(str, cuda_build)) if cuda_build else "none",
    }


def _array_library_versions() -> dict[str, str]:
    import numpy as np
    import pandas as pd

    return {"numpy": np.__version__, "pandas": pd.__version__}


def query_gpus() -> list[dict[str, str]]:
    """Visible NVIDIA GPUs as reported by nvidia-smi (name, memory.total in MiB, driver)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, f"--query-gpu={','.join(_GPU_FIELDS)}",
                              "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    rows = [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines()]
    return [dict(zip(_GPU_FIELDS, r, strict=False)) for r in rows if r and r[0]]


def cuda_versions() -> dict[str, str]:
    """CUDA runtime (libcudart) and driver API versions, where those libraries load."""
    found: dict[str, str] = {}
    for key, names, symbol in (
        ("cuda_runtime", ("libcudart.so", "libcudart.so.13", "libcudart.so.12"),
         "cudaRuntimeGetVersion"),
        ("cuda_driver_api", ("libcuda.so.1", "libcuda.so"), "cuDriverGetVersion"),
    ):
        version = _cuda_library_version(names, symbol)
        if version:
            found[key] = f"{version // 1000}.{(version % 1000) // 10}"
    return found


def _cuda_library_version(names: tuple[str, ...], symbol: str) -> int | None:
    for name in names:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        value = ctypes.c_int(0)
        try:
            status = getattr(lib, symbol)(ctypes.byref(value))
        except (AttributeError, OSError):
            continue
        if status == 0 and value.value > 0:
            return int(value.value)
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_total_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f}"
    except (OSError, ValueError, IndexError):
        pass
    try:
        return f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f}"
    except (ValueError, OSError, AttributeError):
        return "unknown"


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unknown"


def git_sha() -> str:
    """The commit of the project code (the service's own repository), or "unknown"."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"
