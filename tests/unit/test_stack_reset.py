"""`mlops stack reset` / `make reset`: it deletes a stack home only when asked, and never a
folder that is not one."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_dev import cli as dev_cli
from mlops_dev.stack.config import StackConfig, StackError
from mlops_dev.stack.reset import reset

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _stack_home(home: Path) -> Path:
    (home / "run").mkdir(parents=True)
    (home / "s3" / "ct-landing").mkdir(parents=True)
    (home / "s3" / "ct-landing" / "part.parquet").write_bytes(b"x")
    (home / "ct_store.db").write_bytes(b"")
    return home


def _config(home: Path, monkeypatch: pytest.MonkeyPatch) -> StackConfig:
    monkeypatch.setenv("CT_HOME", str(home))
    return StackConfig.from_env()


def test_reset_stops_nothing_running_and_deletes_the_home(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = _stack_home(tmp_path / "stack")
    said: list[str] = []
    assert reset(_config(home, monkeypatch), echo=said.append) is True
    assert not home.exists()
    assert any("deleted" in line for line in said), said
    assert reset(_config(home, monkeypatch), echo=said.append) is False  # again: nothing to do


def test_reset_refuses_a_folder_that_is_not_a_stack_home(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "documents"
    home.mkdir()
    (home / "thesis.tex").write_text("precious")
    with pytest.raises(StackError, match="does not look like a stack home"):
        reset(_config(home, monkeypatch), echo=lambda _: None)
    assert (home / "thesis.tex").read_text() == "precious"


def test_the_cli_asks_first_and_keeps_the_home_without_a_yes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = _stack_home(tmp_path / "stack")
    monkeypatch.setenv("CT_HOME", str(home))
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))  # not a terminal: no prompt at all
    assert dev_cli.main(["stack", "reset"]) == 1
    assert "make reset FORCE=1" in capsys.readouterr().err
    assert (home / "s3" / "ct-landing" / "part.parquet").exists()

    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda _prompt: "no")
    assert dev_cli.main(["stack", "reset"]) == 1
    assert home.exists()

    assert dev_cli.main(["stack", "reset", "--yes"]) == 0
    assert not home.exists()


def test_make_reset_force_deletes_the_home(tmp_path: Path) -> None:
    """The command the README gives, as a user types it."""
    home = _stack_home(tmp_path / "stack")
    done = subprocess.run(["make", "-s", "reset", "FORCE=1"], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "CT_HOME": str(home)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert not home.exists()
