"""The quick start's main command as a newcomer runs it: `make demo` on a fresh stack, and again
right after on the same state; last, `make reset FORCE=1` deletes that state.

Each run is `make` in a subprocess with the embedded defaults (SQLite, the S3 server on disk,
MLflow and Airflow started by the demo), on ports and a stack home of this test's own. The
first tells the whole story (two promotions, a drift verdict, a scored batch); the second finds
the champion, scores one more batch with it and says how to start over.

Then the docs' command blocks run as written on the stack the demo left (the doc-test): every
shell block of README.md and docs/ is run or skipped with the reason its marker gives. The
reset comes last: after it, the stack has nothing left, which is where the first run began."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doc_blocks import DocBlock, all_blocks
from tests.e2e.doc_checks import CHECKS, DocStack, doc_stack
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
               CT_MLFLOW_PORT=str(free_port()), CT_AIRFLOW_PORT=str(free_port()),
               CT_EXPORTER_PORT=str(free_port()))
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
def test_make_demo_runs_again_on_the_same_state(demo_env: dict[str, str]) -> None:
    _assert_whole_story(_make(demo_env, "demo"))

    again = _make(demo_env, "demo")
    assert "this stack already ran the demo (champion v2)" in again, again[-4000:]
    assert "make reset" in again and "by ct_credit_default v2 -> s3://" in again, again[-4000:]


DOC_BLOCKS = all_blocks()


@pytest.fixture(scope="module")
def demo_stack(demo_env: dict[str, str]) -> Iterator[DocStack]:
    """The stack the demo test left (champion v2); run alone, the demo runs first."""
    home = Path(demo_env["CT_HOME"])
    if not (home / "ct_store.db").exists():
        _assert_whole_story(_make(demo_env, "demo"))
    with doc_stack(demo_env) as stack:
        yield stack


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[b.id for b in DOC_BLOCKS])
def test_doc_block_runs_as_written(block: DocBlock, request: pytest.FixtureRequest) -> None:
    """Each shell block of README.md and docs/, in reading order, typed into a user's shell
    on the demo's stack: exit 0, no traceback, the output the doc shows, and what the doc says
    happens then (tests/e2e/doc_checks.py). A block that makes sense only on a user's machine
    says why in its marker and is reported here as skipped."""
    if not block.run:
        pytest.skip(f"doc block {block.id}: {block.skip_reason}")
    stack: DocStack = request.getfixturevalue("demo_stack")
    env = request.getfixturevalue("demo_env")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", block.body], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.id}:\n{block.body}\n{out[-6000:]}"
    assert "Traceback" not in out, out[-6000:]
    missing = [text for text in block.expect if text not in out]
    assert not missing, f"{block.id}: {missing} not in\n{out[-6000:]}"
    if block.check is not None:
        CHECKS[block.check](stack, out)


def test_make_reset_deletes_the_state_the_demo_left(demo_env: dict[str, str]) -> None:
    """Last, after the doc blocks used the stack: `make reset FORCE=1` stops it and deletes its
    state, so the next `make demo` starts from nothing, as the first run above did."""
    home = Path(demo_env["CT_HOME"])
    assert (home / "ct_store.db").exists()
    _make(demo_env, "reset", "FORCE=1")
    assert not home.exists()
    status = subprocess.run(["make", "-s", "status"], cwd=REPO_ROOT, env=demo_env,
                            capture_output=True, text=True, timeout=300, check=False)
    rows = [line.split() for line in status.stdout.splitlines()
            if line.strip() and not line.startswith("total")]
    assert rows and all(row[1] == "down" for row in rows), status.stdout + status.stderr
