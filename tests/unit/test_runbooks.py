"""docs/runbooks has a page for every situation the service alerts on (and the outage and
backfill pages), each with the same four parts, and every command in them is run by the
doc-test (tests/e2e/test_demo.py): no block of a runbook is skipped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.doc_blocks import shell_blocks

pytestmark = pytest.mark.unit

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
PAGES = ("model-degraded", "drift-alert", "quarantine", "no-data", "rollback",
         "failed-dag-run", "pending-approval", "outage", "backfill")
SECTIONS = ("Symptom", "Checks", "Decision", "Commands")


@pytest.mark.parametrize("page", PAGES)
def test_each_page_has_the_four_parts_in_order(page: str) -> None:
    text = (RUNBOOKS / f"{page}.md").read_text()
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == list(SECTIONS), headings
    commands = text.split("## Commands", 1)[1]
    assert "```bash" in commands, f"{page}: no command block under Commands"


@pytest.mark.parametrize("page", [*PAGES, "README"])
def test_every_block_of_a_runbook_is_run(page: str) -> None:
    blocks = shell_blocks(RUNBOOKS / f"{page}.md")
    assert blocks, page
    assert all(b.run for b in blocks), [(b.id, b.marker) for b in blocks if not b.run]


def test_the_index_links_every_page_and_nothing_else() -> None:
    linked = set(re.findall(r"\]\(([a-z-]+)\.md\)", (RUNBOOKS / "README.md").read_text()))
    assert linked == set(PAGES)
    on_disk = {p.stem for p in RUNBOOKS.glob("*.md")} - {"README"}
    assert on_disk == set(PAGES), on_disk ^ set(PAGES)


def test_links_between_pages_resolve() -> None:
    for page in RUNBOOKS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).resolve().is_file(), (page.name, target)
