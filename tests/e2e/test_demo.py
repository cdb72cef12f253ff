"""The quick start's main command as a newcomer runs it: `make demo` on a fresh stack, again
right after on the same state, and once more after `make reset FORCE=1`.

Each run is `make` in a subprocess with the embedded defaults (SQLite, the S3 server on disk,
MLflow and Airflow started by the demo), on ports and a stack home of this test's own. The
first and the third tell the whole story (two promotions, a drift verdict, a scored batch);
the second finds the champion, scores one more batch with it and says how to start over."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO_ROOT, free_port

pytestmark = pytest.mark.e2e

DEMO_TIMEOUT = 1200  # the demo's own waits give up after 480 s each


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment of a user's shell: no test settings, no venv on PATH (the Makefile
    finds uv with the system's python3), a stack home and ports of this module's own."""
    venv_bin = str(REPO_ROOT / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CT_", "AIRFLOW", "MLFLOW_", "AWS_", "VIRTUAL_ENV", "UV_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p).resolve() != Path(venv_bin).resolve())
    home = tmp_path_factory.mktemp("demo") / "stack"
    env.update(CT_HOME=str(home), CT_S3_PORT=str(free_port()),
               CT_MLFLOW_PORT=str(free_port()), CT_AIRFLOW_PORT=str(free_port()))
    try:
        yield env
    finally:  # the demo leaves its stack running, as it tells the user
        subprocess.run(["make", "-s", "down"], cwd=REPO_ROOT, env=env, capture_output=True,
                       timeout=300, check=False)


def _make(env: dict[str, str], *target: str) -> str:
    done = subprocess.run(["make", "-s", *target], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=DEMO_TIMEOUT, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "Traceback" not in output, output[-6000:]
    return output


def _assert_whole_story(output: str) -> None:
    assert output.count("decision: PROMOTE") == 2, output[-6000:]  # v1, then v2 on drift
    assert "drift monitor: " in output and "champion: v2" in output, output[-6000:]
    assert "by ct_credit_default v2 -> s3://" in output, output[-6000:]  # scored by the champion
    assert "Demo finished in " in output


@pytest.mark.timeout(2 * DEMO_TIMEOUT)
def test_make_demo_runs_again_on_the_same_state_and_after_a_reset(
        demo_env: dict[str, str]) -> None:
    home = Path(demo_env["CT_HOME"])
    _assert_whole_story(_make(demo_env, "demo"))

    again = _make(demo_env, "demo")
    assert "this stack already ran the demo (champion v2)" in again, again[-4000:]
    assert "make reset" in again and "by ct_credit_default v2 -> s3://" in again, again[-4000:]

    _make(demo_env, "reset", "FORCE=1")
    assert not home.exists()
    _assert_whole_story(_make(demo_env, "demo"))
    _operator_block_runs_as_written(demo_env)


def _readme_block(containing: str) -> str:
    text = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"^```(?:bash|sh)\n(.*?)^```", text, flags=re.M | re.S)
    [block] = [b for b in blocks if containing in b]
    return block


def _operator_block_runs_as_written(env: dict[str, str]) -> None:
    """The README's operator commands, typed after the demo (champion v2): status, champion,
    history, a manual promotion of v1, a rollback to v2, reconcile."""
    block = _readme_block(".venv/bin/mlops status credit_default")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "champion  v2 since " in out, out  # mlops status
    assert "→ v1" in out and "v1 → v2" in out, out  # history: readable moves
    moves = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")
             and '"epoch"' in line]
    assert [(m["previous"], m["version"]) for m in moves[-2:]] == [("2", "1"), ("1", "2")], out
    assert "credit_default: champion 2; alias in sync" in out, out
