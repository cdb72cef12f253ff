"""tools/check_size.py, the `make lint` rule for small rooms: it flags a module over the line limit
and a function above radon grade C, and passes a tree that keeps both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TOOL = Path(__file__).resolve().parents[2] / "tools" / "check_size.py"


def _checker():  # noqa: ANN202 - a module loaded from a path
    spec = importlib.util.spec_from_file_location("check_size", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _branchy(n: int) -> str:
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(n))
    return f"def branchy(x):\n{body}    return -1\n"


def test_a_small_simple_tree_passes(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"mlops_lib/a.py": _branchy(5)})
    assert _checker().problems(root) == []


def test_a_module_over_the_limit_is_flagged(tmp_path: Path) -> None:
    checker = _checker()
    root = _tree(tmp_path, {"plugins/big.py": "x = 1\n" * (checker.MAX_LINES + 1)})
    found = checker.problems(root)
    assert len(found) == 1 and "plugins/big.py" in found[0] and "lines" in found[0]


def test_a_function_above_grade_c_is_flagged(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"dags/d.py": _branchy(20), "mlops_dev/ok.py": _branchy(15)})
    found = _checker().problems(root)
    assert len(found) == 1
    assert "dags/d.py:1 branchy" in found[0] and "grade D" in found[0]


def test_the_repository_itself_is_checked_by_make_lint() -> None:
    makefile = (TOOL.parents[1] / "Makefile").read_text()
    assert "tools/check_size.py" in makefile
