"""Every shell block of the docs says whether the doc-test runs it (and if not, why), so a new
block cannot slip past the test that keeps the docs true (tests/e2e/test_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doc_blocks import all_blocks, shell_blocks

pytestmark = pytest.mark.unit


def test_every_shell_block_of_the_docs_is_run_or_skipped_with_a_reason() -> None:
    blocks = all_blocks()
    assert not [f"{b.id}: {b.problem}" for b in blocks if b.problem]
    run = [b for b in blocks if b.run]
    assert len(run) >= 5 and any(b.doc == "docs/backfill.md" for b in run), [b.id for b in run]


def test_the_checks_the_docs_name_exist() -> None:
    from tests.e2e.doc_checks import CHECKS

    named = {b.check for b in all_blocks() if b.check}
    assert named and named <= set(CHECKS), named - set(CHECKS)


def test_markers_are_read_as_written(tmp_path: Path) -> None:
    doc = tmp_path / "probe.md"
    doc.write_text(
        "# x\n\n<!-- doc-test: run; expect: a b | c; check: operator -->\n```bash\necho a\n```\n"
        "\n<!-- doc-test: skip: needs Docker -->\n```sh\ndocker ps\n```\n"
        "\n```bash\nunmarked\n```\n\n```python\nnot shell\n```\n"
        "<!-- doc-test: run; wait: 3 -->\n```console\necho b\n```\n")
    first, second, third, fourth = shell_blocks(doc, root=tmp_path)
    assert (first.run, first.expect, first.check, first.line) == (True, ("a b", "c"),
                                                                  "operator", 4)
    assert first.body == "echo a\n" and first.problem is None
    assert (second.run, second.skip_reason, second.problem) == (False, "needs Docker", None)
    assert third.marker is None and "no <!-- doc-test" in str(third.problem)
    assert not fourth.run and "unknown option 'wait'" in str(fourth.problem)
